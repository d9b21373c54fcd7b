//! The answer table's index (`ANSWER_INDEX`): an array of 8-byte entries, a power of two long
//! and at least twice `xdp.max_entries`, that says which slot of `ANSWERS`/`ANSWER_TAILS` holds
//! a key. A key's entry lies within `PROBE_POSITIONS` positions of its home position (the low
//! bits of its hash), which the program reads in order until it finds an entry with the key's
//! tag whose slot holds the key, or an empty entry.
//!
//! Why an index: the slots themselves are then used densely, from the first on, whatever
//! `max_entries` leaves spare, so the slots a table's hits read lie in as few pages as the
//! answer sets need (a hit whose page the TLB does not hold waits on a page walk too), and the
//! spare room of an open-addressed table costs 8 bytes a position instead of a whole slot.
//!
//! An entry is the key's tag (the high half of its mixed hash) above its slot number plus one:
//! 0 is an empty position (a lookup stops there), and a slot part of all ones a removed one (a
//! lookup reads on). The daemon writes each entry as one aligned 8-byte store, after the slot
//! it names, so a program reads either the old entry or the new one.

use crate::MapKey;

/// A position that never held an entry since the index was made: a lookup stops here.
pub const INDEX_EMPTY: u64 = 0;
/// A position whose key was removed: a lookup reads on past it, an insert may reuse it.
pub const INDEX_REMOVED: u64 = u32::MAX as u64;

/// Positions a lookup reads from a key's home position; a key that finds none free among them
/// is left to userspace. At most half the positions are used (`index_positions`), where the
/// daemon's Robin Hood placement puts 100,000 keys in 262,144 positions with none left out
/// (taking the first free position would leave about one in a thousand).
pub const PROBE_POSITIONS: u32 = 8;

/// The program's global that holds its index's length less one, set when the program is
/// loaded with the table it uses (so that a program never reads another table's).
pub const INDEX_MASK_GLOBAL: &str = "INDEX_MASK";

/// Positions of the index for `max_entries` answer sets: a power of two (the home position is
/// the hash's low bits), at least twice `max_entries` so that probe runs stay short.
pub const fn index_positions(max_entries: u32) -> u32 {
    let wanted = if max_entries < 1 << 30 { max_entries * 2 } else { 1 << 31 };
    wanted.next_power_of_two()
}

/// The key's hash mixed with its view and type, so that one name's A and AAAA sets (and views)
/// start apart: the low bits give the home position, the high half the tag.
#[inline(always)]
fn mixed(key: &MapKey) -> u64 {
    key.name_hash ^ (u64::from(key.view) << 32 | u64::from(key.qtype)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The position a key is looked up from first.
#[inline(always)]
pub fn home_position(key: &MapKey, index_mask: u32) -> u32 {
    let mixed = mixed(key);
    (mixed ^ (mixed >> 32)) as u32 & index_mask
}

/// What an entry holds besides the slot, so that a lookup reads only the slot of its own key
/// (but for one in about four billion).
#[inline(always)]
pub fn key_tag(key: &MapKey) -> u32 {
    (mixed(key) >> 32) as u32
}

/// The entry for `key`'s tag and `slot` (below `u32::MAX - 1`).
#[inline(always)]
pub const fn index_entry(tag: u32, slot: u32) -> u64 {
    (tag as u64) << 32 | (slot as u64 + 1)
}

/// The slot an entry names, when it names one (neither empty nor removed).
#[inline(always)]
pub const fn entry_slot(entry: u64) -> Option<u32> {
    match entry as u32 {
        0 | u32::MAX => None,
        plus_one => Some(plus_one - 1),
    }
}

#[inline(always)]
pub const fn entry_tag(entry: u64) -> u32 {
    (entry >> 32) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PackedName, QTYPE_A, QTYPE_AAAA};

    #[test]
    fn indexes_have_at_least_twice_the_positions_of_answer_sets() {
        assert_eq!(index_positions(65536), 131072);
        assert_eq!(index_positions(100_000), 262144);
        assert_eq!(index_positions(1), 2);
        assert_eq!(index_positions(u32::MAX), 1 << 31);
    }

    #[test]
    fn a_names_a_and_aaaa_sets_start_at_different_positions() {
        let name = PackedName::new(b"\x03www\x07example\x03com\x00").unwrap();
        let mask = index_positions(65536) - 1;
        let a = home_position(&MapKey::new(0, QTYPE_A, &name), mask);
        let aaaa = home_position(&MapKey::new(0, QTYPE_AAAA, &name), mask);
        assert_ne!(a, aaaa);
        assert!(a <= mask && aaaa <= mask);
    }

    #[test]
    fn an_entry_gives_back_its_slot_and_tag_and_is_neither_empty_nor_removed() {
        for (tag, slot) in [(0, 0), (u32::MAX, 0), (7, 12_345), (u32::MAX, u32::MAX - 2)] {
            let entry = index_entry(tag, slot);
            assert_eq!((entry_slot(entry), entry_tag(entry)), (Some(slot), tag));
            assert!(entry != INDEX_EMPTY && entry != INDEX_REMOVED);
        }
        assert_eq!((entry_slot(INDEX_EMPTY), entry_slot(INDEX_REMOVED)), (None, None));
    }
}
