//! The answer table's slots as the program reads them. The daemon rewrites a slot in place while
//! programs read it, so a slot is never behind a Rust reference here (which would let the
//! compiler assume it cannot change and move reads across the sequence number's): every read
//! is a volatile read through a raw pointer, made between two reads of the slot's sequence
//! number (see `AnswerSlot`).
//!
//! SAFETY, for every `unsafe` below: the pointer comes from an `ANSWERS` lookup and stays valid
//! until the program returns (see `maps`), and every field is plain bytes, so a read that races
//! the daemon's write yields some value, never invalid memory; the sequence number tells.

use core::{
    mem::offset_of,
    ptr::{addr_of, read_volatile},
};

use switchyard_common::{
    AnswerCopy, AnswerSlot, FirstChoice, MapEntry, MapKey, NAME_HEAD_WORDS, NAME_WORDS, STORED_ORDER,
};

/// One slot of the answer table.
#[derive(Clone, Copy)]
pub struct Slot(*const AnswerSlot);

// `copy_words` reads the addresses as u64 words and the weighted orders as u32 words: each
// starts aligned for its words, in the slot and in the copy.
const ADDRS_AT: usize = offset_of!(AnswerSlot, entry) + offset_of!(MapEntry, addrs);
const FIRST_AT: usize = offset_of!(AnswerSlot, entry) + offset_of!(MapEntry, first);
const _: () = assert!(align_of::<AnswerSlot>() % 8 == 0 && ADDRS_AT % 8 == 0 && FIRST_AT % 4 == 0);
const _: () = assert!(align_of::<AnswerCopy>() % 8 == 0 && offset_of!(AnswerCopy, addrs) % 8 == 0);
const _: () = assert!(align_of::<FirstChoice>() % 4 == 0 && size_of::<FirstChoice>() % 4 == 0);

impl Slot {
    #[inline(always)]
    pub fn new(slot: *const AnswerSlot) -> Slot {
        Slot(slot)
    }

    /// The slot's sequence number (odd while the daemon writes it), read in order
    /// (`read_in_order`): a run that reads the same even number before and after read the
    /// slot whole.
    #[inline(always)]
    pub fn seq(self) -> u32 {
        unsafe { read_in_order(addr_of!((*self.0).seq)) }
    }

    /// `SLOT_EMPTY`, `SLOT_USED` or `SLOT_REMOVED`.
    #[inline(always)]
    pub fn state(self) -> u32 {
        unsafe { read_volatile(addr_of!((*self.0).state)) }
    }

    #[inline(always)]
    pub fn has_key(self, key: &MapKey) -> bool {
        let at = unsafe { addr_of!((*self.0).key) };
        unsafe {
            read_volatile(addr_of!((*at).name_hash)) == key.name_hash
                && read_volatile(addr_of!((*at).view)) == key.view
                && read_volatile(addr_of!((*at).qtype)) == key.qtype
                && read_volatile(addr_of!((*at).name_len)) == key.name_len
        }
    }

    /// Whether the slot holds the name packed in `question` (`len` bytes, both sides zero
    /// padded): its head words, then its tail words, each loop over one array so no index needs
    /// a check.
    #[inline(always)]
    pub fn holds_name(self, question: &[u64; NAME_WORDS], len: usize) -> bool {
        let entry = self.entry();
        let head = unsafe { addr_of!((*entry).name_head) };
        for i in 0..NAME_HEAD_WORDS {
            if i * 8 >= len {
                return true;
            }
            if unsafe { read_volatile(addr_of!((*head)[i])) } != question[i] {
                return false;
            }
        }
        let tail = unsafe { addr_of!((*entry).name_tail) };
        for i in 0..NAME_WORDS - NAME_HEAD_WORDS {
            if (NAME_HEAD_WORDS + i) * 8 >= len {
                break;
            }
            if unsafe { read_volatile(addr_of!((*tail)[i])) } != question[NAME_HEAD_WORDS + i] {
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
        let entry = self.entry();
        unsafe {
            copy.ttl = read_volatile(addr_of!((*entry).ttl));
            copy.answer_sum = read_volatile(addr_of!((*entry).answer_sum));
            copy.count = read_volatile(addr_of!((*entry).count));
            copy.signed = read_volatile(addr_of!((*entry).signed));
            copy.signature = read_volatile(addr_of!((*entry).signature));
            copy_words::<_, u64>(addr_of!((*entry).addrs), &mut copy.addrs);
        }
        copy.order = if unsafe { read_volatile(addr_of!((*entry).weighted_groups)) } == 0 {
            STORED_ORDER
        } else {
            unsafe { copy_words::<_, u32>(addr_of!((*entry).first), first) };
            first.order_for(bucket(), copy.count as usize)
        };
    }

    #[inline(always)]
    fn entry(self) -> *const MapEntry {
        unsafe { addr_of!((*self.0).entry) }
    }
}

/// Copies a `T` out of a slot one `W` at a time with volatile reads. Copied whole, an array of
/// bytes becomes a call to the byte-by-byte `memcpy` (about 80 ns a hit in `bench xdp`); the
/// volatile reads keep this loop from being turned back into one.
///
/// SAFETY: `from` and `to` are aligned for `W` (asserted above for each use) and `W` divides
/// `T`'s size; every byte pattern is a valid `T`.
#[inline(always)]
unsafe fn copy_words<T, W: Copy>(from: *const T, to: &mut T) {
    let to = (to as *mut T).cast::<W>();
    for i in 0..size_of::<T>() / size_of::<W>() {
        unsafe { to.add(i).write(from.cast::<W>().add(i).read_volatile()) };
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
