//! The module's own tables, all prefixed `_sy_`, created in the synced database.
//!
//! Columns that hold a user's key or value are declared without a type, so
//! SQLite stores every value exactly as given (no affinity conversion).

use rusqlite::{Connection, OptionalExtension, params};

use super::error::{Result, SyncError};
use super::incarnation::Incarnation;
use super::migrate;

/// Version of the metadata layout this code writes.
pub const SCHEMA_VERSION: u32 = 5;

pub(super) const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS _sy_meta(
    key   TEXT PRIMARY KEY,
    value
);
-- Raised only inside the apply transaction so capture triggers stay quiet
-- for remote changes; other connections never see it raised.
CREATE TABLE IF NOT EXISTS _sy_applying(
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    active INTEGER NOT NULL
);
INSERT OR IGNORE INTO _sy_applying(id, active) VALUES (1, 0);
-- Filled by triggers: which row a write touched, not its values (those are
-- read when the change is stamped). `hlc` stays NULL until then.
-- Peers hold positions (`seq`) in this log, so none is given out twice: SQLite gives a
-- new row the largest `seq` + 1, and the newest change is never deleted (see
-- `positions::leave_marker`). AUTOINCREMENT's counter would do the same at the cost
-- of a second b-tree write per captured change.
CREATE TABLE IF NOT EXISTS _sy_changes(
    seq      INTEGER PRIMARY KEY,
    tbl      TEXT NOT NULL,
    pk,
    kind     TEXT NOT NULL,
    changed  TEXT NOT NULL,
    wall_ms  REAL NOT NULL,
    hlc      INTEGER
);
-- Unstamped changes are found by a seek past `stamped_upto` in _sy_meta; the index
-- of them that earlier versions kept cost two b-tree writes per change.
DROP INDEX IF EXISTS _sy_changes_unstamped;
CREATE INDEX IF NOT EXISTS _sy_changes_row ON _sy_changes(tbl, pk);
-- A synced row's registers, in one record: the existence register (insert or
-- delete; dead rows are tombstones) and a last-writer-wins register per column
-- (value, the version that wrote it, the writer's run and history), encoded
-- together in `cells` (see registers::store). One record per row keeps
-- a change to one b-tree write. The existence columns are NULL for a row with
-- column registers only.
CREATE TABLE IF NOT EXISTS _sy_rows(
    tbl       TEXT NOT NULL,
    pk        NOT NULL,
    alive     INTEGER,
    hlc       INTEGER,
    site      TEXT,
    seen_hlc  INTEGER,
    seen_site TEXT,
    cells     BLOB NOT NULL DEFAULT x'',
    -- The newest column register's HLC, so that pruning need not decode `cells`.
    cells_hlc INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tbl, pk)
) WITHOUT ROWID;
-- Tombstones by age, for pruning: without it a prune reads every row's register
-- (about 60 ms a pass at a million rows, holding the write lock).
CREATE INDEX IF NOT EXISTS _sy_rows_dead ON _sy_rows(tbl, hlc) WHERE alive = 0;
CREATE TABLE IF NOT EXISTS _sy_peers(
    site             TEXT PRIMARY KEY,
    acked_seq        INTEGER NOT NULL DEFAULT 0,
    received_upto    INTEGER NOT NULL DEFAULT 0,
    -- The HLC of the peer's change at received_upto, returned with every
    -- acknowledgement: the peer checks that its change there is still that one.
    received_hlc     INTEGER NOT NULL DEFAULT 0,
    frontier_hlc     INTEGER NOT NULL DEFAULT 0,
    last_sent_ms     REAL,
    last_received_ms REAL,
    last_ack_ms      REAL,
    incarnation      TEXT,
    state_due        INTEGER NOT NULL DEFAULT 0,
    state_table      TEXT,
    state_after,
    check_ms         REAL,
    check_result     TEXT,
    check_divergent  INTEGER NOT NULL DEFAULT 0,
    repairs_total    INTEGER NOT NULL DEFAULT 0,
    conflicts_sent   INTEGER NOT NULL DEFAULT 0
);
-- Incarnations a peer has left behind; batches from them are refused.
CREATE TABLE IF NOT EXISTS _sy_retired(
    site        TEXT NOT NULL,
    incarnation TEXT NOT NULL,
    retired_ms  REAL NOT NULL,
    PRIMARY KEY (site, incarnation)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _sy_conflicts(
    id           INTEGER PRIMARY KEY,
    tbl          TEXT NOT NULL,
    pk,
    col          TEXT NOT NULL,
    via_site     TEXT NOT NULL,
    winner_value,
    winner_hlc   INTEGER NOT NULL,
    winner_site  TEXT NOT NULL,
    loser_value,
    loser_hlc    INTEGER NOT NULL,
    loser_site   TEXT NOT NULL,
    recorded_ms  REAL NOT NULL,
    -- The site that found the conflict, when it was not this one.
    found_at     TEXT,
    UNIQUE (tbl, pk, col, loser_hlc, loser_site)
);
-- This site's own conflicts, which batches carry to the peers: read after the last one
-- sent, without walking the (never pruned) conflicts other sites found.
CREATE INDEX IF NOT EXISTS _sy_conflicts_own ON _sy_conflicts(id) WHERE found_at IS NULL;
-- Conflicts other sites found, which pruning may forget before this site's own
-- unsent ones: read without stepping over those.
CREATE INDEX IF NOT EXISTS _sy_conflicts_elsewhere ON _sy_conflicts(id) WHERE found_at IS NOT NULL;
-- Changes that could not be built (outbound) or applied (inbound), set aside
-- so the others keep flowing; one entry per row and direction.
CREATE TABLE IF NOT EXISTS _sy_quarantine(
    id          INTEGER PRIMARY KEY,
    direction   TEXT NOT NULL,
    peer        TEXT NOT NULL,
    tbl         TEXT NOT NULL,
    pk,
    reason      TEXT NOT NULL,
    change      BLOB,
    attempts    INTEGER NOT NULL DEFAULT 1,
    first_ms    REAL NOT NULL,
    last_ms     REAL NOT NULL,
    UNIQUE (direction, peer, tbl, pk)
);
"#;

fn meta_text(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT CAST(value AS TEXT) FROM _sy_meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

fn has_table(conn: &Connection, name: &str) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
        [name],
        |r| r.get(0),
    )?)
}

/// The layout version of an existing database (0 for one never set up).
fn stored_version(conn: &Connection) -> Result<u32> {
    if !has_table(conn, "_sy_meta")? {
        return Ok(0);
    }
    let version = meta_text(conn, "schema_version")?.and_then(|v| v.parse().ok());
    Ok(version.unwrap_or(1))
}

/// Refuses, without writing anything, a database that `install` would refuse: one of
/// another site or set up by a newer version.
pub fn check_installable(conn: &Connection, site_id: &str) -> Result<()> {
    let found = stored_version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(SyncError::NewerDatabase { found, supported: SCHEMA_VERSION });
    }
    if found == 0 {
        return Ok(());
    }
    match meta_text(conn, "site_id")? {
        Some(existing) if existing != site_id => {
            Err(SyncError::WrongSite { database: existing, configured: site_id.into() })
        }
        _ => Ok(()),
    }
}

/// Creates (or upgrades) the metadata tables and binds the database file to
/// one site id. Returns the database's incarnation.
pub fn install(conn: &Connection, site_id: &str) -> Result<Incarnation> {
    match stored_version(conn)? {
        0 | SCHEMA_VERSION => {}
        1 => {
            migrate::from_v1(conn)?;
            migrate::from_v2(conn)?;
            migrate::from_v3(conn)?;
            migrate::from_v4(conn)?;
        }
        2 => {
            migrate::from_v2(conn)?;
            migrate::from_v3(conn)?;
            migrate::from_v4(conn)?;
        }
        3 => {
            migrate::from_v3(conn)?;
            migrate::from_v4(conn)?;
        }
        4 => migrate::from_v4(conn)?,
        newer => return Err(SyncError::NewerDatabase { found: newer, supported: SCHEMA_VERSION }),
    }
    conn.execute_batch(DDL)?;
    match meta_text(conn, "site_id")? {
        Some(existing) if existing != site_id => {
            return Err(SyncError::WrongSite { database: existing, configured: site_id.into() });
        }
        Some(_) => {}
        None => {
            conn.execute(
                "INSERT INTO _sy_meta(key, value) VALUES ('site_id', ?1), ('schema_version', ?2)",
                params![site_id, SCHEMA_VERSION],
            )?;
        }
    }
    match meta_text(conn, "incarnation")?.and_then(|text| Incarnation::parse(&text)) {
        Some(incarnation) => Ok(incarnation),
        None => {
            let incarnation = Incarnation::random();
            store_incarnation(conn, &incarnation)?;
            Ok(incarnation)
        }
    }
}

/// This database's incarnation (set up by `install`).
pub fn incarnation(conn: &Connection) -> Result<Incarnation> {
    let text: Option<String> = conn
        .prepare_cached("SELECT value FROM _sy_meta WHERE key = 'incarnation'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    text.and_then(|t| Incarnation::parse(&t)).ok_or_else(|| SyncError::Corrupt("no incarnation in _sy_meta".into()))
}

pub fn store_incarnation(conn: &Connection, incarnation: &Incarnation) -> Result<()> {
    conn.execute(
        "INSERT INTO _sy_meta(key, value) VALUES ('incarnation', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [incarnation.to_string()],
    )?;
    Ok(())
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

/// A counter kept in `_sy_meta`.
pub fn bump_counter(conn: &Connection, key: &str, by: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO _sy_meta(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
    )?
    .execute(params![key, by])?;
    Ok(())
}

pub fn read_counter(conn: &Connection, key: &str) -> Result<i64> {
    Ok(meta_value(conn, key)?.unwrap_or(0))
}

/// A value kept in `_sy_meta` (a counter, the clock, a horizon, a mark), if set.
pub fn meta_value<T: rusqlite::types::FromSql>(conn: &Connection, key: &str) -> Result<Option<T>> {
    Ok(conn.prepare_cached("SELECT value FROM _sy_meta WHERE key = ?1")?.query_row([key], |r| r.get(0)).optional()?)
}

/// How SQLite runs a statement on a freshly set-up database, one line per
/// step, for tests that hold the statements run often to an index.
#[cfg(test)]
pub(super) fn query_plan(sql: &str) -> Vec<String> {
    let conn = Connection::open_in_memory().unwrap();
    install(&conn, "a").unwrap();
    let mut explain = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    // Parameters stay unbound (NULL): the plan does not depend on their values.
    let unbound = rusqlite::params_from_iter(std::iter::repeat_n(rusqlite::types::Null, explain.parameter_count()));
    explain.query_map(unbound, |r| r.get(3)).unwrap().collect::<rusqlite::Result<_>>().unwrap()
}
