//! What the XDP program learns of this host's addresses without a call into the kernel's hash
//! tables. The hash maps `LOCAL_V4` and `LOCAL_V6` stay the authority; the summary
//! (`LOCAL_SUMMARY`, an array of one element, whose lookup the kernel inlines) spares the
//! program a lookup on the two questions it asks of every query:
//! - is the IPv4 source one of ours? A clear bit in the filter says no for sure; only a set bit
//!   (one of ours, or another address sharing its bit) costs a lookup. (IPv6 sources are not
//!   checked against the host's addresses, as the stack does not drop them.)
//! - is the destination one we serve? Each CPU remembers the last destination it found served
//!   (`ServedMemo`, in its scratch memory) together with the summary's generation then; the
//!   daemon writes a new generation after every change to the maps, which forgets every memo.
//!
//! The daemon keeps the filter a superset of `LOCAL_V4`'s keys at every moment, torn reads of
//! the array included: bits are set before the addresses are inserted and cleared after they
//! are removed (`LocalSummary::union`).

/// 64-bit words of the filter: 4,096 bits, as many as `LOCAL_V4` holds addresses.
const FILTER_WORDS: usize = 64;
const FILTER_BITS_LOG2: u32 = 12;
const _: () = assert!(FILTER_WORDS * 64 == 1 << FILTER_BITS_LOG2);

/// Value of `LOCAL_SUMMARY` (index 0).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalSummary {
    /// New after every change to the local-address maps; 0 until the daemon first writes.
    pub generation: u64,
    /// A bit per IPv4 address in `LOCAL_V4` (any kind), by `bit_v4`.
    pub v4: [u64; FILTER_WORDS],
}

impl Default for LocalSummary {
    fn default() -> LocalSummary {
        LocalSummary { generation: 0, v4: [0; FILTER_WORDS] }
    }
}

/// The filter word and bit of an IPv4 address held as its packet bytes in a native-order
/// `u32`: the top bits of a multiplicative hash.
#[inline(always)]
fn bit_v4(addr: u32) -> (usize, u64) {
    let bit = u64::from(addr).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - FILTER_BITS_LOG2);
    ((bit / 64) as usize & (FILTER_WORDS - 1), 1 << (bit % 64))
}

impl LocalSummary {
    /// False only for an IPv4 address (packet bytes, native order) that is not in `LOCAL_V4`.
    #[inline(always)]
    pub fn may_hold_v4(&self, addr: u32) -> bool {
        let (word, bit) = bit_v4(addr);
        self.v4[word] & bit != 0
    }

    pub fn add_v4(&mut self, octets: [u8; 4]) {
        let (word, bit) = bit_v4(u32::from_ne_bytes(octets));
        self.v4[word] |= bit;
    }

    /// Every bit set in either, and this one's generation: what the filter holds while the
    /// maps change from one's addresses to the other's.
    pub fn union(&self, other: &LocalSummary) -> LocalSummary {
        let mut both = *self;
        for (mine, theirs) in both.v4.iter_mut().zip(other.v4) {
            *mine |= theirs;
        }
        both
    }
}

/// A CPU's last destination found served (per family), and the summary's generation then.
/// Kept in the program's per-CPU scratch memory; generation 0 never matches.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServedMemo {
    pub generation_v4: u64,
    pub generation_v6: u64,
    pub v6: [u64; 2],
    pub v4: u32,
    pub _pad: u32,
}

impl ServedMemo {
    /// Whether `addr` was found served in `generation`, the summary's current one.
    #[inline(always)]
    pub fn served_v4(&self, addr: u32, generation: u64) -> bool {
        generation != 0 && self.generation_v4 == generation && self.v4 == addr
    }

    #[inline(always)]
    pub fn served_v6(&self, addr: [u64; 2], generation: u64) -> bool {
        generation != 0 && self.generation_v6 == generation && self.v6 == addr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn octets(text: &str) -> [u8; 4] {
        text.parse::<std::net::Ipv4Addr>().unwrap().octets()
    }

    fn v4(text: &str) -> u32 {
        u32::from_ne_bytes(octets(text))
    }

    #[test]
    fn added_addresses_are_always_held_and_most_others_are_not() {
        let mut summary = LocalSummary::default();
        let ours = ["198.18.0.1", "198.18.0.255", "10.0.0.7"];
        for a in ours {
            summary.add_v4(octets(a));
        }
        assert!(ours.iter().all(|a| summary.may_hold_v4(v4(a))));
        // Three bits of 4,096 set: a few of 65,536 other addresses may share one, not more.
        let shared =
            (0..=u16::MAX).filter(|i| summary.may_hold_v4(v4(&format!("203.0.{}.{}", i >> 8, i & 0xff)))).count();
        assert!(shared < 200, "{shared} of 65,536 other addresses look local");
    }

    #[test]
    fn the_union_holds_both_sets() {
        let (mut old, mut new) = (LocalSummary::default(), LocalSummary::default());
        old.add_v4(octets("198.18.0.1"));
        new.add_v4(octets("198.18.0.2"));
        let both = LocalSummary { generation: 5, ..old }.union(&new);
        assert!(both.may_hold_v4(v4("198.18.0.1")) && both.may_hold_v4(v4("198.18.0.2")));
        assert_eq!(both.generation, 5);
    }

    #[test]
    fn a_memo_holds_only_in_its_generation() {
        let memo = ServedMemo { generation_v4: 3, v4: v4("198.18.0.1"), ..ServedMemo::default() };
        assert!(memo.served_v4(v4("198.18.0.1"), 3));
        assert!(!memo.served_v4(v4("198.18.0.1"), 4), "a new generation forgets it");
        assert!(!memo.served_v4(v4("198.18.0.2"), 3));
        assert!(!ServedMemo::default().served_v4(0, 0), "generation 0 never matches");
        assert!(!memo.served_v6([0, 0], 3));
    }
}
