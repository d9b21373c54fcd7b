//! Consolidation: many captured changes to one row become one entry.
//!
//! Values are taken from the row's registers when the batch is built, so
//! only the latest write per column ships and writes to different columns
//! merge into one entry; insert-then-delete becomes one delete and
//! delete-then-insert one upsert carrying the new row.

use std::collections::{BTreeSet, HashMap};

use super::batch::ChangeKind;

/// A captured change as read from the change table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedRef {
    pub table: String,
    pub pk: String,
    pub kind: String,
    pub changed: Vec<String>,
}

/// All changes to one row within a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowTouch {
    pub table: String,
    pub pk: String,
    pub kind: ChangeKind,
    pub changed: BTreeSet<String>,
}

/// Groups changes by row, keeping first-seen order.
pub fn consolidate(changes: &[CapturedRef]) -> Vec<RowTouch> {
    let mut order: Vec<RowTouch> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for change in changes {
        let kind = if change.kind == "delete" { ChangeKind::Delete } else { ChangeKind::Upsert };
        let key = (change.table.clone(), change.pk.clone());
        let slot = *index.entry(key).or_insert_with(|| {
            order.push(RowTouch { table: change.table.clone(), pk: change.pk.clone(), kind, changed: BTreeSet::new() });
            order.len() - 1
        });
        let touch = &mut order[slot];
        touch.kind = kind;
        touch.changed.extend(change.changed.iter().cloned());
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(pk: &str, kind: &str, cols: &[&str]) -> CapturedRef {
        CapturedRef {
            table: "t".into(),
            pk: pk.into(),
            kind: kind.into(),
            changed: cols.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn same_row_merges_columns_and_keeps_last_kind() {
        let out = consolidate(&[
            change("1", "update", &["a"]),
            change("2", "insert", &["a", "b"]),
            change("1", "update", &["b"]),
            change("2", "delete", &[]),
            change("3", "delete", &[]),
            change("3", "insert", &["a", "b"]),
        ]);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].changed.iter().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(out[0].kind, ChangeKind::Upsert);
        assert_eq!(out[1].kind, ChangeKind::Delete);
        assert_eq!(out[2].kind, ChangeKind::Upsert);
    }
}
