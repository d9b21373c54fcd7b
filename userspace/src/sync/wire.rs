//! What sites say to each other, and how it is encoded: postcard (a compact
//! binary serde format), so every value travels as its exact bytes.
//!
//! Each HTTP POST carries one [`Request`]; the answer is one [`Reply`], which
//! names the receiver's incarnation so the sender notices a restored peer.

use serde::{Deserialize, Serialize};

use super::batch::{Batch, FORMAT, Origin, RowChange};
use super::error::{Result, SyncError};
use super::incarnation::Incarnation;
use super::value::Value;

/// A page of the sender's full state: the registers of a run of rows of one
/// table, sent after the receiver (or the sender) was restored or recreated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatePage {
    pub origin: Origin,
    pub table: String,
    pub changes: Vec<RowChange>,
}

/// Anti-entropy, first step: the digest of each range of one table's rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestQuery {
    pub origin: Origin,
    pub table: String,
    pub ranges: Vec<[u8; 16]>,
}

/// A row's key and the hash of its values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowHash {
    pub pk: Value,
    pub hash: [u8; 16],
}

/// The rows of the ranges whose digests differ, as the receiver has them.
/// Rows the receiver has changed but not yet shipped to the asker are left
/// out: they are on their way, not divergent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestReply {
    pub differing_ranges: Vec<u8>,
    pub rows: Vec<RowHash>,
    pub in_flight: Vec<Value>,
}

/// Anti-entropy, second step: the asker's registers for rows that differ; the
/// receiver merges them and answers with its own for the same keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepairRequest {
    pub origin: Origin,
    pub table: String,
    pub keys: Vec<Value>,
    pub rows: Vec<RowChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    Batch(Batch),
    State(StatePage),
    Digests(DigestQuery),
    Repair(RepairRequest),
}

impl Request {
    pub fn origin(&self) -> &Origin {
        match self {
            Request::Batch(b) => &b.origin,
            Request::State(p) => &p.origin,
            Request::Digests(q) => &q.origin,
            Request::Repair(r) => &r.origin,
        }
    }

    /// Name for logs and counters.
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Batch(_) => "batch",
            Request::State(_) => "state",
            Request::Digests(_) => "digests",
            Request::Repair(_) => "repair",
        }
    }
}

/// A position in a site's change log and the HLC of its change there (0 when
/// not known): a restored log numbers new changes from where its backup left
/// off, so a position alone does not name a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub seq: i64,
    pub hlc: i64,
}

impl Position {
    pub const START: Position = Position { seq: 0, hlc: 0 };
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Answer {
    Ack {
        /// The receiver holds everything up to here of the sender's change
        /// log (for state pages: unchanged).
        received: Position,
        /// Where the receiver stood before a batch whose range went past it.
        /// It lies in the range just sent, so the sender checks it too: a
        /// restored sender's first batch can reach beyond what it lost.
        passed: Option<Position>,
    },
    Digests(DigestReply),
    Repair {
        rows: Vec<RowChange>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The receiver's incarnation.
    pub incarnation: Incarnation,
    pub answer: Answer,
}

pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    postcard::to_allocvec(message).expect("sync messages always encode")
}

/// Bytes a message takes on the wire, without encoding it.
pub fn encoded_len<T: Serialize>(message: &T) -> usize {
    postcard::experimental::serialized_size(message).expect("sync messages always encode")
}

pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| SyncError::Malformed(format!("undecodable message: {e}")))
}

/// How many kinds of request there are (`Request`'s variants).
const REQUEST_KINDS: u32 = 4;

/// Decodes a peer's request. One that does not decode but starts as a
/// request in another format does (its kind, then its origin's format) is
/// refused as such, so a site running another release is named as that.
pub fn decode_request(bytes: &[u8]) -> Result<Request> {
    decode(bytes).map_err(|err| match postcard::take_from_bytes::<(u32, u32)>(bytes) {
        Ok(((kind, format), _)) if kind < REQUEST_KINDS && format != FORMAT && format > 0 => {
            SyncError::OtherFormat { got: format, supported: FORMAT }
        }
        _ => err,
    })
}
