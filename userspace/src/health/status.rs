//! Serialisable snapshot of every check, for a status command.

use serde::{Deserialize, Serialize};

use crate::health::config::ProbeSettings;
use crate::site::SiteState;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthStatus {
    pub sites: Vec<SiteStatus>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SiteStatus {
    pub name: String,
    pub remote: bool,
    /// The state last published to subscribers.
    pub state: SiteState,
    pub servers: Vec<CheckStatus>,
    pub database: Option<CheckStatus>,
    /// The fetch of the HAProxy stats page itself.
    pub haproxy: Option<CheckStatus>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckStatus {
    pub name: String,
    /// "tcp", "http", "haproxy", "database" or "haproxy_stats".
    pub kind: String,
    /// Address or URL probed.
    pub target: String,
    pub settings: ProbeSettings,
    /// `None` until the first result.
    pub up: Option<bool>,
    /// "ok" or the failure cause of the last probe.
    pub last_result: Option<String>,
    /// Latency of the last probe, when it succeeded.
    pub last_latency_us: Option<u32>,
    pub rtt_ewma_us: Option<u32>,
    pub consecutive_ok: u32,
    pub consecutive_failed: u32,
    pub probes: u64,
    pub transitions: u64,
}

impl HealthStatus {
    pub fn site(&self, name: &str) -> Option<&SiteStatus> {
        self.sites.iter().find(|site| site.name == name)
    }
}

impl SiteStatus {
    pub fn server(&self, name: &str) -> Option<&CheckStatus> {
        self.servers.iter().find(|server| server.name == name)
    }
}
