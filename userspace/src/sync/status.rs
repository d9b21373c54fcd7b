//! Replication health per peer, for the daemon's status page and metrics.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::conflicts;
use super::error::Result;
use super::hlc::{read_clock, wall_now_ms};
use super::positions::MARKER_TABLE;
use super::quarantine::{self, QuarantinedChange};
use super::registry::Registry;
use super::schema::incarnation;
use super::stamp::stamped_upto;

/// Quarantine entries listed in the status (the count covers all).
const LISTED_QUARANTINE: usize = 20;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PeerStatus {
    pub site_id: String,
    /// Captured changes the peer has not acknowledged, and conflicts found
    /// here it has not received.
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
    /// The peer database's incarnation as last seen.
    pub incarnation: Option<String>,
    /// Our full state is being sent to the peer (it or we were restored).
    pub state_transfer: bool,
    /// The last anti-entropy check with this peer: when, what it found.
    pub last_check_ms: Option<f64>,
    pub last_check_result: Option<String>,
    pub divergent_rows: u64,
    /// Rows repaired by anti-entropy with this peer, in all.
    pub repairs_total: u64,
    /// The last failure talking to the peer, until a request succeeds.
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncStatus {
    pub site_id: String,
    pub incarnation: String,
    pub clock_hlc: i64,
    pub pending_changes: u64,
    pub conflicts_total: u64,
    /// Changes set aside since the database was set up.
    pub quarantined_total: u64,
    /// Entries in the quarantine now, and the newest of them.
    pub quarantined_now: u64,
    pub quarantine: Vec<QuarantinedChange>,
    /// Requests refused by this site's endpoint since start, by reason.
    pub rejected: Vec<(String, u64)>,
    pub peers: Vec<PeerStatus>,
}

struct PeerRow {
    acked_seq: i64,
    received_upto: i64,
    last_sent: Option<f64>,
    last_received: Option<f64>,
    last_ack: Option<f64>,
    incarnation: Option<String>,
    state_due: bool,
    check_ms: Option<f64>,
    check_result: Option<String>,
    divergent: u64,
    repairs: u64,
}

fn peer_row(conn: &Connection, site: &str) -> Result<PeerRow> {
    Ok(conn.query_row(
        "SELECT acked_seq, received_upto, last_sent_ms, last_received_ms, last_ack_ms, incarnation, state_due,
                check_ms, check_result, check_divergent, repairs_total
         FROM _sy_peers WHERE site = ?1",
        [site],
        |r| {
            Ok(PeerRow {
                acked_seq: r.get(0)?,
                received_upto: r.get(1)?,
                last_sent: r.get(2)?,
                last_received: r.get(3)?,
                last_ack: r.get(4)?,
                incarnation: r.get(5)?,
                state_due: r.get(6)?,
                check_ms: r.get(7)?,
                check_result: r.get(8)?,
                divergent: r.get(9)?,
                repairs: r.get(10)?,
            })
        },
    )?)
}

fn peer_status(conn: &Connection, site: &str, now: f64) -> Result<PeerStatus> {
    let p = peer_row(conn, site)?;
    let (backlog, oldest): (u64, Option<f64>) = conn.query_row(
        "SELECT count(*), min(wall_ms) FROM _sy_changes WHERE seq > ?1 AND tbl <> ?2",
        params![p.acked_seq, MARKER_TABLE],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let conflicts_unsent: u64 = conn.query_row(
        "SELECT count(*) FROM _sy_conflicts WHERE found_at IS NULL AND id > (SELECT conflicts_sent FROM _sy_peers WHERE site = ?1)",
        [site],
        |r| r.get(0),
    )?;
    let conflicts = conflicts::via(conn, site)? as u64;
    Ok(PeerStatus {
        site_id: site.to_string(),
        backlog: backlog + conflicts_unsent,
        lag_ms: oldest.map_or(0.0, |t| (now - t).max(0.0)),
        acked_seq: p.acked_seq,
        received_upto: p.received_upto,
        last_batch_sent_ms: p.last_sent,
        last_batch_received_ms: p.last_received,
        last_ack_ms: p.last_ack,
        conflicts,
        incarnation: p.incarnation,
        state_transfer: p.state_due,
        last_check_ms: p.check_ms,
        last_check_result: p.check_result,
        divergent_rows: p.divergent,
        repairs_total: p.repairs,
        last_error: None,
    })
}

pub fn status(conn: &Connection, registry: &Registry) -> Result<SyncStatus> {
    let now = wall_now_ms();
    let peers = registry.peers.iter().map(|site| peer_status(conn, site, now)).collect::<Result<_>>()?;
    Ok(SyncStatus {
        site_id: registry.site_id.clone(),
        incarnation: incarnation(conn)?.to_string(),
        clock_hlc: read_clock(conn)?,
        pending_changes: conn
            .prepare_cached("SELECT count(*) FROM _sy_changes WHERE seq > ?1 AND hlc IS NULL")?
            .query_row([stamped_upto(conn)?], |r| r.get(0))?,
        conflicts_total: conflicts::total(conn)? as u64,
        quarantined_total: quarantine::total(conn)? as u64,
        quarantined_now: quarantine::count(conn)? as u64,
        quarantine: quarantine::list(conn, LISTED_QUARANTINE)?,
        rejected: Vec::new(),
        peers,
    })
}
