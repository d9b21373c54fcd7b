//! Map key and value layouts shared by the XDP program and the daemon.
//!
//! Every type here is `#[repr(C)]` with explicit padding so that both sides agree on the bytes.
#![no_std]

/// Longest question name (wire format, including the final root label) the XDP path can match.
/// Longer names are passed to userspace.
pub const MAX_NAME_LEN: usize = 96;
/// Most addresses one answer set holds; larger sets are served by userspace.
pub const MAX_ADDRS: usize = 8;
/// View used when no client prefix matches.
pub const DEFAULT_VIEW: u32 = 0;

pub const QTYPE_A: u16 = 1;
pub const QTYPE_AAAA: u16 = 28;

/// Key of the answer map: the question name in lowercase wire format, zero padded.
/// The map compares whole keys, so two names can never share an entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AnswerKey {
    pub view: u32,
    pub qtype: u16,
    pub name_len: u16,
    pub name: [u8; MAX_NAME_LEN],
}

/// Value of the answer map: the ordered addresses, TTL, and the ones'-complement sum of the
/// answer records as the XDP program writes them (so it need not read them back to checksum).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnswerSet {
    pub ttl: u32,
    /// Unfolded 32-bit ones'-complement sum of the answer section starting at an even offset.
    pub answer_sum: u32,
    pub count: u8,
    /// 1 when set by an operator (`switchyard map set`); the daemon leaves it alone.
    pub is_override: u8,
    pub _pad: [u8; 2],
    /// IPv4 addresses use the first four bytes of each slot.
    pub addrs: [[u8; 16]; MAX_ADDRS],
}

/// Per-CPU working memory of the XDP program: the lookup key is built here rather than on the
/// 512-byte stack, and the parsed name length is read back from here so the verifier sees one
/// bounded length instead of exploring every possible length as its own path.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Scratch {
    pub key: AnswerKey,
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
}

pub const COUNTER_COUNT: u32 = 17;

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

/// Renders one answer record exactly as it goes on the wire: owner 0xC00C (the question name),
/// class IN. Both sides use this so that the stored checksum matches the written bytes.
#[inline(always)]
pub fn render_record(qtype: u16, ttl: u32, addr: &[u8; 16], out: &mut [u8; 28]) {
    let rdlen: u16 = if qtype == QTYPE_AAAA { 16 } else { 4 };
    out[0] = 0xC0;
    out[1] = 0x0C;
    out[2..4].copy_from_slice(&qtype.to_be_bytes());
    out[4..6].copy_from_slice(&1u16.to_be_bytes());
    out[6..10].copy_from_slice(&ttl.to_be_bytes());
    out[10..12].copy_from_slice(&rdlen.to_be_bytes());
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
    /// Builds an answer set and its checksum contribution. Takes at most `MAX_ADDRS` addresses.
    pub fn new(qtype: u16, ttl: u32, addrs: &[[u8; 16]]) -> AnswerSet {
        let mut set =
            AnswerSet { ttl, answer_sum: 0, count: 0, is_override: 0, _pad: [0; 2], addrs: [[0; 16]; MAX_ADDRS] };
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
    /// Key for a name given in lowercase wire format. Returns `None` when it is too long.
    pub fn new(view: u32, qtype: u16, wire_name: &[u8]) -> Option<AnswerKey> {
        if wire_name.len() > MAX_NAME_LEN {
            return None;
        }
        let mut name = [0u8; MAX_NAME_LEN];
        name[..wire_name.len()].copy_from_slice(wire_name);
        Some(AnswerKey { view, qtype, name_len: wire_name.len() as u16, name })
    }
}
