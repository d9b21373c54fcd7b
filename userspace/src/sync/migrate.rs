//! Upgrading a database set up by an earlier layout: the first stored keys and
//! values as JSON text, the second kept no run ids in the registers and no
//! received change's HLC, the third kept a record per column register, the
//! fourth numbered changes with AUTOINCREMENT. Runs
//! inside the opening transaction, so a failure leaves the database as it was.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Deserialize;

use super::batch::{ChangeKind, RowChange};
use super::error::Result;
use super::hlc::Version;
use super::positions::{keep_position, log_end};
use super::registers::{Cell, RowState, Seen, SeenRun, load, store};
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
    record_layout(conn, 2)?;
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
    record_layout(conn, 3)?;
    Ok(())
}

/// Layout 3 to 4: a row's column registers move from a record each in
/// `_sy_cells` into the row's record in `_sy_rows` (see `registers::store`).
/// The old table is moved aside and the layout's own DDL makes the new one.
pub fn from_v3(conn: &Connection) -> Result<()> {
    remake(conn, "_sy_rows", "_sy_rows_dead", "_sy_rows_v3")?;
    conn.execute_batch(
        "INSERT INTO _sy_rows(tbl, pk, alive, hlc, site, seen_hlc, seen_site)
             SELECT tbl, pk, alive, hlc, site, seen_hlc, seen_site FROM _sy_rows_v3;",
    )?;
    move_cells_into_rows(conn)?;
    conn.execute_batch(
        "DROP TABLE _sy_cells;
         DROP TABLE _sy_rows_v3;",
    )?;
    record_layout(conn, 4)?;
    Ok(())
}

/// Layout 4 to 5: the change log without AUTOINCREMENT, whose counter cost every
/// captured change a second b-tree write. Positions peers hold are never given out
/// again: when the counter is past the log's newest change (pruned), a marker holds it.
pub fn from_v4(conn: &Connection) -> Result<()> {
    // SQLite refuses the rename while triggers name a table that is gone; opening makes them again.
    drop_capture_triggers(conn)?;
    let counted: bool =
        conn.query_row("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence')", [], |r| r.get(0))?;
    let counter: Option<i64> = if counted {
        conn.query_row("SELECT seq FROM sqlite_sequence WHERE name = '_sy_changes'", [], |r| r.get(0)).optional()?
    } else {
        None
    };
    remake(conn, "_sy_changes", "_sy_changes_row", "_sy_changes_v4")?;
    conn.execute_batch(
        "INSERT INTO _sy_changes(seq, tbl, pk, kind, changed, wall_ms, hlc)
             SELECT seq, tbl, pk, kind, changed, wall_ms, hlc FROM _sy_changes_v4;
         DROP TABLE _sy_changes_v4;",
    )?;
    let end = log_end(conn)?;
    if let Some(counter) = counter.filter(|&counter| counter > end) {
        keep_position(conn, counter)?;
    }
    record_layout(conn, 5)
}

/// Moves `table` aside as `aside` and lets the layout's own DDL make it again; the caller
/// copies the rows back. Its index `index` is dropped first, so that the DDL makes it on the
/// new table here: renamed with the old table, it would hold the name until that is dropped.
fn remake(conn: &Connection, table: &str, index: &str, aside: &str) -> Result<()> {
    conn.execute_batch(&format!("DROP INDEX IF EXISTS {index}; ALTER TABLE {table} RENAME TO {aside};"))?;
    conn.execute_batch(super::schema::DDL)?;
    Ok(())
}

/// Notes that the database now has layout `version`.
fn record_layout(conn: &Connection, version: u32) -> Result<()> {
    conn.execute(
        "INSERT INTO _sy_meta(key, value) VALUES ('schema_version', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [version],
    )?;
    Ok(())
}

/// Each row's column registers, read in key order, written into its record.
fn move_cells_into_rows(conn: &Connection) -> Result<()> {
    let mut cells =
        conn.prepare("SELECT tbl, pk, col, value, hlc, site, epoch, seen FROM _sy_cells ORDER BY tbl, pk")?;
    let flush = |(table, pk, cells): (String, Value, BTreeMap<String, Cell>)| -> Result<()> {
        let (row, _) = load(conn, &table, &pk)?;
        store(conn, &table, &pk, row.as_ref(), &cells)
    };
    let mut rows = cells.query([])?;
    let mut current: Option<(String, Value, BTreeMap<String, Cell>)> = None;
    while let Some(r) = rows.next()? {
        let (table, pk): (String, Value) = (r.get(0)?, r.get(1)?);
        let cell = Cell {
            value: r.get(3)?,
            version: Version::new(r.get(4)?, r.get::<_, String>(5)?),
            epoch: r.get(6)?,
            seen: Seen::from_json(&r.get::<_, String>(7)?),
        };
        // Keys SQLite takes for one (1 and 1.0) are one row, and sort next to each other.
        if current.as_ref().is_none_or(|(t, p, _)| *t != table || p.as_row_key() != pk.as_row_key()) {
            if let Some(done) = current.take() {
                flush(done)?;
            }
            current = Some((table, pk, BTreeMap::new()));
        }
        current.as_mut().expect("set above").2.insert(r.get(2)?, cell);
    }
    if let Some(done) = current {
        flush(done)?;
    }
    Ok(())
}

/// Turns a layout-4 database back into layout 3, for tests of the upgrades
/// from earlier layouts: a record per column register again.
#[cfg(any(test, feature = "fixtures"))]
pub fn to_layout_3(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE _sy_cells(
             tbl TEXT NOT NULL, pk NOT NULL, col TEXT NOT NULL, value, hlc INTEGER NOT NULL,
             site TEXT NOT NULL, epoch INTEGER NOT NULL DEFAULT 0, seen TEXT NOT NULL DEFAULT '{}',
             PRIMARY KEY (tbl, pk, col)) WITHOUT ROWID;",
    )?;
    let rows: Vec<(String, Value, Vec<u8>)> = conn
        .prepare("SELECT tbl, pk, cells FROM _sy_rows")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (table, pk, bytes) in rows {
        let cells =
            super::registers::decode_cells(&bytes).map_err(|e| super::error::SyncError::Corrupt(e.to_string()))?;
        for (col, cell) in cells {
            conn.execute(
                "INSERT INTO _sy_cells VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    table,
                    pk,
                    col,
                    cell.value,
                    cell.version.hlc,
                    cell.version.site,
                    cell.epoch,
                    cell.seen.to_json()
                ],
            )?;
        }
    }
    conn.execute_batch(LAYOUT_3_ROWS)?;
    Ok(())
}

/// Turns a layout-5 database back into layout 4, for tests of the upgrade from it: the
/// change log numbered by AUTOINCREMENT, its counter at `counter` (or the newest change).
#[cfg(any(test, feature = "fixtures"))]
pub fn to_layout_4(conn: &Connection, counter: i64) -> Result<()> {
    drop_capture_triggers(conn)?;
    conn.execute_batch(
        "CREATE TABLE _sy_changes_v4(seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, pk,
             kind TEXT NOT NULL, changed TEXT NOT NULL, wall_ms REAL NOT NULL, hlc INTEGER);
         INSERT INTO _sy_changes_v4 SELECT * FROM _sy_changes WHERE tbl <> '_sy_position';
         DROP TABLE _sy_changes;
         ALTER TABLE _sy_changes_v4 RENAME TO _sy_changes;
         CREATE INDEX _sy_changes_row ON _sy_changes(tbl, pk);
         UPDATE _sy_meta SET value = 4 WHERE key = 'schema_version';
         DELETE FROM sqlite_sequence WHERE name = '_sy_changes';",
    )?;
    conn.execute(
        "INSERT INTO sqlite_sequence(name, seq) SELECT '_sy_changes', max(?1, coalesce(max(seq), 0)) FROM _sy_changes",
        [counter],
    )?;
    Ok(())
}

/// Layout 3's existence registers, rebuilt from layout 4's records.
#[cfg(any(test, feature = "fixtures"))]
const LAYOUT_3_ROWS: &str = "
    CREATE TABLE _sy_rows_v3(
        tbl TEXT NOT NULL, pk NOT NULL, alive INTEGER NOT NULL, hlc INTEGER NOT NULL, site TEXT NOT NULL,
        seen_hlc INTEGER, seen_site TEXT, PRIMARY KEY (tbl, pk)) WITHOUT ROWID;
    INSERT INTO _sy_rows_v3 SELECT tbl, pk, alive, hlc, site, seen_hlc, seen_site FROM _sy_rows
        WHERE alive IS NOT NULL;
    DROP TABLE _sy_rows;
    ALTER TABLE _sy_rows_v3 RENAME TO _sy_rows;
    CREATE INDEX _sy_rows_dead ON _sy_rows(tbl, hlc) WHERE alive = 0;
    UPDATE _sy_meta SET value = 3 WHERE key = 'schema_version';";

#[cfg(test)]
mod tests {
    use super::super::schema::install;
    use super::*;

    /// Layout 3 kept a row's column registers under the key each write gave
    /// it: 1 and 1.0 are one key to SQLite, so they are one row's registers.
    /// A register without an existence register is kept too.
    #[test]
    fn the_upgrade_to_layout_4_keeps_every_column_of_a_row() {
        let conn = Connection::open_in_memory().unwrap();
        install(&conn, "a").unwrap();
        to_layout_3(&conn).unwrap();
        conn.execute_batch(
            "INSERT INTO _sy_rows VALUES ('t', 1, 1, 10, 'a', NULL, NULL);
             INSERT INTO _sy_cells VALUES ('t', 1, 'a', 'x', 10, 'a', 7, '{}'), ('t', 1.0, 'b', 'y', 10, 'a', 7, '{}'),
                 ('t', 1, 'c', 'z', 11, 'b', 8, '[[\"a\",7,10]]'), ('t', 2, 'a', 'w', 12, 'a', 7, '{}');",
        )
        .unwrap();
        from_v3(&conn).unwrap();
        let (row, cells) = load(&conn, "t", &Value::Integer(1)).unwrap();
        assert_eq!(row.map(|r| r.version), Some(Version::new(10, "a")));
        assert_eq!(cells.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(cells["c"].seen, Seen(vec![SeenRun { site: "a".into(), epoch: 7, hlc: 10 }]));
        assert_eq!((cells["c"].epoch, cells["b"].value.clone()), (8, Value::from("y")));
        let (orphan_row, orphan_cells) = load(&conn, "t", &Value::Integer(2)).unwrap();
        assert_eq!((orphan_row, orphan_cells["a"].value.clone()), (None, Value::from("w")));
    }
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
