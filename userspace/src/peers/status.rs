//! Snapshot for `switchyard status`.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::drops::DropCounters;
use super::liveness::LivenessRule;
use crate::site::SiteState;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeersStatus {
    pub site: String,
    pub node: String,
    pub listen: SocketAddr,
    pub period_ms: u64,
    pub live_periods: u32,
    pub liveness_rule: LivenessRule,
    pub boot_id: u64,
    pub heartbeats_sent: u64,
    /// Ids of our keys, signing key first.
    pub key_ids: Vec<u32>,
    pub peers: Vec<PeerStatus>,
    /// Every dropped datagram, by reason (including those from no known peer).
    pub drops: DropCounters,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerStatus {
    pub site: String,
    pub node: String,
    pub address: SocketAddr,
    pub alive: bool,
    pub last_heartbeat_age_ms: Option<u64>,
    /// Completed periods among the last N without a heartbeat.
    pub periods_missed: u32,
    /// Completed periods since the last heartbeat, if there ever was one.
    pub periods_since_heartbeat: Option<u64>,
    pub reported_state: Option<SiteState>,
    pub boot_id: Option<u64>,
    pub last_sequence: Option<u64>,
    pub heartbeats_accepted: u64,
    /// Authentic heartbeats of this peer that were dropped (replayed, stale).
    pub drops: DropCounters,
}
