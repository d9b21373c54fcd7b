//! The `[sync]` section: which tables of this site's SQLite database are kept in step with
//! which other sites, and how.

use std::{collections::BTreeSet, net::SocketAddr, path::PathBuf, time::Duration};

use serde::Deserialize;

use super::{Config, ConfigError};
use crate::{
    peers::{KeyRing, read_key_file},
    sync::{ConflictPolicy, PeerConfig, SyncConfig, TableConfig},
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
    /// Pause between shipping rounds while there is nothing to send.
    #[serde(default = "default_interval_ms")]
    pub interval_ms: u64,
    #[serde(default = "default_max_changes_per_batch")]
    pub max_changes_per_batch: usize,
    /// Limit of one POST to a peer; a request stuck on a dead link is retried after it.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
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
    pub policy: ConflictPolicy,
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

impl Config {
    pub(super) fn validate_sync(&self) -> Result<(), Problem> {
        let Some(sync) = &self.sync else {
            return Ok(());
        };
        let own_site =
            self.server.site.as_deref().ok_or(("server.site".to_string(), "required with [sync]".to_string()))?;
        if !(MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(&sync.interval_ms) {
            return Err((
                "sync.interval_ms".into(),
                format!("{} is outside {MIN_INTERVAL_MS}..={MAX_INTERVAL_MS}", sync.interval_ms),
            ));
        }
        if !(100..=600_000).contains(&sync.request_timeout_ms) {
            return Err((
                "sync.request_timeout_ms".into(),
                format!("{} is outside 100..=600000", sync.request_timeout_ms),
            ));
        }
        if sync.max_changes_per_batch == 0 {
            return Err(("sync.max_changes_per_batch".into(), "must be at least 1".into()));
        }
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
        config.tables = sync.tables.iter().map(|t| TableConfig::new(&t.name).with_policy(t.policy.clone())).collect();
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
