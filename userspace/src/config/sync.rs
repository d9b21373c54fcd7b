//! The `[sync]` section: which tables of this site's SQLite database are kept in step with
//! which other sites, and how.

use std::{collections::BTreeSet, net::SocketAddr, path::PathBuf, time::Duration};

use serde::Deserialize;

use super::{Config, ConfigError};
use crate::{
    peers::{KeyRing, read_key_file},
    sync::{ConflictRule, PeerConfig, SyncConfig, TableConfig},
};

type Problem = (String, String);

const MIN_INTERVAL_MS: u64 = 10;
const MAX_INTERVAL_MS: u64 = 60_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncSection {
    /// This site's SQLite database; the synced tables must already exist in it.
    pub database: PathBuf,
    /// Address the batch endpoint (`POST /sync/v1/batch`) listens on.
    pub listen: SocketAddr,
    /// Shared HMAC key, the same at every site; mode 0600 like the peer keys.
    pub key_file: PathBuf,
    /// Pause before retrying after a failure (doubling up to 5 s), and how often the database
    /// is looked at where its file cannot be watched for commits.
    #[serde(default = "default_interval_ms")]
    pub interval_ms: u64,
    #[serde(default = "default_max_changes_per_batch")]
    pub max_changes_per_batch: usize,
    /// Largest request body sent or accepted; a larger one is refused with 413.
    #[serde(default = "default_max_batch_bytes")]
    pub max_batch_bytes: usize,
    /// Limit of one POST to a peer, and of a peer's body arriving here; a request stuck on a
    /// dead link is retried after it.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// Connections the endpoint holds at once.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Requests whose bodies are read and applied at once.
    #[serde(default = "default_max_concurrent_requests")]
    pub max_concurrent_requests: usize,
    /// How far a peer's clock (the HLC in its batches) may be ahead of ours.
    #[serde(default = "default_max_clock_ahead_ms")]
    pub max_clock_ahead_ms: u64,
    /// Time between anti-entropy checks with each peer; 0 turns them off.
    #[serde(default = "default_anti_entropy_interval_ms")]
    pub anti_entropy_interval_ms: u64,
    /// Conflict records kept; the oldest beyond it are forgotten.
    #[serde(default = "default_conflict_log_max_rows")]
    pub conflict_log_max_rows: usize,
    #[serde(default, rename = "table")]
    pub tables: Vec<SyncTable>,
    #[serde(default, rename = "peer")]
    pub peers: Vec<SyncPeer>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncTable {
    pub name: String,
    /// `last_writer_wins` (default), `delete_wins`, `update_wins` or
    /// `{ site_priority = ["a", "b"] }`.
    #[serde(default)]
    pub policy: ConflictRule,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncPeer {
    pub site: String,
    /// Base URL of the peer's batch endpoint, e.g. `http://198.18.0.2:8053`.
    pub url: String,
}

fn default_interval_ms() -> u64 {
    100
}
fn default_max_changes_per_batch() -> usize {
    2000
}
fn default_request_timeout_ms() -> u64 {
    10_000
}
fn default_max_batch_bytes() -> usize {
    32 * 1024 * 1024
}
fn default_max_connections() -> usize {
    64
}
fn default_max_concurrent_requests() -> usize {
    8
}
fn default_max_clock_ahead_ms() -> u64 {
    60_000
}
fn default_anti_entropy_interval_ms() -> u64 {
    60_000
}
fn default_conflict_log_max_rows() -> usize {
    crate::sync::DEFAULT_CONFLICT_LOG_MAX_ROWS
}

/// Refuses a number outside `range` with one clear line naming the key.
fn check_range<T: PartialOrd + std::fmt::Display>(key: &str, value: T, min: T, max: T) -> Result<(), Problem> {
    if value < min || value > max {
        return Err((format!("sync.{key}"), format!("{value} is outside {min}..={max}")));
    }
    Ok(())
}

impl SyncSection {
    fn validate_numbers(&self) -> Result<(), Problem> {
        check_range("interval_ms", self.interval_ms, MIN_INTERVAL_MS, MAX_INTERVAL_MS)?;
        check_range("request_timeout_ms", self.request_timeout_ms, 100, 600_000)?;
        check_range("max_changes_per_batch", self.max_changes_per_batch, 1, 1_000_000)?;
        check_range("max_batch_bytes", self.max_batch_bytes, 64 * 1024, 1024 * 1024 * 1024)?;
        check_range("max_connections", self.max_connections, 1, 65_536)?;
        check_range("max_concurrent_requests", self.max_concurrent_requests, 1, 1024)?;
        check_range("max_clock_ahead_ms", self.max_clock_ahead_ms, 1000, 86_400_000)?;
        check_range("conflict_log_max_rows", self.conflict_log_max_rows, 1000, 100_000_000)?;
        if self.anti_entropy_interval_ms != 0 {
            check_range("anti_entropy_interval_ms", self.anti_entropy_interval_ms, 1000, 86_400_000)?;
        }
        Ok(())
    }
}

impl Config {
    pub(super) fn validate_sync(&self) -> Result<(), Problem> {
        let Some(sync) = &self.sync else {
            return Ok(());
        };
        let own_site =
            self.server.site.as_deref().ok_or(("server.site".to_string(), "required with [sync]".to_string()))?;
        sync.validate_numbers()?;
        if sync.listen.port() == 0 {
            return Err(("sync.listen".into(), "port 0 is not a fixed port peers can reach".into()));
        }
        if sync.tables.is_empty() {
            return Err(("sync.table".into(), "at least one [[sync.table]] is required".into()));
        }
        let mut tables = BTreeSet::new();
        for (i, table) in sync.tables.iter().enumerate() {
            let key = format!("sync.table[{i}].name");
            if table.name.is_empty() || table.name.starts_with("_sy_") {
                return Err((key, format!("{:?} is empty or uses the reserved prefix _sy_", table.name)));
            }
            if !tables.insert(table.name.as_str()) {
                return Err((key, format!("table {:?} is listed twice", table.name)));
            }
        }
        if sync.peers.is_empty() {
            return Err(("sync.peer".into(), "at least one [[sync.peer]] is required".into()));
        }
        let mut sites = BTreeSet::new();
        for (i, peer) in sync.peers.iter().enumerate() {
            if peer.site == own_site {
                return Err((format!("sync.peer[{i}].site"), format!("{own_site:?} is this daemon's own site")));
            }
            if !sites.insert(peer.site.as_str()) {
                return Err((format!("sync.peer[{i}].site"), format!("site {:?} is listed twice", peer.site)));
            }
            check_url(&peer.url).map_err(|p| (format!("sync.peer[{i}].url"), p))?;
        }
        Ok(())
    }

    /// Reads the sync key file (it must exist, be private and long enough). Separate from
    /// parsing because the CLI reads configs without needing the daemon's secrets.
    pub fn check_sync_key(&self, file: &std::path::Path) -> Result<(), ConfigError> {
        self.sync_config(file).map(|_| ())
    }

    /// The database `[sync]` names can be synced as configured: it exists, holds every table
    /// with a one-column primary key, and is not another site's (read only: nothing is created).
    pub fn check_sync_database(&self, file: &std::path::Path) -> Result<(), ConfigError> {
        let Some(config) = self.sync_config(file)? else {
            return Ok(());
        };
        crate::sync::check_database(&config).map_err(|e| ConfigError {
            file: file.display().to_string(),
            key: "sync.database".into(),
            problem: e.to_string(),
        })
    }

    /// What the sync module needs, with the key read from its file; `None` without `[sync]`.
    pub fn sync_config(&self, file: &std::path::Path) -> Result<Option<SyncConfig>, ConfigError> {
        let Some(sync) = &self.sync else {
            return Ok(None);
        };
        let key_error =
            |problem: String| ConfigError { file: file.display().to_string(), key: "sync.key_file".into(), problem };
        // The peer keys' rules (private regular file, at least 16 bytes) apply here too.
        KeyRing::load(std::slice::from_ref(&sync.key_file)).map_err(|e| key_error(e.to_string()))?;
        let key = read_key_file(&sync.key_file).map_err(|e| key_error(e.to_string()))?;
        let site = self.server.site.clone().expect("validated: [sync] needs server.site");
        let mut config = SyncConfig::new(site, &sync.database, key);
        config.interval = Duration::from_millis(sync.interval_ms);
        config.max_changes_per_batch = sync.max_changes_per_batch;
        config.request_timeout = Duration::from_millis(sync.request_timeout_ms);
        config.max_batch_bytes = sync.max_batch_bytes;
        config.max_connections = sync.max_connections;
        config.max_concurrent_requests = sync.max_concurrent_requests;
        config.max_clock_ahead = Duration::from_millis(sync.max_clock_ahead_ms);
        config.anti_entropy_interval =
            (sync.anti_entropy_interval_ms > 0).then(|| Duration::from_millis(sync.anti_entropy_interval_ms));
        config.conflict_log_max_rows = sync.conflict_log_max_rows;
        config.tables = sync.tables.iter().map(|t| TableConfig::new(&t.name).with_rule(t.policy.clone())).collect();
        config.peers = sync.peers.iter().map(|p| PeerConfig::new(&p.site, &p.url)).collect();
        Ok(Some(config))
    }
}

fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(format!("{url:?} is not an http:// or https:// URL with a host"));
    }
    Ok(())
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod tests;
