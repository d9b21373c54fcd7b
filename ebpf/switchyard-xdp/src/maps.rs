//! The program's maps, and the only place their memory is touched.
//!
//! SAFETY, for every `unsafe` below: the lookup helpers return pointers into map memory that
//! stays valid until the program returns. The per-CPU values (`COUNTERS`, `SCRATCH`) have no
//! other user while this CPU runs the program, and `scratch` is called once per run, so its
//! `&mut` is the only reference. An answer slot is handed on as pointers: `answer_slot`
//! holds every read of it. `OWN_MACS` and the `LOCAL_*` values are only read, and are plain
//! integers and bytes. An `RRL_BUCKETS` value is two integers, written in place by
//! any CPU: a race loses a count, never memory safety.

use aya_ebpf::{
    bindings::BPF_F_MMAPABLE,
    macros::map,
    maps::{Array, HashMap, LpmTrie, LruHashMap, PerCpuArray, lpm_trie::Key as PrefixKey},
};
use switchyard_common::{
    CookieConfig, Counter, LocalSummary, MapKey, PROBE_SLOTS, SLOT_EMPTY, SLOT_USED, OwnMacs, RrlBucket, RrlConfig, RrlKey, Scratch, SignatureEntry,
    SlotHead, SlotTail, VIEW_PREFIXES, XdpConfig,
};

use crate::answer_slot::{Slot, read_in_order};

/// The answer table's slot heads and tails (see `AnswerSlot` and `SlotHead`), both sized by
/// the daemon (`answer_slots` of `xdp.max_entries`). Mappable, so that the daemon writes slots
/// in place under their sequence numbers; the memory is taken at load.
#[map]
static ANSWERS: Array<SlotHead> = Array::with_max_entries(131072, BPF_F_MMAPABLE);
#[map]
static ANSWER_TAILS: Array<SlotTail> = Array::with_max_entries(131072, BPF_F_MMAPABLE);
/// The RRSIG of each signed answer set, keyed like `ANSWERS` (sized like it by the daemon). Only
/// read here: replaced during a run, it gives one response a mix of two signatures, which a
/// validator refuses, never invalid memory.
#[map]
static SIGNATURES: HashMap<MapKey, SignatureEntry> = HashMap::with_max_entries(65536, 0);
#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(Counter::COUNT as u32, 0);
#[map]
static CONFIG: Array<XdpConfig> = Array::with_max_entries(1, 0);
#[map]
static SCRATCH: PerCpuArray<Scratch> = PerCpuArray::with_max_entries(1, 0);
#[map]
static VIEWS_V4: LpmTrie<[u8; 4], u32> = LpmTrie::with_max_entries(VIEW_PREFIXES, 0);
#[map]
static VIEWS_V6: LpmTrie<[u8; 16], u32> = LpmTrie::with_max_entries(VIEW_PREFIXES, 0);
#[map]
static STAMP: Array<u64> = Array::with_max_entries(1, 0);
/// The MAC of every interface the program is attached to (one element, see `OwnMacs`).
#[map]
static OWN_MACS: Array<OwnMacs> = Array::with_max_entries(1, 0);
/// This host's addresses and IPv4 broadcast addresses (`switchyard_common::local_addr`), kept
/// in step with the interfaces by the daemon. Keyed by the address's bytes as they stand in the
/// packet, held in integers so that the key on the stack is aligned.
#[map]
static LOCAL_V4: HashMap<u32, u32> = HashMap::with_max_entries(4096, 0);
#[map]
static LOCAL_V6: HashMap<[u64; 2], u32> = HashMap::with_max_entries(4096, 0);
/// What spares most queries the two lookups above (one element, see `LocalSummary`).
#[map]
static LOCAL_SUMMARY: Array<LocalSummary> = Array::with_max_entries(1, 0);

/// Server cookie secrets and the wall-clock offset (see `cookies`).
#[map]
static COOKIES: Array<CookieConfig> = Array::with_max_entries(1, 0);

#[inline(always)]
pub fn cookies() -> Option<&'static CookieConfig> {
    COOKIES.get(0)
}
/// Response rate limiting (see `rrl`). The buckets are shared by every CPU and the daemon and
/// updated without a lock: two charging one prefix at once may each overwrite the other's
/// charge, which lets a little more through, never less.
#[map]
static RRL_CONFIG: Array<RrlConfig> = Array::with_max_entries(1, 0);
#[map]
static RRL_BUCKETS: LruHashMap<RrlKey, RrlBucket> = LruHashMap::with_max_entries(65536, 0);
#[map]
static RRL_EXEMPT_V4: LpmTrie<[u8; 4], u32> = LpmTrie::with_max_entries(1024, 0);
#[map]
static RRL_EXEMPT_V6: LpmTrie<[u8; 16], u32> = LpmTrie::with_max_entries(1024, 0);

#[inline(always)]
pub fn config() -> Option<&'static XdpConfig> {
    CONFIG.get(0)
}

/// The daemon's last liveness stamp (see `liveness`).
#[inline(always)]
pub fn liveness_stamp() -> Option<u64> {
    STAMP.get(0).copied()
}

#[inline(always)]
pub fn count(counter: Counter) {
    count_slot(counter as u32);
}

/// Counts in the counter of slot `slot` (a `Counter` as u32); nothing for a slot out of range.
#[inline(always)]
pub fn count_slot(slot: u32) {
    if let Some(slot) = COUNTERS.get_ptr_mut(slot) {
        unsafe { *slot += 1 };
    }
}

/// Keeps why a query is left to userspace until after its charge (see `Scratch::parked`).
#[inline(always)]
pub fn park(scratch: &mut Scratch, slot: u32) {
    unsafe { core::ptr::write_volatile(&mut scratch.parked, slot) }
}

/// The slot `park` kept, read through memory the compiler cannot see through.
#[inline(always)]
pub fn parked(scratch: &Scratch) -> u32 {
    unsafe { core::ptr::read_volatile(&scratch.parked) }
}

/// This CPU's working memory; call once per run.
#[inline(always)]
pub fn scratch() -> Option<&'static mut Scratch> {
    SCRATCH.get_ptr_mut(0).map(|p| unsafe { &mut *p })
}

/// The parsed name's length as stored in `scratch`, read back through memory the compiler
/// cannot see through: the verifier then follows one bounded length instead of a path per
/// length the parser could have found.
#[inline(always)]
pub fn stored_name_len(scratch: &Scratch) -> usize {
    unsafe { core::ptr::read_volatile(&scratch.name_len) as usize }
}

/// The answer table's slot count less one, set by the loader to match the table it makes for
/// this program (a table of another size comes with a program of its own).
#[unsafe(no_mangle)]
static SLOT_MASK: u32 = 0;

/// The slot holding `key`, read from its home slot on until an empty slot, and the slot's
/// sequence number as read before its key: `None` when no slot holds the key.
#[inline(always)]
pub fn answer_slot(key: &MapKey) -> Option<(Slot, u32)> {
    let slot_mask = slot_mask();
    let home = switchyard_common::home_slot(key, slot_mask);
    for i in 0..PROBE_SLOTS {
        let at = home.wrapping_add(i) & slot_mask;
        // The tail's address is computed, not read: its memory is touched only when needed.
        let slot = Slot::new(ANSWERS.get_ptr(at)?, ANSWER_TAILS.get_ptr(at)?);
        let seq = slot.seq();
        let state = slot.state();
        if state == SLOT_EMPTY {
            return None;
        }
        if state == SLOT_USED && slot.has_key(key) {
            return Some((slot, seq));
        }
    }
    None
}

/// Reads the first word (the sequence number) of the slot head `hash` picks (as a key's hash
/// picks its home slot), for the table floor of the benchmarks.
#[inline(always)]
pub fn touch_slot_head(hash: u64) -> Option<()> {
    let head = ANSWERS.get_ptr(switchyard_common::slot_of_hash(hash, slot_mask()))?;
    unsafe { read_in_order(head.cast::<u32>()) };
    Some(())
}

/// The table's slot count less one, read through memory the compiler cannot see through: the
/// value is the loader's.
#[inline(always)]
fn slot_mask() -> u32 {
    unsafe { core::ptr::read_volatile(&SLOT_MASK) }
}

#[inline(always)]
pub fn signature(key: &MapKey) -> Option<&'static SignatureEntry> {
    unsafe { SIGNATURES.get(key) }
}

/// The view of the longest client prefix that holds `addr` (looked up as a prefix of all its
/// bits).
#[inline(always)]
pub fn view_v4(addr: [u8; 4]) -> Option<u32> {
    VIEWS_V4.get(PrefixKey::new(u32::BITS, addr)).copied()
}

#[inline(always)]
pub fn view_v6(addr: [u8; 16]) -> Option<u32> {
    VIEWS_V6.get(PrefixKey::new(u128::BITS, addr)).copied()
}

#[inline(always)]
pub fn own_macs() -> Option<&'static OwnMacs> {
    OWN_MACS.get(0)
}

/// The summary and its generation, read once and in order (`read_in_order`) before the lookup
/// whose result is remembered under it, so the lookup never sees the maps as they were before
/// that generation.
#[inline(always)]
pub fn local_summary() -> Option<(u64, &'static LocalSummary)> {
    let summary = LOCAL_SUMMARY.get(0)?;
    Some((unsafe { read_in_order(&summary.generation) }, summary))
}

/// What the address with these bytes is to this host (`switchyard_common::local_addr`); `None`
/// when nothing.
#[inline(always)]
pub fn local_v4(addr: u32) -> Option<u32> {
    unsafe { LOCAL_V4.get(&addr) }.copied()
}

#[inline(always)]
pub fn local_v6(addr: [u64; 2]) -> Option<u32> {
    unsafe { LOCAL_V6.get(&addr) }.copied()
}

#[inline(always)]
pub fn rrl_config() -> Option<&'static RrlConfig> {
    RRL_CONFIG.get(0)
}

#[inline(always)]
pub fn rrl_exempt_v4(addr: [u8; 4]) -> bool {
    RRL_EXEMPT_V4.get(PrefixKey::new(u32::BITS, addr)).is_some()
}

#[inline(always)]
pub fn rrl_exempt_v6(addr: [u8; 16]) -> bool {
    RRL_EXEMPT_V6.get(PrefixKey::new(u128::BITS, addr)).is_some()
}

/// The bucket of a client prefix, to be charged in place.
#[inline(always)]
pub fn rrl_bucket(key: &RrlKey) -> Option<&'static mut RrlBucket> {
    RRL_BUCKETS.get_ptr_mut(key).map(|p| unsafe { &mut *p })
}

/// Adds a prefix's first bucket (an LRU map: the least recently used one makes room).
#[inline(always)]
pub fn rrl_insert(key: &RrlKey, bucket: &RrlBucket) {
    let _ = RRL_BUCKETS.insert(key, bucket, 0);
}
