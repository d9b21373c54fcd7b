//! Multi-site replication of SQLite tables for Switchyard.
//!
//! Each site has its own SQLite database. This module keeps the synchronised
//! tables of all sites in step: every site pushes its own changes directly to
//! every peer (full mesh, no relaying of batches), and every site ends with
//! the same rows whatever the order, loss or repetition of batches.
//!
//! # Entry API for the daemon
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use switchyard::sync::{ConflictRule, PeerConfig, SyncConfig, SyncNode, TableConfig};
//!
//! let config = SyncConfig::new("ams", "/var/lib/switchyard/ams.db", b"shared-secret".to_vec())
//!     .table(TableConfig::new("records"))
//!     .table(TableConfig::new("services").with_rule(ConflictRule::DeleteWins))
//!     .peer(PeerConfig::new("fra", "http://fra.internal:8053"))
//!     .peer(PeerConfig::new("lhr", "http://lhr.internal:8053"));
//!
//! let node = SyncNode::open(config)?;              // installs capture triggers, refuses bad tables
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8053").await?;
//! let endpoint = node.clone();
//! tokio::spawn(async move { endpoint.serve(listener).await }); // POST /sync/v2
//! let _running = node.start();                     // shippers, commit watch, pruning, anti-entropy
//! let status = node.status().await?;               // per peer: backlog, lag, checks; quarantine
//! # let _ = status; Ok(()) }
//! ```
//!
//! [`Replica`] is the same machinery without async or HTTP: `build_batch`,
//! `handle` (any request), `record_reply`, `next_state_page`, `digest_query`
//! / `plan_repair` / `finish_repair`, `prune`, `status`, `conflicts`.
//!
//! # How a write travels
//!
//! 1. **Capture** (`capture`): `AFTER INSERT/UPDATE/DELETE` triggers on each
//!    synced table append to `_sy_changes`, inside the writer's transaction:
//!    table, primary key (as stored), kind, changed columns (OLD/NEW compared
//!    per column) and the wall clock. No values: a trigger could only carry
//!    them as JSON, which loses TEXT that is not UTF-8 and refuses BLOBs. They
//!    use only built-in SQL, so writes by any program — the sqlite3 CLI
//!    included — are captured. A key change is logged as a delete plus an
//!    insert.
//! 2. **Stamping** (`stamp`): each captured change is given its HLC later, in
//!    order of capture, in the transaction that ships or applies: `max(clock +
//!    1, wall_ms << 16)`; the row's current values are read then (every local
//!    write is captured, so they are the newest unstamped change's). The clock
//!    lives in `_sy_meta` and only moves forward; applying remote versions
//!    advances it. Versions order by `(hlc, site_id)`.
//! 3. **Registers** (`registers`): per row, an existence register and one
//!    last-writer-wins register per column (value exactly as SQLite holds it,
//!    version, the run that wrote it, and the write's history: per site and
//!    run the newest write it overwrote; a run is one opening of the database,
//!    so a restored site's new writes never claim the writes it lost). The
//!    user's table is a projection of them.
//! 4. **Shipping** (`shipper`, `outbound`, `consolidate`): a commit watcher
//!    (`watch`: inotify on the database's directory) wakes one loop per peer.
//!    A batch holds the changes after the peer's acknowledged position,
//!    grouped per row, each with the row's current registers, within
//!    `max_changes_per_batch` and `max_batch_bytes`. It is postcard-encoded
//!    and posted with the site, length and SHA-256 of the body signed
//!    (HMAC-SHA256) in headers (`auth`, `client`). One request is in flight
//!    per peer; while a full one is, the next is being built. Building holds
//!    the write lock only to stamp (2,000 changes per transaction at most);
//!    the batch is read after, stopping at the last change stamped.
//! 5. **Receiving** (`endpoint`, `inbound`, `merge`): the endpoint checks the
//!    signature before reading the body and bounds connections, concurrent
//!    requests, body size and time. The batch is applied in one transaction
//!    with the new receive position, each change in a savepoint: one that
//!    cannot be applied here is quarantined and the others go on. A raised
//!    `_sy_applying` flag keeps the triggers quiet, so nothing echoes.
//!    Merging keeps the winner under the table's [`ConflictRule`]; a loser
//!    whose writer's history does not cover the winner's is a conflict, logged
//!    in `_sy_conflicts` and sent to every peer with the next batches.
//! 6. **Acknowledging and pruning** (`positions`, `prune`): the receiver
//!    answers with its position (and the HLC of the sender's change there)
//!    and its incarnation; the sender checks the change is its own and
//!    stores them per peer. Changes are deleted once every peer acknowledged them;
//!    tombstones once, in addition, every peer has sent a frontier past them
//!    (a per-table horizon remembers how far, so an old copy of a forgotten
//!    row is deleted again rather than let back in: by a tombstone at the
//!    horizon, which outranks every old copy of the row, as the forgotten
//!    tombstone did, and loses to every write made after it).
//!
//! Around that: **incarnations** (`positions`, `state`): a database whose
//! position went back or holds another change at an acknowledged position
//! (restored) or that is new to a peer (recreated) starts
//! positions over with a new incarnation and both sides send their full state;
//! one presenting another's incarnation (copied) is refused. **Anti-entropy**
//! (`anti_entropy`, `repair`, `digest`): every `anti_entropy_interval` each
//! site compares per-range digests of every table with each peer, narrows to
//! the differing rows, takes differences between its table and its registers
//! as local writes (the triggers were bypassed), and both sides merge each
//! other's registers for those rows. **Quarantine** (`quarantine`): what
//! cannot be stamped, shipped or applied, with its reason, tried again later.
//!
//! # Limits
//!
//! Single-column primary keys only (composite keys and tables without a key
//! are refused at setup); a row whose key is NULL is quarantined. A
//! consolidated insert-then-delete still ships as one tombstone entry: without
//! it a concurrent insert of the same key at a third site would survive there
//! and nowhere else. Under `site_priority`, a local write that loses is
//! reverted once it is the row's newest change; an earlier write to the same
//! row stamped in the same stamping run is recorded in the conflict log with the
//! value read at stamping. A row change larger than `max_batch_bytes` is
//! quarantined (and reported by anti-entropy) until the limit is raised. A
//! site restored from a backup loses the writes that had not reached any peer
//! before the restore, and its own conflict log entries that had not yet
//! been sent. All sites must run the same wire format (`batch::FORMAT`, 3;
//! the endpoint path is `/sync/v2`).

mod anti_entropy;
mod auth;
mod batch;
mod busy;
mod capture;
mod client;
mod config;
mod conflict_rule;
mod conflicts;
mod consolidate;
mod digest;
mod endpoint;
mod error;
mod held;
mod hlc;
pub use hlc::wall_now_ms;
mod inbound;
mod incarnation;
pub(crate) mod log_limit;
mod merge;
mod migrate;
mod node;
mod outbound;
mod positions;
mod preflight;
mod project;
mod prune;
mod quarantine;
mod registers;
mod registry;
mod repair;
mod replica;
mod row_sql;
mod savepoint;
mod schema;
mod service;
mod shipper;
mod sql;
mod stamp;
mod state;
mod status;
mod value;
mod watch;
mod wire;

pub use self::auth::{DIGEST_HEADER, SIGNATURE_HEADER, SITE_HEADER, sign_request};
pub use self::batch::{Batch, ChangeKind, FORMAT, Origin, RowChange};
pub use self::busy::wait_in_short_steps;
pub use self::client::SYNC_PATH;
pub use self::config::{DEFAULT_CONFLICT_LOG_MAX_ROWS, PeerConfig, SyncConfig, TableConfig};
pub use self::conflict_rule::ConflictRule;
pub use self::conflicts::ConflictRecord;
pub use self::error::{Result, SyncError};
pub use self::hlc::Version;
pub use self::incarnation::Incarnation;
#[cfg(any(test, feature = "fixtures"))]
pub use self::migrate::{to_layout_3, to_layout_4};
pub use self::node::{Refusal, ShippingHandle, SyncNode};
pub use self::outbound::{AfterReply, BatchLimits};
pub use self::positions::MARKER_TABLE;
pub use self::preflight::check_database;
pub use self::prune::PruneReport;
pub use self::quarantine::{Direction, QuarantinedChange};
pub use self::registers::{Cell, Registers, RowState, Seen, SeenRun, load as load_registers};
pub use self::replica::Replica;
pub use self::schema::SCHEMA_VERSION;
pub use self::service::SyncService;
pub use self::shipper::ShipOutcome;
pub use self::state::StateStep;
pub use self::status::{PeerStatus, SyncStatus};
pub use self::value::Value;
pub use self::wire::{
    Answer, DigestQuery, DigestReply, Position, RepairRequest, Reply, Request, StatePage, decode, decode_request,
    encode,
};
