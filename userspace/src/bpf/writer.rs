//! Mirrors the answer table into the XDP answer map, touching only entries that changed.
//!
//! A hash-map update links in a new, fully written element, so a lookup never finds a
//! half-written answer set. The replaced element is kept for reuse at once (for preallocated
//! maps always, for the others since Linux 6.1), so a program still reading it when a later
//! update reuses it could read a mix; that window is one run of the program, well
//! under a microsecond, and updates only come with policy changes.

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    time::{Duration, Instant},
};

use aya::maps::{HashMap as BpfHashMap, MapData, MapError};
use switchyard_common::{DEFAULT_VIEW, MAX_ADDRS, MapEntry, MapKey, PackedName};

use crate::{
    answers::{self, AnswerTable},
    bpf::answer_map::entry_name,
};

/// What one rewrite did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct WriteStats {
    pub written: usize,
    pub removed: usize,
    /// Entries left alone because an operator set them by hand.
    pub overrides_kept: usize,
    /// Entries the fast path cannot hold (too many addresses, name too long, a name whose key
    /// another name already has): userspace serves them.
    pub userspace_only: usize,
    #[serde(skip)]
    pub elapsed: Duration,
}

/// The XDP map's view of one table entry, or `None` when only userspace can serve it.
pub fn to_map_entry(key: &answers::AnswerKey, set: &answers::AnswerSet) -> Option<(MapKey, MapEntry)> {
    let name = PackedName::new(&key.name)?;
    let map_key = MapKey::new(key.view, key.qtype, &name);
    if set.addrs.len() > MAX_ADDRS && key.view != DEFAULT_VIEW {
        // An empty set makes XDP pass the query rather than fall back to the default view,
        // so userspace answers with this view's own addresses.
        return Some((map_key, MapEntry::new(key.qtype, set.ttl, &name, &[])));
    }
    if set.addrs.is_empty() || set.addrs.len() > MAX_ADDRS {
        return None;
    }
    let addrs: Vec<[u8; 16]> = set
        .addrs
        .iter()
        .map(|a| match a {
            IpAddr::V4(v4) => {
                let mut slot = [0u8; 16];
                slot[..4].copy_from_slice(&v4.octets());
                slot
            }
            IpAddr::V6(v6) => v6.octets(),
        })
        .collect();
    let mut entry = MapEntry::new(key.qtype, set.ttl, &name, &addrs);
    entry.set_first(set.first);
    Some((map_key, entry))
}

/// Remembers what it wrote so that the next table only costs its differences.
#[derive(Default)]
pub struct MapWriter {
    written: HashMap<MapKey, MapEntry>,
    /// Keys two names were found to share, each logged once.
    warned_collisions: HashSet<MapKey>,
    /// Names (answer-table form) of the zones whose answers are signed.
    signed_zones: Vec<Vec<u8>>,
}

impl MapWriter {
    /// Takes what `map` holds (an earlier daemon's entries) as written, so that the next write
    /// costs only the differences and removes what the table no longer has.
    pub fn adopt(&mut self, map: &BpfHashMap<&mut MapData, MapKey, MapEntry>) -> Result<usize, MapError> {
        self.written.clear();
        for entry in map.iter() {
            let (key, value) = entry?;
            self.written.insert(key, value);
        }
        Ok(self.written.len())
    }

    /// Entries under these zones are marked signed from the next write on.
    pub fn set_signed_zones(&mut self, zones: Vec<Vec<u8>>) {
        self.signed_zones = zones;
    }

    pub fn write(
        &mut self,
        map: &mut BpfHashMap<&mut MapData, MapKey, MapEntry>,
        table: &AnswerTable,
    ) -> Result<WriteStats, MapError> {
        self.write_with_overrides(map, table, &HashSet::new())
    }

    /// Like `write`, with the entries under `overrides` written as operator overrides
    /// (`is_override = 1`). Overrides this writer wrote are its own to replace or remove; any
    /// other entry marked as an override is left alone.
    pub fn write_with_overrides(
        &mut self,
        map: &mut BpfHashMap<&mut MapData, MapKey, MapEntry>,
        table: &AnswerTable,
        overrides: &HashSet<answers::AnswerKey>,
    ) -> Result<WriteStats, MapError> {
        let started = Instant::now();
        let mut stats = WriteStats::default();
        let mut wanted: HashMap<MapKey, MapEntry> = HashMap::with_capacity(table.entries.len());
        for (key, set) in &table.entries {
            let Some((k, mut v)) = to_map_entry(key, set) else {
                stats.userspace_only += 1;
                continue;
            };
            v.is_override = u8::from(overrides.contains(key));
            v.signed = u8::from(self.signed_zones.iter().any(|zone| in_zone(&key.name, zone)));
            if let Some(left_out) = keep_lower_name(&mut wanted, k, v) {
                stats.userspace_only += 1;
                if self.warned_collisions.insert(k) {
                    tracing::warn!(
                        kept = %entry_name(&k, &wanted[&k]),
                        left_to_userspace = %entry_name(&k, &left_out),
                        qtype = key.qtype,
                        view = key.view,
                        "two names share an answer-map key"
                    );
                }
            }
        }
        for (key, value) in &wanted {
            let before = self.written.get(key);
            if before == Some(value) {
                continue;
            }
            let ours = before.is_some_and(|v| v.is_override != 0);
            if value.is_override == 0 && !ours && is_override(map, key) {
                stats.overrides_kept += 1;
                continue;
            }
            map.insert(key, value, 0)?;
            stats.written += 1;
        }
        for (key, before) in self.written.iter().filter(|(k, _)| !wanted.contains_key(*k)) {
            if before.is_override == 0 && is_override(map, key) {
                stats.overrides_kept += 1;
                continue;
            }
            match map.remove(key) {
                Ok(()) | Err(MapError::KeyNotFound) => stats.removed += 1,
                Err(e) => return Err(e),
            }
        }
        self.written = wanted;
        stats.elapsed = started.elapsed();
        Ok(stats)
    }
}

/// Puts `value` under `key` unless a lower name holds the key already, and returns the set left
/// out, if any. Two names with one hash: the XDP program answers only the name its entry holds
/// and passes the other to userspace; the lower name keeps the entry, so the choice does not
/// depend on the order the table is walked in.
fn keep_lower_name(wanted: &mut HashMap<MapKey, MapEntry>, key: MapKey, value: MapEntry) -> Option<MapEntry> {
    match wanted.get_mut(&key) {
        None => {
            wanted.insert(key, value);
            None
        }
        Some(held) if held.name_words() <= value.name_words() => Some(value),
        Some(held) => Some(std::mem::replace(held, value)),
    }
}

/// Whether the wire-form `name` is `zone` or below it (compared label by label).
fn in_zone(name: &[u8], zone: &[u8]) -> bool {
    let mut at = 0;
    while at < name.len() {
        if name[at..] == *zone {
            return true;
        }
        at += usize::from(name[at]) + 1;
    }
    false
}

fn is_override(map: &BpfHashMap<&mut MapData, MapKey, MapEntry>, key: &MapKey) -> bool {
    map.get(key, 0).map(|v| v.is_override != 0).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_in_a_zone_only_on_label_boundaries() {
        let zone = b"\x07example\x03com\x00";
        assert!(in_zone(b"\x07example\x03com\x00", zone));
        assert!(in_zone(b"\x03www\x07example\x03com\x00", zone));
        assert!(!in_zone(b"\x0athe-sample\x03com\x00", zone));
        assert!(!in_zone(b"\x03www\x08xexample\x03com\x00", zone));
        assert!(!in_zone(b"\x03com\x00", zone));
    }

    #[test]
    fn of_two_names_under_one_key_the_lower_keeps_it_in_either_order() {
        let a = PackedName::new(b"\x01a\x07example\x00").unwrap();
        let b = PackedName::new(b"\x01b\x07example\x00").unwrap();
        // A forged key standing for both names, as a 64-bit hash collision would.
        let key = MapKey { view: 0, qtype: 1, name_len: a.len, name_hash: 42 };
        let set =
            |name: &PackedName| MapEntry::new(1, 30, name, &[[198, 18, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]]);
        for (first, second) in [(&a, &b), (&b, &a)] {
            let mut wanted = HashMap::new();
            assert!(keep_lower_name(&mut wanted, key, set(first)).is_none());
            let left_out = keep_lower_name(&mut wanted, key, set(second)).expect("one name is left out");
            assert_eq!(wanted[&key].name_words(), a.words, "the lower name keeps the entry");
            assert_eq!(left_out.name_words(), b.words);
            assert_eq!(entry_name(&key, &left_out), "b.example.");
        }
    }
}
