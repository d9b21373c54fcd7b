//! Reading the pinned answer map as an operator sees it: names decoded from wire format,
//! addresses in answer order.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::Path,
};

use aya::maps::MapData;
use serde::Serialize;

use super::answer_slots::AnswerSlots;
use switchyard_common::{BUCKETS, FirstChoice, MAX_ADDRS, MapEntry, MapKey, PackedName, QTYPE_AAAA, map_names};

/// One entry of the answer map decoded for an operator: name in presentation form, addresses in
/// answer order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DecodedEntry {
    pub name: String,
    /// "A" or "AAAA".
    pub qtype: String,
    /// View id: 0 is the default view, then `[[view]]` tables in config order.
    pub view_id: u32,
    /// The view's name when the config is known.
    pub view: Option<String>,
    pub ttl: u32,
    pub addrs: Vec<IpAddr>,
    /// Set by an operator (`switchyard map set`) rather than by the policy.
    pub is_override: bool,
    /// Weighted first answer: each group's first address and its share of client subnets;
    /// empty when every client gets `addrs` in order.
    pub first_weights: Vec<FirstWeight>,
}

/// One group of a weighted first answer: the address clients of this group get first.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FirstWeight {
    pub first: IpAddr,
    /// Share of client subnets, 0 to 1.
    pub share: f64,
}

impl Eq for FirstWeight {}

/// The groups of `first` over `addrs`, in bucket order.
fn first_weights(first: &FirstChoice, addrs: &[IpAddr]) -> Vec<FirstWeight> {
    let mut previous = 0;
    let mut weights = Vec::new();
    for g in 0..usize::from(first.groups).min(MAX_ADDRS) {
        let bound = first.bounds[g];
        let order = first.order_for(previous, addrs.len());
        if let Some(&address) = addrs.get(usize::from(order[0])) {
            let share = f64::from(bound.saturating_sub(previous)) / f64::from(BUCKETS);
            weights.push(FirstWeight { first: address, share });
        }
        previous = bound;
    }
    weights
}

/// Every entry of the answer map pinned in `pin_dir`, sorted by name, type and view.
pub fn read(pin_dir: &Path) -> Result<Vec<DecodedEntry>, String> {
    let heads_path = pin_dir.join(map_names::ANSWERS);
    let heads = MapData::from_pin(&heads_path).map_err(|e| {
        format!("cannot open {}: {e} (is the daemon running with XDP on, and are you root? `switchyard status` lists the overrides either way)", heads_path.display())
    })?;
    // Heads without tails, or of another size: a daemon of another version pinned the table.
    let other_version = "(the daemon there is another version of switchyard: use its own `switchyard map`)";
    let tails_path = pin_dir.join(map_names::ANSWER_TAILS);
    let tails = MapData::from_pin(&tails_path)
        .map_err(|e| format!("cannot open {}: {e} {other_version}", tails_path.display()))?;
    let table =
        AnswerSlots::open(&heads, &tails, 0).map_err(|e| format!("{}: {e} {other_version}", pin_dir.display()))?;
    let mut entries: Vec<DecodedEntry> = table.entries().iter().map(|(key, set)| decode(key, set)).collect();
    entries.sort_by(|a, b| (&a.name, &a.qtype, a.view_id).cmp(&(&b.name, &b.qtype, b.view_id)));
    Ok(entries)
}

/// The name an entry answers for, in presentation form.
pub fn entry_name(key: &MapKey, set: &MapEntry) -> String {
    let bytes = PackedName { len: key.name_len, words: set.name_words() }.bytes();
    decode_name(&bytes[..(key.name_len as usize).min(bytes.len())])
}

pub fn decode(key: &MapKey, set: &MapEntry) -> DecodedEntry {
    let name = entry_name(key, set);
    let addrs: Vec<IpAddr> = set.addrs[..(set.count as usize).min(set.addrs.len())]
        .iter()
        .map(|slot| {
            if key.qtype == QTYPE_AAAA {
                IpAddr::V6(Ipv6Addr::from(*slot))
            } else {
                IpAddr::V4(Ipv4Addr::new(slot[0], slot[1], slot[2], slot[3]))
            }
        })
        .collect();
    DecodedEntry {
        name,
        qtype: if key.qtype == QTYPE_AAAA { "AAAA".into() } else { "A".into() },
        view_id: key.view,
        view: None,
        ttl: set.ttl,
        first_weights: first_weights(&set.first, &addrs),
        addrs,
        is_override: set.is_override != 0,
    }
}

/// "www.example.com." from uncompressed wire format; unusual bytes are escaped as \DDD.
pub fn decode_name(wire: &[u8]) -> String {
    let mut out = String::new();
    let mut at = 0;
    while at < wire.len() {
        let len = wire[at] as usize;
        if len == 0 {
            break;
        }
        for &b in wire.iter().skip(at + 1).take(len) {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                out.push(b as char);
            } else {
                out.push_str(&format!("\\{b:03}"));
            }
        }
        out.push('.');
        at += 1 + len;
    }
    if out.is_empty() { ".".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses_come_back_as_written() {
        let wire = b"\x03www\x07example\x03com\x00";
        assert_eq!(decode_name(wire), "www.example.com.");
        let name = PackedName::new(wire).unwrap();
        let key = MapKey::new(2, 1, &name);
        let mut slot = [0u8; 16];
        slot[..4].copy_from_slice(&[192, 0, 2, 7]);
        let entry = decode(&key, &MapEntry::new(1, 30, &name, &[slot]));
        assert_eq!((entry.qtype.as_str(), entry.view_id, entry.ttl), ("A", 2, 30));
        assert_eq!(entry.addrs, vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))]);
        assert!(!entry.is_override);
        assert!(entry.first_weights.is_empty(), "no weighted first answer");
    }

    #[test]
    fn a_weighted_first_answer_lists_each_groups_first_address_and_share() {
        let name = PackedName::new(b"\x03www\x00").unwrap();
        let slots: Vec<[u8; 16]> = (1..=4u8)
            .map(|host| {
                let mut slot = [0u8; 16];
                slot[..4].copy_from_slice(&[198, 18, 0, host]);
                slot
            })
            .collect();
        let mut set = MapEntry::new(1, 30, &name, &slots);
        // Site one has .1 and .2 (weight 3), site two .3 (weight 1), site three .4 (weight 0).
        set.set_first(FirstChoice::new(&[(0, 2, 3), (2, 1, 1), (3, 1, 0)]).unwrap());
        let entry = decode(&MapKey::new(0, 1, &name), &set);
        let weights: Vec<(String, f64)> = entry.first_weights.iter().map(|w| (w.first.to_string(), w.share)).collect();
        assert_eq!(weights, [("198.18.0.1".to_string(), 0.75), ("198.18.0.3".to_string(), 0.25)]);
    }
}
