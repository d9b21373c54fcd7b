//! Replication health per peer, for the daemon's status page and metrics.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::error::Result;
use super::hlc::{read_clock, wall_now_ms};
use super::registry::Registry;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerStatus {
    pub site_id: String,
    /// Captured changes the peer has not acknowledged.
    pub backlog: u64,
    /// Age of the oldest unacknowledged change; 0 when the backlog is empty.
    pub lag_ms: f64,
    pub acked_seq: i64,
    pub received_upto: i64,
    pub last_batch_sent_ms: Option<f64>,
    pub last_batch_received_ms: Option<f64>,
    pub last_ack_ms: Option<f64>,
    /// Conflicts found while applying this peer's batches.
    pub conflicts: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncStatus {
    pub site_id: String,
    pub clock_hlc: i64,
    pub pending_changes: u64,
    pub conflicts_total: u64,
    pub peers: Vec<PeerStatus>,
}

pub fn status(conn: &Connection, registry: &Registry) -> Result<SyncStatus> {
    let now = wall_now_ms();
    let mut peers = Vec::new();
    for site in &registry.peers {
        let (acked_seq, received_upto, last_sent, last_received, last_ack): (
            i64,
            i64,
            Option<f64>,
            Option<f64>,
            Option<f64>,
        ) = conn.query_row(
            "SELECT acked_seq, received_upto, last_sent_ms, last_received_ms, last_ack_ms
                 FROM _sy_peers WHERE site = ?1",
            [site],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
        let (backlog, oldest): (u64, Option<f64>) =
            conn.query_row("SELECT count(*), min(wall_ms) FROM _sy_changes WHERE seq > ?1", params![acked_seq], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        let conflicts: u64 =
            conn.query_row("SELECT count(*) FROM _sy_conflicts WHERE via_site = ?1", [site], |r| r.get(0))?;
        peers.push(PeerStatus {
            site_id: site.clone(),
            backlog,
            lag_ms: oldest.map_or(0.0, |t| (now - t).max(0.0)),
            acked_seq,
            received_upto,
            last_batch_sent_ms: last_sent,
            last_batch_received_ms: last_received,
            last_ack_ms: last_ack,
            conflicts,
        });
    }
    Ok(SyncStatus {
        site_id: registry.site_id.clone(),
        clock_hlc: read_clock(conn)?,
        pending_changes: conn.query_row("SELECT count(*) FROM _sy_changes WHERE hlc IS NULL", [], |r| r.get(0))?,
        conflicts_total: conn.query_row("SELECT count(*) FROM _sy_conflicts", [], |r| r.get(0))?,
        peers,
    })
}
