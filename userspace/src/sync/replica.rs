//! `Replica`: the synchronous core over one SQLite connection. Every
//! operation runs in its own IMMEDIATE transaction.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use super::batch::Batch;
use super::capture::{backfill, inspect, install_triggers};
use super::config::{SyncConfig, TableConfig};
use super::conflicts::{self, ConflictRecord};
use super::error::{Result, SyncError};
use super::hlc::read_clock;
use super::inbound::apply_batch;
use super::outbound::{build_batch, build_batch_after, record_ack};
use super::prune::{PruneReport, prune};
use super::registry::{Registry, TableSpec};
use super::schema::{install, register_peers};
use super::signing::open;
use super::stamp::stamp_pending;
use super::status::{SyncStatus, status};

const DEFAULT_BATCH_LIMIT: usize = 2000;
const MMAP_BYTES: i64 = 256 * 1024 * 1024;
const STATEMENT_CACHE: usize = 64;

pub struct Replica {
    conn: Connection,
    registry: Registry,
    batch_limit: usize,
}

fn validate_setup(site_id: &str, tables: &[TableConfig], peers: &[String]) -> Result<()> {
    if site_id.is_empty() {
        return Err(SyncError::Config("site id is empty".into()));
    }
    if peers.iter().any(|p| p == site_id) {
        return Err(SyncError::Config(format!("site `{site_id}` lists itself as a peer")));
    }
    let mut seen = std::collections::BTreeSet::new();
    for table in tables {
        if table.name.starts_with("_sy_") {
            return Err(SyncError::Config(format!("table `{}` uses the reserved prefix _sy_", table.name)));
        }
        if !seen.insert(&table.name) {
            return Err(SyncError::Config(format!("table `{}` is listed twice", table.name)));
        }
    }
    Ok(())
}

impl Replica {
    pub fn open(config: &SyncConfig) -> Result<Self> {
        let mut replica = Self::open_path(&config.db_path, &config.site_id, &config.tables, &config.peer_ids())?;
        replica.batch_limit = config.max_changes_per_batch.max(1);
        Ok(replica)
    }

    pub fn open_path(path: &Path, site_id: &str, tables: &[TableConfig], peers: &[String]) -> Result<Self> {
        Self::from_connection(Connection::open(path)?, site_id, tables, peers)
    }

    /// Installs metadata tables and capture triggers (idempotent) and refuses
    /// tables that cannot be synchronised.
    pub fn from_connection(
        mut conn: Connection,
        site_id: &str,
        tables: &[TableConfig],
        peers: &[String],
    ) -> Result<Self> {
        validate_setup(site_id, tables, peers)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        // Room for every statement the module prepares, so none is parsed again.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Another program writing the file empties our page cache; mapped pages are not copied back in.
        conn.pragma_update(None, "mmap_size", MMAP_BYTES)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        install(&tx, site_id)?;
        register_peers(&tx, peers)?;
        let mut specs = BTreeMap::new();
        for table in tables {
            let shape = inspect(&tx, &table.name)?;
            install_triggers(&tx, &shape)?;
            backfill(&tx, &shape)?;
            specs.insert(table.name.clone(), TableSpec { shape, policy: table.policy.clone() });
        }
        tx.commit()?;
        let registry = Registry { site_id: site_id.to_string(), tables: specs, peers: peers.to_vec() };
        Ok(Self { conn, registry, batch_limit: DEFAULT_BATCH_LIMIT })
    }

    fn write<T>(&mut self, work: impl FnOnce(&Connection, &Registry) -> Result<T>) -> Result<T> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = work(&tx, &self.registry)?;
        tx.commit()?;
        Ok(out)
    }

    pub fn site_id(&self) -> &str {
        &self.registry.site_id
    }

    pub fn peers(&self) -> &[String] {
        &self.registry.peers
    }

    /// The underlying connection, e.g. for the daemon's own reads and writes
    /// (writes are captured by the triggers like any other program's).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    pub fn set_batch_limit(&mut self, limit: usize) {
        self.batch_limit = limit.max(1);
    }

    pub fn batch_limit(&self) -> usize {
        self.batch_limit
    }

    /// Assigns HLC versions to captured changes now rather than at the next ship or apply.
    pub fn stamp_pending(&mut self) -> Result<usize> {
        self.write(stamp_pending)
    }

    /// The next batch for `peer`: everything it has not acknowledged, up to the batch limit.
    pub fn build_batch(&mut self, peer: &str) -> Result<Batch> {
        let limit = self.batch_limit;
        self.write(|conn, registry| build_batch(conn, registry, peer, limit))
    }

    /// The batch following one that is still in flight and ends at `after`.
    pub fn build_batch_after(&mut self, peer: &str, after: i64) -> Result<Batch> {
        let limit = self.batch_limit;
        self.write(|conn, registry| build_batch_after(conn, registry, peer, after, limit))
    }

    /// Whether any change was captured after position `seq` (cheap, read-only).
    pub fn has_changes_after(&self, seq: i64) -> Result<bool> {
        Ok(self.conn.query_row("SELECT EXISTS (SELECT 1 FROM _sy_changes WHERE seq > ?1)", [seq], |r| r.get(0))?)
    }

    pub fn record_ack(&mut self, peer: &str, ack: i64) -> Result<()> {
        self.write(|conn, _| record_ack(conn, peer, ack))
    }

    /// Applies a batch in one transaction with the new receive position and
    /// returns the position to acknowledge. A rejected batch changes nothing.
    pub fn apply(&mut self, batch: &Batch) -> Result<i64> {
        self.write(|conn, registry| apply_batch(conn, registry, batch))
    }

    /// Verifies the signature, then applies.
    pub fn apply_sealed(&mut self, bytes: &[u8], key: &[u8]) -> Result<i64> {
        let batch = open(bytes, key)?;
        self.apply(&batch)
    }

    pub fn prune(&mut self) -> Result<PruneReport> {
        self.write(prune)
    }

    /// Captured changes `peer` has not acknowledged (cheap, read-only).
    pub fn backlog_for(&self, peer: &str) -> Result<u64> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM _sy_changes WHERE seq > (SELECT acked_seq FROM _sy_peers WHERE site = ?1)",
            [peer],
            |r| r.get(0),
        )?)
    }

    pub fn status(&self) -> Result<SyncStatus> {
        status(&self.conn, &self.registry)
    }

    pub fn conflicts(&self) -> Result<Vec<ConflictRecord>> {
        conflicts::list(&self.conn)
    }

    /// The persisted hybrid logical clock.
    pub fn clock(&self) -> Result<i64> {
        read_clock(&self.conn)
    }
}
