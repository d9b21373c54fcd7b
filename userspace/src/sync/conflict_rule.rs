//! The deterministic rules that decide which write survives.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::hlc::Version;
use super::registers::{Cell, RowState};
use serde::{Deserialize, Serialize};

/// How a conflict on one table is decided. Every site applies the same rule,
/// so every site keeps the same winner.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictRule {
    /// Per column, the write with the later HLC wins; equal HLCs are broken by
    /// site id. A row deleted on one site and updated later on another comes
    /// back with the newer columns.
    #[default]
    LastWriterWins,
    /// Writes from a site earlier in the list beat writes from later sites
    /// (unlisted sites rank last); within one rank the later HLC wins. A local
    /// write that loses this way is reverted and recorded as a conflict.
    SitePriority(Vec<String>),
    /// A delete is final unless the row is inserted again; updates never bring
    /// a deleted row back.
    DeleteWins,
    /// An update the deleting site had not seen keeps the row alive.
    UpdateWins,
}

impl ConflictRule {
    /// Total order of versions under this rule; the greater one wins.
    pub fn compare(&self, a: &Version, b: &Version) -> Ordering {
        match self {
            ConflictRule::SitePriority(order) => {
                let rank = |v: &Version| order.iter().position(|s| *s == v.site).unwrap_or(order.len());
                // A lower rank means a higher priority.
                rank(b).cmp(&rank(a)).then_with(|| a.cmp(b))
            }
            _ => a.cmp(b),
        }
    }

    /// Whether old tombstones may be forgotten: under the other rules an old
    /// tombstone can still outrank a future write.
    pub fn prunes_tombstones(&self) -> bool {
        matches!(self, ConflictRule::LastWriterWins | ConflictRule::UpdateWins)
    }

    pub fn beats(&self, a: &Version, b: &Version) -> bool {
        self.compare(a, b) == Ordering::Greater
    }

    /// Whether the row exists, derived only from its registers so every site
    /// holding the same registers reaches the same answer.
    pub fn is_alive(&self, row: Option<&RowState>, cells: &BTreeMap<String, Cell>) -> bool {
        let Some(row) = row else { return false };
        if row.alive {
            return true;
        }
        match self {
            ConflictRule::DeleteWins => false,
            ConflictRule::UpdateWins => match &row.seen {
                Some(seen) => cells.values().any(|c| c.version > *seen),
                None => !cells.is_empty(),
            },
            // A column written after the delete brings the row back.
            _ => cells.values().any(|c| self.beats(&c.version, &row.version)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_priority_ranks_before_time() {
        let rule = ConflictRule::SitePriority(vec!["hq".into(), "edge".into()]);
        assert!(rule.beats(&Version::new(1, "hq"), &Version::new(9, "edge")));
        assert!(rule.beats(&Version::new(9, "edge"), &Version::new(1, "other")));
        assert!(rule.beats(&Version::new(2, "hq"), &Version::new(1, "hq")));
    }

    #[test]
    fn newer_update_revives_deleted_row_only_when_the_rule_allows() {
        let row = RowState { alive: false, version: Version::new(5, "a"), seen: Some(Version::new(3, "a")) };
        let mut cells = BTreeMap::new();
        cells.insert(
            "x".into(),
            Cell { value: 1.into(), version: Version::new(4, "b"), epoch: 1, seen: Default::default() },
        );
        assert!(!ConflictRule::LastWriterWins.is_alive(Some(&row), &cells));
        assert!(ConflictRule::UpdateWins.is_alive(Some(&row), &cells));
        assert!(!ConflictRule::DeleteWins.is_alive(Some(&row), &cells));
        cells.get_mut("x").unwrap().version = Version::new(6, "b");
        assert!(ConflictRule::LastWriterWins.is_alive(Some(&row), &cells));
    }
}
