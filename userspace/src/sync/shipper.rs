//! One shipping loop per peer: a pending state transfer first, then the
//! change log. Changes go out as soon as they are committed (the commit
//! watcher wakes the loop); an empty batch goes out after a quiet spell so the
//! peer learns our clock frontier.

use std::time::{Duration, Instant};

use super::batch::Batch;
use super::config::PeerConfig;
use super::error::{Result, SyncError};
use super::log_limit::LogLimit;
use super::node::SyncNode;
use super::outbound::AfterReply;
use super::wire::{Request, StatePage};

/// Quiet time after which an empty batch is sent anyway, so peers learn our
/// clock frontier (needed for tombstone pruning) and last-batch times stay fresh.
const HEARTBEAT: Duration = Duration::from_secs(2);
/// Longest pause between retries after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What one shipping attempt did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShipOutcome {
    pub sent: bool,
    pub changes: usize,
    /// The batch hit a size limit, so more is waiting.
    pub full: bool,
}

impl SyncNode {
    /// Sends the next batch to `peer` if there is anything (or `force`), and records the reply.
    pub async fn ship_to(&self, peer: &PeerConfig, force: bool) -> Result<ShipOutcome> {
        match self.next_batch(peer, force).await? {
            Some(batch) => self.send_batch(peer, batch).await.map(|(outcome, _)| outcome),
            None => Ok(ShipOutcome::default()),
        }
    }

    /// The batch of everything `peer` has not acknowledged, if there is anything (or `force`).
    async fn next_batch(&self, peer: &PeerConfig, force: bool) -> Result<Option<Batch>> {
        let site = peer.site_id.clone();
        self.with_replica(move |replica| {
            if !replica.has_backlog_for(&site)? && !force {
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

    /// Posts one batch and records the peer's reply.
    async fn send_batch(&self, peer: &PeerConfig, batch: Batch) -> Result<(ShipOutcome, AfterReply)> {
        let outcome = ShipOutcome { sent: true, changes: batch.changes.len(), full: self.is_full(&batch) };
        let request = Request::Batch(batch);
        let reply = self.post(peer, &request).await?;
        let site = peer.site_id.clone();
        let Request::Batch(batch) = request else { unreachable!("built as a batch") };
        let after = self.with_replica(move |replica| replica.record_batch_reply(&site, &batch, &reply)).await?;
        Ok((outcome, after))
    }

    /// Sends the next page of our full state to `peer` if a transfer is due;
    /// returns whether one was sent.
    async fn ship_state_page(&self, peer: &PeerConfig) -> Result<bool> {
        let site = peer.site_id.clone();
        let Some(step) = self.with_replica(move |replica| replica.next_state_page(&site)).await? else {
            return Ok(false);
        };
        let page: StatePage = step.page.clone();
        let reply = self.post(peer, &Request::State(page)).await?;
        let site = peer.site_id.clone();
        self.with_replica(move |replica| {
            if replica.record_reply(&site, &reply)? == AfterReply::Steady {
                replica.state_page_delivered(&site, &step)?;
            }
            Ok(())
        })
        .await?;
        Ok(true)
    }

    /// One round: a state page if due, else the next batch. Returns whether
    /// more may be waiting (so the loop goes on without waiting).
    async fn ship_round(&self, peer: &PeerConfig, prepared: &mut Option<Batch>, heartbeat: bool) -> Result<bool> {
        if self.ship_state_page(peer).await? {
            return Ok(true);
        }
        let batch = match prepared.take() {
            Some(batch) => Some(batch),
            None => self.next_batch(peer, heartbeat).await?,
        };
        let Some(batch) = batch else {
            return Ok(false);
        };
        let more_waiting = self.is_full(&batch);
        let after = batch.to_seq;
        // While a full batch is in flight the next one is built, so the
        // receiver's apply and the sender's build overlap. Batches still
        // arrive in order: one request at a time per peer.
        let (sent, following) = if more_waiting {
            let (sent, following) = tokio::join!(self.send_batch(peer, batch), self.following_batch(peer, after));
            (sent, following.ok().flatten())
        } else {
            (self.send_batch(peer, batch).await, None)
        };
        let (outcome, after_reply) = sent?;
        // A restart of positions makes the prepared batch start in the wrong place.
        *prepared = following.filter(|_| after_reply == AfterReply::Steady);
        Ok(more_waiting || outcome.changes > 0 || after_reply == AfterReply::Restarted)
    }

    pub(super) async fn ship_loop(self, peer: PeerConfig) {
        let mut commits = self.inner.commits.subscribe();
        let mut prepared = None;
        let mut last_sent = Instant::now();
        let mut failures: u32 = 0;
        let log = LogLimit::new();
        loop {
            // Mark commits seen before looking, so none made during the round is missed.
            commits.borrow_and_update();
            let heartbeat = last_sent.elapsed() >= HEARTBEAT;
            match self.ship_round(&peer, &mut prepared, heartbeat).await {
                Ok(more) => {
                    self.note_peer_result(&peer.site_id, Ok(()));
                    failures = 0;
                    if more || heartbeat {
                        last_sent = Instant::now();
                    }
                    if more {
                        continue;
                    }
                    let quiet = HEARTBEAT.saturating_sub(last_sent.elapsed());
                    let _ = tokio::time::timeout(quiet, commits.changed()).await;
                }
                Err(err) => {
                    prepared = None;
                    self.note_peer_result(&peer.site_id, Err(&err));
                    if matches!(err, SyncError::Rejected { status: 410, .. }) {
                        let site = peer.site_id.clone();
                        match self.with_replica(move |replica| replica.left_behind(&site)).await {
                            Ok(_) => continue,
                            Err(e) => {
                                tracing::warn!(peer = %peer.site_id, error = %e, "taking a new incarnation failed")
                            }
                        }
                    }
                    if let Some(held_back) = log.allow() {
                        tracing::warn!(peer = %peer.site_id, error = %err, held_back, "sync shipping failed; will retry");
                    }
                    failures = failures.saturating_add(1);
                    tokio::time::sleep(backoff(self.inner.config.interval, failures)).await;
                }
            }
        }
    }
}

/// Doubles the pause with each failure in a row, up to `MAX_BACKOFF`.
fn backoff(interval: Duration, failures: u32) -> Duration {
    interval.saturating_mul(1 << failures.min(8).saturating_sub(1)).min(MAX_BACKOFF.max(interval))
}
