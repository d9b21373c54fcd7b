//! The module's own tables, all prefixed `_sy_`, created in the synced database.

use rusqlite::{Connection, OptionalExtension, params};

use super::error::{Result, SyncError};

/// Version of the batch format and metadata layout this code speaks.
pub const SCHEMA_VERSION: u32 = 1;

const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS _sy_meta(
    key   TEXT PRIMARY KEY,
    value ANY
);
-- Raised only inside the apply transaction so capture triggers stay quiet
-- for remote changes; other connections never see it raised.
CREATE TABLE IF NOT EXISTS _sy_applying(
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    active INTEGER NOT NULL
);
INSERT OR IGNORE INTO _sy_applying(id, active) VALUES (1, 0);
-- Filled by triggers; `hlc` stays NULL until the change is stamped.
CREATE TABLE IF NOT EXISTS _sy_changes(
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    tbl      TEXT NOT NULL,
    pk       TEXT NOT NULL,
    kind     TEXT NOT NULL,
    changed  TEXT NOT NULL,
    row_json TEXT,
    wall_ms  REAL NOT NULL,
    hlc      INTEGER
);
CREATE INDEX IF NOT EXISTS _sy_changes_unstamped ON _sy_changes(seq) WHERE hlc IS NULL;
CREATE INDEX IF NOT EXISTS _sy_changes_row ON _sy_changes(tbl, pk);
-- Row existence register (insert/delete) per synced row; dead rows are tombstones.
CREATE TABLE IF NOT EXISTS _sy_rows(
    tbl       TEXT NOT NULL,
    pk        TEXT NOT NULL,
    alive     INTEGER NOT NULL,
    hlc       INTEGER NOT NULL,
    site      TEXT NOT NULL,
    seen_hlc  INTEGER,
    seen_site TEXT,
    PRIMARY KEY (tbl, pk)
) WITHOUT ROWID;
-- Last-writer-wins register per column: value and the version that wrote it.
CREATE TABLE IF NOT EXISTS _sy_cells(
    tbl       TEXT NOT NULL,
    pk        TEXT NOT NULL,
    col       TEXT NOT NULL,
    value     TEXT NOT NULL,
    hlc       INTEGER NOT NULL,
    site      TEXT NOT NULL,
    prev_hlc  INTEGER,
    prev_site TEXT,
    PRIMARY KEY (tbl, pk, col)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _sy_peers(
    site             TEXT PRIMARY KEY,
    acked_seq        INTEGER NOT NULL DEFAULT 0,
    received_upto    INTEGER NOT NULL DEFAULT 0,
    frontier_hlc     INTEGER NOT NULL DEFAULT 0,
    last_sent_ms     REAL,
    last_received_ms REAL,
    last_ack_ms      REAL
);
CREATE TABLE IF NOT EXISTS _sy_conflicts(
    id           INTEGER PRIMARY KEY,
    tbl          TEXT NOT NULL,
    pk           TEXT NOT NULL,
    col          TEXT NOT NULL,
    via_site     TEXT NOT NULL,
    winner_value TEXT,
    winner_hlc   INTEGER NOT NULL,
    winner_site  TEXT NOT NULL,
    loser_value  TEXT,
    loser_hlc    INTEGER NOT NULL,
    loser_site   TEXT NOT NULL,
    recorded_ms  REAL NOT NULL,
    UNIQUE (tbl, pk, col, loser_hlc, loser_site)
);
"#;

/// Creates the metadata tables and binds the database file to one site id.
pub fn install(conn: &Connection, site_id: &str) -> Result<()> {
    conn.execute_batch(DDL)?;
    let stored: Option<String> =
        conn.query_row("SELECT value FROM _sy_meta WHERE key = 'site_id'", [], |r| r.get(0)).optional()?;
    match stored {
        Some(existing) if existing != site_id => {
            Err(SyncError::Config(format!("database belongs to site `{existing}`, not `{site_id}`")))
        }
        Some(_) => Ok(()),
        None => {
            conn.execute(
                "INSERT INTO _sy_meta(key, value) VALUES ('site_id', ?1), ('schema_version', ?2)",
                params![site_id, SCHEMA_VERSION],
            )?;
            Ok(())
        }
    }
}

/// Registers peers so their positions exist from the start (pruning waits for them).
pub fn register_peers(conn: &Connection, peers: &[String]) -> Result<()> {
    let mut insert = conn.prepare("INSERT OR IGNORE INTO _sy_peers(site) VALUES (?1)")?;
    for peer in peers {
        insert.execute([peer])?;
    }
    Ok(())
}

/// Toggles the flag the capture triggers check.
pub fn set_applying(conn: &Connection, active: bool) -> Result<()> {
    conn.prepare_cached("UPDATE _sy_applying SET active = ?1 WHERE id = 1")?.execute([active as i64])?;
    Ok(())
}
