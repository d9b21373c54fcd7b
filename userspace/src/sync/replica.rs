//! `Replica`: the synchronous core over one SQLite connection. Every
//! operation runs in its own IMMEDIATE transaction, but building a batch:
//! stamping passes in write transactions, then the batch read in a read one.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::batch::{Batch, RowChange};
use super::busy;
use super::capture::{backfill, inspect, install_triggers};
use super::config::{SyncConfig, TableConfig};
use super::conflicts::{self, ConflictRecord};
use super::error::{Result, SyncError};
use super::hlc::read_clock;
use super::inbound::{Receiving, apply_changes, handle, retry_quarantined};
use super::incarnation::Incarnation;
use super::outbound::{
    AfterReply, BatchLimits, Stamped, assemble_batch, conflicts_delivered, record_reply, set_aside_oversize,
    stamp_for_batch,
};
use super::positions::renew_own;
use super::prune::{PruneReport, prune};
use super::quarantine;
use super::registry::{Registry, TableSpec};
use super::repair::{digest_query, plan_repair, record_check, record_repairs};
use super::schema::{incarnation, install, register_peers};
use super::stamp::{STAMP_PASS, stamp_pending};
use super::state::{StateStep, next_state_page, state_page_delivered, transfer_due};
use super::status::{SyncStatus, status};
use super::wire::{DigestQuery, DigestReply, RepairRequest, Reply, Request};

const MMAP_BYTES: i64 = 256 * 1024 * 1024;
const STATEMENT_CACHE: usize = 128;

pub struct Replica {
    conn: Connection,
    registry: Registry,
    limits: BatchLimits,
    receiving: Receiving,
    /// Conflict records pruning keeps.
    conflicts_kept: usize,
}

pub(super) fn validate_setup(site_id: &str, tables: &[TableConfig], peers: &[String]) -> Result<()> {
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
        replica.limits =
            BatchLimits { max_changes: config.max_changes_per_batch.max(1), max_bytes: config.max_batch_bytes };
        replica.receiving = Receiving { max_clock_ahead_ms: config.max_clock_ahead.as_millis() as u64 };
        replica.conflicts_kept = config.conflict_log_max_rows.max(1);
        Ok(replica)
    }

    pub fn open_path(path: &Path, site_id: &str, tables: &[TableConfig], peers: &[String]) -> Result<Self> {
        Self::from_connection(Connection::open(path)?, site_id, tables, peers)
    }

    /// Installs (or upgrades) metadata tables and capture triggers and refuses
    /// tables that cannot be synchronised.
    pub fn from_connection(
        mut conn: Connection,
        site_id: &str,
        tables: &[TableConfig],
        peers: &[String],
    ) -> Result<Self> {
        validate_setup(site_id, tables, peers)?;
        busy::wait_in_short_steps(&conn)?;
        // Room for every statement the module prepares, so none is parsed again.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Another program writing the file empties our page cache; mapped pages are not copied back in.
        conn.pragma_update(None, "mmap_size", MMAP_BYTES)?;
        // A batch is applied, and a pass of local changes stamped, inside a savepoint (so one
        // bad change can be retried alone); the pages it touches are copied to a statement
        // journal, kept in memory instead of a file. Both are bounded (the batch limits, the
        // stamping pass), and so is the journal.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        install(&tx, site_id)?;
        register_peers(&tx, peers)?;
        let mut specs = BTreeMap::new();
        for table in tables {
            let shape = inspect(&tx, &table.name)?;
            install_triggers(&tx, &shape)?;
            backfill(&tx, &shape)?;
            specs.insert(table.name.clone(), TableSpec { shape, rule: table.rule.clone() });
        }
        requeue_outbound_quarantine(&tx)?;
        tx.commit()?;
        // Never 0, which marks writes from before runs were kept.
        let epoch = rand::random::<u32>().max(1);
        let registry = Registry { site_id: site_id.to_string(), epoch, tables: specs, peers: peers.to_vec() };
        let defaults = SyncConfig::new(site_id, path_of(&conn), Vec::new());
        let limits = BatchLimits { max_changes: defaults.max_changes_per_batch, max_bytes: defaults.max_batch_bytes };
        let receiving = Receiving { max_clock_ahead_ms: defaults.max_clock_ahead.as_millis() as u64 };
        let conflicts_kept = defaults.conflict_log_max_rows;
        Ok(Self { conn, registry, limits, receiving, conflicts_kept })
    }

    fn write<T>(&mut self, work: impl FnOnce(&Connection, &Registry) -> Result<T>) -> Result<T> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = work(&tx, &self.registry)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `work` on one snapshot of the database, without the write lock.
    fn read<T>(&mut self, work: impl FnOnce(&Connection, &Registry) -> Result<T>) -> Result<T> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
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

    pub fn tables(&self) -> Vec<String> {
        self.registry.tables.keys().cloned().collect()
    }

    /// The underlying connection, e.g. for the daemon's own reads and writes
    /// (writes are captured by the triggers like any other program's).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    pub fn batch_limits(&self) -> BatchLimits {
        self.limits
    }

    pub fn incarnation(&self) -> Result<Incarnation> {
        incarnation(&self.conn)
    }

    /// Assigns HLC versions to captured changes now rather than at the next ship or apply.
    pub fn stamp_pending(&mut self) -> Result<usize> {
        self.write(stamp_pending)
    }

    /// The next batch for `peer`: everything it has not acknowledged, up to the batch limits.
    pub fn build_batch(&mut self, peer: &str) -> Result<Batch> {
        self.build_batch_after(peer, 0)
    }

    /// The batch following one that is still in flight and ends at `after`.
    /// Stamping takes the write lock, one pass of at most `STAMP_PASS` changes at a time, and
    /// the batch is then read with the lock let go: the application's writers wait for one
    /// pass at most, however large the batch.
    pub fn build_batch_after(&mut self, peer: &str, after: i64) -> Result<Batch> {
        let limits = self.limits;
        let mut stamped = Stamped::default();
        loop {
            let pass = (limits.max_changes.max(1) - stamped.count()).min(STAMP_PASS);
            let done = self.write(|conn, registry| stamp_for_batch(conn, registry, peer, pass, &mut stamped))?;
            if done < pass || stamped.count() >= limits.max_changes {
                break;
            }
        }
        let (batch, oversize) =
            self.read(|conn, registry| assemble_batch(conn, registry, peer, after, limits, stamped))?;
        if !oversize.is_empty() {
            self.write(|conn, _| set_aside_oversize(conn, &oversize))?;
        }
        Ok(batch)
    }

    /// Whether any change was captured after position `seq` (cheap, read-only).
    pub fn has_changes_after(&self, seq: i64) -> Result<bool> {
        let query = "SELECT EXISTS (SELECT 1 FROM _sy_changes WHERE seq > ?1)";
        Ok(self.conn.prepare_cached(query)?.query_row([seq], |r| r.get(0))?)
    }

    /// `peer` refused our incarnation as one we had left behind: this database went back to
    /// before a renewal of it (a backup older than the renewal was restored). A new
    /// incarnation and a full state exchange make up for it, as for any restore.
    pub fn left_behind(&mut self, peer: &str) -> Result<Incarnation> {
        let reason = format!("`{peer}` knows this site under a later incarnation than this database's");
        self.write(|conn, _| renew_own(conn, &reason))
    }

    /// Records `peer`'s reply to a request of ours (its acknowledgement, its incarnation).
    pub fn record_reply(&mut self, peer: &str, reply: &Reply) -> Result<AfterReply> {
        self.write(|conn, registry| record_reply(conn, registry, peer, reply))
    }

    /// Records `peer`'s reply to one of our batches: as `record_reply`, and the
    /// conflict records the batch carried are delivered, unless the peer took a
    /// new incarnation since the batch was built (we may have heard of it from
    /// the peer's own request meanwhile): that one has none of them yet.
    pub fn record_batch_reply(&mut self, peer: &str, batch: &Batch, reply: &Reply) -> Result<AfterReply> {
        self.write(|conn, registry| {
            let after = record_reply(conn, registry, peer, reply)?;
            // Before we knew any incarnation of it there was nothing to start over.
            let same_peer = batch.origin.peer_incarnation.is_none_or(|known| known == reply.incarnation);
            if after == AfterReply::Steady && same_peer {
                conflicts_delivered(conn, peer, batch.conflicts_upto)?;
            }
            Ok(after)
        })
    }

    /// Answers a peer's request; for a batch, applies it in one transaction
    /// with the new receive position. A refused request changes nothing.
    pub fn handle(&mut self, request: &Request) -> Result<Reply> {
        let receiving = self.receiving;
        self.write(|conn, registry| handle(conn, registry, request, receiving))
    }

    /// Applies a batch (the receiving side of `handle`, for a batch in hand).
    pub fn apply(&mut self, batch: &Batch) -> Result<Reply> {
        self.handle(&Request::Batch(batch.clone()))
    }

    /// The next page of our full state for `peer`, while a transfer is due.
    pub fn next_state_page(&mut self, peer: &str) -> Result<Option<StateStep>> {
        // Asked at every shipping round, and seldom due: when not, the answer comes without
        // taking the write lock from the application's writers.
        if !transfer_due(&self.conn, peer)? {
            return Ok(None);
        }
        let limits = self.limits;
        self.write(|conn, registry| next_state_page(conn, registry, peer, limits))
    }

    pub fn state_page_delivered(&mut self, peer: &str, step: &StateStep) -> Result<()> {
        self.write(|conn, _| state_page_delivered(conn, peer, step))
    }

    /// Anti-entropy, asking side: our digests of `table` for `peer`.
    pub fn digest_query(&mut self, peer: &str, table: &str) -> Result<DigestQuery> {
        self.write(|conn, registry| digest_query(conn, registry, peer, table))
    }

    /// Anti-entropy, asking side: the repair to send for what the peer's digests showed.
    pub fn plan_repair(&mut self, peer: &str, table: &str, reply: &DigestReply) -> Result<Option<RepairRequest>> {
        self.write(|conn, registry| plan_repair(conn, registry, peer, table, reply))
    }

    /// Anti-entropy, asking side: merges the peer's registers for the repaired rows.
    pub fn finish_repair(&mut self, peer: &str, rows: &[RowChange]) -> Result<()> {
        self.write(|conn, registry| {
            apply_changes(conn, registry, peer, rows)?;
            record_repairs(conn, peer, rows.len())
        })
    }

    pub fn record_check(&mut self, peer: &str, divergent: usize, result: &str) -> Result<()> {
        self.write(|conn, _| record_check(conn, peer, divergent, result))
    }

    /// Tries quarantined peer changes again; returns how many went through.
    pub fn retry_quarantined(&mut self) -> Result<usize> {
        self.write(retry_quarantined)
    }

    pub fn prune(&mut self) -> Result<PruneReport> {
        let kept = self.conflicts_kept;
        self.write(|conn, registry| prune(conn, registry, kept))
    }

    /// Sets how many conflict records pruning keeps (at least 1).
    pub fn keep_conflicts(&mut self, rows: usize) {
        self.conflicts_kept = rows.max(1);
    }

    /// Whether any captured change waits for `peer`'s acknowledgement (cheap,
    /// read-only: it stops at the first, however long the backlog).
    pub fn has_backlog_for(&self, peer: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM _sy_changes
                                WHERE seq > (SELECT acked_seq FROM _sy_peers WHERE site = ?1))",
            )?
            .query_row([peer], |r| r.get(0))?)
    }

    /// Whether our full state is being sent to `peer` (cheap, read-only).
    pub fn state_due(&self, peer: &str) -> Result<bool> {
        let query = "SELECT state_due FROM _sy_peers WHERE site = ?1";
        Ok(self.conn.prepare_cached(query)?.query_row([peer], |r| r.get(0))?)
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

fn path_of(conn: &Connection) -> std::path::PathBuf {
    conn.path().map(std::path::PathBuf::from).unwrap_or_default()
}

/// Local changes set aside earlier are logged again at start (the limit that
/// stopped them may have been raised); if they still fail they come back.
fn requeue_outbound_quarantine(conn: &Connection) -> Result<()> {
    for (table, pk) in quarantine::outbound_retries(conn)? {
        if pk.is_null() {
            continue;
        }
        let requeued = conn
            .prepare_cached(
                "INSERT INTO _sy_changes(tbl, pk, kind, changed, wall_ms)
                 SELECT ?1, ?2, CASE WHEN alive THEN 'update' ELSE 'delete' END, '[]', ?3
                 FROM _sy_rows WHERE tbl = ?1 AND pk = ?2 AND alive IS NOT NULL",
            )?
            .execute(rusqlite::params![table, pk, super::hlc::wall_now_ms()])?;
        if requeued > 0 {
            quarantine::release(conn, quarantine::Direction::Outbound, "", &table, &pk)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::value::Value;

    /// Site a's database with table `t` synced to b: the application's connection and the replica.
    fn site_a(dir: &Path) -> (Connection, Replica) {
        let path = dir.join("a.db");
        let app = Connection::open(&path).unwrap();
        app.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)").unwrap();
        let replica = Replica::open_path(&path, "a", &[TableConfig::new("t")], &["b".to_string()]).unwrap();
        (app, replica)
    }

    /// A batch is read after its stamping has let the write lock go: a change the application
    /// makes in between is not in it (it is not stamped yet) and goes, stamped, in the next.
    #[test]
    fn a_change_made_while_a_batch_is_read_goes_in_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let (app, mut replica) = site_a(dir.path());
        app.execute("INSERT INTO t VALUES (1, 'one')", []).unwrap();
        let limits = replica.limits;
        let mut stamped = Stamped::default();
        replica.write(|conn, registry| stamp_for_batch(conn, registry, "b", STAMP_PASS, &mut stamped)).unwrap();
        app.execute("INSERT INTO t VALUES (2, 'two')", []).unwrap();
        let (batch, oversize) =
            replica.read(|conn, registry| assemble_batch(conn, registry, "b", 0, limits, stamped)).unwrap();
        assert!(oversize.is_empty());
        let keys: Vec<&Value> = batch.changes.iter().map(|c| &c.pk).collect();
        assert_eq!(keys, [&Value::Integer(1)]);
        let next = replica.build_batch_after("b", batch.to_seq).unwrap();
        let keys: Vec<&Value> = next.changes.iter().map(|c| &c.pk).collect();
        assert_eq!(keys, [&Value::Integer(2)]);
        assert!(next.changes[0].row.version.hlc > batch.frontier_hlc, "stamped after the first batch's frontier");
        assert_eq!(next.from_seq, batch.to_seq);
    }

    /// A batch larger than one stamping pass (stamped in several) carries every change, each
    /// with a version of its own.
    #[test]
    fn a_batch_larger_than_a_stamping_pass_carries_every_change() {
        let dir = tempfile::tempdir().unwrap();
        let (app, mut replica) = site_a(dir.path());
        replica.limits.max_changes = 3 * STAMP_PASS;
        let rows = 2 * STAMP_PASS + 10;
        app.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) INSERT INTO t SELECT i, 'v' FROM n",
            [rows as i64],
        )
        .unwrap();
        let batch = replica.build_batch("b").unwrap();
        assert_eq!(batch.changes.len(), rows);
        assert_eq!(batch.to_seq - batch.from_seq, rows as i64);
        let mut versions: Vec<i64> = batch.changes.iter().map(|c| c.row.version.hlc).collect();
        assert!(versions.iter().all(|&hlc| hlc > 0 && hlc <= batch.frontier_hlc));
        versions.dedup();
        assert_eq!(versions.len(), rows, "each change its own version");
    }
}
