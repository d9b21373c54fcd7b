//! The conflict log: every write discarded by a conflict rule, with both versions.

use std::sync::LazyLock;

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::error::Result;
use super::hlc::{Version, wall_now_ms};
use super::schema::{bump_counter, meta_value, read_counter};
use super::sql::with_limit;
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
    /// The site that found it, when not this one (conflict logs travel with batches).
    pub found_at: Option<String>,
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
    let inserted = conn.prepare_cached(&RECORD)?.execute(params![
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
    count_new(conn, d.via_site, inserted)
}

/// Our newest record's time. A new record of ours is stamped after it even if
/// the wall clock stepped back, so it cannot fall at or before a time a peer
/// keeps as "forgotten up to here" (see `forgotten_ms`). Read through
/// `_sy_conflicts_own`.
const NEWEST_OWN: &str = "SELECT recorded_ms FROM _sy_conflicts WHERE found_at IS NULL ORDER BY id DESC LIMIT 1";

/// Records one of our conflicts, stamped with the wall clock (?11) or just after our newest.
static RECORD: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT OR IGNORE INTO _sy_conflicts(tbl, pk, col, via_site, winner_value, winner_hlc, winner_site,
                                             loser_value, loser_hlc, loser_site, recorded_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, max(?11, coalesce(({NEWEST_OWN}) + 0.001, 0)))"
    )
});

/// The counter of every conflict this log has taken (it survives pruning).
const TOTAL_KEY: &str = "conflicts_total";

/// The counter of conflicts found applying `site`'s writes.
fn via_key(site: &str) -> String {
    format!("conflicts_via/{site}")
}

fn count_new(conn: &Connection, via_site: &str, inserted: usize) -> Result<()> {
    if inserted > 0 {
        bump_counter(conn, TOTAL_KEY, inserted as i64)?;
        bump_counter(conn, &via_key(via_site), inserted as i64)?;
    }
    Ok(())
}

/// Conflicts this log has taken, pruned ones included.
pub fn total(conn: &Connection) -> Result<i64> {
    read_counter(conn, TOTAL_KEY)
}

/// Conflicts found applying `site`'s writes, pruned ones included.
pub fn via(conn: &Connection, site: &str) -> Result<i64> {
    read_counter(conn, &via_key(site))
}

/// Sets the counters from the log as it stands (a database from before they were kept).
pub fn count_from_log(conn: &Connection) -> Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO _sy_meta(key, value)
         SELECT ?1, count(*) FROM _sy_conflicts
         UNION ALL SELECT 'conflicts_via/' || via_site, count(*) FROM _sy_conflicts GROUP BY via_site",
        [TOTAL_KEY],
    )?;
    Ok(())
}

pub fn list(conn: &Connection) -> Result<Vec<ConflictRecord>> {
    let mut stmt = conn.prepare(
        "SELECT tbl, pk, col, via_site, winner_value, winner_hlc, winner_site,
                loser_value, loser_hlc, loser_site, recorded_ms, found_at
         FROM _sy_conflicts ORDER BY id",
    )?;
    let records = stmt.query_map([], record_from_row)?;
    Ok(records.collect::<rusqlite::Result<_>>()?)
}

/// This site's own conflicts after a position (through `_sy_conflicts_own`:
/// those other sites found are never read here).
const OWN_AFTER: &str = "SELECT tbl, pk, col, via_site, winner_value, winner_hlc, winner_site,
        loser_value, loser_hlc, loser_site, recorded_ms, found_at, id
     FROM _sy_conflicts WHERE found_at IS NULL AND id > ?1 ORDER BY id";

/// Conflicts found here after `after` (an id), for shipping: up to `limit`, with the last id.
pub fn found_here_after(conn: &Connection, after: i64, limit: usize) -> Result<(Vec<ConflictRecord>, i64)> {
    let mut stmt = conn.prepare_cached(&with_limit(OWN_AFTER, limit))?;
    let mut last = after;
    let mut records = Vec::new();
    for row in stmt.query_map([after], |r| Ok((record_from_row(r)?, r.get::<_, i64>(12)?)))? {
        let (record, id) = row?;
        records.push(record);
        last = id;
    }
    Ok((records, last))
}

/// `_sy_meta` keys, per site that found conflicts: the newest `recorded_ms`
/// of its records pruning forgot here.
pub const FORGOTTEN_PREFIX: &str = "conflicts_forgotten_ms/";

/// The newest of `finder`'s records forgotten here (0 for none). A finder sends
/// its records again when this site takes a new incarnation; those at or
/// before this are the forgotten ones, not new conflicts, and are not taken
/// (or counted) again.
fn forgotten_ms(conn: &Connection, finder: &str) -> Result<f64> {
    Ok(meta_value(conn, &format!("{FORGOTTEN_PREFIX}{finder}"))?.unwrap_or(0.0))
}

/// Keeps conflicts another site found (each loss once, whoever found it).
pub fn store_found_elsewhere(conn: &Connection, found_at: &str, records: &[ConflictRecord]) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let forgotten = forgotten_ms(conn, found_at)?;
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO _sy_conflicts(tbl, pk, col, via_site, winner_value, winner_hlc, winner_site,
                                             loser_value, loser_hlc, loser_site, recorded_ms, found_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    for c in records.iter().filter(|c| c.recorded_ms > forgotten) {
        let inserted = insert.execute(params![
            c.table,
            c.pk,
            c.column.as_deref().unwrap_or(""),
            c.via_site,
            c.winner_value,
            c.winner.hlc,
            c.winner.site,
            c.loser_value,
            c.loser.hlc,
            c.loser.site,
            c.recorded_ms,
            found_at,
        ])?;
        count_new(conn, &c.via_site, inserted)?;
    }
    Ok(())
}

fn record_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ConflictRecord> {
    {
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
            found_at: r.get(11)?,
            column: (!col.is_empty()).then_some(col),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every batch asks for our own conflicts after the last one sent; the ones
    /// other sites found (kept for good) must not be walked each time.
    #[test]
    fn own_conflicts_are_read_through_their_index() {
        let plan = super::super::schema::query_plan(&with_limit(OWN_AFTER, 100));
        assert!(plan.iter().any(|step| step.contains("INDEX _sy_conflicts_own")), "{plan:?}");
        let plan = super::super::schema::query_plan(NEWEST_OWN);
        assert!(plan.iter().any(|step| step.contains("INDEX _sy_conflicts_own")), "{plan:?}");
    }

    /// A wall clock that stepped back does not stamp a new record before our newest.
    #[test]
    fn our_records_times_only_go_forward() {
        let conn = Connection::open_in_memory().unwrap();
        super::super::schema::install(&conn, "a").unwrap();
        let ahead = wall_now_ms() + 3_600_000.0;
        conn.execute(
            "INSERT INTO _sy_conflicts(tbl, pk, col, via_site, winner_hlc, winner_site, loser_hlc, loser_site, recorded_ms)
             VALUES ('t', 1, 'c', 'b', 2, 'b', 1, 'a', ?1)",
            [ahead],
        )
        .unwrap();
        let row = RowConflicts { conn: &conn, table: "t", pk: &Value::Integer(2), via_site: "b" };
        row.discard(Some("c"), &Version::new(4, "b"), None, &Version::new(3, "a"), None).unwrap();
        let times: Vec<f64> = conn
            .prepare("SELECT recorded_ms FROM _sy_conflicts ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(times.len(), 2);
        assert!(times[1] > ahead, "after our newest, not at the wall clock: {times:?}");
        assert!(times[1] - ahead < 1.0);
    }
}
