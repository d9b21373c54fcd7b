//! `SyncNode`: the async transport. An axum route receives signed batches;
//! one task per peer pushes our unacknowledged changes to that peer.
//! All SQLite work runs on tokio's blocking pool.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use super::batch::Batch;
use super::config::{PeerConfig, SyncConfig};
use super::error::{Result, SyncError};
use super::prune::PruneReport;
use super::replica::Replica;
use super::signing::{open, seal};
use super::status::SyncStatus;

/// Path the receiving route is mounted at.
pub const BATCH_PATH: &str = "/sync/v1/batch";
/// Idle rounds after which an empty batch is sent anyway, so peers learn our
/// clock frontier (needed for tombstone pruning) and last-batch times stay fresh.
const HEARTBEAT_ROUNDS: u32 = 20;
/// Shipping rounds between prune passes.
const PRUNE_ROUNDS: u32 = 50;
const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AckResponse {
    pub ack: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error: String,
}

/// What one shipping attempt did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShipOutcome {
    pub sent: bool,
    pub changes: usize,
    /// The batch hit the size limit, so more is waiting.
    pub full: bool,
}

struct Inner {
    replica: Mutex<Replica>,
    config: SyncConfig,
    http: reqwest::Client,
}

#[derive(Clone)]
pub struct SyncNode {
    inner: Arc<Inner>,
}

/// Running shipping tasks; dropping it stops them.
pub struct ShippingHandle {
    tasks: Vec<JoinHandle<()>>,
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

fn http_status(err: &SyncError) -> StatusCode {
    match err {
        SyncError::BadSignature => StatusCode::UNAUTHORIZED,
        SyncError::UnknownSite(_) => StatusCode::FORBIDDEN,
        SyncError::Gap { .. } => StatusCode::CONFLICT,
        SyncError::NewerSchema { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        SyncError::Malformed(_) | SyncError::UnknownTable(_) | SyncError::UnknownColumn { .. } => {
            StatusCode::BAD_REQUEST
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

async fn receive_batch(State(node): State<SyncNode>, body: Bytes) -> Response {
    match node.receive(body.to_vec()).await {
        Ok(ack) => (StatusCode::OK, axum::Json(AckResponse { ack })).into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "rejected incoming sync batch");
            (http_status(&err), axum::Json(ErrorResponse { error: err.to_string() })).into_response()
        }
    }
}

impl SyncNode {
    /// Opens the database and installs capture; call from inside a tokio runtime.
    pub fn open(config: SyncConfig) -> Result<Self> {
        let replica = Replica::open(&config)?;
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .build()
            .map_err(|e| SyncError::Config(format!("http client: {e}")))?;
        Ok(Self { inner: Arc::new(Inner { replica: Mutex::new(replica), config, http }) })
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

    /// The route receiving batches from peers (`POST /sync/v1/batch`).
    pub fn router(&self) -> Router {
        Router::new()
            .route(BATCH_PATH, post(receive_batch))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(self.clone())
    }

    /// Serves only the sync route on `listener` until the task is dropped.
    pub async fn serve(&self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }

    /// Verifies and applies one sealed batch; returns the acknowledged position.
    pub async fn receive(&self, body: Vec<u8>) -> Result<i64> {
        let key = self.inner.config.key.clone();
        self.with_replica(move |replica| {
            let batch = open(&body, &key)?;
            replica.apply(&batch)
        })
        .await
    }

    /// Sends the next batch to `peer` if there is anything (or `force`), and records the ack.
    pub async fn ship_to(&self, peer: &PeerConfig, force: bool) -> Result<ShipOutcome> {
        match self.next_batch(peer, force).await? {
            Some(batch) => self.send(peer, batch).await,
            None => Ok(ShipOutcome::default()),
        }
    }

    /// The batch of everything `peer` has not acknowledged, if there is anything (or `force`).
    async fn next_batch(&self, peer: &PeerConfig, force: bool) -> Result<Option<Batch>> {
        let site = peer.site_id.clone();
        self.with_replica(move |replica| {
            if replica.backlog_for(&site)? == 0 && !force {
                return Ok(None);
            }
            replica.build_batch(&site).map(Some)
        })
        .await
    }

    /// The batch that follows one in flight ending at `after`, if anything was captured since.
    async fn following_batch(&self, peer: &PeerConfig, after: i64) -> Result<Option<Batch>> {
        let site = peer.site_id.clone();
        self.with_replica(move |replica| {
            if !replica.has_changes_after(after)? {
                return Ok(None);
            }
            replica.build_batch_after(&site, after).map(Some)
        })
        .await
    }

    fn is_full(&self, batch: &Batch) -> bool {
        let limit = self.inner.config.max_changes_per_batch.max(1);
        batch.to_seq - batch.from_seq >= limit as i64
    }

    /// Posts one batch and records the peer's acknowledgement.
    async fn send(&self, peer: &PeerConfig, batch: Batch) -> Result<ShipOutcome> {
        let outcome = ShipOutcome { sent: true, changes: batch.changes.len(), full: self.is_full(&batch) };
        let transport = |e: reqwest::Error| SyncError::Transport { site: peer.site_id.clone(), message: e.to_string() };
        let url = format!("{}{}", peer.base_url.trim_end_matches('/'), BATCH_PATH);
        let response = self
            .inner
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(seal(&batch, &self.inner.config.key))
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            let message = response.text().await.unwrap_or_default();
            return Err(SyncError::Rejected { site: peer.site_id.clone(), status: status.as_u16(), message });
        }
        let body = response.bytes().await.map_err(transport)?;
        let ack: AckResponse = serde_json::from_slice(&body).map_err(|e| SyncError::Transport {
            site: peer.site_id.clone(),
            message: format!("unreadable acknowledgement: {e}"),
        })?;
        let site = peer.site_id.clone();
        self.with_replica(move |replica| replica.record_ack(&site, ack.ack)).await?;
        Ok(outcome)
    }

    /// Starts one shipping loop per peer plus periodic pruning.
    pub fn start(&self) -> ShippingHandle {
        let mut tasks: Vec<JoinHandle<()>> =
            self.inner.config.peers.iter().map(|peer| tokio::spawn(self.clone().ship_loop(peer.clone()))).collect();
        tasks.push(tokio::spawn(self.clone().prune_loop()));
        ShippingHandle { tasks }
    }

    /// While a full batch is in flight the next one is built, so the
    /// receiver's apply and the sender's build overlap. Batches still arrive
    /// in order: one request at a time per peer.
    async fn ship_loop(self, peer: PeerConfig) {
        let interval = self.inner.config.interval;
        let mut idle_rounds = 0;
        let mut prepared: Option<Batch> = None;
        loop {
            let batch = match prepared.take() {
                Some(batch) => Ok(Some(batch)),
                None => self.next_batch(&peer, idle_rounds >= HEARTBEAT_ROUNDS).await,
            };
            let batch = match batch {
                Ok(Some(batch)) => batch,
                Ok(None) => {
                    idle_rounds += 1;
                    tokio::time::sleep(interval).await;
                    continue;
                }
                Err(err) => {
                    tracing::warn!(peer = %peer.site_id, error = %err, "building a batch failed; will retry");
                    tokio::time::sleep(interval).await;
                    continue;
                }
            };
            idle_rounds = 0;
            let more_waiting = self.is_full(&batch);
            let after = batch.to_seq;
            let sent = if more_waiting {
                let (sent, following) = tokio::join!(self.send(&peer, batch), self.following_batch(&peer, after));
                prepared = following.ok().flatten();
                sent
            } else {
                self.send(&peer, batch).await
            };
            match sent {
                // Writes that arrived while the batch was in flight go out at once;
                // only a quiet round waits for the interval.
                Ok(outcome) if more_waiting || outcome.changes > 0 => continue,
                Ok(_) => {}
                Err(err) => {
                    // The prepared batch starts where the failed one ended; start over from the ack.
                    prepared = None;
                    tracing::warn!(peer = %peer.site_id, error = %err, "shipping failed; will retry");
                }
            }
            tokio::time::sleep(interval).await;
        }
    }

    async fn prune_loop(self) {
        let every = self.inner.config.interval.saturating_mul(PRUNE_ROUNDS).max(Duration::from_millis(500));
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

    pub async fn status(&self) -> Result<SyncStatus> {
        self.with_replica(|replica| replica.status()).await
    }
}
