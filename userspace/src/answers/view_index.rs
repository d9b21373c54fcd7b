//! The view prefixes of one address family arranged for per-query use: the longest match by
//! one hash lookup per prefix length in use, and the ECS scope from the two prefixes next to
//! the address in sorted order, instead of a pass over every prefix (a geographic view holds
//! thousands).

use std::collections::HashMap;

/// One family's prefixes; addresses and networks as integers, IPv4 in the low 32 bits.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct FamilyIndex {
    /// 32 or 128.
    bits: u8,
    by_prefix: HashMap<(u8, u128), u32>,
    /// The prefix lengths in use, longest first.
    lengths: Vec<u8>,
    /// (network, length), sorted.
    sorted: Vec<(u128, u8)>,
}

impl FamilyIndex {
    pub(super) fn new(bits: u8, prefixes: impl Iterator<Item = (u128, u8, u32)>) -> FamilyIndex {
        let mut index = FamilyIndex { bits, ..FamilyIndex::default() };
        for (network, len, id) in prefixes {
            index.by_prefix.insert((len, network), id);
            index.sorted.push((network, len));
        }
        index.sorted.sort_unstable();
        index.sorted.dedup();
        index.lengths = index.sorted.iter().map(|(_, len)| *len).collect();
        index.lengths.sort_unstable_by(|a, b| b.cmp(a));
        index.lengths.dedup();
        index
    }

    /// Longest matching prefix: (view, prefix length).
    pub(super) fn lookup(&self, addr: u128) -> Option<(u32, u8)> {
        self.lengths.iter().find_map(|&len| self.by_prefix.get(&(len, self.mask(addr, len))).map(|id| (*id, len)))
    }

    /// The longest prefix length shared with `addr` by a prefix that does not hold it, plus
    /// one: a scope that leaves every such prefix out. The prefix sharing the most leading
    /// bits is next to `addr` in sorted order once the prefixes holding `addr` are skipped.
    pub(super) fn leave_out(&self, addr: u128) -> u8 {
        let at = self.sorted.partition_point(|&(network, _)| network <= addr);
        let below = self.sorted[..at].iter().rev().find(|&&(network, len)| self.mask(addr, len) != network);
        let above = self.sorted.get(at);
        below.into_iter().chain(above).map(|&(network, _)| self.shared_bits(addr, network) + 1).max().unwrap_or(0)
    }

    fn mask(&self, addr: u128, len: u8) -> u128 {
        match len {
            0 => 0,
            len => addr & (u128::MAX << (self.bits - len)) & self.all_bits(),
        }
    }

    fn all_bits(&self) -> u128 {
        if self.bits == 128 { u128::MAX } else { (1u128 << self.bits) - 1 }
    }

    fn shared_bits(&self, a: u128, b: u128) -> u8 {
        ((a ^ b).leading_zeros() - (128 - u32::from(self.bits))) as u8
    }
}
