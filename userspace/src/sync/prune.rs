//! Pruning: forget captured changes every peer has acknowledged, tombstones
//! no peer can still need, and the oldest conflict records beyond the limit.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::conflicts::FORGOTTEN_PREFIX;
use super::error::Result;
use super::hlc::read_clock;
use super::positions::{MARKER_TABLE, leave_marker, log_end};
use super::registers::{forget_row, load};
use super::registry::Registry;
use super::schema::meta_value;
use super::sql::with_limit;
use super::value::Value;

/// Acknowledged changes deleted per pass at most, so one pass holds the write
/// lock only briefly; passes come every second or so.
const CHANGES_PER_PRUNE: usize = 20_000;

fn horizon_key(table: &str) -> String {
    format!("prune_horizon/{table}")
}

/// Tombstones of `table` older than this HLC have been forgotten here.
pub fn horizon(conn: &Connection, table: &str) -> Result<i64> {
    Ok(meta_value(conn, &horizon_key(table))?.unwrap_or(0))
}

fn raise_horizon(conn: &Connection, table: &str, hlc: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO _sy_meta(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)",
        params![horizon_key(table), hlc],
    )?;
    Ok(())
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneReport {
    /// Entries of the change log pruned: changes, and the position markers some leave.
    pub changes: usize,
    pub tombstones: usize,
    pub conflicts: usize,
}

/// A table's tombstones older than ?2 with no change of theirs left to ship
/// (read through the `_sy_rows_dead` index: tombstones only, not every row).
/// A row a later write brought back keeps its tombstone as row register, but
/// a column written after the delete makes it alive under both rules that
/// prune (a delete's `seen` is never newer than the delete itself): it is
/// left out here rather than loaded and checked again at every pass.
const TOMBSTONES_BELOW: &str = "SELECT r.pk FROM _sy_rows r
     WHERE r.tbl = ?1 AND r.alive = 0 AND r.hlc < ?2
       AND NOT EXISTS (SELECT 1 FROM _sy_changes c WHERE c.tbl = r.tbl AND c.pk = r.pk)
       AND r.cells_hlc <= r.hlc";

fn min_over_peers(conn: &Connection, registry: &Registry, column: &str) -> Result<Option<i64>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {column} FROM _sy_peers WHERE site = ?1"))?;
    let mut lowest: Option<i64> = None;
    for peer in &registry.peers {
        let value: i64 = stmt.query_row([peer], |r| r.get(0))?;
        lowest = Some(lowest.map_or(value, |l| l.min(value)));
    }
    Ok(lowest)
}

/// Whether the change at `seq` is stamped and no marker already.
fn is_prunable_change(conn: &Connection, seq: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM _sy_changes WHERE seq = ?1 AND hlc IS NOT NULL AND tbl <> ?2)")?
        .query_row(params![seq, MARKER_TABLE], |r| r.get(0))?)
}

pub fn prune(conn: &Connection, registry: &Registry, conflicts_kept: usize) -> Result<PruneReport> {
    let acked_by_all = min_over_peers(conn, registry, "acked_seq")?.unwrap_or(i64::MAX);
    // The newest change becomes a marker rather than go: the next change's position is
    // the largest + 1 (see `positions::leave_marker`).
    let end = log_end(conn)?;
    let oldest = with_limit(
        "SELECT seq FROM _sy_changes WHERE seq <= ?1 AND seq < ?2 AND hlc IS NOT NULL ORDER BY seq",
        CHANGES_PER_PRUNE,
    );
    let mut changes = conn
        .prepare_cached(&format!("DELETE FROM _sy_changes WHERE seq IN ({oldest})"))?
        .execute([acked_by_all, end])?;
    if end <= acked_by_all && is_prunable_change(conn, end)? {
        leave_marker(conn, end)?;
        changes += 1;
    }

    // Every peer has since sent changes newer than this HLC, so none of its
    // future writes can be older than a tombstone below it.
    let frontier = match min_over_peers(conn, registry, "frontier_hlc")? {
        Some(hlc) => hlc,
        None => read_clock(conn)?,
    };
    let mut tombstones = 0;
    for (name, spec) in &registry.tables {
        if !spec.rule.prunes_tombstones() {
            continue;
        }
        let candidates: Vec<Value> = conn
            .prepare_cached(TOMBSTONES_BELOW)?
            .query_map(params![name, frontier], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut forgotten = 0;
        for pk in candidates {
            let (row, cells) = load(conn, name, &pk)?;
            if !spec.rule.is_alive(row.as_ref(), &cells) {
                forget_row(conn, name, &pk)?;
                forgotten += 1;
            }
        }
        if forgotten > 0 {
            raise_horizon(conn, name, frontier)?;
        }
        tombstones += forgotten;
    }
    let conflicts = forget_old_conflicts(conn, registry, conflicts_kept)?;
    Ok(PruneReport { changes, tombstones, conflicts })
}

/// Conflict records deleted per step of a pass at most (a pass has two).
const CONFLICTS_PER_PRUNE: usize = 20_000;

/// Forgets the oldest conflict records beyond the newest `kept`, except this
/// site's own that some peer has not been sent yet. Ids are never reused: the
/// newest record always stays.
fn forget_old_conflicts(conn: &Connection, registry: &Registry, kept: usize) -> Result<usize> {
    let newest: i64 =
        conn.prepare_cached("SELECT coalesce(max(id), 0) FROM _sy_conflicts")?.query_row([], |r| r.get(0))?;
    let below = newest - kept.max(1) as i64;
    if below <= 0 {
        return Ok(0);
    }
    let sent_to_all = min_over_peers(conn, registry, "conflicts_sent")?.unwrap_or(i64::MAX);
    let every_kind_upto = below.min(sent_to_all);
    // Up to the oldest record some peer still lacks, all of them (a range of the key);
    // past it, only those other sites found (through their own index).
    const ANY: &str = "SELECT id FROM _sy_conflicts WHERE id > ?1 AND id <= ?2 ORDER BY id";
    const FOUND_ELSEWHERE: &str = "SELECT id FROM _sy_conflicts INDEXED BY _sy_conflicts_elsewhere
         WHERE found_at IS NOT NULL AND id > ?1 AND id <= ?2 ORDER BY id";
    let mut deleted = forget_conflicts(conn, ANY, 0, every_kind_upto)?;
    if deleted < CONFLICTS_PER_PRUNE {
        deleted += forget_conflicts(conn, FOUND_ELSEWHERE, every_kind_upto, below)?;
    }
    Ok(deleted)
}

/// Deletes the records `selection` picks between ids `after` and `upto`, first
/// noting per finder the newest of theirs forgotten (see `conflicts::forgotten_ms`).
fn forget_conflicts(conn: &Connection, selection: &str, after: i64, upto: i64) -> Result<usize> {
    let picked = with_limit(selection, CONFLICTS_PER_PRUNE);
    conn.prepare_cached(&format!(
        "INSERT INTO _sy_meta(key, value)
         SELECT '{FORGOTTEN_PREFIX}' || found_at, max(recorded_ms) FROM _sy_conflicts
         WHERE id IN ({picked}) AND found_at IS NOT NULL GROUP BY found_at
         ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)"
    ))?
    .execute(params![after, upto])?;
    let deleted = conn
        .prepare_cached(&format!("DELETE FROM _sy_conflicts WHERE id IN ({picked})"))?
        .execute(params![after, upto])?;
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::hlc::Version;
    use super::super::registers::{Cell, RowState, Seen, store};
    use super::*;

    /// Of a plain tombstone and a deleted row a later write brought back, only
    /// the tombstone is a candidate.
    #[test]
    fn a_row_brought_back_is_no_candidate() {
        let conn = Connection::open_in_memory().unwrap();
        super::super::schema::install(&conn, "a").unwrap();
        let tombstone = RowState { alive: false, version: Version::new(10, "a"), seen: None };
        for (pk, cell_hlc) in [(1, 5), (2, 11)] {
            let cell =
                Cell { value: Value::from("x"), version: Version::new(cell_hlc, "b"), epoch: 1, seen: Seen::default() };
            let cells = BTreeMap::from([("v".to_string(), cell)]);
            store(&conn, "t", &Value::Integer(pk), Some(&tombstone), &cells).unwrap();
        }
        let candidates: Vec<i64> = conn
            .prepare(TOMBSTONES_BELOW)
            .unwrap()
            .query_map(params!["t", 100], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(candidates, [1]);
    }

    /// Pruning runs every few seconds under the write lock: it must find the
    /// tombstones through their index, not by reading every row's register.
    #[test]
    fn tombstones_are_found_without_reading_every_row() {
        let plan = super::super::schema::query_plan(TOMBSTONES_BELOW);
        assert!(
            plan.iter().any(|step| step.starts_with("SEARCH r") && step.contains("INDEX _sy_rows_dead")),
            "{plan:?}"
        );
    }
}
