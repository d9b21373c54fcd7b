//! Merging a remote row state into local registers, logging what is discarded.
//!
//! A register is replaced only by a version that wins under the table's
//! policy, so the result does not depend on arrival order or repetition.
//! A loss is a conflict only if the winner's writer had not seen the loser:
//! `prev` (the version the writer overwrote) tells a sequential overwrite
//! from a concurrent one.

use rusqlite::Connection;

use super::batch::RowChange;
use super::conflicts::{self, Discarded};
use super::error::Result;
use super::hlc::Version;
use super::project::project_row_quietly;
use super::registers::{load_cells, load_row, store_cell, store_row};
use super::registry::TableSpec;
use super::sql::pk_text;

/// Must run with the applying flag raised (see `inbound::apply_batch`).
pub fn merge_remote(conn: &Connection, spec: &TableSpec, via_site: &str, change: &RowChange) -> Result<()> {
    let policy = &spec.policy;
    let table = spec.shape.name.as_str();
    let pk = pk_text(&change.pk);
    let mut cells = load_cells(conn, table, &pk)?;
    let mut row = load_row(conn, table, &pk)?;
    let was_alive = policy.is_alive(row.as_ref(), &cells);
    let mut cells_touched = false;
    let note = |column: Option<&str>,
                winner: &Version,
                winner_value: Option<&serde_json::Value>,
                loser: &Version,
                loser_value: Option<&serde_json::Value>|
     -> Result<()> {
        conflicts::record(
            conn,
            &Discarded { table, pk: &pk, column, via_site, winner_value, winner, loser_value, loser },
        )
    };

    for (col, incoming) in &change.cells {
        if let Some(current) = cells.get(col).cloned() {
            if current.version == incoming.version {
                continue;
            }
            if !policy.beats(&incoming.version, &current.version) {
                // The incoming write loses; a conflict unless the winner's writer had seen it.
                if current.prev.as_ref().is_none_or(|p| *p < incoming.version) {
                    note(Some(col), &current.version, Some(&current.value), &incoming.version, Some(&incoming.value))?;
                }
                continue;
            }
            // Our value loses; a conflict unless the incoming writer had seen it.
            if incoming.prev.as_ref().is_none_or(|p| *p < current.version) {
                note(Some(col), &incoming.version, Some(&incoming.value), &current.version, Some(&current.value))?;
            }
        }
        store_cell(conn, table, &pk, col, incoming)?;
        cells.insert(col.clone(), incoming.clone());
        cells_touched = true;
    }

    let incoming_row = &change.row;
    let row_is_news = row.as_ref().is_none_or(|r| r.version != incoming_row.version);
    if row.as_ref().is_none_or(|r| policy.beats(&incoming_row.version, &r.version)) {
        store_row(conn, table, &pk, incoming_row)?;
        row = Some(incoming_row.clone());
    }
    let now_alive = policy.is_alive(row.as_ref(), &cells);
    let current_row = row.as_ref().expect("row register exists after merge");

    // Row-level conflicts: a delete against updates its writer had not seen.
    let incoming_delete = !incoming_row.alive && row_is_news;
    let revived = !current_row.alive && now_alive;
    if let Some(winner) = cells.values().map(|c| &c.version).max().filter(|_| incoming_delete && revived) {
        note(None, winner, None, &incoming_row.version, None)?;
    }
    let killed = incoming_delete && was_alive && !now_alive;
    let lost = newest_unseen(incoming_row.seen.as_ref(), cells.values().map(|c| &c.version));
    if let Some(lost) = lost.filter(|_| killed) {
        note(None, &incoming_row.version, None, &lost, None)?;
    }
    if cells_touched && !now_alive && !current_row.alive {
        let lost = newest_unseen(current_row.seen.as_ref(), change.cells.values().map(|c| &c.version));
        if let Some(lost) = lost.filter(|v| v.site != current_row.version.site) {
            note(None, &current_row.version, None, &lost, None)?;
        }
    }

    if was_alive != now_alive || (now_alive && cells_touched) {
        project_row_quietly(conn, &spec.shape, &change.pk, now_alive, &cells)?;
    }
    Ok(())
}

/// The newest version a deleting site had not seen.
fn newest_unseen<'a>(seen: Option<&Version>, versions: impl Iterator<Item = &'a Version>) -> Option<Version> {
    versions.filter(|v| seen.is_none_or(|s| *v > s)).max().cloned()
}
