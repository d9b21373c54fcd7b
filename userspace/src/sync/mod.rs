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
//! use std::time::Duration;
//! use switchyard::sync::{ConflictRule, PeerConfig, SyncConfig, SyncNode, TableConfig};
//!
//! let mut config = SyncConfig::new("ams", "/var/lib/switchyard/ams.db", b"shared-secret".to_vec())
//!     .table(TableConfig::new("records"))
//!     .table(TableConfig::new("services").with_rule(ConflictRule::DeleteWins))
//!     .peer(PeerConfig::new("fra", "http://fra.internal:8053"))
//!     .peer(PeerConfig::new("lhr", "http://lhr.internal:8053"));
//! config.interval = Duration::from_millis(100);
//!
//! let node = SyncNode::open(config)?;              // installs capture triggers, refuses bad tables
//! let app: axum::Router = node.router();           // mount: POST /sync/v1/batch
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8053").await?;
//! tokio::spawn(async move { axum::serve(listener, app).await });
//! let _shipping = node.start();                    // push loop per peer + pruning; keep the handle
//! let status = node.status().await?;               // per peer: backlog, lag, last batch, conflicts
//! # let _ = status; Ok(()) }
//! ```
//!
//! [`Replica`] is the same machinery without async or HTTP: `build_batch`,
//! `apply`/`apply_sealed`, `record_ack`, `prune`, `status`, `conflicts`.
//!
//! # How a write travels
//!
//! 1. **Capture** (`capture`): `AFTER INSERT/UPDATE/DELETE` triggers on each
//!    synced table append to `_sy_changes`, inside the writer's transaction:
//!    table, primary key (`json_quote`), kind, changed columns (OLD/NEW
//!    compared per column), the full new row (`json_object`) and the wall
//!    clock (`julianday('now')`). They use only built-in SQL, so writes by
//!    any program — the sqlite3 CLI included — are captured. A key change is
//!    logged as a delete plus an insert.
//! 2. **Stamping** (`stamp`): triggers cannot compute a hybrid logical clock,
//!    so each captured change is given its HLC later, in order of capture,
//!    in the same transaction that ships or applies: `max(clock + 1,
//!    wall_ms << 16)`. The clock lives in `_sy_meta` and only moves forward,
//!    also across restarts; applying a remote batch advances it past every
//!    version received. Versions order by `(hlc, site_id)`.
//! 3. **Registers** (`registers`): per row, an existence register and one
//!    last-writer-wins register per column (value, version, and the version
//!    the writer overwrote). The user's table is a projection of them.
//! 4. **Shipping** (`outbound`, `consolidate`): a batch holds the changes
//!    after the peer's acknowledged position, grouped per row; each entry
//!    carries the row's current registers, so only the newest value per
//!    column ships and separate column updates become one entry. Batches
//!    are JSON, HMAC-SHA256 signed (`signing`). One request is in flight per
//!    peer; while it is, the next batch is already being built, so the
//!    sender's work overlaps the receiver's.
//! 5. **Applying** (`inbound`, `merge`): the whole batch is validated first,
//!    then merged register by register in one transaction that also stores
//!    the new receive position; a raised `_sy_applying` flag (visible only
//!    inside that transaction) keeps the triggers quiet, so nothing echoes.
//!    Merging keeps the winner under the table's [`ConflictRule`]; a loser
//!    whose writer had not seen the winner is logged in `_sy_conflicts`.
//! 6. **Acknowledging and pruning** (`prune`): the receiver answers with its
//!    position; the sender stores it per peer. Changes are deleted once every
//!    peer acknowledged them; tombstones once, in addition, every peer has
//!    sent changes newer than them.
//!
//! # Limits
//!
//! Single-column primary keys only (composite keys and tables without a key
//! are refused at setup). Column values must be JSON-representable (no
//! BLOBs). A consolidated insert-then-delete still ships as one tombstone
//! entry: without it a concurrent insert of the same key at a third site
//! would survive there and nowhere else.

mod anti_entropy;
mod auth;
mod batch;
mod capture;
mod client;
mod config;
mod conflict_rule;
mod conflicts;
mod consolidate;
mod digest;
mod endpoint;
mod error;
mod hlc;
mod inbound;
mod incarnation;
mod log_limit;
mod merge;
mod migrate;
mod node;
mod outbound;
mod positions;
mod project;
mod prune;
mod quarantine;
mod registers;
mod registry;
mod repair;
mod replica;
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
pub use self::client::SYNC_PATH;
pub use self::config::{PeerConfig, SyncConfig, TableConfig};
pub use self::conflict_rule::ConflictRule;
pub use self::conflicts::ConflictRecord;
pub use self::error::{Result, SyncError};
pub use self::hlc::Version;
pub use self::incarnation::Incarnation;
pub use self::node::{Refusal, ShippingHandle, SyncNode};
pub use self::outbound::{AfterReply, BatchLimits};
pub use self::prune::PruneReport;
pub use self::quarantine::{Direction, QuarantinedChange};
pub use self::registers::{Cell, RowState, Seen};
pub use self::replica::Replica;
pub use self::schema::SCHEMA_VERSION;
pub use self::service::SyncService;
pub use self::shipper::ShipOutcome;
pub use self::state::StateStep;
pub use self::status::{PeerStatus, SyncStatus};
pub use self::value::Value;
pub use self::wire::{Answer, DigestQuery, DigestReply, RepairRequest, Reply, Request, StatePage, decode, encode};
