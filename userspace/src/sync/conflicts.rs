//! The conflict log: every write discarded by a conflict rule, with both versions.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::error::Result;
use super::hlc::{Version, wall_now_ms};
use super::value::Value;

/// One discarded write. `column` is `None` for a row-level conflict
/// (a delete against an update).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictRecord {
    pub table: String,
    pub pk: Value,
    pub column: Option<String>,
    /// The peer whose batch (or our own site, for local writes) exposed the conflict.
    pub via_site: String,
    pub winner_value: Option<Value>,
    pub winner: Version,
    pub loser_value: Option<Value>,
    pub loser: Version,
    pub recorded_ms: f64,
}

/// Both sides of a conflict before it is written down.
struct Discarded<'a> {
    pub table: &'a str,
    pub pk: &'a Value,
    pub column: Option<&'a str>,
    pub via_site: &'a str,
    pub winner_value: Option<&'a Value>,
    pub winner: &'a Version,
    pub loser_value: Option<&'a Value>,
    pub loser: &'a Version,
}

/// Where conflicts on one row are recorded: the row and the site whose write
/// (or batch) exposed them. Shared by local stamping and remote merging.
pub struct RowConflicts<'a> {
    pub conn: &'a Connection,
    pub table: &'a str,
    pub pk: &'a Value,
    pub via_site: &'a str,
}

impl RowConflicts<'_> {
    /// Records that `loser` was discarded in favour of `winner`; `column` is
    /// `None` for the row's existence.
    pub fn discard(
        &self,
        column: Option<&str>,
        winner: &Version,
        winner_value: Option<&Value>,
        loser: &Version,
        loser_value: Option<&Value>,
    ) -> Result<()> {
        record(
            self.conn,
            &Discarded {
                table: self.table,
                pk: self.pk,
                column,
                via_site: self.via_site,
                winner_value,
                winner,
                loser_value,
                loser,
            },
        )
    }
}

/// Records a conflict once; re-applying an overlapping batch does not duplicate it.
fn record(conn: &Connection, d: &Discarded<'_>) -> Result<()> {
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
        d.winner_value,
        d.winner.hlc,
        d.winner.site,
        d.loser_value,
        d.loser.hlc,
        d.loser.site,
        wall_now_ms(),
    ])?;
    Ok(())
}

pub fn list(conn: &Connection) -> Result<Vec<ConflictRecord>> {
    let mut stmt = conn.prepare(
        "SELECT tbl, pk, col, via_site, winner_value, winner_hlc, winner_site,
                loser_value, loser_hlc, loser_site, recorded_ms
         FROM _sy_conflicts ORDER BY id",
    )?;
    let records = stmt.query_map([], |r| {
        let col: String = r.get(2)?;
        // A row-level conflict (no column) has no values; a column's value may be NULL.
        let value = |i: usize| -> rusqlite::Result<Option<Value>> {
            if col.is_empty() { Ok(None) } else { r.get(i).map(Some) }
        };
        Ok(ConflictRecord {
            table: r.get(0)?,
            pk: r.get(1)?,
            via_site: r.get(3)?,
            winner_value: value(4)?,
            winner: Version::new(r.get(5)?, r.get::<_, String>(6)?),
            loser_value: value(7)?,
            loser: Version::new(r.get(8)?, r.get::<_, String>(9)?),
            recorded_ms: r.get(10)?,
            column: (!col.is_empty()).then_some(col),
        })
    })?;
    Ok(records.collect::<rusqlite::Result<_>>()?)
}
