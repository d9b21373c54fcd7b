//! The deterministic rules that decide which write survives.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::config::ConflictPolicy;
use super::hlc::Version;
use super::registers::{Cell, RowState};

impl ConflictPolicy {
    /// Total order of versions under this policy; the greater one wins.
    pub fn compare(&self, a: &Version, b: &Version) -> Ordering {
        match self {
            ConflictPolicy::SitePriority(order) => {
                let rank = |v: &Version| order.iter().position(|s| *s == v.site).unwrap_or(order.len());
                // A lower rank means a higher priority.
                rank(b).cmp(&rank(a)).then_with(|| a.cmp(b))
            }
            _ => a.cmp(b),
        }
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
            ConflictPolicy::DeleteWins => false,
            ConflictPolicy::UpdateWins => match &row.seen {
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
        let policy = ConflictPolicy::SitePriority(vec!["hq".into(), "edge".into()]);
        assert!(policy.beats(&Version::new(1, "hq"), &Version::new(9, "edge")));
        assert!(policy.beats(&Version::new(9, "edge"), &Version::new(1, "other")));
        assert!(policy.beats(&Version::new(2, "hq"), &Version::new(1, "hq")));
    }

    #[test]
    fn newer_update_revives_deleted_row_only_when_policy_allows() {
        let row = RowState { alive: false, version: Version::new(5, "a"), seen: Some(Version::new(3, "a")) };
        let mut cells = BTreeMap::new();
        cells.insert("x".into(), Cell { value: 1.into(), version: Version::new(4, "b"), prev: None });
        assert!(!ConflictPolicy::LastWriterWins.is_alive(Some(&row), &cells));
        assert!(ConflictPolicy::UpdateWins.is_alive(Some(&row), &cells));
        assert!(!ConflictPolicy::DeleteWins.is_alive(Some(&row), &cells));
        cells.get_mut("x").unwrap().version = Version::new(6, "b");
        assert!(ConflictPolicy::LastWriterWins.is_alive(Some(&row), &cells));
    }
}
