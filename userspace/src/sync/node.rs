//! `SyncNode`: the async side. An HTTP endpoint receives peers' requests
//! (`endpoint`); one task per peer pushes our changes to it as they are
//! committed (`shipper`); a periodic check compares tables with each peer
//! (`anti_entropy`). All SQLite work runs on tokio's blocking pool.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use super::config::SyncConfig;
use super::error::{Result, SyncError};
use super::prune::PruneReport;
use super::replica::Replica;
use super::status::SyncStatus;

/// Why the endpoint refused a request, for the rejection counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No valid signature, or a site that is not a peer: refused before the body is read.
    Unauthenticated,
    TooLarge,
    /// The body did not arrive within the request timeout.
    Slow,
    /// More connections than `max_connections` waited too long.
    Busy,
    Malformed,
    ClockAhead,
    /// A copied database (shared incarnation) or a replay from a retired one.
    Incarnation,
    Other,
}

impl Refusal {
    pub const ALL: [Refusal; 8] = [
        Refusal::Unauthenticated,
        Refusal::TooLarge,
        Refusal::Slow,
        Refusal::Busy,
        Refusal::Malformed,
        Refusal::ClockAhead,
        Refusal::Incarnation,
        Refusal::Other,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Refusal::Unauthenticated => "unauthenticated",
            Refusal::TooLarge => "too_large",
            Refusal::Slow => "slow",
            Refusal::Busy => "busy",
            Refusal::Malformed => "malformed",
            Refusal::ClockAhead => "clock_ahead",
            Refusal::Incarnation => "incarnation",
            Refusal::Other => "other",
        }
    }

    pub fn of(err: &SyncError) -> Refusal {
        match err {
            SyncError::BadSignature | SyncError::UnknownSite(_) | SyncError::Unauthentic(_) => Refusal::Unauthenticated,
            SyncError::Malformed(_) | SyncError::OtherFormat { .. } => Refusal::Malformed,
            SyncError::ClockAhead { .. } => Refusal::ClockAhead,
            SyncError::SharedIncarnation { .. } | SyncError::RetiredIncarnation { .. } => Refusal::Incarnation,
            _ => Refusal::Other,
        }
    }
}

pub(super) struct Inner {
    pub replica: Mutex<Replica>,
    pub config: SyncConfig,
    pub http: reqwest::Client,
    pub refused: [AtomicU64; Refusal::ALL.len()],
    /// The last failure talking to each peer, cleared by a success.
    pub peer_errors: Mutex<BTreeMap<String, String>>,
    /// Bumped whenever the database may have new commits.
    pub commits: watch::Sender<u64>,
    /// Requests whose bodies are being read or applied.
    pub requests: Semaphore,
}

#[derive(Clone)]
pub struct SyncNode {
    pub(super) inner: Arc<Inner>,
}

/// Running background tasks; dropping it stops them.
pub struct ShippingHandle {
    pub(super) tasks: Vec<JoinHandle<()>>,
}

impl ShippingHandle {
    pub fn stop(self) {}
}

impl Drop for ShippingHandle {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl SyncNode {
    /// Opens the database and installs capture.
    pub fn open(config: SyncConfig) -> Result<Self> {
        let replica = Replica::open(&config)?;
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .build()
            .map_err(|e| SyncError::Config(format!("http client: {e}")))?;
        let requests = Semaphore::new(config.max_concurrent_requests.max(1));
        let inner = Inner {
            replica: Mutex::new(replica),
            config,
            http,
            refused: Default::default(),
            peer_errors: Mutex::new(BTreeMap::new()),
            commits: watch::Sender::new(0),
            requests,
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    pub fn config(&self) -> &SyncConfig {
        &self.inner.config
    }

    /// Runs `work` against the replica on the blocking pool.
    pub async fn with_replica<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Replica) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut replica = inner.replica.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            work(&mut replica)
        })
        .await
        .map_err(|e| SyncError::Task(e.to_string()))?
    }

    pub(super) fn count_refusal(&self, refusal: Refusal) {
        let index = Refusal::ALL.iter().position(|r| *r == refusal).expect("listed");
        self.inner.refused[index].fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn note_peer_result(&self, peer: &str, outcome: std::result::Result<(), &SyncError>) {
        let mut errors = self.inner.peer_errors.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(()) => {
                errors.remove(peer);
            }
            Err(err) => {
                errors.insert(peer.to_string(), err.to_string());
            }
        }
    }

    /// Wakes the shipping loops: the database may have new commits.
    pub fn notify_commit(&self) {
        self.inner.commits.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Starts one shipping loop per peer, the commit watcher, pruning and anti-entropy.
    pub fn start(&self) -> ShippingHandle {
        let mut tasks: Vec<JoinHandle<()>> =
            self.inner.config.peers.iter().map(|peer| tokio::spawn(self.clone().ship_loop(peer.clone()))).collect();
        tasks.push(tokio::spawn(self.clone().watch_commits()));
        tasks.push(tokio::spawn(self.clone().prune_loop()));
        if let Some(every) = self.inner.config.anti_entropy_interval {
            tasks.push(tokio::spawn(self.clone().anti_entropy_loop(every)));
        }
        ShippingHandle { tasks }
    }

    async fn prune_loop(self) {
        let every = self.inner.config.interval.saturating_mul(10).max(Duration::from_secs(1));
        loop {
            tokio::time::sleep(every).await;
            if let Err(err) = self.prune().await {
                tracing::warn!(error = %err, "pruning failed");
            }
        }
    }

    pub async fn prune(&self) -> Result<PruneReport> {
        self.with_replica(|replica| replica.prune()).await
    }

    /// The replica's status plus what only the running node knows (refusals, last errors).
    pub async fn status(&self) -> Result<SyncStatus> {
        let mut status = self.with_replica(|replica| replica.status()).await?;
        status.rejected = Refusal::ALL
            .iter()
            .zip(&self.inner.refused)
            .map(|(r, n)| (r.label().to_string(), n.load(Ordering::Relaxed)))
            .collect();
        let errors = self.inner.peer_errors.lock().unwrap_or_else(|p| p.into_inner());
        for peer in &mut status.peers {
            peer.last_error = errors.get(&peer.site_id).cloned();
        }
        Ok(status)
    }
}
