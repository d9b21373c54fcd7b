//! Per-row replicated state: one existence register and one last-writer-wins
//! register per column, each carrying the version of the write that set it.
//! The user's table is a projection of these registers.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, Statement, params};
use serde::{Deserialize, Serialize};

use super::error::{Result, SyncError};
use super::hlc::Version;
use super::value::Value;

/// An empty history as stored.
const EMPTY_JSON: &str = "{}";

/// Runs of one site a history keeps apart before it forgets the oldest: a
/// forgotten run's old writes, should they turn up, are logged as conflicts
/// (one too many, never one too few).
const RUNS_PER_SITE: usize = 8;

/// Who made a write: the site, and the run of its replica (a random id each
/// opening of the database takes). Within one run a site's writes to a column
/// are made one after another, each over the last; across runs that holds only
/// if the database kept them all, which a restore from a backup breaks.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SeenRun {
    pub site: String,
    pub epoch: u32,
    /// The newest of this run's writes the history holds.
    pub hlc: i64,
}

/// The writes a write was made over, directly or through others: per site and
/// run, the newest of them (and with it every earlier one of that run). A
/// write whose history covers another was made knowing it: overwriting it is
/// no conflict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen(pub Vec<SeenRun>);

impl Seen {
    pub fn covers(&self, version: &Version, epoch: u32) -> bool {
        self.0.iter().any(|run| run.site == version.site && run.epoch == epoch && run.hlc >= version.hlc)
    }

    /// The history of a write made over `cell`: the cell's history and the cell itself.
    pub fn over(cell: &Cell) -> Seen {
        let mut runs = cell.seen.0.clone();
        let (site, hlc) = (&cell.version.site, cell.version.hlc);
        match runs.iter_mut().find(|run| run.site == *site && run.epoch == cell.epoch) {
            Some(run) => run.hlc = run.hlc.max(hlc),
            None => {
                runs.push(SeenRun { site: site.clone(), epoch: cell.epoch, hlc });
                forget_oldest_runs(&mut runs, site);
            }
        }
        runs.sort();
        Seen(runs)
    }

    /// A history as layout 3 stored it (for tests of the upgrade from it).
    #[cfg(any(test, feature = "fixtures"))]
    pub(super) fn to_json(&self) -> String {
        if self.0.is_empty() {
            return EMPTY_JSON.to_string();
        }
        let runs: Vec<(&str, u32, i64)> = self.0.iter().map(|r| (r.site.as_str(), r.epoch, r.hlc)).collect();
        serde_json::to_string(&runs).expect("a list of runs is JSON")
    }

    /// Reads a history as layouts 2 and 3 stored it, when upgrading from them:
    /// a list of `[site, run, hlc]`, or the earlier map of site to HLC (writes
    /// from before runs were told apart, run 0).
    pub fn from_json(text: &str) -> Seen {
        if text == EMPTY_JSON {
            return Seen::default();
        }
        // An unreadable history counts as none (more conflicts logged, never fewer).
        let runs: Vec<SeenRun> = match serde_json::from_str::<Vec<(String, u32, i64)>>(text) {
            Ok(runs) => runs.into_iter().map(|(site, epoch, hlc)| SeenRun { site, epoch, hlc }).collect(),
            Err(_) => serde_json::from_str::<BTreeMap<String, i64>>(text)
                .unwrap_or_default()
                .into_iter()
                .map(|(site, hlc)| SeenRun { site, epoch: 0, hlc })
                .collect(),
        };
        Seen(runs)
    }
}

/// Keeps at most `RUNS_PER_SITE` runs of `site`, dropping those with the oldest writes.
fn forget_oldest_runs(runs: &mut Vec<SeenRun>, site: &str) {
    while runs.iter().filter(|r| r.site == site).count() > RUNS_PER_SITE {
        let oldest = runs
            .iter()
            .enumerate()
            .filter(|(_, r)| r.site == site)
            .min_by_key(|(_, r)| r.hlc)
            .map(|(i, _)| i)
            .expect("the site has runs");
        runs.remove(oldest);
    }
}

/// One column's register. `seen` is the history the writer held before
/// writing, which tells a sequential overwrite from a concurrent one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub value: Value,
    pub version: Version,
    /// The run of the writing site's replica that made the write (0: from before runs were kept).
    pub epoch: u32,
    pub seen: Seen,
}

/// The row's existence register. `seen` (deletes only) is the newest version
/// of the row the deleting site knew, which `UpdateWins` needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowState {
    pub alive: bool,
    pub version: Version,
    pub seen: Option<Version>,
}

fn version_from(hlc: Option<i64>, site: Option<String>) -> Option<Version> {
    Some(Version::new(hlc?, site?))
}

/// A row's existence register (none if never written) and column registers.
pub type Registers = (Option<RowState>, BTreeMap<String, Cell>);

/// Reads a row's registers (see `load_in`).
pub const LOAD: &str = "SELECT alive, hlc, site, seen_hlc, seen_site, cells FROM _sy_rows WHERE tbl = ?1 AND pk = ?2";

/// A row's registers; none when the row was never written (or was forgotten).
pub fn load(conn: &Connection, table: &str, pk: &Value) -> Result<Registers> {
    load_in(&mut *conn.prepare_cached(LOAD)?, table, pk)
}

/// `load` with `LOAD` prepared by the caller.
pub fn load_in(stmt: &mut Statement<'_>, table: &str, pk: &Value) -> Result<Registers> {
    let stored = stmt
        .query_row(params![table, pk], |r| {
            let row = match (r.get::<_, Option<bool>>(0)?, r.get::<_, Option<i64>>(1)?, r.get::<_, Option<String>>(2)?)
            {
                (Some(alive), Some(hlc), Some(site)) => {
                    Some(RowState { alive, version: Version::new(hlc, site), seen: version_from(r.get(3)?, r.get(4)?) })
                }
                _ => None,
            };
            Ok((row, r.get::<_, Vec<u8>>(5)?))
        })
        .optional()?;
    let Some((row, cells)) = stored else {
        return Ok((None, BTreeMap::new()));
    };
    let cells = decode_cells(&cells)
        .map_err(|e| SyncError::Corrupt(format!("the column registers of row {pk} of {table} do not decode: {e}")))?;
    Ok((row, cells))
}

/// Writes a row's registers (see `store_in`).
pub const STORE: &str = "INSERT INTO _sy_rows(tbl, pk, alive, hlc, site, seen_hlc, seen_site, cells, cells_hlc)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
     ON CONFLICT(tbl, pk) DO UPDATE SET alive = excluded.alive, hlc = excluded.hlc,
         site = excluded.site, seen_hlc = excluded.seen_hlc, seen_site = excluded.seen_site,
         cells = excluded.cells, cells_hlc = excluded.cells_hlc";

/// Writes a row's registers, all in one record: one b-tree write per change
/// where a record per column took one per column written and one more.
pub fn store(
    conn: &Connection,
    table: &str,
    pk: &Value,
    row: Option<&RowState>,
    cells: &BTreeMap<String, Cell>,
) -> Result<()> {
    store_in(&mut *conn.prepare_cached(STORE)?, table, pk, row, cells)
}

/// `store` with `STORE` prepared by the caller.
pub fn store_in(
    stmt: &mut Statement<'_>,
    table: &str,
    pk: &Value,
    row: Option<&RowState>,
    cells: &BTreeMap<String, Cell>,
) -> Result<()> {
    let newest_cell = cells.values().map(|c| c.version.hlc).max().unwrap_or(0);
    stmt.execute(params![
        table,
        pk,
        row.map(|r| r.alive),
        row.map(|r| r.version.hlc),
        row.map(|r| r.version.site.as_str()),
        row.and_then(|r| r.seen.as_ref()).map(|v| v.hlc),
        row.and_then(|r| r.seen.as_ref()).map(|v| v.site.as_str()),
        encode_cells(cells),
        newest_cell,
    ])?;
    Ok(())
}

/// Writes a row's existence register and leaves its column registers as they are.
pub fn store_row(conn: &Connection, table: &str, pk: &Value, row: &RowState) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO _sy_rows(tbl, pk, alive, hlc, site, seen_hlc, seen_site)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(tbl, pk) DO UPDATE SET alive = excluded.alive, hlc = excluded.hlc,
             site = excluded.site, seen_hlc = excluded.seen_hlc, seen_site = excluded.seen_site",
    )?
    .execute(params![
        table,
        pk,
        row.alive,
        row.version.hlc,
        row.version.site,
        row.seen.as_ref().map(|v| v.hlc),
        row.seen.as_ref().map(|v| v.site.as_str()),
    ])?;
    Ok(())
}

/// Column registers as stored: postcard, like the wire, so values keep their
/// exact bytes. `Cell`'s serde shape is the stored layout as well as the
/// wire's: a change to it needs a layout migration that re-encodes `cells`.
fn encode_cells(cells: &BTreeMap<String, Cell>) -> Vec<u8> {
    postcard::to_stdvec(cells).expect("registers encode")
}

/// An empty record (a row with no column register yet) is no register.
pub(super) fn decode_cells(bytes: &[u8]) -> std::result::Result<BTreeMap<String, Cell>, postcard::Error> {
    if bytes.is_empty() {
        return Ok(BTreeMap::new());
    }
    postcard::from_bytes(bytes)
}

/// Removes all registers of a row (tombstone pruning).
pub fn forget_row(conn: &Connection, table: &str, pk: &Value) -> Result<()> {
    conn.prepare_cached("DELETE FROM _sy_rows WHERE tbl = ?1 AND pk = ?2")?.execute(params![table, pk])?;
    Ok(())
}

/// Newest version anywhere in the row: what a deleting site has seen.
pub fn newest_version(row: Option<&RowState>, cells: &BTreeMap<String, Cell>) -> Option<Version> {
    cells.values().map(|c| &c.version).chain(row.map(|r| &r.version)).max().cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(site: &str, epoch: u32, hlc: i64, seen: Seen) -> Cell {
        Cell { value: Value::Integer(hlc), version: Version::new(hlc, site), epoch, seen }
    }

    #[test]
    fn a_history_covers_earlier_writes_of_the_same_run_only() {
        let first = cell("a", 1, 10, Seen::default());
        let second = cell("a", 1, 20, Seen::over(&first));
        let third = cell("a", 2, 30, Seen::over(&second));
        let history = Seen::over(&third);
        assert!(history.covers(&Version::new(15, "a"), 1), "a write of run 1 before the newest seen");
        assert!(history.covers(&Version::new(30, "a"), 2));
        assert!(!history.covers(&Version::new(25, "a"), 1), "run 1 wrote 25 after the last write run 2 saw");
        assert!(!history.covers(&Version::new(5, "b"), 1));
    }

    #[test]
    fn stored_histories_round_trip_and_old_ones_read_as_run_0() {
        let history = Seen::over(&cell("b", 7, 40, Seen::over(&cell("a", 3, 10, Seen::default()))));
        assert_eq!(Seen::from_json(&history.to_json()), history);
        assert_eq!(Seen::default().to_json(), "{}");
        let old = Seen::from_json(r#"{"a":12,"b":9}"#);
        assert!(old.covers(&Version::new(12, "a"), 0) && old.covers(&Version::new(9, "b"), 0));
        assert!(!old.covers(&Version::new(12, "a"), 1));
        assert_eq!(Seen::from_json("not json"), Seen::default(), "unreadable: no history, more conflicts logged");
    }

    #[test]
    fn a_history_keeps_the_newest_runs_of_each_site() {
        let mut current = cell("b", 1, 1, Seen::default());
        for run in 1..=20u32 {
            current = cell("a", run, 100 + i64::from(run), Seen::over(&current));
        }
        let history = Seen::over(&current);
        let of_a: Vec<u32> = history.0.iter().filter(|r| r.site == "a").map(|r| r.epoch).collect();
        assert_eq!(of_a, (13..=20).collect::<Vec<_>>(), "the 8 newest runs of a");
        assert!(history.covers(&Version::new(1, "b"), 1), "another site's run is kept");
    }
}
