//! What a batch carries: consolidated row changes from one site, each with
//! the row's registers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::conflicts::ConflictRecord;
use super::incarnation::Incarnation;
use super::registers::{Cell, RowState};
use super::value::Value;

/// Version of the wire format this code speaks.
pub const FORMAT: u32 = 3;

/// Who sent a request: the site, the incarnation of its database, the
/// format it speaks, and the receiver's incarnation as the sender knows it
/// (so a receiver learns that it was restored since they last spoke).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Origin {
    pub format: u32,
    pub site: String,
    pub incarnation: Incarnation,
    pub peer_incarnation: Option<Incarnation>,
}

/// What a write did to a row: as captured by the triggers (stored as
/// `insert`, `update` or `delete` in the change table), and over a batch's
/// range after consolidation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Insert,
    Update,
    Delete,
}

impl ChangeKind {
    /// The text the capture triggers write.
    pub fn as_sql(self) -> &'static str {
        match self {
            ChangeKind::Insert => "insert",
            ChangeKind::Update => "update",
            ChangeKind::Delete => "delete",
        }
    }

    pub fn from_sql(text: &str) -> Option<ChangeKind> {
        match text {
            "insert" => Some(ChangeKind::Insert),
            "update" => Some(ChangeKind::Update),
            "delete" => Some(ChangeKind::Delete),
            _ => None,
        }
    }

    /// Whether the row exists after the write.
    pub fn leaves_row(self) -> bool {
        self != ChangeKind::Delete
    }

    /// The kind of two consecutive writes to one row taken together.
    pub fn then(self, next: ChangeKind) -> ChangeKind {
        match (self, next) {
            (ChangeKind::Insert, ChangeKind::Update) => ChangeKind::Insert,
            (_, next) => next,
        }
    }
}

/// One row's state as the sender holds it: existence plus every column
/// register. Receivers merge register by register, so applying the same
/// state twice, or states in any order, ends the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowChange {
    pub table: String,
    pub pk: Value,
    pub kind: ChangeKind,
    /// Columns written locally by the sender within this batch's range.
    pub changed: Vec<String>,
    pub row: RowState,
    pub cells: BTreeMap<String, Cell>,
}

/// Changes captured at the origin with sequence numbers in `(from_seq, to_seq]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub origin: Origin,
    pub from_seq: i64,
    pub to_seq: i64,
    /// The HLC of the sender's change at `to_seq` (0 for no range). The
    /// receiver names it in its acknowledgements, so a sender whose database
    /// was restored finds another change at that position and knows.
    pub to_hlc: i64,
    /// Every later change from the sender will carry a larger HLC.
    pub frontier_hlc: i64,
    pub changes: Vec<RowChange>,
    /// Conflicts the sender found, so every site's log has them (a site
    /// restored from a backup loses its own).
    pub conflicts: Vec<ConflictRecord>,
    /// The sender's position in its own conflict log after these.
    pub conflicts_upto: i64,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.conflicts.is_empty() && self.from_seq == self.to_seq
    }

    /// Largest HLC the batch mentions, for advancing the receiver's clock.
    pub fn max_hlc(&self) -> i64 {
        max_hlc(&self.changes).max(self.frontier_hlc)
    }
}

/// Largest HLC any of `changes` mentions (0 for none).
pub fn max_hlc(changes: &[RowChange]) -> i64 {
    changes
        .iter()
        .flat_map(|c| c.cells.values().map(|cell| cell.version.hlc).chain([c.row.version.hlc]))
        .max()
        .unwrap_or(0)
}
