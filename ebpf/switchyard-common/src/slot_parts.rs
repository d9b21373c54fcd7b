//! An answer slot is stored in two arrays of the same length: its first `SLOT_HEAD_BYTES` in
//! `ANSWERS` (the head) and the rest in `ANSWER_TAILS` (the tail), at the same index.
//!
//! Why: a hit on a short name with up to four addresses and no weighted first answer reads
//! only the head, so the slots the hits of a large table read lie three times as densely in
//! memory (32 heads in a 4 KiB page instead of 10 or 11 whole slots). The table's memory is
//! mapped in 4 KiB pages, and a hit whose page is not in the TLB waits on a page walk as well
//! as on the line (`bench xdp`'s table floor measures both; see the README): the fewer pages
//! the hot part of the table spans, the more of them the TLB holds.
//!
//! The sequence number stays in the head and covers both parts: the daemon writes the tail
//! and the head while the number is odd.

use core::mem::{offset_of, size_of};

use crate::{AnswerSlot, FirstChoice, MapEntry, MapKey, NAME_HEAD_WORDS};

/// Bytes of a slot stored in its head: the sequence number, state, key, answer header, the
/// name's first words and the first four addresses (two 64-byte lines).
pub const SLOT_HEAD_BYTES: usize = 128;
/// Bytes of a slot stored in its tail: the other addresses, the rest of the name, the weighted
/// orders.
pub const SLOT_TAIL_BYTES: usize = size_of::<AnswerSlot>() - SLOT_HEAD_BYTES;

/// Value of `ANSWERS`: a slot's head.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotHead(pub [u8; SLOT_HEAD_BYTES]);

/// Value of `ANSWER_TAILS`: a slot's tail.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotTail(pub [u8; SLOT_TAIL_BYTES]);

/// Where a field of a slot starts, in the slot as one struct (`head` when below
/// `SLOT_HEAD_BYTES`, else `tail` at this less `SLOT_HEAD_BYTES`).
pub mod slot_at {
    use super::*;

    const ENTRY: usize = offset_of!(AnswerSlot, entry);
    const KEY: usize = offset_of!(AnswerSlot, key);
    pub const SEQ: usize = offset_of!(AnswerSlot, seq);
    pub const STATE: usize = offset_of!(AnswerSlot, state);
    pub const NAME_HASH: usize = KEY + offset_of!(MapKey, name_hash);
    pub const VIEW: usize = KEY + offset_of!(MapKey, view);
    pub const QTYPE: usize = KEY + offset_of!(MapKey, qtype);
    pub const NAME_LEN: usize = KEY + offset_of!(MapKey, name_len);
    pub const TTL: usize = ENTRY + offset_of!(MapEntry, ttl);
    pub const ANSWER_SUM: usize = ENTRY + offset_of!(MapEntry, answer_sum);
    pub const COUNT: usize = ENTRY + offset_of!(MapEntry, count);
    pub const SIGNED: usize = ENTRY + offset_of!(MapEntry, signed);
    pub const WEIGHTED_GROUPS: usize = ENTRY + offset_of!(MapEntry, weighted_groups);
    pub const SIGNATURE: usize = ENTRY + offset_of!(MapEntry, signature);
    pub const NAME_HEAD: usize = ENTRY + offset_of!(MapEntry, name_head);
    pub const ADDRS: usize = ENTRY + offset_of!(MapEntry, addrs);
    pub const NAME_TAIL: usize = ENTRY + offset_of!(MapEntry, name_tail);
    pub const FIRST: usize = ENTRY + offset_of!(MapEntry, first);
}

// What a common hit reads is in the head; what only some hits read is in the tail.
const _: () = {
    use slot_at::*;
    assert!(SEQ + 4 <= SLOT_HEAD_BYTES && STATE + 4 <= SLOT_HEAD_BYTES && NAME_HASH + 8 <= SLOT_HEAD_BYTES);
    assert!(SIGNATURE + 4 <= SLOT_HEAD_BYTES && WEIGHTED_GROUPS < SLOT_HEAD_BYTES);
    assert!(NAME_HEAD + 8 * NAME_HEAD_WORDS <= SLOT_HEAD_BYTES);
    // Addresses 0 to 3 in the head, 4 to 7 in the tail: no address is split.
    assert!(ADDRS + 4 * 16 == SLOT_HEAD_BYTES);
    assert!(NAME_TAIL >= SLOT_HEAD_BYTES && FIRST >= SLOT_HEAD_BYTES);
    assert!(FIRST + size_of::<FirstChoice>() <= size_of::<AnswerSlot>());
    // Words of each part stay aligned as in the whole slot, and no part has padding.
    assert!(SLOT_HEAD_BYTES.is_multiple_of(64) && SLOT_TAIL_BYTES.is_multiple_of(64));
    assert!(size_of::<SlotHead>() == SLOT_HEAD_BYTES && size_of::<SlotTail>() == SLOT_TAIL_BYTES);
};

impl AnswerSlot {
    /// The slot as its head and tail.
    pub fn to_parts(&self) -> (SlotHead, SlotTail) {
        let bytes = self.as_bytes();
        let mut head = SlotHead([0; SLOT_HEAD_BYTES]);
        let mut tail = SlotTail([0; SLOT_TAIL_BYTES]);
        head.0.copy_from_slice(&bytes[..SLOT_HEAD_BYTES]);
        tail.0.copy_from_slice(&bytes[SLOT_HEAD_BYTES..]);
        (head, tail)
    }

    /// The slot stored as `head` and `tail`.
    pub fn from_parts(head: &SlotHead, tail: &SlotTail) -> AnswerSlot {
        let mut slot = AnswerSlot::EMPTY;
        // SAFETY: `AnswerSlot` is `repr(C)` and made only of integers and arrays of them, with
        // no padding the compiler adds (asserted in `maps`' tests), so every byte pattern of its
        // size is a valid value.
        let bytes = unsafe {
            core::slice::from_raw_parts_mut((&mut slot as *mut AnswerSlot).cast::<u8>(), size_of::<AnswerSlot>())
        };
        bytes[..SLOT_HEAD_BYTES].copy_from_slice(&head.0);
        bytes[SLOT_HEAD_BYTES..].copy_from_slice(&tail.0);
        slot
    }

    fn as_bytes(&self) -> &[u8] {
        // SAFETY: as in `from_parts`; reading the bytes of plain integers.
        unsafe { core::slice::from_raw_parts((self as *const AnswerSlot).cast::<u8>(), size_of::<AnswerSlot>()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PackedName, QTYPE_A, SLOT_USED};

    #[test]
    fn a_slot_comes_back_whole_from_its_head_and_tail() {
        let name = PackedName::new(b"\x0bverylongname\x0banotherlabel\x07example\x03com\x00").unwrap();
        let addrs: [[u8; 16]; 8] = core::array::from_fn(|i| [i as u8 + 1; 16]);
        let mut entry = MapEntry::new(QTYPE_A, 30, &name, &addrs);
        entry.set_first(FirstChoice { groups: 2, ..FirstChoice::NONE });
        let slot =
            AnswerSlot { seq: 6, state: SLOT_USED, key: MapKey::new(3, QTYPE_A, &name), entry, ..AnswerSlot::EMPTY };
        let (head, tail) = slot.to_parts();
        assert_eq!(AnswerSlot::from_parts(&head, &tail), slot);
        // The fifth address starts the tail; the fourth ends the head.
        assert_eq!(&tail.0[..16], &[5; 16]);
        assert_eq!(&head.0[SLOT_HEAD_BYTES - 16..], &[4; 16]);
    }
}
