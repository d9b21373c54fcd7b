//! Stamping: turns trigger-captured changes into versioned writes.
//!
//! Triggers cannot call Rust, so they log which row changed, the columns and
//! the wall clock only. Here, inside the caller's write transaction, each
//! unstamped change gets the next HLC (never below its wall time, always above
//! the persisted clock), and the row's current values are written into its
//! registers. Every local write is captured, so the values read now are those
//! of the newest unstamped change of the row, which is what ships anyway.
//! A change that cannot be stamped is set aside in the quarantine.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{Connection, Statement, params};

use super::batch::ChangeKind;
use super::capture::TableShape;
use super::conflicts::RowConflicts;
use super::error::{Result, SyncError};
use super::held::Held;
use super::hlc::{Version, read_clock, tick, wall_now_ms, write_clock};
use super::positions::{leave_marker, log_end};
use super::project::{project_row, revert_columns};
use super::quarantine::{self, Direction, Entry};
use super::registers::{Cell, LOAD, Registers, RowState, STORE, Seen, load_in, newest_version, store_in, store_row};
use super::registry::{Registry, TableSpec};
use super::savepoint::in_savepoint;
use super::schema::meta_value;
use super::sql::with_limit;
use super::value::Value;

/// Changes stamped in one savepoint at most, and in one transaction when building a batch.
pub const STAMP_PASS: usize = 2_000;

/// One row of the change table, as the triggers wrote it.
struct Logged {
    seq: i64,
    table: String,
    pk: Value,
    kind: String,
    changed: String,
    wall_ms: f64,
}

/// A logged change that makes sense.
struct Captured {
    seq: i64,
    pk: Value,
    kind: ChangeKind,
    changed: Vec<String>,
}

/// `_sy_meta` key: every change at or before this position is stamped. The unstamped ones
/// are found by a seek past it, where an index of them would be written twice per change
/// (added by the capture trigger, removed here) while the writers wait on the lock.
const STAMPED_UPTO: &str = "stamped_upto";

/// The position up to which every change is stamped (0 in a log never stamped here).
pub fn stamped_upto(conn: &Connection) -> Result<i64> {
    Ok(meta_value(conn, STAMPED_UPTO)?.unwrap_or(0))
}

/// Moves the mark forward to `upto` (never back).
fn mark_stamped(conn: &Connection, was: i64, upto: i64) -> Result<()> {
    if upto > was {
        conn.prepare_cached(
            "INSERT INTO _sy_meta(key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)",
        )?
        .execute(params![STAMPED_UPTO, upto])?;
    }
    Ok(())
}

/// Unstamped changes after `upto`, oldest first. Changes written already stamped (a revert's)
/// can follow unstamped ones, hence the `hlc IS NULL`.
const UNSTAMPED: &str =
    "SELECT seq, tbl, pk, kind, changed, wall_ms FROM _sy_changes WHERE seq > ?1 AND hlc IS NULL ORDER BY seq";

fn read_unstamped(conn: &Connection, upto: i64, limit: Option<usize>) -> Result<Vec<Logged>> {
    let sql = limit.map_or_else(|| UNSTAMPED.to_string(), |n| with_limit(UNSTAMPED, n));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([upto], |r| {
        Ok(Logged {
            seq: r.get(0)?,
            table: r.get(1)?,
            pk: r.get(2)?,
            kind: r.get(3)?,
            changed: r.get(4)?,
            wall_ms: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Stamps every captured change not yet stamped; returns how many.
/// Must run in the same transaction as anything that reads the registers.
pub fn stamp_pending(conn: &Connection, registry: &Registry) -> Result<usize> {
    stamp_oldest(conn, registry, None, &mut StampedRows::default())
}

/// The registers of each row stamping wrote, as it left them, by table and
/// key: a batch built in the same transaction takes them from here instead of
/// reading them back.
#[derive(Default)]
pub struct StampedRows(HashMap<(String, Value), Registers>);

impl StampedRows {
    pub fn take(&mut self, table: &str, pk: &Value) -> Option<Registers> {
        self.0.remove(&(table.to_string(), pk.as_row_key()))
    }

    /// Drops every entry: a savepoint rolled back what some of them say.
    fn forget(&mut self) {
        self.0.clear();
    }

    fn keep(&mut self, logged: &Logged, registers: Registers) {
        self.0.insert((logged.table.clone(), logged.pk.as_row_key()), registers);
    }
}

/// Stamps the oldest `limit` unstamped changes (all with `None`). Unstamped
/// changes are always the newest ones, so after this the first `limit`
/// changes past any position are stamped. The rows' registers are left in `stamped`.
pub fn stamp_oldest(
    conn: &Connection,
    registry: &Registry,
    limit: Option<usize>,
    stamped: &mut StampedRows,
) -> Result<usize> {
    let upto = stamped_upto(conn)?;
    let pending = read_unstamped(conn, upto, limit)?;
    let Some(last) = pending.last().map(|logged| logged.seq) else {
        // Nothing unstamped: the mark can move to the log's end, so that the next seek
        // starts there.
        mark_stamped(conn, upto, log_end(conn)?)?;
        return Ok(0);
    };
    let mut clock = read_clock(conn)?;
    // A savepoint's journal (kept in memory) holds every page its changes touch: a
    // long backlog is stamped in passes so that it stays small.
    for pass in pending.chunks(STAMP_PASS) {
        // All at once when every change can be taken (the usual case), one by one otherwise.
        clock = match in_savepoint(conn, || stamp_all(conn, registry, pass, clock, stamped))? {
            Ok(clock) => clock,
            Err(_) => {
                stamped.forget();
                stamp_one_by_one(conn, registry, pass, clock, stamped)?
            }
        };
    }
    write_clock(conn, clock)?;
    // Every change up to `last` is now stamped, set aside, or of a table no longer synced.
    mark_stamped(conn, upto, last)?;
    Ok(pending.len())
}

/// Stamps `pending` in order from clock `start`; returns the clock after the last.
fn stamp_all(
    conn: &Connection,
    registry: &Registry,
    pending: &[Logged],
    start: i64,
    stamped: &mut StampedRows,
) -> Result<i64> {
    let mut clock = start;
    let mut held = Held::new(conn);
    for logged in pending {
        clock = tick(clock, logged.wall_ms);
        if let Some((spec, version)) = record_stamp(&mut held, registry, logged, clock)? {
            let registers = absorb_logged(conn, &mut held, spec, logged, (version, registry.epoch))?;
            stamped.keep(logged, registers);
        }
    }
    Ok(clock)
}

/// As `stamp_all`, each change in a savepoint of its own: one that cannot be
/// taken is set aside and the others go on.
fn stamp_one_by_one(
    conn: &Connection,
    registry: &Registry,
    pending: &[Logged],
    start: i64,
    stamped: &mut StampedRows,
) -> Result<i64> {
    let mut clock = start;
    let mut held = Held::new(conn);
    for logged in pending {
        clock = tick(clock, logged.wall_ms);
        let Some((spec, version)) = record_stamp(&mut held, registry, logged, clock)? else {
            continue;
        };
        match in_savepoint(conn, || absorb_logged(conn, &mut held, spec, logged, (version, registry.epoch)))? {
            Ok(registers) => stamped.keep(logged, registers),
            Err(reason) => set_aside(conn, logged, &reason)?,
        }
    }
    Ok(clock)
}

/// Gives the change its HLC; returns its table and version unless the table
/// is no longer synchronised (such a change is never shipped).
fn record_stamp<'a>(
    held: &mut Held<'_>,
    registry: &'a Registry,
    logged: &Logged,
    clock: i64,
) -> Result<Option<(&'a TableSpec, Version)>> {
    held.get("UPDATE _sy_changes SET hlc = ?1 WHERE seq = ?2")?.execute(params![clock, logged.seq])?;
    Ok(registry.table(&logged.table).map(|spec| (spec, Version::new(clock, &registry.site_id))))
}

fn parse(logged: &Logged) -> std::result::Result<Captured, String> {
    let kind = ChangeKind::from_sql(&logged.kind)
        .ok_or_else(|| format!("unknown kind `{}` in the change table", logged.kind))?;
    let changed: Vec<String> =
        serde_json::from_str(&logged.changed).map_err(|e| format!("unreadable changed columns: {e}"))?;
    if logged.pk.is_null() {
        return Err("the row's key is NULL, so the row cannot be told apart from others".into());
    }
    Ok(Captured { seq: logged.seq, pk: logged.pk.clone(), kind, changed })
}

/// Writes one logged change into the registers; `write` is its version and the run that made it.
fn absorb_logged<'c>(
    conn: &'c Connection,
    held: &mut Held<'c>,
    spec: &'c TableSpec,
    logged: &Logged,
    write: (Version, u32),
) -> Result<Registers> {
    let captured = parse(logged).map_err(SyncError::Unusable)?;
    let values = if captured.kind.leaves_row() {
        read_row(held.get(&spec.shape.sql.select)?, &spec.shape, &captured.pk)?
    } else {
        None
    };
    absorb_local(conn, held, spec, &captured, values, write)
}

/// Takes a change that cannot be stamped out of the change table into the quarantine,
/// leaving a marker at its position.
fn set_aside(conn: &Connection, logged: &Logged, reason: &SyncError) -> Result<()> {
    let entry = Entry {
        direction: Direction::Outbound,
        peer: "",
        table: &logged.table,
        pk: &logged.pk,
        reason: &reason.to_string(),
        change: None,
    };
    quarantine::set_aside(conn, &entry)?;
    leave_marker(conn, logged.seq)
}

/// The row's non-key columns as they are now, read with the table's select; `None` when the row is gone.
fn read_row(stmt: &mut Statement<'_>, shape: &TableShape, pk: &Value) -> Result<Option<Vec<Value>>> {
    let mut rows = stmt.query([pk])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let values = (0..shape.columns.len()).map(|i| row.get::<_, Value>(i)).collect::<rusqlite::Result<_>>()?;
    Ok(Some(values))
}

/// What a local write lost under the table's rule.
#[derive(Default)]
struct Losses {
    columns: Vec<String>,
    existence: bool,
}

/// Writes one local change into the registers. A local write always wins
/// under time-based rules; under `SitePriority` it can lose, and is then
/// reverted in the user's table (once it is the row's newest change) and
/// logged as a conflict. `write` is the change's version and the run that made it.
/// Returns the row's registers as the change left them.
fn absorb_local<'c>(
    conn: &'c Connection,
    held: &mut Held<'c>,
    spec: &TableSpec,
    change: &Captured,
    values: Option<Vec<Value>>,
    write: (Version, u32),
) -> Result<Registers> {
    let (version, epoch) = write;
    let table = spec.shape.name.as_str();
    let (mut row, mut cells) = load_in(held.get(LOAD)?, table, &change.pk)?;
    let conflicts = RowConflicts { conn, table, pk: &change.pk, via_site: &version.site };
    let mut losses = Losses::default();
    let mut written = false;
    if let Some(values) = &values {
        let columns = written_columns(&spec.shape, change, &cells);
        for (col, value) in spec.shape.columns.iter().zip(values).filter(|(col, _)| columns.contains(col)) {
            if write_cell(&conflicts, spec, &mut cells, col, value.clone(), (&version, epoch))? {
                written = true;
            } else {
                losses.columns.push(col.clone());
            }
        }
    }
    let writes_existence = match change.kind {
        ChangeKind::Delete => true,
        _ => values.is_some() && (change.kind == ChangeKind::Insert || row.is_none()),
    };
    if writes_existence {
        let alive = change.kind.leaves_row();
        let seen = (!alive).then(|| newest_version(row.as_ref(), &cells)).flatten();
        let state = RowState { alive, version: version.clone(), seen };
        match &row {
            Some(current) if !spec.rule.beats(&version, &current.version) => {
                conflicts.discard(None, &current.version, None, &version, None)?;
                losses.existence = true;
            }
            _ => {
                row = Some(state);
                written = true;
            }
        }
    }
    if written {
        store_in(held.get(STORE)?, table, &change.pk, row.as_ref(), &cells)?;
    }
    // The row as the rule has it may differ from what the write left even when
    // the write itself won (a delete under a higher-ranked site's update).
    let alive = spec.rule.is_alive(row.as_ref(), &cells);
    let left_row = values.is_some() && change.kind.leaves_row();
    let existence_differs = losses.existence || (writes_existence && alive != left_row);
    if losses.columns.is_empty() && !existence_differs || has_later_change(conn, table, change)? {
        return Ok((row, cells));
    }
    if existence_differs {
        project_row(conn, &spec.shape, &change.pk, alive, &cells)?;
    } else {
        let lost: Vec<&str> = losses.columns.iter().map(String::as_str).collect();
        revert_columns(conn, &spec.shape, &change.pk, &lost, &cells)?;
    }
    Ok((row, cells))
}

/// Columns a change writes: all for an insert; for an update the changed ones
/// plus any without a register yet.
fn written_columns<'a>(shape: &'a TableShape, change: &Captured, cells: &BTreeMap<String, Cell>) -> Vec<&'a String> {
    if change.kind == ChangeKind::Insert {
        return shape.columns.iter().collect();
    }
    shape.columns.iter().filter(|c| change.changed.contains(c) || !cells.contains_key(*c)).collect()
}

/// Sets a local value in a column register unless the current one wins;
/// returns whether the local value was kept.
fn write_cell(
    conflicts: &RowConflicts<'_>,
    spec: &TableSpec,
    cells: &mut BTreeMap<String, Cell>,
    col: &str,
    value: Value,
    write: (&Version, u32),
) -> Result<bool> {
    let (version, epoch) = write;
    let current = cells.get(col);
    if let Some(current) = current.filter(|c| !spec.rule.beats(version, &c.version)) {
        conflicts.discard(Some(col), &current.version, Some(&current.value), version, Some(&value))?;
        return Ok(false);
    }
    let seen = current.map(Seen::over).unwrap_or_default();
    cells.insert(col.to_string(), Cell { value, version: version.clone(), epoch, seen });
    Ok(true)
}

/// Whether a later local change to the same row still waits to be stamped:
/// the user's table then holds that change's outcome, which must stay.
fn has_later_change(conn: &Connection, table: &str, change: &Captured) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM _sy_changes WHERE tbl = ?1 AND pk = ?2 AND seq > ?3 AND hlc IS NULL)",
        )?
        .query_row(params![table, change.pk, change.seq], |r| r.get(0))?)
}

/// Records a delete made by this site itself (not through the triggers) at
/// `version`: a stamped change that ships like any other, and the tombstone.
pub fn log_local_delete(
    conn: &Connection,
    table: &str,
    pk: &Value,
    version: &Version,
    seen: Option<Version>,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO _sy_changes(tbl, pk, kind, changed, wall_ms, hlc) VALUES (?1, ?2, ?3, '[]', ?4, ?5)",
    )?
    .execute(params![table, pk, ChangeKind::Delete.as_sql(), wall_now_ms(), version.hlc])?;
    store_row(conn, table, pk, &RowState { alive: false, version: version.clone(), seen })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stamping runs under the write lock for every batch: it seeks past the mark, never
    /// reading the stamped part of the log.
    #[test]
    fn unstamped_changes_are_found_by_a_seek_past_the_mark() {
        let plan = super::super::schema::query_plan(&with_limit(UNSTAMPED, 2_000));
        assert!(
            plan.iter().any(|step| step.starts_with("SEARCH _sy_changes USING INTEGER PRIMARY KEY (rowid>?)")),
            "{plan:?}"
        );
    }
}
