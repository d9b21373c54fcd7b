//! The answer table's slots as the program reads them. The daemon rewrites a slot in place while
//! programs read it, so a slot is never behind a Rust reference here (which would let the
//! compiler assume it cannot change and move reads across the sequence number's): every read
//! is a volatile read through a raw pointer, made between two reads of the slot's sequence
//! number (see `AnswerSlot`).
//!
//! SAFETY, for every `unsafe` below: the pointers come from `ANSWERS` and `ANSWER_TAILS`
//! lookups and stay valid until the program returns (see `maps`), and every field is plain
//! bytes, so a read that races the daemon's write yields some value, never invalid memory; the
//! sequence number tells.

use core::ptr::read_volatile;

use switchyard_common::{
    AnswerCopy, FirstChoice, MAX_ADDRS, MapKey, NAME_HEAD_WORDS, NAME_WORDS, SLOT_HEAD_BYTES, STORED_ORDER, SlotHead,
    SlotTail, slot_at,
};

/// One slot of the answer table: its head and its tail (see `slot_parts`).
#[derive(Clone, Copy)]
pub struct Slot {
    head: *const u8,
    tail: *const u8,
}

// `copy_answer` copies the addresses as u64 words and the weighted orders as u32 words: each
// starts aligned for its words, in the slot's parts and in the copy.
const _: () = assert!(slot_at::ADDRS % 8 == 0 && slot_at::FIRST % 4 == 0 && SLOT_HEAD_BYTES % 8 == 0);
const _: () = assert!(align_of::<SlotHead>() % 8 == 0 && align_of::<SlotTail>() % 8 == 0);
const _: () = assert!(align_of::<AnswerCopy>() % 8 == 0 && core::mem::offset_of!(AnswerCopy, addrs) % 8 == 0);
const _: () = assert!(align_of::<FirstChoice>() % 4 == 0 && size_of::<FirstChoice>() % 4 == 0);

impl Slot {
    #[inline(always)]
    pub fn new(head: *const SlotHead, tail: *const SlotTail) -> Slot {
        Slot { head: head.cast(), tail: tail.cast() }
    }

    /// The field at `at` bytes into the slot as one struct (`slot_at`), in its head or tail.
    /// Every caller passes a constant (or a loop's unrolled index), so the choice is made when
    /// the program is compiled.
    #[inline(always)]
    fn field<T>(self, at: usize) -> *const T {
        if at < SLOT_HEAD_BYTES {
            self.head.wrapping_add(at).cast()
        } else {
            self.tail.wrapping_add(at - SLOT_HEAD_BYTES).cast()
        }
    }

    /// A volatile read of the field at `at`.
    #[inline(always)]
    fn read<T: Copy>(self, at: usize) -> T {
        unsafe { read_volatile(self.field(at)) }
    }

    /// The slot's sequence number (odd while the daemon writes it), read in order
    /// (`read_in_order`): a run that reads the same even number before and after read the
    /// slot whole.
    #[inline(always)]
    pub fn seq(self) -> u32 {
        unsafe { read_in_order(self.field(slot_at::SEQ)) }
    }

    /// `SLOT_EMPTY`, `SLOT_USED` or `SLOT_REMOVED`.
    #[inline(always)]
    pub fn state(self) -> u32 {
        self.read(slot_at::STATE)
    }

    #[inline(always)]
    pub fn has_key(self, key: &MapKey) -> bool {
        self.read::<u64>(slot_at::NAME_HASH) == key.name_hash
            && self.read::<u32>(slot_at::VIEW) == key.view
            && self.read::<u16>(slot_at::QTYPE) == key.qtype
            && self.read::<u16>(slot_at::NAME_LEN) == key.name_len
    }

    /// Whether the slot holds the name packed in `question` (`len` bytes, both sides zero
    /// padded): its head words, then its tail words, each loop over one array so no index needs
    /// a check.
    #[inline(always)]
    pub fn holds_name(self, question: &[u64; NAME_WORDS], len: usize) -> bool {
        for i in 0..NAME_HEAD_WORDS {
            if i * 8 >= len {
                return true;
            }
            if self.read::<u64>(slot_at::NAME_HEAD + 8 * i) != question[i] {
                return false;
            }
        }
        for i in 0..NAME_WORDS - NAME_HEAD_WORDS {
            if (NAME_HEAD_WORDS + i) * 8 >= len {
                break;
            }
            if self.read::<u64>(slot_at::NAME_TAIL + 8 * i) != question[NAME_HEAD_WORDS + i] {
                return false;
            }
        }
        true
    }

    /// Copies what a reply takes into `copy`: the answer header, the addresses, and the order
    /// for this client (`bucket` is asked only for a weighted answer, whose orders are copied
    /// to `first` and chosen from there).
    #[inline(always)]
    pub fn copy_answer(self, bucket: impl FnOnce() -> u32, copy: &mut AnswerCopy, first: &mut FirstChoice) {
        copy.ttl = self.read(slot_at::TTL);
        copy.answer_sum = self.read(slot_at::ANSWER_SUM);
        copy.count = self.read(slot_at::COUNT);
        copy.signed = self.read(slot_at::SIGNED);
        copy.signature = self.read(slot_at::SIGNATURE);
        // The first four addresses are in the head; the tail is read only for more.
        let addrs = (&mut copy.addrs as *mut [[u8; 16]; MAX_ADDRS]).cast::<u64>();
        for i in 0..2 * MAX_ADDRS {
            if i >= 2 * copy.count as usize {
                break;
            }
            unsafe { addrs.add(i).write(self.read(slot_at::ADDRS + 8 * i)) };
        }
        copy.order = if self.read::<u8>(slot_at::WEIGHTED_GROUPS) == 0 {
            STORED_ORDER
        } else {
            let to = (first as *mut FirstChoice).cast::<u32>();
            for i in 0..size_of::<FirstChoice>() / 4 {
                unsafe { to.add(i).write(self.read(slot_at::FIRST + 4 * i)) };
            }
            first.order_for(bucket(), copy.count as usize)
        };
    }
}

/// A volatile read between two empty `asm!` blocks, which the compiler must take to read and
/// write any memory, so that no other read moves across it (the BPF target has no fence
/// instruction). The CPU keeps loads in order on x86-64 (TSO); a CPU that reorders loads
/// (arm64) would need load-acquire.
///
/// SAFETY: `at` points into map memory valid for the run.
#[inline(always)]
pub unsafe fn read_in_order<T: Copy>(at: *const T) -> T {
    unsafe {
        core::arch::asm!("", options(nostack, preserves_flags));
        let value = read_volatile(at);
        core::arch::asm!("", options(nostack, preserves_flags));
        value
    }
}
