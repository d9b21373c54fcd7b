//! Serialisable snapshot of every check, for a status command.

use serde::{Deserialize, Serialize};

use crate::health::config::ProbeSettings;
use crate::health::database::DatabaseStatus;
use crate::health::haproxy::ServerView;
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
    /// Web servers that must be up for the site to be available.
    #[serde(default = "one")]
    pub servers_needed: usize,
    /// The database page, fetched here.
    pub database: Option<CheckStatus>,
    /// The database as the site's HAProxy checks it (`[site.database] haproxy_backend`).
    #[serde(default)]
    pub database_haproxy: Option<CheckStatus>,
    /// The database's state from those sources, and which decided it.
    #[serde(default)]
    pub database_state: Option<DatabaseStatus>,
    /// The fetch of the HAProxy stats page itself.
    pub haproxy: Option<CheckStatus>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckStatus {
    pub name: String,
    /// "tcp", "http", "haproxy", "exec", "database", "database_haproxy" or "haproxy_stats".
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
    /// For checks read from HAProxy's stats: its servers as last reported, with HAProxy's
    /// own last check of each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub haproxy_servers: Vec<ServerView>,
    /// The load (per mille) an external check reported with its last result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_load: Option<u32>,
    /// Up while the probe fails.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inverted: bool,
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

    /// Every check of the site: web servers, the database's sources, the HAProxy stats fetch.
    pub fn checks(&self) -> impl Iterator<Item = &CheckStatus> {
        self.servers.iter().chain(&self.database).chain(&self.database_haproxy).chain(&self.haproxy)
    }

    /// Neither probed here nor remote: always available.
    pub fn is_static(&self) -> bool {
        !self.remote && self.checks().next().is_none()
    }
}

fn one() -> usize {
    1
}
