//! What the daemon tells the sync module: who we are, what to sync, with whom.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::conflict_rule::ConflictRule;

/// One synchronised table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableConfig {
    pub name: String,
    #[serde(default)]
    pub rule: ConflictRule,
}

impl TableConfig {
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), rule: ConflictRule::default() }
    }

    pub fn with_rule(mut self, rule: ConflictRule) -> Self {
        self.rule = rule;
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
    /// Pause before retrying after a failure, and how often the database is
    /// looked at where its file cannot be watched for commits.
    pub interval: Duration,
    /// Upper bound of captured changes read into one batch.
    pub max_changes_per_batch: usize,
    /// Largest request body sent or accepted (413 beyond it).
    pub max_batch_bytes: usize,
    /// Request timeout for one POST to a peer, and for a peer's body to arrive.
    pub request_timeout: Duration,
    /// Connections the endpoint holds at once; more wait, then are closed.
    pub max_connections: usize,
    /// Requests whose bodies are read and applied at once.
    pub max_concurrent_requests: usize,
    /// How far ahead of our wall clock a peer's HLC may be.
    pub max_clock_ahead: Duration,
    /// Time between anti-entropy checks with each peer (`None`: never).
    pub anti_entropy_interval: Option<Duration>,
    /// Conflict records kept; older ones are forgotten (counters keep counting).
    pub conflict_log_max_rows: usize,
}

/// About 20 MB of conflict records at a typical 200 bytes each.
pub const DEFAULT_CONFLICT_LOG_MAX_ROWS: usize = 100_000;

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
            max_batch_bytes: 32 * 1024 * 1024,
            request_timeout: Duration::from_secs(10),
            max_connections: 64,
            max_concurrent_requests: 8,
            max_clock_ahead: Duration::from_secs(60),
            anti_entropy_interval: Some(Duration::from_secs(60)),
            conflict_log_max_rows: DEFAULT_CONFLICT_LOG_MAX_ROWS,
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
