//! Every failure the sync module reports.

/// Errors from setting up, shipping or applying changes.
///
/// The batch-rejection variants (`Malformed` … `Gap`) all mean the whole
/// batch was refused and nothing of it was applied.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),

    #[error("invalid sync configuration: {0}")]
    Config(String),

    #[error("table `{0}` does not exist in the local database")]
    MissingTable(String),

    #[error("table `{0}` has no primary key; synchronised tables need a single-column primary key")]
    NoPrimaryKey(String),

    #[error("table `{table}` has a composite primary key ({columns}); only single-column primary keys are supported")]
    CompositePrimaryKey { table: String, columns: String },

    #[error("stored sync metadata is corrupt: {0}")]
    Corrupt(String),

    #[error(
        "the database belongs to site `{database}`, not `{configured}`: it was copied from that site; \
         to start this site from a copy, first drop its _sy_* tables and triggers so it is set up afresh"
    )]
    WrongSite { database: String, configured: String },

    #[error("the database was set up by a newer Switchyard (sync layout {found}, this one knows up to {supported})")]
    NewerDatabase { found: u32, supported: u32 },

    #[error(
        "batch from `{site}` carries HLC {hlc}, {ahead_ms} ms ahead of this site's clock (at most {limit_ms} ms allowed)"
    )]
    ClockAhead { site: String, hlc: i64, ahead_ms: i64, limit_ms: u64 },

    #[error(
        "site `{site}` presents incarnation {incarnation}, which is {owner}'s: one database was copied to two sites; \
         drop the _sy_* tables and triggers of the copy so it is set up afresh"
    )]
    SharedIncarnation { site: String, incarnation: String, owner: String },

    #[error("site `{site}` sent a batch from incarnation {incarnation}, which it has left behind (a replay)")]
    RetiredIncarnation { site: String, incarnation: String },

    /// A change that cannot be built or applied here; it is quarantined.
    #[error("{0}")]
    Unusable(String),

    #[error("request is not authentic: {0}")]
    Unauthentic(String),

    #[error("malformed batch: {0}")]
    Malformed(String),

    #[error("batch signature is missing or does not match the shared key")]
    BadSignature,

    #[error("batch comes from unknown site `{0}`")]
    UnknownSite(String),

    #[error("batch names table `{0}` which is not synchronised here")]
    UnknownTable(String),

    #[error("batch names column `{column}` which table `{table}` does not have")]
    UnknownColumn { table: String, column: String },

    #[error(
        "request in sync format {got}, but this site speaks format {supported} only \
         (every site must run a release that speaks the same format)"
    )]
    OtherFormat { got: u32, supported: u32 },

    #[error("batch from `{site}` starts after position {from}, but only {received} was received")]
    Gap { site: String, from: i64, received: i64 },

    #[error("acknowledgement {ack} from `{site}` is beyond the last local change {last}")]
    AckBeyondEnd { site: String, ack: i64, last: i64 },

    #[error("transport to `{site}` failed: {message}")]
    Transport { site: String, message: String },

    #[error("peer `{site}` rejected the batch with HTTP {status}: {message}")]
    Rejected { site: String, status: u16, message: String },

    #[error("background task failed: {0}")]
    Task(String),
}

pub type Result<T, E = SyncError> = std::result::Result<T, E>;
