//! Upgrading a database set up by an earlier layout: the first stored keys and
//! values as JSON text, the second kept no run ids in the registers and no
//! received change's HLC. Runs inside the opening transaction, so a failure
//! leaves the database as it was.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Deserialize;

use super::batch::{ChangeKind, RowChange};
use super::error::Result;
use super::hlc::Version;
use super::registers::{Cell, RowState, Seen, SeenRun};
use super::value::Value;
use super::wire::{decode, encode};

/// The tables whose keys (and values) were JSON text, and how to convert each column.
const CONVERSIONS: [(&str, &str, &str); 4] = [
    (
        "_sy_changes",
        "seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, pk, kind TEXT NOT NULL,
         changed TEXT NOT NULL, wall_ms REAL NOT NULL, hlc INTEGER",
        "seq, tbl, json_extract(pk, '$'), kind, changed, wall_ms, hlc",
    ),
    (
        "_sy_rows",
        "tbl TEXT NOT NULL, pk NOT NULL, alive INTEGER NOT NULL, hlc INTEGER NOT NULL, site TEXT NOT NULL,
         seen_hlc INTEGER, seen_site TEXT, PRIMARY KEY (tbl, pk)",
        "tbl, json_extract(pk, '$'), alive, hlc, site, seen_hlc, seen_site",
    ),
    (
        "_sy_cells",
        "tbl TEXT NOT NULL, pk NOT NULL, col TEXT NOT NULL, value, hlc INTEGER NOT NULL, site TEXT NOT NULL,
         seen TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (tbl, pk, col)",
        "tbl, json_extract(pk, '$'), col, json_extract(value, '$'), hlc, site,
         CASE WHEN prev_site IS NULL THEN '{}' ELSE json_object(prev_site, prev_hlc) END",
    ),
    (
        "_sy_conflicts",
        "id INTEGER PRIMARY KEY, tbl TEXT NOT NULL, pk, col TEXT NOT NULL, via_site TEXT NOT NULL, winner_value,
         winner_hlc INTEGER NOT NULL, winner_site TEXT NOT NULL, loser_value, loser_hlc INTEGER NOT NULL,
         loser_site TEXT NOT NULL, recorded_ms REAL NOT NULL, found_at TEXT,
         UNIQUE (tbl, pk, col, loser_hlc, loser_site)",
        "id, tbl, json_extract(pk, '$'), col, via_site, json_extract(winner_value, '$'), winner_hlc, winner_site,
         json_extract(loser_value, '$'), loser_hlc, loser_site, recorded_ms, NULL",
    ),
];

const NEW_PEER_COLUMNS: [&str; 9] = [
    "incarnation TEXT",
    "state_due INTEGER NOT NULL DEFAULT 0",
    "state_table TEXT",
    "state_after",
    "check_ms REAL",
    "check_result TEXT",
    "check_divergent INTEGER NOT NULL DEFAULT 0",
    "repairs_total INTEGER NOT NULL DEFAULT 0",
    "conflicts_sent INTEGER NOT NULL DEFAULT 0",
];

/// Converts a layout-1 database in place. The change counter is kept: peers
/// hold positions in it.
pub fn from_v1(conn: &Connection) -> Result<()> {
    drop_capture_triggers(conn)?;
    let counter: i64 = conn
        .query_row("SELECT seq FROM sqlite_sequence WHERE name = '_sy_changes'", [], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    for (table, columns, select) in CONVERSIONS {
        let rowid = if table == "_sy_rows" || table == "_sy_cells" { " WITHOUT ROWID" } else { "" };
        conn.execute_batch(&format!(
            "CREATE TABLE {table}_v2({columns}){rowid};
             INSERT INTO {table}_v2 SELECT {select} FROM {table};
             DROP TABLE {table};
             ALTER TABLE {table}_v2 RENAME TO {table};"
        ))?;
    }
    let highest: i64 = conn.query_row("SELECT coalesce(max(seq), 0) FROM _sy_changes", [], |r| r.get(0))?;
    conn.execute("DELETE FROM sqlite_sequence WHERE name IN ('_sy_changes', '_sy_changes_v2')", [])?;
    conn.execute("INSERT INTO sqlite_sequence(name, seq) VALUES ('_sy_changes', ?1)", [counter.max(highest)])?;
    for column in NEW_PEER_COLUMNS {
        conn.execute_batch(&format!("ALTER TABLE _sy_peers ADD COLUMN {column}"))?;
    }
    conn.execute(
        "INSERT INTO _sy_meta(key, value) VALUES ('schema_version', 2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [],
    )?;
    Ok(())
}

/// Layout 2 to 3: every register so far is from run 0 (see `registers::Seen`),
/// no received change's HLC is known yet (the next batch brings it), and the
/// conflict counters start from the log.
pub fn from_v2(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "ALTER TABLE _sy_cells ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE _sy_peers ADD COLUMN received_hlc INTEGER NOT NULL DEFAULT 0;",
    )?;
    // Conflict counters are kept apart from the log from layout 3, which prunes it.
    super::conflicts::count_from_log(conn)?;
    reencode_quarantined_changes(conn)?;
    conn.execute(
        "INSERT INTO _sy_meta(key, value) VALUES ('schema_version', 3)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [],
    )?;
    Ok(())
}

/// A peer's change as wire format 2 encoded it: registers without a run.
#[derive(Deserialize)]
struct RowChangeV2 {
    table: String,
    pk: Value,
    kind: ChangeKind,
    changed: Vec<String>,
    row: RowState,
    cells: BTreeMap<String, CellV2>,
}

#[derive(Deserialize)]
struct CellV2 {
    value: Value,
    version: Version,
    seen: BTreeMap<String, i64>,
}

impl RowChangeV2 {
    fn upgrade(self) -> RowChange {
        let cells = self.cells.into_iter().map(|(col, cell)| {
            let runs = cell.seen.into_iter().map(|(site, hlc)| SeenRun { site, epoch: 0, hlc }).collect();
            (col, Cell { value: cell.value, version: cell.version, epoch: 0, seen: Seen(runs) })
        });
        RowChange {
            table: self.table,
            pk: self.pk,
            kind: self.kind,
            changed: self.changed,
            row: self.row,
            cells: cells.collect(),
        }
    }
}

/// Peers' changes waiting in the quarantine were kept as format 2 encoded
/// them; they are tried again as format 3, so they are re-encoded. One that
/// does not decode is left as it was (it stays listed, with its reason).
fn reencode_quarantined_changes(conn: &Connection) -> Result<()> {
    let kept: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sy_quarantine')",
        [],
        |r| r.get(0),
    )?;
    if !kept {
        return Ok(()); // layout 1 had no quarantine
    }
    let entries: Vec<(i64, Vec<u8>)> = conn
        .prepare("SELECT id, change FROM _sy_quarantine WHERE change IS NOT NULL")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, bytes) in entries {
        if let Ok(old) = decode::<RowChangeV2>(&bytes) {
            conn.execute("UPDATE _sy_quarantine SET change = ?1 WHERE id = ?2", params![encode(&old.upgrade()), id])?;
        }
    }
    Ok(())
}

/// The first layout's triggers write a column that no longer exists; they
/// are made again for every synced table when the database is opened.
fn drop_capture_triggers(conn: &Connection) -> Result<()> {
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '\\_sy\\_%' ESCAPE '\\'")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for name in names {
        conn.execute_batch(&format!("DROP TRIGGER {}", super::sql::ident(&name)))?;
    }
    Ok(())
}
