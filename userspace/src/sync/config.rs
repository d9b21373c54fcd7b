//! What the daemon tells the sync module: who we are, what to sync, with whom.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a conflict on one table is decided. Every site applies the same rule,
/// so every site keeps the same winner.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictPolicy {
    /// Per column, the write with the later HLC wins; equal HLCs are broken by
    /// site id. A row deleted on one site and updated later on another comes
    /// back with the newer columns.
    #[default]
    LastWriterWins,
    /// Writes from a site earlier in the list beat writes from later sites
    /// (unlisted sites rank last); within one rank the later HLC wins. A local
    /// write that loses this way is reverted and recorded as a conflict.
    SitePriority(Vec<String>),
    /// A delete is final unless the row is inserted again; updates never bring
    /// a deleted row back.
    DeleteWins,
    /// An update the deleting site had not seen keeps the row alive.
    UpdateWins,
}

/// One synchronised table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableConfig {
    pub name: String,
    #[serde(default)]
    pub policy: ConflictPolicy,
}

impl TableConfig {
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), policy: ConflictPolicy::default() }
    }

    pub fn with_policy(mut self, policy: ConflictPolicy) -> Self {
        self.policy = policy;
        self
    }
}

/// A site we exchange changes with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerConfig {
    pub site_id: String,
    /// Base URL of the peer's sync endpoint, e.g. `http://10.0.0.2:8053`.
    pub base_url: String,
}

impl PeerConfig {
    pub fn new(site_id: impl Into<String>, base_url: impl Into<String>) -> Self {
        Self { site_id: site_id.into(), base_url: base_url.into() }
    }
}

/// Everything needed to run replication for one site.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    pub site_id: String,
    pub db_path: PathBuf,
    pub tables: Vec<TableConfig>,
    pub peers: Vec<PeerConfig>,
    /// Shared HMAC-SHA256 key; every site must use the same bytes.
    pub key: Vec<u8>,
    /// Pause between shipping rounds when there is nothing more to send.
    pub interval: Duration,
    /// Upper bound of captured changes read into one batch.
    pub max_changes_per_batch: usize,
    /// Request timeout for one POST to a peer.
    pub request_timeout: Duration,
}

impl SyncConfig {
    pub fn new(site_id: impl Into<String>, db_path: impl Into<PathBuf>, key: impl Into<Vec<u8>>) -> Self {
        Self {
            site_id: site_id.into(),
            db_path: db_path.into(),
            tables: Vec::new(),
            peers: Vec::new(),
            key: key.into(),
            interval: Duration::from_millis(100),
            max_changes_per_batch: 2000,
            request_timeout: Duration::from_secs(10),
        }
    }

    pub fn table(mut self, table: TableConfig) -> Self {
        self.tables.push(table);
        self
    }

    pub fn peer(mut self, peer: PeerConfig) -> Self {
        self.peers.push(peer);
        self
    }

    pub fn peer_ids(&self) -> Vec<String> {
        self.peers.iter().map(|p| p.site_id.clone()).collect()
    }
}
