//! Consolidation: many captured changes to one row become one entry.
//!
//! Values are taken from the row's registers when the batch is built, so
//! only the latest write per column ships and writes to different columns
//! merge into one entry; insert-then-delete becomes one delete and
//! delete-then-insert one upsert carrying the new row.

use std::collections::{BTreeSet, HashMap};

use super::batch::ChangeKind;
use super::value::Value;

/// A captured change as read from the change table.
#[derive(Debug, Clone, PartialEq)]
pub struct CapturedRef {
    pub seq: i64,
    pub table: String,
    pub pk: Value,
    pub kind: ChangeKind,
    pub changed: Vec<String>,
}

/// All changes to one row within a range.
#[derive(Debug, Clone, PartialEq)]
pub struct RowTouch {
    /// Position of the row's first change in the range.
    pub first_seq: i64,
    pub table: String,
    pub pk: Value,
    pub kind: ChangeKind,
    pub changed: BTreeSet<String>,
}

/// Groups changes by row, keeping first-seen order.
pub fn consolidate(changes: &[CapturedRef]) -> Vec<RowTouch> {
    let mut order: Vec<RowTouch> = Vec::new();
    let mut index: HashMap<(String, Value), usize> = HashMap::new();
    for change in changes {
        // One entry per row as SQLite tells rows apart (1 and 1.0 are one row).
        let key = (change.table.clone(), change.pk.as_row_key());
        let mut fresh = false;
        let slot = *index.entry(key).or_insert_with(|| {
            fresh = true;
            order.push(RowTouch {
                first_seq: change.seq,
                table: change.table.clone(),
                pk: change.pk.clone(),
                kind: change.kind,
                changed: BTreeSet::new(),
            });
            order.len() - 1
        });
        let touch = &mut order[slot];
        if !fresh {
            touch.kind = touch.kind.then(change.kind);
        }
        touch.changed.extend(change.changed.iter().cloned());
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(pk: i64, kind: ChangeKind, cols: &[&str]) -> CapturedRef {
        CapturedRef {
            seq: 0,
            table: "t".into(),
            pk: pk.into(),
            kind,
            changed: cols.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn same_row_merges_columns_and_keeps_last_kind() {
        let out = consolidate(&[
            change(1, ChangeKind::Update, &["a"]),
            change(2, ChangeKind::Insert, &["a", "b"]),
            change(1, ChangeKind::Update, &["b"]),
            change(2, ChangeKind::Delete, &[]),
            change(3, ChangeKind::Delete, &[]),
            change(3, ChangeKind::Insert, &["a", "b"]),
            change(4, ChangeKind::Insert, &["a", "b"]),
            change(4, ChangeKind::Update, &["b"]),
        ]);
        assert_eq!(out.len(), 4);
        assert_eq!(out[0].changed.iter().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(out[0].kind, ChangeKind::Update);
        assert_eq!(out[1].kind, ChangeKind::Delete);
        assert_eq!(out[2].kind, ChangeKind::Insert);
        assert_eq!(out[3].kind, ChangeKind::Insert, "an insert stays an insert when updated after");
    }

    /// A key column without a type holds 1 and 1.0 as one row: one entry, under the key written first.
    #[test]
    fn keys_sqlite_holds_equal_are_one_row() {
        let as_real = CapturedRef { pk: Value::Real(1.0), ..change(0, ChangeKind::Insert, &["a"]) };
        let out = consolidate(&[change(1, ChangeKind::Delete, &[]), as_real]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].pk, Value::Integer(1));
    }
}
