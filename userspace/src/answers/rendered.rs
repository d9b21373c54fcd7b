//! The answer table laid out for the userspace fast path: each answer set's records rendered
//! once (`switchyard_common::render_record`, the XDP program's layout) into one contiguous
//! arena, found through an open-addressed array of 8-byte slots. A lookup reads a slot and the
//! entry's bytes, which sit together, where the table's `HashMap` reads its control bytes, a
//! bucket, the key's name and the address list, each in an allocation of its own. Measured with
//! `cargo xtask bench dnsperf` (10,000 and 100,000 names, six interleaved pairs): the server
//! core per answer about 7% lower under kxdpgun, which keeps that core busy, about 1% under
//! dnsperf, which is client-bound.
//!
//! Sets whose order depends on the client (a weighted first answer) or that the fast path does
//! not write (no addresses, or addresses of the other family) are marked, not rendered: for
//! those the caller asks the table.

use std::net::IpAddr;

use switchyard_common::{
    DEFAULT_VIEW, MAX_RECORD_LEN, NAME_HASH_SEED, QTYPE_A, QTYPE_AAAA, mix_word, record_len, render_record,
};

use super::{AnswerKey, AnswerSet, AnswerTable, address_slot};

/// What the arena holds for one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rendered<'a> {
    /// The set's records in stored order, `count` of them.
    Records { count: u16, records: &'a [u8] },
    /// The set is in the table, but its records are not rendered here.
    AskTable,
}

#[derive(Default)]
pub struct RenderedAnswers {
    /// A power of two long, at most half full; an empty slot has `at == 0`.
    slots: Vec<Slot>,
    /// Entries one after another: view (4 bytes), type (2), name length (1), whether rendered
    /// (1), record count (2), the name, the records.
    arena: Vec<u8>,
    /// Nothing rendered: every lookup goes to the table.
    ask_table: bool,
}

#[derive(Clone, Copy, Default)]
struct Slot {
    /// High half of the key's hash, compared before the entry is read.
    tag: u32,
    /// Offset of the entry in the arena plus one.
    at: u32,
}

const ENTRY_HEADER: usize = 10;

impl RenderedAnswers {
    pub fn new(table: &AnswerTable) -> RenderedAnswers {
        let capacity = (table.entries.len() * 2).next_power_of_two().max(16);
        let bytes: usize = table.entries.iter().map(|(key, set)| entry_len(key, set)).sum();
        if u32::try_from(bytes).is_err() {
            // Offsets are 32-bit: a table this large (tens of millions of records) is left to the
            // table itself.
            return RenderedAnswers { ask_table: true, ..RenderedAnswers::default() };
        }
        let mut rendered = RenderedAnswers {
            slots: vec![Slot::default(); capacity],
            arena: Vec::with_capacity(bytes),
            ask_table: false,
        };
        for (key, set) in &table.entries {
            rendered.insert(key, set);
        }
        rendered
    }

    /// The view's own entry, else the default view's: `AnswerTable::lookup`'s rule.
    pub fn lookup(&self, view: u32, qtype: u16, name: &[u8]) -> Option<Rendered<'_>> {
        if self.ask_table {
            return Some(Rendered::AskTable);
        }
        self.find(view, qtype, name).or_else(|| self.find(DEFAULT_VIEW, qtype, name))
    }

    fn insert(&mut self, key: &AnswerKey, set: &AnswerSet) {
        let Ok(name_len) = u8::try_from(key.name.len()) else { return };
        let start = self.arena.len();
        let at = u32::try_from(start + 1).expect("`new` checked the arena's size");
        self.arena.extend_from_slice(&key.view.to_le_bytes());
        self.arena.extend_from_slice(&key.qtype.to_le_bytes());
        self.arena.extend_from_slice(&[name_len, 0, 0, 0]);
        self.arena.extend_from_slice(&key.name);
        if let Ok(count) = u16::try_from(set.addrs.len())
            && render_into(&mut self.arena, key.qtype, set)
        {
            self.arena[start + 7] = 1;
            self.arena[start + 8..start + 10].copy_from_slice(&count.to_le_bytes());
        }
        let hash = key_hash(key.view, key.qtype, &key.name);
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        while self.slots[i].at != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = Slot { tag: (hash >> 32) as u32, at };
    }

    fn find(&self, view: u32, qtype: u16, name: &[u8]) -> Option<Rendered<'_>> {
        let hash = key_hash(view, qtype, name);
        let (tag, mask) = ((hash >> 32) as u32, self.slots.len().checked_sub(1)?);
        let mut i = hash as usize & mask;
        // Stops at an empty slot, which exists: the array is at most half full.
        loop {
            let slot = self.slots[i];
            if slot.at == 0 {
                return None;
            }
            if slot.tag == tag
                && let Some(found) = self.entry_if(slot.at as usize - 1, view, qtype, name)
            {
                return Some(found);
            }
            i = (i + 1) & mask;
        }
    }

    fn entry_if(&self, at: usize, view: u32, qtype: u16, name: &[u8]) -> Option<Rendered<'_>> {
        let header: &[u8; ENTRY_HEADER] = self.arena[at..].first_chunk()?;
        let [v0, v1, v2, v3, t0, t1, name_len, rendered, c0, c1] = *header;
        let name_at = at + ENTRY_HEADER;
        let stored = &self.arena[name_at..name_at + usize::from(name_len)];
        if u32::from_le_bytes([v0, v1, v2, v3]) != view || u16::from_le_bytes([t0, t1]) != qtype || stored != name {
            return None;
        }
        if rendered == 0 {
            return Some(Rendered::AskTable);
        }
        let count = u16::from_le_bytes([c0, c1]);
        let records_at = name_at + usize::from(name_len);
        let records = &self.arena[records_at..records_at + usize::from(count) * record_len(qtype)];
        Some(Rendered::Records { count, records })
    }
}

/// The most an entry takes in the arena (no records when they are not rendered).
fn entry_len(key: &AnswerKey, set: &AnswerSet) -> usize {
    ENTRY_HEADER + key.name.len() + set.addrs.len() * record_len(key.qtype)
}

/// Appends the set's records in stored order, as the fast path writes them; appends nothing
/// and says false when it cannot (a weighted or empty set, or another family's address).
fn render_into(arena: &mut Vec<u8>, qtype: u16, set: &AnswerSet) -> bool {
    !set.is_weighted() && !set.addrs.is_empty() && render_records(arena, qtype, set.ttl, &set.addrs)
}

/// Appends a record of type `qtype` per address, in the XDP program's layout
/// (`render_record`); appends nothing and says false when an address is not of that type's
/// family.
pub fn render_records<'a>(
    out: &mut Vec<u8>,
    qtype: u16,
    ttl: u32,
    addrs: impl IntoIterator<Item = &'a IpAddr>,
) -> bool {
    let start = out.len();
    let mut record = [0u8; MAX_RECORD_LEN];
    for addr in addrs {
        let (slot, len) = address_slot(addr);
        if !matches!((qtype, len), (QTYPE_A, 4) | (QTYPE_AAAA, 16)) {
            out.truncate(start);
            return false;
        }
        render_record(qtype, ttl, &slot, &mut record);
        out.extend_from_slice(&record[..record_len(qtype)]);
    }
    true
}

/// The name a word at a time (`mix_word`, as the XDP program hashes names), then the view and
/// type, then a final mix so that the low bits, which pick the slot, depend on every input bit.
fn key_hash(view: u32, qtype: u16, name: &[u8]) -> u64 {
    let mut hash = NAME_HASH_SEED;
    let mut words = name.chunks_exact(8);
    for word in &mut words {
        hash = mix_word(hash, u64::from_le_bytes(word.try_into().expect("8 bytes")));
    }
    let mut last = [0u8; 8];
    last[..words.remainder().len()].copy_from_slice(words.remainder());
    hash = mix_word(hash, u64::from_le_bytes(last));
    hash = mix_word(hash, u64::from(view) << 16 | u64::from(qtype) | (name.len() as u64) << 48);
    let h = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use switchyard_common::FirstChoice;

    use super::*;

    fn name(i: usize) -> Vec<u8> {
        let label = format!("s{i}");
        let mut wire = vec![label.len() as u8];
        wire.extend_from_slice(label.as_bytes());
        wire.extend_from_slice(b"\x07example\x03com\x00");
        wire
    }

    fn set(addrs: Vec<IpAddr>) -> AnswerSet {
        AnswerSet { ttl: 30, addrs, first: FirstChoice::NONE }
    }

    fn records_of(qtype: u16, set: &AnswerSet) -> Vec<u8> {
        let mut out = Vec::new();
        for addr in &set.addrs {
            let mut slot = [0u8; 16];
            match addr {
                IpAddr::V4(v4) => slot[..4].copy_from_slice(&v4.octets()),
                IpAddr::V6(v6) => slot = v6.octets(),
            }
            let mut record = [0u8; MAX_RECORD_LEN];
            render_record(qtype, set.ttl, &slot, &mut record);
            out.extend_from_slice(&record[..record_len(qtype)]);
        }
        out
    }

    #[test]
    fn every_set_is_found_with_its_records_in_stored_order_and_nothing_else_is() {
        let mut table = AnswerTable::default();
        for i in 0..5_000usize {
            let v4 = |j: u8| IpAddr::V4(Ipv4Addr::new(198, 18, (i % 250) as u8, j));
            let v6 = |j: u16| IpAddr::V6(Ipv6Addr::new(0xfd00, i as u16, 0, 0, 0, 0, 0, j));
            let view = (i % 3) as u32;
            table.entries.insert(AnswerKey { view, qtype: QTYPE_A, name: name(i) }, set(vec![v4(2), v4(1)]));
            table.entries.insert(AnswerKey { view, qtype: QTYPE_AAAA, name: name(i) }, set(vec![v6(1)]));
        }
        let rendered = RenderedAnswers::new(&table);
        for (key, set) in &table.entries {
            let records = records_of(key.qtype, set);
            let want = Rendered::Records { count: set.addrs.len() as u16, records: &records };
            assert_eq!(rendered.lookup(key.view, key.qtype, &key.name), Some(want), "{key:?}");
        }
        assert_eq!(rendered.lookup(DEFAULT_VIEW, QTYPE_A, &name(5_000)), None, "a name not in the table");
        // Name 1 is only in view 1: view 2 falls back to the default view, which lacks it.
        assert!(table.lookup(2, QTYPE_A, &name(1)).is_none());
        assert_eq!(rendered.lookup(2, QTYPE_A, &name(1)), None);
    }

    #[test]
    fn another_view_falls_back_to_the_default_one_like_the_table() {
        let mut table = AnswerTable::default();
        let www = name(1);
        let default = set(vec!["198.18.10.1".parse().unwrap()]);
        let near = set(vec!["198.18.20.1".parse().unwrap()]);
        table.entries.insert(AnswerKey { view: DEFAULT_VIEW, qtype: QTYPE_A, name: www.clone() }, default.clone());
        table.entries.insert(AnswerKey { view: 2, qtype: QTYPE_A, name: www.clone() }, near.clone());
        let rendered = RenderedAnswers::new(&table);
        for view in [DEFAULT_VIEW, 1, 2, 3] {
            let want = records_of(QTYPE_A, table.lookup(view, QTYPE_A, &www).unwrap());
            assert_eq!(rendered.lookup(view, QTYPE_A, &www), Some(Rendered::Records { count: 1, records: &want }));
        }
    }

    #[test]
    fn sets_the_fast_path_cannot_render_send_it_to_the_table() {
        let mut table = AnswerTable::default();
        let mut weighted = set(vec!["198.18.10.1".parse().unwrap(), "198.18.20.1".parse().unwrap()]);
        weighted.first.groups = 2;
        let cases = [
            (name(1), QTYPE_A, weighted),
            (name(2), QTYPE_A, set(vec![])),
            (name(3), QTYPE_A, set(vec!["fd00::1".parse().unwrap()])),
            // More records than a message's count holds.
            (name(4), QTYPE_A, set(vec!["198.18.10.1".parse().unwrap(); 65_536])),
        ];
        for (name, qtype, set) in &cases {
            table.entries.insert(AnswerKey { view: DEFAULT_VIEW, qtype: *qtype, name: name.clone() }, set.clone());
        }
        let rendered = RenderedAnswers::new(&table);
        for (name, qtype, _) in &cases {
            assert_eq!(rendered.lookup(DEFAULT_VIEW, *qtype, name), Some(Rendered::AskTable), "{name:?}");
        }
    }

    #[test]
    fn an_empty_table_finds_nothing() {
        let rendered = RenderedAnswers::new(&AnswerTable::default());
        assert_eq!(rendered.lookup(DEFAULT_VIEW, QTYPE_A, &name(1)), None);
    }
}
