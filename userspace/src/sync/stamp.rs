//! Stamping: turns trigger-captured changes into versioned writes.
//!
//! Triggers cannot call Rust, so they log a local sequence number and the wall
//! clock only. Here, inside the caller's write transaction, each unstamped
//! change gets the next HLC (never below its wall time, always above the
//! persisted clock), and its columns are written into the row's registers.

use rusqlite::{Connection, params};
use serde_json::{Map, Value as Json};

use super::conflicts::{self, Discarded};
use super::error::{Result, SyncError};
use super::hlc::{Version, read_clock, tick, write_clock};
use super::project::project_row;
use super::registers::{Cell, RowState, load_cells, load_row, newest_version, store_cell, store_row};
use super::registry::{Registry, TableSpec};

struct Captured {
    seq: i64,
    table: String,
    pk: String,
    kind: String,
    changed: Vec<String>,
    row: Option<Map<String, Json>>,
    wall_ms: f64,
}

fn read_unstamped(conn: &Connection, limit: Option<usize>) -> Result<Vec<Captured>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, tbl, pk, kind, changed, row_json, wall_ms FROM _sy_changes WHERE hlc IS NULL ORDER BY seq LIMIT ?1",
    )?;
    // SQLite reads a negative LIMIT as no limit.
    let limit = limit.map_or(-1, |n| n as i64);
    let raw = stmt.query_map([limit], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, Option<String>>(5)?,
            r.get::<_, f64>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for item in raw {
        let (seq, table, pk, kind, changed, row, wall_ms) = item?;
        let corrupt = |e: serde_json::Error| SyncError::Corrupt(format!("change {seq}: {e}"));
        out.push(Captured {
            seq,
            table,
            pk,
            kind,
            changed: serde_json::from_str(&changed).map_err(corrupt)?,
            row: row.map(|text| serde_json::from_str(&text)).transpose().map_err(corrupt)?,
            wall_ms,
        });
    }
    Ok(out)
}

/// Stamps every captured change not yet stamped; returns how many.
/// Must run in the same transaction as anything that reads the registers.
pub fn stamp_pending(conn: &Connection, registry: &Registry) -> Result<usize> {
    stamp_oldest(conn, registry, None)
}

/// Stamps the oldest `limit` unstamped changes (all with `None`). Unstamped
/// changes are always the newest ones, so after this the first `limit`
/// changes past any position are stamped.
pub fn stamp_oldest(conn: &Connection, registry: &Registry, limit: Option<usize>) -> Result<usize> {
    let pending = read_unstamped(conn, limit)?;
    if pending.is_empty() {
        return Ok(0);
    }
    let mut clock = read_clock(conn)?;
    let mut set_hlc = conn.prepare_cached("UPDATE _sy_changes SET hlc = ?1 WHERE seq = ?2")?;
    for change in &pending {
        clock = tick(clock, change.wall_ms);
        set_hlc.execute(params![clock, change.seq])?;
        if let Some(spec) = registry.table(&change.table) {
            absorb_local(conn, spec, change, Version::new(clock, &registry.site_id))?;
        }
    }
    write_clock(conn, clock)?;
    Ok(pending.len())
}

/// Writes one local change into the registers. A local write always wins
/// under time-based rules; under `SitePriority` it can lose, and is then
/// reverted in the user's table and logged as a conflict.
fn absorb_local(conn: &Connection, spec: &TableSpec, change: &Captured, version: Version) -> Result<()> {
    let policy = &spec.policy;
    let table = spec.shape.name.as_str();
    let pk: Json =
        serde_json::from_str(&change.pk).map_err(|e| SyncError::Corrupt(format!("change {} key: {e}", change.seq)))?;
    let mut cells = load_cells(conn, table, &change.pk)?;
    let mut row = load_row(conn, table, &change.pk)?;
    let mut lost_any = false;
    let local_alive = change.kind != "delete";

    let lose = |conn: &Connection,
                column: Option<&str>,
                winner: &Version,
                winner_value: Option<&Json>,
                value: Option<&Json>| {
        conflicts::record(
            conn,
            &Discarded {
                table,
                pk: &change.pk,
                column,
                via_site: &version.site,
                winner_value,
                winner,
                loser_value: value,
                loser: &version,
            },
        )
    };

    if local_alive {
        let values = change.row.clone().unwrap_or_default();
        let written: Vec<&String> = if change.kind == "insert" {
            spec.shape.columns.iter().collect()
        } else {
            spec.shape.columns.iter().filter(|c| change.changed.contains(c) || !cells.contains_key(*c)).collect()
        };
        for col in written {
            let value = values.get(col).cloned().unwrap_or(Json::Null);
            let current = cells.get(col);
            if current.is_none_or(|c| policy.beats(&version, &c.version)) {
                let cell = Cell { value, version: version.clone(), prev: current.map(|c| c.version.clone()) };
                store_cell(conn, table, &change.pk, col, &cell)?;
                cells.insert(col.clone(), cell);
            } else {
                let current = current.expect("checked above");
                lose(conn, Some(col), &current.version, Some(&current.value), Some(&value))?;
                lost_any = true;
            }
        }
        if change.kind == "insert" || row.is_none() {
            if row.as_ref().is_none_or(|r| policy.beats(&version, &r.version)) {
                let state = RowState { alive: true, version: version.clone(), seen: None };
                store_row(conn, table, &change.pk, &state)?;
                row = Some(state);
            } else {
                lose(conn, None, &row.as_ref().expect("checked above").version, None, None)?;
                lost_any = true;
            }
        }
    } else {
        let seen = newest_version(row.as_ref(), &cells);
        if row.as_ref().is_none_or(|r| policy.beats(&version, &r.version)) {
            let state = RowState { alive: false, version: version.clone(), seen };
            store_row(conn, table, &change.pk, &state)?;
            row = Some(state);
        } else {
            lose(conn, None, &row.as_ref().expect("checked above").version, None, None)?;
            lost_any = true;
        }
    }

    let merged_alive = policy.is_alive(row.as_ref(), &cells);
    if lost_any || merged_alive != local_alive {
        project_row(conn, &spec.shape, &pk, merged_alive, &cells)?;
    }
    Ok(())
}
