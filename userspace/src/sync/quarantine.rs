//! The quarantine: changes that could not be built (outbound) or applied
//! (inbound), each with its reason. Setting one aside lets every other change
//! keep flowing; entries are tried again later and leave once they go through.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::error::Result;
use super::hlc::wall_now_ms;
use super::log_limit::LogLimit;
use super::schema::{bump_counter, read_counter};
use super::sql::with_limit;
use super::value::Value;

const TOTAL_KEY: &str = "quarantined_total";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// A local change that could not be turned into a batch entry.
    Outbound,
    /// A peer's change that could not be applied here.
    Inbound,
}

impl Direction {
    fn as_sql(self) -> &'static str {
        match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
        }
    }
}

/// A change to set aside.
pub struct Entry<'a> {
    pub direction: Direction,
    /// The peer the change came from (inbound); empty for outbound.
    pub peer: &'a str,
    pub table: &'a str,
    pub pk: &'a Value,
    pub reason: &'a str,
    /// The encoded row change, for inbound entries, to try again later.
    pub change: Option<&'a [u8]>,
}

/// One entry as `sync status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarantinedChange {
    pub direction: Direction,
    pub peer: String,
    pub table: String,
    /// The row's key as SQL (`quote()` style).
    pub key: String,
    pub reason: String,
    pub attempts: i64,
    pub first_ms: f64,
    pub last_ms: f64,
}

/// Records the entry for this row and direction, or refreshes the one there
/// (a row's entry is counted once, however often it fails again). Returns
/// whether the entry is new.
pub fn set_aside(conn: &Connection, entry: &Entry<'_>) -> Result<bool> {
    let now = wall_now_ms();
    let direction = entry.direction.as_sql();
    let refreshed = conn
        .prepare_cached(
            "UPDATE _sy_quarantine SET reason = ?5, change = coalesce(?6, change), attempts = attempts + 1,
                                       last_ms = ?7
             WHERE direction = ?1 AND peer = ?2 AND tbl = ?3 AND pk IS ?4",
        )?
        .execute(params![direction, entry.peer, entry.table, entry.pk, entry.reason, entry.change, now])?;
    if refreshed > 0 {
        return Ok(false);
    }
    conn.prepare_cached(
        "INSERT INTO _sy_quarantine(direction, peer, tbl, pk, reason, change, first_ms, last_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
    )?
    .execute(params![direction, entry.peer, entry.table, entry.pk, entry.reason, entry.change, now])?;
    bump_counter(conn, TOTAL_KEY, 1)?;
    static LOG: LogLimit = LogLimit::new();
    if let Some(held_back) = LOG.allow() {
        tracing::warn!(
            direction = direction,
            peer = entry.peer,
            table = entry.table,
            key = %entry.pk,
            reason = entry.reason,
            held_back,
            "change set aside in the sync quarantine; the others keep flowing"
        );
    }
    Ok(true)
}

/// Removes the entry once the row's change went through.
pub fn release(conn: &Connection, direction: Direction, peer: &str, table: &str, pk: &Value) -> Result<bool> {
    let removed = conn
        .prepare_cached("DELETE FROM _sy_quarantine WHERE direction = ?1 AND peer = ?2 AND tbl = ?3 AND pk IS ?4")?
        .execute(params![direction.as_sql(), peer, table, pk])?;
    Ok(removed > 0)
}

/// Changes set aside since the database was set up (entries that later went
/// through included).
pub fn total(conn: &Connection) -> Result<i64> {
    read_counter(conn, TOTAL_KEY)
}

pub fn count(conn: &Connection) -> Result<i64> {
    Ok(conn.prepare_cached("SELECT count(*) FROM _sy_quarantine")?.query_row([], |r| r.get(0))?)
}

/// The newest `limit` entries.
pub fn list(conn: &Connection, limit: usize) -> Result<Vec<QuarantinedChange>> {
    let mut stmt = conn.prepare_cached(&with_limit(
        "SELECT direction, peer, tbl, pk, reason, attempts, first_ms, last_ms
         FROM _sy_quarantine ORDER BY last_ms DESC",
        limit,
    ))?;
    let rows = stmt.query_map([], |r| {
        let direction: String = r.get(0)?;
        Ok(QuarantinedChange {
            direction: if direction == "inbound" { Direction::Inbound } else { Direction::Outbound },
            peer: r.get(1)?,
            table: r.get(2)?,
            key: r.get::<_, Value>(3)?.to_string(),
            reason: r.get(4)?,
            attempts: r.get(5)?,
            first_ms: r.get(6)?,
            last_ms: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Inbound entries to try again: `(peer, encoded change)`.
pub fn inbound_retries(conn: &Connection) -> Result<Vec<(String, Vec<u8>)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT peer, change FROM _sy_quarantine WHERE direction = 'inbound' AND change IS NOT NULL ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Outbound entries to try again: `(table, key)`.
pub fn outbound_retries(conn: &Connection) -> Result<Vec<(String, Value)>> {
    let mut stmt =
        conn.prepare_cached("SELECT tbl, pk FROM _sy_quarantine WHERE direction = 'outbound' ORDER BY id")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
