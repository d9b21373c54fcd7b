//! Per-row replicated state: one existence register and one last-writer-wins
//! register per column, each carrying the version of the write that set it.
//! The user's table is a projection of these registers.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::error::Result;
use super::hlc::Version;
use super::value::Value;

/// An empty history as stored.
const EMPTY_JSON: &str = "{}";

/// Per site, the newest of its writes to a column that a write had in its
/// history (the writes it overwrote, and theirs). A write whose history covers
/// another was made knowing it: overwriting it is no conflict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen(pub BTreeMap<String, i64>);

impl Seen {
    pub fn covers(&self, version: &Version) -> bool {
        self.0.get(&version.site).is_some_and(|hlc| *hlc >= version.hlc)
    }

    /// The history of a write made over `cell`: the cell's history and the cell itself.
    pub fn over(cell: &Cell) -> Seen {
        let mut seen = cell.seen.clone();
        let newest = seen.0.entry(cell.version.site.clone()).or_insert(cell.version.hlc);
        *newest = (*newest).max(cell.version.hlc);
        seen
    }

    fn to_json(&self) -> String {
        // Most cells overwrite nothing (a new row): no need to run the encoder for them.
        if self.0.is_empty() {
            return EMPTY_JSON.to_string();
        }
        serde_json::to_string(&self.0).expect("a map of site to HLC is JSON")
    }

    fn from_json(text: &str) -> Seen {
        if text == EMPTY_JSON {
            return Seen::default();
        }
        // Written only by `to_json`; an unreadable history counts as none (more conflicts logged, never fewer).
        Seen(serde_json::from_str(text).unwrap_or_default())
    }
}

/// One column's register. `seen` is the history the writer held before
/// writing, which tells a sequential overwrite from a concurrent one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub value: Value,
    pub version: Version,
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

pub fn load_cells(conn: &Connection, table: &str, pk: &Value) -> Result<BTreeMap<String, Cell>> {
    let mut stmt =
        conn.prepare_cached("SELECT col, value, hlc, site, seen FROM _sy_cells WHERE tbl = ?1 AND pk = ?2")?;
    let rows = stmt.query_map(params![table, pk], |r| {
        Ok((
            r.get::<_, String>(0)?,
            Cell {
                value: r.get(1)?,
                version: Version::new(r.get(2)?, r.get::<_, String>(3)?),
                seen: Seen::from_json(&r.get::<_, String>(4)?),
            },
        ))
    })?;
    let mut cells = BTreeMap::new();
    for row in rows {
        let (col, cell) = row?;
        cells.insert(col, cell);
    }
    Ok(cells)
}

pub fn store_cell(conn: &Connection, table: &str, pk: &Value, col: &str, cell: &Cell) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO _sy_cells(tbl, pk, col, value, hlc, site, seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(tbl, pk, col) DO UPDATE SET value = excluded.value, hlc = excluded.hlc,
             site = excluded.site, seen = excluded.seen",
    )?
    .execute(params![table, pk, col, cell.value, cell.version.hlc, cell.version.site, cell.seen.to_json(),])?;
    Ok(())
}

pub fn load_row(conn: &Connection, table: &str, pk: &Value) -> Result<Option<RowState>> {
    let row = conn
        .prepare_cached("SELECT alive, hlc, site, seen_hlc, seen_site FROM _sy_rows WHERE tbl = ?1 AND pk = ?2")?
        .query_row(params![table, pk], |r| {
            Ok(RowState {
                alive: r.get(0)?,
                version: Version::new(r.get(1)?, r.get::<_, String>(2)?),
                seen: version_from(r.get(3)?, r.get(4)?),
            })
        })
        .optional()?;
    Ok(row)
}

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

/// Removes all registers of a row (tombstone pruning).
pub fn forget_row(conn: &Connection, table: &str, pk: &Value) -> Result<()> {
    conn.prepare_cached("DELETE FROM _sy_cells WHERE tbl = ?1 AND pk = ?2")?.execute(params![table, pk])?;
    conn.prepare_cached("DELETE FROM _sy_rows WHERE tbl = ?1 AND pk = ?2")?.execute(params![table, pk])?;
    Ok(())
}

/// Newest version anywhere in the row: what a deleting site has seen.
pub fn newest_version(row: Option<&RowState>, cells: &BTreeMap<String, Cell>) -> Option<Version> {
    cells.values().map(|c| &c.version).chain(row.map(|r| &r.version)).max().cloned()
}
