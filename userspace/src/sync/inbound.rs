//! Receiving side: validating a batch whole, then applying it atomically
//! together with the new receive position.

use rusqlite::{Connection, OptionalExtension, params};

use super::batch::Batch;
use super::error::{Result, SyncError};
use super::hlc::{read_clock, wall_now_ms, write_clock};
use super::merge::merge_remote;
use super::registry::Registry;
use super::schema::{SCHEMA_VERSION, set_applying};
use super::stamp::stamp_pending;

/// Checks everything that could make the batch unusable before anything is written.
pub fn validate(registry: &Registry, batch: &Batch) -> Result<()> {
    if batch.schema_version > SCHEMA_VERSION {
        return Err(SyncError::NewerSchema { got: batch.schema_version, supported: SCHEMA_VERSION });
    }
    if batch.sender == registry.site_id || !registry.is_peer(&batch.sender) {
        return Err(SyncError::UnknownSite(batch.sender.clone()));
    }
    if batch.from_seq < 0 || batch.to_seq < batch.from_seq {
        return Err(SyncError::Malformed(format!("bad range ({}, {}]", batch.from_seq, batch.to_seq)));
    }
    for change in &batch.changes {
        let spec = registry.table(&change.table).ok_or_else(|| SyncError::UnknownTable(change.table.clone()))?;
        if !(change.pk.is_i64() || change.pk.is_string()) {
            return Err(SyncError::Malformed(format!(
                "key {} of `{}` is not an integer or text",
                change.pk, change.table
            )));
        }
        for column in change.cells.keys().chain(change.changed.iter()) {
            if !spec.shape.has_column(column) {
                return Err(SyncError::UnknownColumn { table: change.table.clone(), column: column.clone() });
            }
        }
        if change.cells.values().any(|c| c.value.is_array() || c.value.is_object()) {
            return Err(SyncError::Malformed(format!("non-scalar value in `{}`", change.table)));
        }
    }
    Ok(())
}

fn received_upto(conn: &Connection, peer: &str) -> Result<i64> {
    let upto: Option<i64> = conn
        .prepare_cached("SELECT received_upto FROM _sy_peers WHERE site = ?1")?
        .query_row([peer], |r| r.get(0))
        .optional()?;
    upto.ok_or_else(|| SyncError::UnknownSite(peer.to_string()))
}

/// Applies a validated batch and returns the position to acknowledge.
/// Must run in a write transaction, so a crash applies all of it or none.
pub fn apply_batch(conn: &Connection, registry: &Registry, batch: &Batch) -> Result<i64> {
    validate(registry, batch)?;
    let received = received_upto(conn, &batch.sender)?;
    if batch.to_seq <= received {
        // Already applied (a resend after a lost ack) or an empty heartbeat:
        // only the sender's clock frontier can be news.
        record_receipt(conn, &batch.sender, received, batch.frontier_hlc)?;
        return Ok(received);
    }
    if batch.from_seq > received {
        return Err(SyncError::Gap { site: batch.sender.clone(), from: batch.from_seq, received });
    }
    // Local writes not yet stamped must get their versions before remote
    // versions are compared with them.
    stamp_pending(conn, registry)?;
    // An error returns before the flag is lowered, but the caller then rolls
    // the whole transaction back, flag included.
    set_applying(conn, true)?;
    for change in &batch.changes {
        let spec = registry.table(&change.table).expect("validated");
        merge_remote(conn, spec, &batch.sender, change)?;
    }
    set_applying(conn, false)?;
    let clock = read_clock(conn)?.max(batch.max_hlc());
    write_clock(conn, clock)?;
    record_receipt(conn, &batch.sender, batch.to_seq, batch.frontier_hlc)?;
    Ok(batch.to_seq)
}

fn record_receipt(conn: &Connection, peer: &str, upto: i64, frontier_hlc: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE _sy_peers SET received_upto = max(received_upto, ?1), frontier_hlc = max(frontier_hlc, ?2),
                              last_received_ms = ?3
         WHERE site = ?4",
    )?
    .execute(params![upto, frontier_hlc, wall_now_ms(), peer])?;
    Ok(())
}
