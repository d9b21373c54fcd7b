//! Map key and value layouts shared by the XDP program and the daemon.
//!
//! Every type here is `#[repr(C)]` with explicit padding so that both sides agree on the bytes.
#![cfg_attr(not(test), no_std)]

/// Longest question name (wire format, including the final root label) the XDP path can match.
/// Longer names are passed to userspace.
pub const MAX_NAME_LEN: usize = 96;
/// Most addresses one answer set holds; larger sets are served by userspace.
pub const MAX_ADDRS: usize = 8;
/// View used when no client prefix matches.
pub const DEFAULT_VIEW: u32 = 0;

pub const QTYPE_A: u16 = 1;
pub const QTYPE_AAAA: u16 = 28;

/// 64-bit words a packed name takes (`MAX_NAME_LEN` bytes).
pub const NAME_WORDS: usize = MAX_NAME_LEN / 8;

/// Key of the answer map: view, type, and the question name's length and 64-bit hash.
///
/// A short key keeps the kernel's own hashing and comparison cheap. The full name is stored in
/// the value and compared by the XDP program, so two names with the same hash can only send a
/// query to userspace, never give a wrong answer.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AnswerKey {
    pub view: u32,
    pub qtype: u16,
    pub name_len: u16,
    pub name_hash: u64,
}

/// Value of the answer map: the name it answers for, the ordered addresses, TTL, and the
/// ones'-complement sum of the answer records as the XDP program writes them (so it need not
/// read them back to checksum).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnswerSet {
    pub ttl: u32,
    /// Unfolded 32-bit ones'-complement sum of the answer section starting at an even offset.
    pub answer_sum: u32,
    pub count: u8,
    /// 1 when set by an operator (`switchyard map set`); the daemon leaves it alone.
    pub is_override: u8,
    pub _pad: [u8; 6],
    /// The question name this entry answers, packed (see `PackedName`).
    pub name: [u64; NAME_WORDS],
    /// IPv4 addresses use the first four bytes of each slot.
    pub addrs: [[u8; 16]; MAX_ADDRS],
}

/// A name in lowercase wire format as the XDP program holds it: bytes packed little-endian into
/// 64-bit words, zero padded, so it is compared and hashed a word at a time.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PackedName {
    /// Length in bytes, including the root label.
    pub len: u16,
    pub words: [u64; NAME_WORDS],
}

/// Start value of the name hash.
pub const NAME_HASH_SEED: u64 = 0x5357_4954_4348_5944;

/// Folds one word into the name hash. Both steps are invertible, so names of equal length that
/// differ in one word never collide; the kernel hashes the key again for its buckets.
#[inline(always)]
pub const fn mix_word(hash: u64, word: u64) -> u64 {
    let h = (hash ^ word).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^ (h >> 29)
}

/// ASCII-lowercases the 8 bytes of a word at once: bytes 0x41..=0x5A get 0x20 added, every
/// other byte (label lengths, digits, bytes above 0x7F) stays as it is.
#[inline(always)]
pub const fn lowercase_word(word: u64) -> u64 {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const ONES: u64 = 0x0101_0101_0101_0101;
    let low7 = word & !HIGH;
    // High bit of each byte: low 7 bits >= 'A', then >= 'Z' + 1 (no carry crosses a byte).
    let at_least_a = low7 + ONES * (0x80 - b'A' as u64);
    let above_z = low7 + ONES * (0x80 - (b'Z' as u64 + 1));
    let upper = at_least_a & !above_z & !word & HIGH;
    word | (upper >> 2)
}

/// Ones'-complement contribution of a word's 8 bytes (little-endian in the word), unfolded and
/// byte-swapped: the sum of its two 32-bit halves is the sum of its little-endian 16-bit lanes,
/// which is the big-endian (wire) sum with its bytes swapped (RFC 1071, byte order independence).
/// Two operations per word; `fold_swapped` turns the total into the wire sum once.
#[inline(always)]
pub const fn word_sum_swapped(word: u64) -> u64 {
    (word & 0xffff_ffff) + (word >> 32)
}

/// Folds an accumulated ones'-complement sum to 16 bits (not yet inverted).
#[inline(always)]
pub const fn fold(mut sum: u64) -> u16 {
    // Four folds bring any u64 down to 16 bits.
    sum = (sum & 0xffff_ffff) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum as u16
}

/// The big-endian ones'-complement sum, folded to 16 bits, of a total of `word_sum_swapped`s
/// (or of any sum taken with its bytes swapped).
#[inline(always)]
pub const fn fold_swapped(sum: u64) -> u64 {
    fold(sum).swap_bytes() as u64
}

impl PackedName {
    /// Packs a lowercase wire-format name; `None` when it is longer than `MAX_NAME_LEN`.
    pub fn new(wire: &[u8]) -> Option<PackedName> {
        if wire.is_empty() || wire.len() > MAX_NAME_LEN {
            return None;
        }
        let mut words = [0u64; NAME_WORDS];
        for (i, b) in wire.iter().enumerate() {
            words[i / 8] |= (*b as u64) << (8 * (i % 8));
        }
        Some(PackedName { len: wire.len() as u16, words })
    }

    /// Words that hold the name's bytes; the rest are zero.
    pub const fn used_words(&self) -> usize {
        (self.len as usize).div_ceil(8)
    }

    /// The hash the XDP program computes while parsing the question.
    pub fn hash(&self) -> u64 {
        let mut hash = NAME_HASH_SEED;
        let mut i = 0;
        while i < self.used_words() {
            hash = mix_word(hash, self.words[i]);
            i += 1;
        }
        hash
    }

    /// The name's bytes back in wire format.
    pub fn bytes(&self) -> [u8; MAX_NAME_LEN] {
        let mut out = [0u8; MAX_NAME_LEN];
        for (i, b) in out.iter_mut().enumerate() {
            *b = (self.words[i / 8] >> (8 * (i % 8))) as u8;
        }
        out
    }
}

/// Per-CPU working memory of the XDP program: the lookup key is built here rather than on the
/// 512-byte stack, and the parsed name length is read back from here so the verifier sees one
/// bounded length instead of exploring every possible length as its own path.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Scratch {
    pub key: AnswerKey,
    /// The question name, packed like `AnswerSet::name`.
    pub name: [u64; NAME_WORDS],
    pub name_len: u32,
    pub _pad: u32,
}

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
    pub enabled: u32,
}

pub const FLAG_ENABLED: u32 = 1;
pub const FLAG_HAS_VIEWS: u32 = 2;

/// Outcome counters, one slot each in a per-CPU array.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    AnsweredV4 = 0,
    AnsweredV6,
    /// Not IPv4/IPv6 UDP (ARP, TCP, ICMP, extension headers...).
    PassNotUdp,
    /// UDP to another port.
    PassOtherPort,
    PassFragment,
    /// QR=1: a response must never be answered.
    PassResponse,
    PassOpcode,
    PassQdcount,
    /// A name, type, class or EDNS feature the fast path leaves to userspace.
    PassUnsupported,
    PassNameTooLong,
    PassMalformed,
    /// No entry for (view, name, type).
    PassMiss,
    /// Query with EDNS Client Subnet: locality is decided in userspace.
    PassClientSubnet,
    /// EDNS version above 0: userspace answers BADVERS.
    PassBadVersion,
    /// The response would not fit, or the packet could not be grown.
    PassTooBig,
    /// XDP disabled by config (maps not ready yet).
    PassDisabled,
    /// Sent to a multicast or broadcast address.
    PassNotUnicast,
    /// The entry found under the name's hash holds another name.
    PassHashCollision,
}

pub const COUNTER_COUNT: u32 = 18;

impl Counter {
    pub const ALL: [Counter; COUNTER_COUNT as usize] = [
        Counter::AnsweredV4,
        Counter::AnsweredV6,
        Counter::PassNotUdp,
        Counter::PassOtherPort,
        Counter::PassFragment,
        Counter::PassResponse,
        Counter::PassOpcode,
        Counter::PassQdcount,
        Counter::PassUnsupported,
        Counter::PassNameTooLong,
        Counter::PassMalformed,
        Counter::PassMiss,
        Counter::PassClientSubnet,
        Counter::PassBadVersion,
        Counter::PassTooBig,
        Counter::PassDisabled,
        Counter::PassNotUnicast,
        Counter::PassHashCollision,
    ];

    /// Stable name used by `switchyard stats` and metrics.
    pub const fn name(self) -> &'static str {
        match self {
            Counter::AnsweredV4 => "answered_v4",
            Counter::AnsweredV6 => "answered_v6",
            Counter::PassNotUdp => "pass_not_udp",
            Counter::PassOtherPort => "pass_other_port",
            Counter::PassFragment => "pass_fragment",
            Counter::PassResponse => "pass_response",
            Counter::PassOpcode => "pass_opcode",
            Counter::PassQdcount => "pass_qdcount",
            Counter::PassUnsupported => "pass_unsupported",
            Counter::PassNameTooLong => "pass_name_too_long",
            Counter::PassMalformed => "pass_malformed",
            Counter::PassMiss => "pass_miss",
            Counter::PassClientSubnet => "pass_client_subnet",
            Counter::PassBadVersion => "pass_bad_version",
            Counter::PassTooBig => "pass_too_big",
            Counter::PassDisabled => "pass_disabled",
            Counter::PassNotUnicast => "pass_not_unicast",
            Counter::PassHashCollision => "pass_hash_collision",
        }
    }
}

/// Names of the maps in the object, also their pin file names.
pub mod map_names {
    pub const ANSWERS: &str = "ANSWERS";
    pub const COUNTERS: &str = "COUNTERS";
    pub const CONFIG: &str = "CONFIG";
    pub const VIEWS_V4: &str = "VIEWS_V4";
    pub const VIEWS_V6: &str = "VIEWS_V6";
}

/// Names of the programs in the object.
pub mod program_names {
    /// The DNS responder.
    pub const RESPONDER: &str = "switchyard";
    /// Passes everything; attached to a veth peer so that XDP_TX frames are delivered.
    pub const PASS: &str = "switchyard_pass";
    /// Only swaps addresses and transmits: the floor for benchmarks.
    pub const SWAP_ONLY: &str = "switchyard_swap";
}

#[cfg(feature = "user")]
mod pod {
    use super::*;
    // SAFETY: plain-old-data, repr(C), no padding holes that the kernel would read uninitialised.
    unsafe impl aya::Pod for AnswerKey {}
    unsafe impl aya::Pod for AnswerSet {}
    unsafe impl aya::Pod for XdpConfig {}
}

/// Length of one answer record as the XDP program writes it: owner pointer, type, class, TTL,
/// RDLENGTH, RDATA.
pub const fn record_len(qtype: u16) -> usize {
    if qtype == QTYPE_AAAA { 28 } else { 16 }
}

/// The part of an answer record before the address: owner 0xC00C (the question name), type,
/// class IN, TTL, RDLENGTH. The same for every address of an answer set.
#[inline(always)]
pub fn record_prefix(qtype: u16, ttl: u32) -> [u8; 12] {
    let rdlen: u16 = if qtype == QTYPE_AAAA { 16 } else { 4 };
    let (t, c, l, r) = (qtype.to_be_bytes(), 1u16.to_be_bytes(), ttl.to_be_bytes(), rdlen.to_be_bytes());
    [0xC0, 0x0C, t[0], t[1], c[0], c[1], l[0], l[1], l[2], l[3], r[0], r[1]]
}

/// Renders one answer record exactly as it goes on the wire (the first `record_len` bytes of
/// `out`). Both sides build records from `record_prefix`, so the stored checksum matches the
/// written bytes.
#[inline(always)]
pub fn render_record(qtype: u16, ttl: u32, addr: &[u8; 16], out: &mut [u8; 28]) {
    out[..12].copy_from_slice(&record_prefix(qtype, ttl));
    out[12..28].copy_from_slice(addr);
}

/// Unfolded ones'-complement sum of `bytes` as 16-bit big-endian words starting at an even offset.
pub fn ones_complement_sum(bytes: &[u8]) -> u32 {
    let mut sum = 0u32;
    for (i, b) in bytes.iter().enumerate() {
        sum += if i % 2 == 0 { (*b as u32) << 8 } else { *b as u32 };
    }
    sum
}

impl AnswerSet {
    /// Builds the answer set for `name` and its checksum contribution. Takes at most `MAX_ADDRS`
    /// addresses.
    pub fn new(qtype: u16, ttl: u32, name: &PackedName, addrs: &[[u8; 16]]) -> AnswerSet {
        let mut set = AnswerSet {
            ttl,
            answer_sum: 0,
            count: 0,
            is_override: 0,
            _pad: [0; 6],
            name: name.words,
            addrs: [[0; 16]; MAX_ADDRS],
        };
        let len = record_len(qtype);
        let mut record = [0u8; 28];
        for (slot, addr) in set.addrs.iter_mut().zip(addrs) {
            *slot = *addr;
            render_record(qtype, ttl, addr, &mut record);
            set.answer_sum += ones_complement_sum(&record[..len]);
            set.count += 1;
        }
        set
    }
}

impl AnswerKey {
    /// Key for a packed name.
    pub fn new(view: u32, qtype: u16, name: &PackedName) -> AnswerKey {
        AnswerKey { view, qtype, name_len: name.len, name_hash: name.hash() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips_and_pads_with_zeros() {
        let wire = b"\x03www\x07example\x03com\x00";
        let packed = PackedName::new(wire).unwrap();
        assert_eq!(packed.used_words(), 3);
        assert_eq!(&packed.bytes()[..wire.len()], wire);
        assert!(packed.bytes()[wire.len()..].iter().all(|b| *b == 0));
        assert_eq!(packed.words[0].to_le_bytes(), *b"\x03www\x07exa");
    }

    #[test]
    fn names_too_long_or_empty_are_not_packed() {
        assert!(PackedName::new(&[]).is_none());
        assert!(PackedName::new(&[1u8; MAX_NAME_LEN + 1]).is_none());
        assert!(PackedName::new(&[1u8; MAX_NAME_LEN]).is_some());
    }

    #[test]
    fn keys_differ_for_names_one_letter_apart() {
        let a = PackedName::new(b"\x01a\x07example\x03com\x00").unwrap();
        let b = PackedName::new(b"\x01b\x07example\x03com\x00").unwrap();
        assert_ne!(AnswerKey::new(0, QTYPE_A, &a), AnswerKey::new(0, QTYPE_A, &b));
        assert_eq!(AnswerKey::new(0, QTYPE_A, &a), AnswerKey::new(0, QTYPE_A, &a));
    }

    #[test]
    fn whole_words_lowercase_like_bytes() {
        let mut state = 0x1234_5678_9abc_def0u64;
        for _ in 0..200_000 {
            // xorshift: every byte value shows up, letters and non-letters side by side.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let expected = u64::from_le_bytes(state.to_le_bytes().map(|b| b.to_ascii_lowercase()));
            assert_eq!(lowercase_word(state), expected, "{state:#018x}");
        }
        for b in 0..=255u8 {
            let word = u64::from_le_bytes([b; 8]);
            assert_eq!(lowercase_word(word), u64::from_le_bytes([b.to_ascii_lowercase(); 8]), "byte {b:#04x}");
        }
    }

    #[test]
    fn word_sums_match_the_byte_sum() {
        let folded = |sum: u32| fold(sum as u64) as u64;
        let bytes = *b"\x03www\x07exa";
        assert_eq!(fold_swapped(word_sum_swapped(u64::from_le_bytes(bytes))), folded(ones_complement_sum(&bytes)));
        let mut state = 0x0fed_cba9_8765_4321u64;
        for _ in 0..100_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Twelve words, as many as a name has at most, summed before one fold.
            let words: Vec<u64> = (0..12u32).map(|k| state.rotate_left(k * 5) ^ (k as u64)).collect();
            let total = words.iter().map(|w| word_sum_swapped(*w)).sum::<u64>();
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            assert_eq!(fold_swapped(total), folded(ones_complement_sum(&bytes)), "{state:#018x}");
        }
    }

    #[test]
    fn layouts_have_no_implicit_padding() {
        assert_eq!(core::mem::size_of::<AnswerKey>(), 16);
        assert_eq!(core::mem::size_of::<AnswerSet>(), 16 + MAX_NAME_LEN + 16 * MAX_ADDRS);
    }
}
