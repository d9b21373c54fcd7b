//! The periodic anti-entropy check with each peer (see `repair` for the
//! protocol), and retrying quarantined changes on the same beat.

use std::time::Duration;

use super::config::PeerConfig;
use super::error::{Result, SyncError};
use super::log_limit::LogLimit;
use super::node::SyncNode;
use super::wire::{Answer, Request};

impl SyncNode {
    /// Compares every synced table with `peer` and repairs what differs;
    /// returns the number of rows that differed (rows on their way excluded).
    pub async fn check_with(&self, peer: &PeerConfig) -> Result<usize> {
        let tables = self.with_replica(|replica| Ok(replica.tables())).await?;
        let mut divergent = 0;
        for table in tables {
            divergent += self.check_table(peer, &table).await?;
        }
        Ok(divergent)
    }

    async fn check_table(&self, peer: &PeerConfig, table: &str) -> Result<usize> {
        let site = peer.site_id.clone();
        let name = table.to_string();
        let query = self.with_replica(move |replica| replica.digest_query(&site, &name)).await?;
        let reply = self.post(peer, &Request::Digests(query)).await?;
        self.record_peer_reply(peer, &reply).await?;
        let Answer::Digests(digests) = reply.answer else {
            return Err(SyncError::Malformed("a digest query answered with something else".into()));
        };
        if digests.differing_ranges.is_empty() {
            return Ok(0);
        }
        let (site, name) = (peer.site_id.clone(), table.to_string());
        let plan = self.with_replica(move |replica| replica.plan_repair(&site, &name, &digests)).await?;
        let Some(repair) = plan else {
            return Ok(0);
        };
        let divergent = repair.keys.len();
        let reply = self.post(peer, &Request::Repair(repair)).await?;
        self.record_peer_reply(peer, &reply).await?;
        let Answer::Repair { rows } = reply.answer else {
            return Err(SyncError::Malformed("a repair answered with something else".into()));
        };
        let site = peer.site_id.clone();
        self.with_replica(move |replica| replica.finish_repair(&site, &rows)).await?;
        tracing::info!(peer = %peer.site_id, table, rows = divergent, "anti-entropy repaired rows that differed");
        Ok(divergent)
    }

    async fn record_peer_reply(&self, peer: &PeerConfig, reply: &super::wire::Reply) -> Result<()> {
        let site = peer.site_id.clone();
        let reply = reply.clone();
        self.with_replica(move |replica| replica.record_reply(&site, &reply).map(|_| ())).await
    }

    /// Checks with every peer, records the outcome, retries the quarantine.
    pub async fn check_all(&self) {
        static LOG: LogLimit = LogLimit::new();
        for peer in self.inner.config.peers.clone() {
            let outcome = self.check_with(&peer).await;
            let (divergent, result) = match &outcome {
                Ok(0) => (0, "in step".to_string()),
                Ok(n) => (*n, format!("{n} rows differed and were repaired")),
                Err(err) => (0, format!("check failed: {err}")),
            };
            if let (Err(err), Some(held_back)) = (&outcome, LOG.allow()) {
                tracing::warn!(peer = %peer.site_id, error = %err, held_back, "anti-entropy check failed");
            }
            let site = peer.site_id.clone();
            let _ = self.with_replica(move |replica| replica.record_check(&site, divergent, &result)).await;
        }
        if let Ok(released @ 1..) = self.with_replica(|replica| replica.retry_quarantined()).await {
            tracing::info!(released, "quarantined changes applied on retry");
        }
    }

    pub(super) async fn anti_entropy_loop(self, every: Duration) {
        loop {
            // Sites started together would otherwise check each other at the same moment.
            let jitter = every.mul_f64(rand::random::<f64>() * 0.2);
            tokio::time::sleep(every.mul_f64(0.9) + jitter).await;
            self.check_all().await;
        }
    }
}
