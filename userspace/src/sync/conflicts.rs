//! The conflict log: every write discarded by a conflict rule, with both versions.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::error::{Result, SyncError};
use super::hlc::{Version, wall_now_ms};

/// One discarded write. `column` is `None` for a row-level conflict
/// (a delete against an update).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictRecord {
    pub table: String,
    pub pk: Json,
    pub column: Option<String>,
    /// The peer whose batch (or our own site, for local writes) exposed the conflict.
    pub via_site: String,
    pub winner_value: Option<Json>,
    pub winner: Version,
    pub loser_value: Option<Json>,
    pub loser: Version,
    pub recorded_ms: f64,
}

/// Both sides of a conflict before it is written down.
pub struct Discarded<'a> {
    pub table: &'a str,
    pub pk: &'a str,
    pub column: Option<&'a str>,
    pub via_site: &'a str,
    pub winner_value: Option<&'a Json>,
    pub winner: &'a Version,
    pub loser_value: Option<&'a Json>,
    pub loser: &'a Version,
}

/// Records a conflict once; re-applying an overlapping batch does not duplicate it.
pub fn record(conn: &Connection, d: &Discarded<'_>) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO _sy_conflicts(tbl, pk, col, via_site, winner_value, winner_hlc, winner_site,
                                             loser_value, loser_hlc, loser_site, recorded_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        d.table,
        d.pk,
        d.column.unwrap_or(""),
        d.via_site,
        d.winner_value.map(|v| v.to_string()),
        d.winner.hlc,
        d.winner.site,
        d.loser_value.map(|v| v.to_string()),
        d.loser.hlc,
        d.loser.site,
        wall_now_ms(),
    ])?;
    Ok(())
}

fn parse(text: Option<String>) -> Result<Option<Json>> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| SyncError::Corrupt(format!("conflict value: {e}")))).transpose()
}

pub fn list(conn: &Connection) -> Result<Vec<ConflictRecord>> {
    let mut stmt = conn.prepare(
        "SELECT tbl, pk, col, via_site, winner_value, winner_hlc, winner_site,
                loser_value, loser_hlc, loser_site, recorded_ms
         FROM _sy_conflicts ORDER BY id",
    )?;
    let raw = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, Option<String>>(4)?,
            Version::new(r.get(5)?, r.get::<_, String>(6)?),
            r.get::<_, Option<String>>(7)?,
            Version::new(r.get(8)?, r.get::<_, String>(9)?),
            r.get::<_, f64>(10)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in raw {
        let (table, pk, col, via_site, winner_value, winner, loser_value, loser, recorded_ms) = row?;
        out.push(ConflictRecord {
            table,
            pk: serde_json::from_str(&pk).map_err(|e| SyncError::Corrupt(format!("conflict key: {e}")))?,
            column: (!col.is_empty()).then_some(col),
            via_site,
            winner_value: parse(winner_value)?,
            winner,
            loser_value: parse(loser_value)?,
            loser,
            recorded_ms,
        });
    }
    Ok(out)
}
