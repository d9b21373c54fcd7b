//! The wire format: a batch of consolidated row changes from one site.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::registers::{Cell, RowState};

/// What happened to a row over the batch's range, after consolidation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Upsert,
    Delete,
}

/// One row's state as the sender holds it: existence plus every column
/// register. Receivers merge register by register, so applying the same
/// state twice, or states in any order, ends the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowChange {
    pub table: String,
    pub pk: Json,
    pub kind: ChangeKind,
    /// Columns written locally by the sender within this batch's range.
    pub changed: Vec<String>,
    pub row: RowState,
    pub cells: BTreeMap<String, Cell>,
}

/// Changes captured at `sender` with sequence numbers in `(from_seq, to_seq]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    pub schema_version: u32,
    pub sender: String,
    pub from_seq: i64,
    pub to_seq: i64,
    /// Every later change from the sender will carry a larger HLC.
    pub frontier_hlc: i64,
    pub changes: Vec<RowChange>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.from_seq == self.to_seq
    }

    /// Largest HLC the batch mentions, for advancing the receiver's clock.
    pub fn max_hlc(&self) -> i64 {
        self.changes
            .iter()
            .flat_map(|c| c.cells.values().map(|cell| cell.version.hlc).chain([c.row.version.hlc]))
            .chain([self.frontier_hlc])
            .max()
            .unwrap_or(0)
    }
}
