//! Keys and values of the maps both sides use, and the names of the maps and programs.

use crate::{
    ServedMemo, TickClock,
    checksum::ones_complement_sum,
    first_choice::FirstChoice,
    name::{NAME_WORDS, PackedName},
    record::{MAX_RECORD_LEN, record_len, render_record},
};

/// Most addresses one answer set holds; larger sets are served by userspace.
pub const MAX_ADDRS: usize = 8;
/// View used when no client prefix matches.
pub const DEFAULT_VIEW: u32 = 0;
/// Client prefixes each view trie (`VIEWS_V4`, `VIEWS_V6`) holds at most, over all views.
pub const VIEW_PREFIXES: u32 = 16384;

/// Key of the answer map: view, type, and the question name's length and 64-bit hash.
///
/// A short key keeps the kernel's own hashing and comparison cheap. The full name is stored in
/// the value and compared by the XDP program, so two names with the same hash can only send a
/// query to userspace, never give a wrong answer.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MapKey {
    pub view: u32,
    pub qtype: u16,
    pub name_len: u16,
    pub name_hash: u64,
}

/// Value of the answer map: the name it answers for, the ordered addresses, TTL, and the
/// ones'-complement sum of the answer records as the XDP program writes them (so it need not
/// read them back to checksum).
///
/// Laid out for the cache lines a hit reads: the header, the name's first words and the first
/// addresses share the value's first 64 bytes, so a short name with two IPv4 addresses is
/// answered from one or two lines; the rest of a long name, and the weighted orders, come after.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapEntry {
    pub ttl: u32,
    /// Unfolded 32-bit ones'-complement sum of the answer section starting at an even offset.
    pub answer_sum: u32,
    pub count: u8,
    /// 1 when set by an operator (`switchyard map set`); the daemon leaves it alone.
    pub is_override: u8,
    /// 1 when the name is in a signed zone: a query with DO=1 is answered with the RRSIG from
    /// `SIGNATURES`, or goes to userspace, which signs.
    pub signed: u8,
    /// `first.groups`, kept here so that an unweighted hit never reads `first`'s lines.
    pub weighted_groups: u8,
    /// Identifies this answer set's RRSIG in `SIGNATURES` (`SignatureEntry::serial`; its top
    /// bit says which of the key's two places holds it, `signature_place`); 0: none.
    pub signature: u32,
    /// The question name's first words (see `PackedName`): most names end within them.
    pub name_head: [u64; NAME_HEAD_WORDS],
    /// IPv4 addresses use the first four bytes of each slot.
    pub addrs: [[u8; 16]; MAX_ADDRS],
    /// The rest of the question name's words.
    pub name_tail: [u64; NAME_WORDS - NAME_HEAD_WORDS],
    /// Which addresses each client gets first (weighted first answer); none by default. Set it
    /// with `set_first`, which keeps `weighted_groups` in step.
    pub first: FirstChoice,
}

/// Words of the name stored beside the header (names of up to 24 wire bytes end there).
pub const NAME_HEAD_WORDS: usize = 3;

/// One slot of the answer table (an array the XDP program indexes by the name's hash): the key
/// it holds, its state, and the answer set. Stored as a head in `ANSWERS` and a tail in
/// `ANSWER_TAILS` (see `slot_parts`).
///
/// An array rather than a hash map because a hit then costs one computed address instead of a
/// bucket walk (the kernel's hash map reads the bucket, then the element: two dependent cache
/// misses at 100,000 names). A key lives in one of the `PROBE_SLOTS` slots from its home slot
/// (`home_slot`), which the program reads in order until it finds the key or an empty slot.
///
/// The daemon writes slots in place through a shared mapping of the array, so each slot has a
/// sequence number: odd while being written, raised again when done. The program reads it
/// before the key and again after copying the answer out (`AnswerCopy`); a slot that was odd or
/// changed in between sends the query to userspace (`Counter::PassSlotBusy`) with the frame
/// untouched, so a client never gets a mix of two answer sets and no query is lost.
///
/// 64-byte aligned so that the slot header, key, answer header and the name's first words share
/// the slot's first cache line and the first four addresses its second.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnswerSlot {
    pub seq: u32,
    /// `SLOT_EMPTY`, `SLOT_USED` or `SLOT_REMOVED`.
    pub state: u32,
    pub key: MapKey,
    pub entry: MapEntry,
    /// Up to the next 64 bytes, spelled out so that every byte of a slot is a field's (a slot
    /// is copied as bytes into its head and tail).
    pub _pad: [u8; SLOT_PAD],
}

/// Bytes of a slot before the padding: sequence number, state, key, entry.
const SLOT_FIELDS: usize = 2 * size_of::<u32>() + size_of::<MapKey>() + size_of::<MapEntry>();
/// Bytes after a slot's entry up to its 64-byte alignment.
const SLOT_PAD: usize = SLOT_FIELDS.next_multiple_of(64) - SLOT_FIELDS;

/// A slot never used since the table was made (or cleared): a lookup stops here.
pub const SLOT_EMPTY: u32 = 0;
/// A slot that holds a key.
pub const SLOT_USED: u32 = 1;
/// A slot whose key was removed: a lookup reads on past it, an insert may reuse it.
pub const SLOT_REMOVED: u32 = 2;
/// Slots a lookup reads from a key's home slot; a key that finds none free among them is left
/// to userspace. At most half the slots are used (`answer_slots`), where the daemon's Robin
/// Hood placement puts 100,000 keys in 262,144 slots with none left out (taking the first free
/// slot would leave about one in a thousand).
pub const PROBE_SLOTS: u32 = 8;

/// The program's global that holds its answer table's slot count less one, set when the
/// program is loaded with the table it uses (so that a program never reads another table's).
pub const SLOT_MASK_GLOBAL: &str = "SLOT_MASK";

/// Slots of an answer table for `max_entries` answer sets: a power of two (the home slot is the
/// hash's low bits), at least twice `max_entries` so that probe runs stay short.
pub const fn answer_slots(max_entries: u32) -> u32 {
    let wanted = if max_entries < 1 << 30 { max_entries * 2 } else { 1 << 31 };
    wanted.next_power_of_two()
}

/// The slot a key is looked up from first: the name hash's low bits, mixed with the view and
/// type so that one name's A and AAAA sets (and views) start apart.
#[inline(always)]
pub fn home_slot(key: &MapKey, slot_mask: u32) -> u32 {
    let mixed = key.name_hash ^ (u64::from(key.view) << 32 | u64::from(key.qtype)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    slot_of_hash(mixed, slot_mask)
}

/// The slot a 64-bit hash picks: both halves folded, then the low bits.
#[inline(always)]
pub fn slot_of_hash(hash: u64, slot_mask: u32) -> u32 {
    (hash ^ (hash >> 32)) as u32 & slot_mask
}

impl AnswerSlot {
    pub const EMPTY: AnswerSlot = AnswerSlot {
        seq: 0,
        state: SLOT_EMPTY,
        key: MapKey { view: 0, qtype: 0, name_len: 0, name_hash: 0 },
        entry: MapEntry::EMPTY,
        _pad: [0; SLOT_PAD],
    };
}

impl MapKey {
    /// Key for a packed name.
    pub fn new(view: u32, qtype: u16, name: &PackedName) -> MapKey {
        MapKey { view, qtype, name_len: name.len, name_hash: name.hash() }
    }
}

impl MapEntry {
    /// No name, no addresses.
    pub const EMPTY: MapEntry = MapEntry {
        ttl: 0,
        answer_sum: 0,
        count: 0,
        is_override: 0,
        signed: 0,
        weighted_groups: 0,
        signature: 0,
        name_head: [0; NAME_HEAD_WORDS],
        addrs: [[0; 16]; MAX_ADDRS],
        name_tail: [0; NAME_WORDS - NAME_HEAD_WORDS],
        first: FirstChoice::NONE,
    };

    /// Builds the answer set for `name` and its checksum contribution. Takes at most `MAX_ADDRS`
    /// addresses.
    pub fn new(qtype: u16, ttl: u32, name: &PackedName, addrs: &[[u8; 16]]) -> MapEntry {
        let mut entry = MapEntry { ttl, ..MapEntry::EMPTY };
        entry.name_head.copy_from_slice(&name.words[..NAME_HEAD_WORDS]);
        entry.name_tail.copy_from_slice(&name.words[NAME_HEAD_WORDS..]);
        let len = record_len(qtype);
        let mut record = [0u8; MAX_RECORD_LEN];
        for (slot, addr) in entry.addrs.iter_mut().zip(addrs) {
            *slot = *addr;
            render_record(qtype, ttl, addr, &mut record);
            entry.answer_sum += ones_complement_sum(&record[..len]);
            entry.count += 1;
        }
        entry
    }

    /// The packed name's words, head and tail together.
    pub fn name_words(&self) -> [u64; NAME_WORDS] {
        let mut words = [0; NAME_WORDS];
        words[..NAME_HEAD_WORDS].copy_from_slice(&self.name_head);
        words[NAME_HEAD_WORDS..].copy_from_slice(&self.name_tail);
        words
    }

    /// Sets the weighted first answer and the group count the XDP program reads first.
    pub fn set_first(&mut self, first: FirstChoice) {
        self.first = first;
        self.weighted_groups = first.groups;
    }
}

/// Per-CPU working memory of the XDP program: the lookup key is built here rather than on the
/// 512-byte stack, and the parsed name length is read back from here so the verifier sees one
/// bounded length instead of exploring every possible length as its own path. Most of it is
/// rewritten by every packet; the clock and the served-destination memo carry over.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Scratch {
    pub key: MapKey,
    /// The question name, packed like `MapEntry::name`.
    pub name: [u64; NAME_WORDS],
    pub name_len: u32,
    /// The counter slot of why a well-formed query is left to userspace, found while parsing
    /// and acted on after the rate-limit charge (`NOT_PARKED` when none), kept in map memory so
    /// the verifier follows one value there rather than a path per reason.
    pub parked: u32,
    /// The answer found, copied out of its slot before the reply is written.
    pub answer: AnswerCopy,
    /// A weighted answer's orders, copied out of its slot to choose the client's from.
    pub first: FirstChoice,
    /// The clock as last read on this CPU, and the kernel tick it was read in (kept from one
    /// packet to the next).
    pub clock: TickClock,
    /// The last destinations this CPU found served (see `LocalSummary`; kept from one packet
    /// to the next).
    pub served: ServedMemo,
}

/// What a reply takes from its answer slot, copied out under the slot's sequence number (the
/// read side of a sequence lock): the reply is written from this copy, which no writer touches,
/// only after the slot is known not to have changed during the copy.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug)]
pub struct AnswerCopy {
    pub ttl: u32,
    pub answer_sum: u32,
    pub count: u8,
    pub signed: u8,
    pub _pad: [u8; 2],
    pub signature: u32,
    /// Answer positions to address indexes for this client (weighted first answer or stored
    /// order).
    pub order: [u8; MAX_ADDRS],
    pub addrs: [[u8; 16]; MAX_ADDRS],
}

/// `Scratch::parked` when nothing is.
pub const NOT_PARKED: u32 = u32::MAX;

/// Runtime settings of the XDP program (array map, index 0).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XdpConfig {
    /// DNS port in host order.
    pub dns_port: u16,
    /// UDP payload size advertised in the response OPT record.
    pub edns_udp_payload: u16,
    /// `FLAG_ENABLED` once userspace has filled the maps (until then everything is passed),
    /// plus `FLAG_HAS_VIEWS` when the locality tries hold prefixes (else they are not consulted).
    pub flags: u32,
    /// Answers are served only while the daemon's liveness stamp (`map_names::STAMP`) is at
    /// most this old; `NEVER_STALE` for a program no daemon stamps (packet tests, benchmarks).
    pub stale_after_ns: u64,
}

impl XdpConfig {
    /// `stale_after_ns` of a program whose answers never go stale.
    pub const NEVER_STALE: u64 = u64::MAX;
}

pub const FLAG_ENABLED: u32 = 1;
pub const FLAG_HAS_VIEWS: u32 = 2;

/// Most interfaces the program is attached to at once (each has a slot in `OwnMacs`).
pub const MAX_XDP_INTERFACES: usize = 8;

/// One interface the program is attached to, and its MAC address.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InterfaceMac {
    /// 0 marks an unused slot; the used slots come first.
    pub ifindex: u32,
    pub mac: [u8; 6],
    pub _pad: [u8; 2],
}

/// Value of the `OWN_MACS` array map (one element): the MAC of every interface the program is
/// attached to. An array element because the kernel inlines array lookups; a hash map keyed
/// by ifindex would cost a call and a hash per frame.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OwnMacs {
    pub interfaces: [InterfaceMac; MAX_XDP_INTERFACES],
}

/// Values of the local-address maps (`LOCAL_V4`, `LOCAL_V6`), keyed by address.
pub mod local_addr {
    /// This host's address, which a DNS socket listens on: queries to it may be answered.
    pub const SERVED: u32 = 1;
    /// This host's address, but no DNS socket listens on it.
    pub const NOT_SERVED: u32 = 2;
    /// The broadcast address of one of this host's IPv4 subnets.
    pub const BROADCAST: u32 = 3;
}

/// Names of the maps in the object, also their pin file names.
pub mod map_names {
    /// The answer table's slot heads (`SlotHead`); `ANSWER_TAILS` holds their tails.
    pub const ANSWERS: &str = "ANSWERS";
    pub const ANSWER_TAILS: &str = "ANSWER_TAILS";
    pub const COUNTERS: &str = "COUNTERS";
    pub const CONFIG: &str = "CONFIG";
    pub const VIEWS_V4: &str = "VIEWS_V4";
    pub const VIEWS_V6: &str = "VIEWS_V6";
    /// The daemon's liveness stamp: one `u64`, CLOCK_MONOTONIC nanoseconds (the clock of
    /// `bpf_ktime_get_ns`), written every stamp period.
    pub const STAMP: &str = "STAMP";
    pub const OWN_MACS: &str = "OWN_MACS";
    pub const LOCAL_V4: &str = "LOCAL_V4";
    pub const LOCAL_V6: &str = "LOCAL_V6";
    /// What the program needs of the two above without a lookup (`LocalSummary`).
    pub const LOCAL_SUMMARY: &str = "LOCAL_SUMMARY";
    /// Server cookie secrets and the wall-clock offset (`CookieConfig`).
    pub const COOKIES: &str = "COOKIES";
    /// Response rate limiting: settings (`RrlConfig`), buckets per client prefix, exempt prefixes.
    pub const RRL_CONFIG: &str = "RRL_CONFIG";
    pub const RRL_BUCKETS: &str = "RRL_BUCKETS";
    pub const RRL_EXEMPT_V4: &str = "RRL_EXEMPT_V4";
    pub const RRL_EXEMPT_V6: &str = "RRL_EXEMPT_V6";
    /// The RRSIG of each signed answer set (`SignatureEntry`), keyed like `ANSWERS`.
    pub const SIGNATURES: &str = "SIGNATURES";
}

/// Names of the programs in the object.
pub mod program_names {
    /// The DNS responder.
    pub const RESPONDER: &str = "switchyard";
    /// Passes everything; attached to a veth peer so that XDP_TX frames are delivered.
    pub const PASS: &str = "switchyard_pass";
    /// Only swaps addresses and transmits: the floor for benchmarks.
    pub const SWAP_ONLY: &str = "switchyard_swap";
    /// Turns the query into a same-length reply at fixed offsets (addresses swapped, QR set):
    /// the floor of any XDP responder in the throughput benchmark.
    pub const REFLECT: &str = "switchyard_reflect";
    /// The reflector plus one answer-table slot head read, the slot picked by the question
    /// name's first bytes: the floor of a hit in `bench xdp` and under `bench dnsperf`.
    pub const TABLE_FLOOR: &str = "switchyard_table_floor";
}

#[cfg(feature = "user")]
mod pod {
    use super::*;
    // SAFETY: plain-old-data, repr(C), no padding holes that the kernel would read uninitialised.
    unsafe impl aya::Pod for MapKey {}
    unsafe impl aya::Pod for MapEntry {}
    unsafe impl aya::Pod for AnswerSlot {}
    unsafe impl aya::Pod for crate::SlotHead {}
    unsafe impl aya::Pod for crate::SlotTail {}
    unsafe impl aya::Pod for XdpConfig {}
    unsafe impl aya::Pod for OwnMacs {}
    unsafe impl aya::Pod for crate::LocalSummary {}
    unsafe impl aya::Pod for crate::CookieConfig {}
    unsafe impl aya::Pod for crate::RrlConfig {}
    unsafe impl aya::Pod for crate::RrlKey {}
    unsafe impl aya::Pod for crate::RrlBucket {}
    unsafe impl aya::Pod for crate::SignatureEntry {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::QTYPE_A;

    #[test]
    fn keys_differ_for_names_one_letter_apart() {
        let a = PackedName::new(b"\x01a\x07example\x03com\x00").unwrap();
        let b = PackedName::new(b"\x01b\x07example\x03com\x00").unwrap();
        assert_ne!(MapKey::new(0, QTYPE_A, &a), MapKey::new(0, QTYPE_A, &b));
        assert_eq!(MapKey::new(0, QTYPE_A, &a), MapKey::new(0, QTYPE_A, &a));
    }

    #[test]
    fn layouts_have_no_implicit_padding() {
        assert_eq!(core::mem::size_of::<MapKey>(), 16);
        let first = 4 * MAX_ADDRS + MAX_ADDRS * MAX_ADDRS + 8;
        assert_eq!(core::mem::size_of::<FirstChoice>(), first);
        assert_eq!(core::mem::size_of::<MapEntry>(), 16 + crate::MAX_NAME_LEN + 16 * MAX_ADDRS + first);
        assert_eq!(core::mem::size_of::<XdpConfig>(), 16);
        let slot = 24 + core::mem::size_of::<MapEntry>();
        assert_eq!(core::mem::size_of::<AnswerSlot>(), slot.next_multiple_of(64));
        assert_eq!(core::mem::size_of::<AnswerSlot>(), slot + SLOT_PAD, "no padding but the spelled-out one");
        assert_eq!(core::mem::size_of::<OwnMacs>(), 12 * MAX_XDP_INTERFACES);
        assert_eq!(core::mem::size_of::<AnswerCopy>(), 16 + MAX_ADDRS + 16 * MAX_ADDRS);
    }

    #[test]
    fn a_short_names_answer_lies_in_the_first_64_bytes() {
        use core::mem::offset_of;
        assert_eq!(offset_of!(MapEntry, name_head), 16);
        // Header, a 24-byte name and two IPv4 addresses.
        assert!(offset_of!(MapEntry, addrs) + 16 + 4 <= 64);
    }

    #[test]
    fn a_slots_key_header_and_short_name_share_its_first_line_and_its_addresses_the_second() {
        use core::mem::offset_of;
        let entry = offset_of!(AnswerSlot, entry);
        assert_eq!(entry + offset_of!(MapEntry, name_head) + 8 * NAME_HEAD_WORDS, 64);
        assert_eq!(entry + offset_of!(MapEntry, addrs), 64);
    }

    #[test]
    fn tables_have_at_least_twice_the_slots_of_answer_sets() {
        assert_eq!(answer_slots(65536), 131072);
        assert_eq!(answer_slots(100_000), 262144);
        assert_eq!(answer_slots(1), 2);
        assert_eq!(answer_slots(u32::MAX), 1 << 31);
    }

    #[test]
    fn a_names_a_and_aaaa_sets_start_in_different_slots() {
        let name = PackedName::new(b"\x03www\x07example\x03com\x00").unwrap();
        let mask = answer_slots(65536) - 1;
        let a = home_slot(&MapKey::new(0, QTYPE_A, &name), mask);
        let aaaa = home_slot(&MapKey::new(0, crate::QTYPE_AAAA, &name), mask);
        assert_ne!(a, aaaa);
        assert!(a <= mask && aaaa <= mask);
    }

    #[test]
    fn the_name_comes_back_whole_from_head_and_tail() {
        let long = b"\x0bverylongname\x0banotherlabel\x07example\x03com\x00";
        for wire in [&b"\x03www\x07example\x03com\x00"[..], &long[..]] {
            let name = PackedName::new(wire).unwrap();
            let entry = MapEntry::new(QTYPE_A, 30, &name, &[]);
            assert_eq!(entry.name_words(), name.words);
        }
    }

    #[test]
    fn setting_the_first_answer_sets_the_group_count_read_first() {
        let name = PackedName::new(b"\x03www\x07example\x03com\x00").unwrap();
        let mut entry = MapEntry::new(QTYPE_A, 30, &name, &[[0; 16], [1; 16]]);
        let first = FirstChoice::new(&[(0, 1, 1), (1, 1, 1)]).unwrap();
        entry.set_first(first);
        assert_eq!((entry.weighted_groups, entry.first), (2, first));
    }
}
