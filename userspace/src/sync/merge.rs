//! Merging a remote row state into local registers, logging what is discarded.
//!
//! A register is replaced only by a version that wins under the table's
//! rule, so the result does not depend on arrival order or repetition.
//! A loss is a conflict only if the winner's writer had not seen the loser:
//! a cell's `seen` history (per site and run, the newest write it overwrote
//! directly or through others) tells a sequential overwrite from a concurrent one.

use std::cell::RefCell;
use std::collections::BTreeMap;

use rusqlite::Connection;

use super::batch::RowChange;
use super::conflicts::RowConflicts;
use super::error::Result;
use super::held::Held;
use super::hlc::Version;
use super::project::project_row_quietly;
use super::prune::horizon;
use super::registers::{Cell, LOAD, RowState, STORE, load, load_in, newest_version, store_in};
use super::registry::{Registry, TableSpec};
use super::stamp::log_local_delete;
use super::value::Value;

/// Where a remote change comes from, and what stays the same for all changes merged with it.
pub struct MergeSource<'a> {
    pub registry: &'a Registry,
    pub via_site: &'a str,
    /// Per table, the pruning horizon: only pruning moves it, never a merge, so a
    /// batch reads it once instead of once per new row.
    horizons: RefCell<BTreeMap<String, i64>>,
    /// The statements merging runs for every change.
    held: RefCell<Held<'a>>,
}

impl<'a> MergeSource<'a> {
    pub fn new(conn: &'a Connection, registry: &'a Registry, via_site: &'a str) -> MergeSource<'a> {
        MergeSource { registry, via_site, horizons: RefCell::default(), held: RefCell::new(Held::new(conn)) }
    }

    fn horizon(&self, conn: &Connection, table: &str) -> Result<i64> {
        if let Some(hlc) = self.horizons.borrow().get(table) {
            return Ok(*hlc);
        }
        let hlc = horizon(conn, table)?;
        self.horizons.borrow_mut().insert(table.to_string(), hlc);
        Ok(hlc)
    }
}

/// Must run with the applying flag raised (see `inbound::apply_changes`).
pub fn merge_remote<'a>(
    conn: &Connection,
    spec: &'a TableSpec,
    source: &MergeSource<'a>,
    change: &RowChange,
) -> Result<()> {
    let table = spec.shape.name.as_str();
    let pk = &change.pk;
    let (mut row, mut cells) = load_in(source.held.borrow_mut().get(LOAD)?, table, pk)?;
    if row.is_none() && cells.is_empty() && is_forgotten(conn, spec, source, change)? {
        return refuse_resurrection(conn, spec, source, change);
    }
    let rule = &spec.rule;
    let was_alive = rule.is_alive(row.as_ref(), &cells);
    let conflicts = RowConflicts { conn, table, pk, via_site: source.via_site };
    let mut cells_touched = false;
    for (col, incoming) in &change.cells {
        if merge_cell(&conflicts, spec, &mut cells, col, incoming)? {
            cells_touched = true;
        }
    }
    let incoming_row = &change.row;
    let row_is_news = row.as_ref().is_none_or(|r| r.version != incoming_row.version);
    let row_wins = row.as_ref().is_none_or(|r| rule.beats(&incoming_row.version, &r.version));
    if row_wins {
        row = Some(incoming_row.clone());
    }
    if row_wins || cells_touched {
        store_in(source.held.borrow_mut().get(STORE)?, table, pk, row.as_ref(), &cells)?;
    }
    let now_alive = rule.is_alive(row.as_ref(), &cells);
    let current_row = row.as_ref().expect("row register exists after merge");
    let outcome =
        RowOutcome { was_alive, now_alive, incoming_delete: !incoming_row.alive && row_is_news, cells_touched };
    note_row_conflicts(&conflicts, &outcome, change, current_row, &cells)?;
    if was_alive != now_alive || (now_alive && cells_touched) {
        project_row_quietly(&mut source.held.borrow_mut(), &spec.shape, pk, now_alive, &cells)?;
    }
    Ok(())
}

/// Merges one column register (in `cells`, stored by the caller); returns
/// whether the local register changed.
fn merge_cell(
    conflicts: &RowConflicts<'_>,
    spec: &TableSpec,
    cells: &mut BTreeMap<String, Cell>,
    col: &str,
    incoming: &Cell,
) -> Result<bool> {
    if let Some(current) = cells.get(col) {
        if current.version == incoming.version {
            return Ok(false);
        }
        if !spec.rule.beats(&incoming.version, &current.version) {
            // The incoming write loses; a conflict unless the winner's writer had seen it.
            if !current.seen.covers(&incoming.version, incoming.epoch) {
                let (winner, value) = (&current.version, Some(&current.value));
                conflicts.discard(Some(col), winner, value, &incoming.version, Some(&incoming.value))?;
            }
            return Ok(false);
        }
        // Our value loses; a conflict unless the incoming writer had seen it.
        if !incoming.seen.covers(&current.version, current.epoch) {
            let (winner, value) = (&incoming.version, Some(&incoming.value));
            conflicts.discard(Some(col), winner, value, &current.version, Some(&current.value))?;
        }
    }
    cells.insert(col.to_string(), incoming.clone());
    Ok(true)
}

struct RowOutcome {
    was_alive: bool,
    now_alive: bool,
    incoming_delete: bool,
    cells_touched: bool,
}

/// Row-level conflicts: a delete against updates its writer had not seen.
fn note_row_conflicts(
    conflicts: &RowConflicts<'_>,
    outcome: &RowOutcome,
    change: &RowChange,
    current_row: &RowState,
    cells: &BTreeMap<String, Cell>,
) -> Result<()> {
    let incoming_row = &change.row;
    let revived = !current_row.alive && outcome.now_alive;
    if let Some(winner) = cells.values().map(|c| &c.version).max().filter(|_| outcome.incoming_delete && revived) {
        conflicts.discard(None, winner, None, &incoming_row.version, None)?;
    }
    let killed = outcome.incoming_delete && outcome.was_alive && !outcome.now_alive;
    let lost = newest_unseen(incoming_row.seen.as_ref(), cells.values().map(|c| &c.version));
    if let Some(lost) = lost.filter(|_| killed) {
        conflicts.discard(None, &incoming_row.version, None, &lost, None)?;
    }
    if outcome.cells_touched && !outcome.now_alive && !current_row.alive {
        let lost = newest_unseen(current_row.seen.as_ref(), change.cells.values().map(|c| &c.version));
        if let Some(lost) = lost.filter(|v| v.site != current_row.version.site) {
            conflicts.discard(None, &current_row.version, None, &lost, None)?;
        }
    }
    Ok(())
}

/// The newest version a deleting site had not seen.
fn newest_unseen<'a>(seen: Option<&Version>, versions: impl Iterator<Item = &'a Version>) -> Option<Version> {
    versions.filter(|v| seen.is_none_or(|s| *v > s)).max().cloned()
}

/// A row unknown here whose every version is older than the pruning horizon
/// was deleted here and its tombstone forgotten: every site had sent us all
/// its writes older than that horizon before we pruned.
fn is_forgotten(conn: &Connection, spec: &TableSpec, source: &MergeSource<'_>, change: &RowChange) -> Result<bool> {
    if !spec.rule.prunes_tombstones() {
        return Ok(false);
    }
    let newest = newest_version(Some(&change.row), &change.cells).map_or(0, |v| v.hlc);
    Ok(newest < source.horizon(conn, &spec.shape.name)?)
}

/// An old copy of a row deleted here (from a restored site, or relayed by a
/// site that has not yet heard of the delete) is not let back in. The
/// forgotten tombstone was older than the pruning horizon, but it outranked
/// every version of the row below the horizon: every site had sent us all its
/// writes older than that before we pruned, and the row was dead after them.
/// So the tombstone recorded (and shipped, so the site still holding the copy
/// deletes it too) is at the horizon, not just above this copy: another old
/// copy of the same row, newer than this one but still below the horizon,
/// must not bring it back either. Any real write after the delete is newer
/// than the horizon and wins over it. The refusal is in the conflict log.
fn refuse_resurrection(
    conn: &Connection,
    spec: &TableSpec,
    source: &MergeSource<'_>,
    change: &RowChange,
) -> Result<()> {
    if !change.row.alive {
        return Ok(());
    }
    let copy = newest_version(Some(&change.row), &change.cells).unwrap_or_else(|| change.row.version.clone());
    let floor = source.horizon(conn, &spec.shape.name)?;
    let tombstone = Version::new((copy.hlc + 1).max(floor), &source.registry.site_id);
    // The forgotten delete had seen every version below the horizon.
    let seen = Some(tombstone.clone());
    log_local_delete(conn, &spec.shape.name, &change.pk, &tombstone, seen)?;
    let conflicts = RowConflicts { conn, table: &spec.shape.name, pk: &change.pk, via_site: source.via_site };
    conflicts.discard(None, &tombstone, None, &copy, None)
}

/// A key's registers as a batch entry, if the row is known here.
pub fn row_change(conn: &Connection, table: &str, pk: &Value) -> Result<Option<RowChange>> {
    let (Some(row), cells) = load(conn, table, pk)? else {
        return Ok(None);
    };
    let kind = if row.alive { super::batch::ChangeKind::Update } else { super::batch::ChangeKind::Delete };
    Ok(Some(RowChange { table: table.to_string(), pk: pk.clone(), kind, changed: Vec::new(), cells, row }))
}
