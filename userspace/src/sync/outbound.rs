//! Sending side: building the next batch for a peer and recording its ack.

use rusqlite::{Connection, OptionalExtension, params};

use super::batch::{Batch, RowChange};
use super::consolidate::{CapturedRef, consolidate};
use super::error::{Result, SyncError};
use super::hlc::{read_clock, tick, wall_now_ms, write_clock};
use super::registers::{load_cells, load_row};
use super::registry::Registry;
use super::schema::SCHEMA_VERSION;
use super::stamp::stamp_oldest;

pub fn acked_seq(conn: &Connection, peer: &str) -> Result<i64> {
    let acked: Option<i64> = conn
        .prepare_cached("SELECT acked_seq FROM _sy_peers WHERE site = ?1")?
        .query_row([peer], |r| r.get(0))
        .optional()?;
    acked.ok_or_else(|| SyncError::UnknownSite(peer.to_string()))
}

/// Captured changes of a range plus `(seq, hlc)` of the last one.
type Range = (Vec<CapturedRef>, Option<(i64, i64)>);

fn read_range(conn: &Connection, after: i64, limit: usize) -> Result<Range> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, tbl, pk, kind, changed, hlc FROM _sy_changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after, limit as i64], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, i64>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    let mut last = None;
    for row in rows {
        let (seq, table, pk, kind, changed, hlc) = row?;
        let changed =
            serde_json::from_str(&changed).map_err(|e| SyncError::Corrupt(format!("change {seq} columns: {e}")))?;
        out.push(CapturedRef { table, pk, kind, changed });
        last = Some((seq, hlc));
    }
    Ok((out, last))
}

/// Builds the batch of changes `peer` has not acknowledged, oldest first,
/// at most `limit` captured changes. Must run in a write transaction: it
/// stamps pending changes and ticks the clock.
pub fn build_batch(conn: &Connection, registry: &Registry, peer: &str, limit: usize) -> Result<Batch> {
    build_batch_after(conn, registry, peer, 0, limit)
}

/// Like `build_batch`, but starting after `after` when that is beyond the
/// acknowledged position: the batch that follows one still in flight.
pub fn build_batch_after(
    conn: &Connection,
    registry: &Registry,
    peer: &str,
    after: i64,
    limit: usize,
) -> Result<Batch> {
    // Only what this batch can carry: stamping a long backlog at once would
    // hold the write lock against the writers and delay the first batch.
    stamp_oldest(conn, registry, Some(limit.max(1)))?;
    let acked = acked_seq(conn, peer)?.max(after);
    let clock = tick(read_clock(conn)?, wall_now_ms());
    write_clock(conn, clock)?;

    let (captured, last) = read_range(conn, acked, limit.max(1))?;
    let to_seq = last.map_or(acked, |(seq, _)| seq);
    // A full batch may leave older-stamped changes behind; promise only up to its last one.
    let frontier_hlc = match last {
        Some((_, hlc)) if captured.len() >= limit.max(1) => hlc,
        _ => clock,
    };

    let mut changes = Vec::new();
    for touch in consolidate(&captured) {
        // Tables no longer synchronised are skipped, not shipped.
        if registry.table(&touch.table).is_none() {
            continue;
        }
        let Some(row) = load_row(conn, &touch.table, &touch.pk)? else {
            continue;
        };
        let pk = serde_json::from_str(&touch.pk).map_err(|e| SyncError::Corrupt(format!("key {}: {e}", touch.pk)))?;
        changes.push(RowChange {
            cells: load_cells(conn, &touch.table, &touch.pk)?,
            table: touch.table,
            pk,
            kind: touch.kind,
            changed: touch.changed.into_iter().collect(),
            row,
        });
    }
    conn.prepare_cached("UPDATE _sy_peers SET last_sent_ms = ?1 WHERE site = ?2")?
        .execute(params![wall_now_ms(), peer])?;
    Ok(Batch {
        schema_version: SCHEMA_VERSION,
        sender: registry.site_id.clone(),
        from_seq: acked,
        to_seq,
        frontier_hlc,
        changes,
    })
}

/// Records that `peer` has everything up to `ack`. Acks never move back.
pub fn record_ack(conn: &Connection, peer: &str, ack: i64) -> Result<()> {
    acked_seq(conn, peer)?;
    let last: i64 = conn.query_row("SELECT coalesce(max(seq), 0) FROM _sy_changes", [], |r| r.get(0)).and_then(
        |max_seq: i64| {
            let counter: Option<i64> = conn
                .query_row("SELECT seq FROM sqlite_sequence WHERE name = '_sy_changes'", [], |r| r.get(0))
                .optional()?;
            Ok(max_seq.max(counter.unwrap_or(0)))
        },
    )?;
    if ack > last {
        return Err(SyncError::AckBeyondEnd { site: peer.to_string(), ack, last });
    }
    conn.prepare_cached("UPDATE _sy_peers SET acked_seq = max(acked_seq, ?1), last_ack_ms = ?2 WHERE site = ?3")?
        .execute(params![ack, wall_now_ms(), peer])?;
    Ok(())
}
