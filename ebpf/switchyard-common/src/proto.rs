//! Wire-format constants and fixed headers of the protocols the XDP program reads and writes.
//! Ethernet, IP and UDP header layouts come from the `network-types` crate; the DNS ones are
//! here, in the same style (`#[repr(C)]` byte fields in wire order, `LEN` the size on the wire).

/// EtherType of IPv4.
pub const ETH_P_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub const ETH_P_IPV6: u16 = 0x86DD;
/// EtherType of an 802.1Q VLAN tag.
pub const ETH_P_8021Q: u16 = 0x8100;

/// IP protocol number (IPv4) and next header (IPv6) of UDP.
pub const IPPROTO_UDP: u8 = 17;
/// IPv6 next header of a fragment header.
pub const IPPROTO_FRAGMENT: u8 = 44;

/// IP version in the top four bits of the header's first byte.
pub const IPV4_VERSION: u8 = 4;
pub const IPV6_VERSION: u8 = 6;
/// IPv4 version and header length byte of a header without options (five 32-bit words).
pub const IPV4_VIHL_NO_OPTIONS: u8 = 0x45;
/// The more-fragments flag and the fragment offset in the IPv4 fragment word.
pub const IPV4_FRAGMENT_BITS: u16 = 0x3fff;
/// IPv4 destinations whose first byte is at least this are multicast (224/4), reserved (240/4)
/// or the limited broadcast.
pub const IPV4_FIRST_NON_UNICAST: u8 = 224;
/// First byte of every IPv6 multicast address (ff00::/8).
pub const IPV6_MULTICAST: u8 = 0xff;
/// First byte of IPv4 "this network" sources (0.0.0.0/8, the unspecified address among them).
pub const IPV4_THIS_NETWORK: u8 = 0;
/// First byte of IPv4 loopback addresses (127.0.0.0/8).
pub const IPV4_LOOPBACK: u8 = 127;
/// The low 64 bits of the IPv6 loopback address ::1 (the high ones are zero).
pub const IPV6_LOOPBACK_LOW: u64 = 1;
/// Bits 32..64 of the low half of an IPv4-mapped IPv6 address (::ffff:0:0/96).
pub const IPV6_V4_MAPPED_MARK: u64 = 0xffff;

/// The group bit of a destination MAC address (first byte): set for multicast and broadcast.
pub const ETH_GROUP_BIT: u8 = 0x01;

/// A UDP checksum field of zero: "no checksum", allowed over IPv4 only (RFC 768, RFC 8200 8.1).
pub const UDP_NO_CHECKSUM: u16 = 0;
/// The ones'-complement sum, checksum field included, of data whose checksum is right.
pub const CHECKSUM_VALID_SUM: u16 = 0xffff;

// Bits of the DNS header's flags word (RFC 1035 4.1.1, RFC 4035 3.2.2).
/// Set in responses.
pub const DNS_FLAG_QR: u16 = 0x8000;
/// The opcode: 0 for a standard query.
pub const DNS_OPCODE_MASK: u16 = 0x7800;
/// Authoritative answer.
pub const DNS_FLAG_AA: u16 = 0x0400;
/// Truncated.
pub const DNS_FLAG_TC: u16 = 0x0200;
/// Recursion desired.
pub const DNS_FLAG_RD: u16 = 0x0100;
/// Checking disabled.
pub const DNS_FLAG_CD: u16 = 0x0010;

/// Longest label of a name; length bytes above it are compression pointers or extended label
/// types.
pub const MAX_LABEL_LEN: usize = 63;

// Record types and the one class the XDP path deals in.
pub const QTYPE_A: u16 = 1;
pub const QTYPE_AAAA: u16 = 28;
/// The EDNS pseudo-record (RFC 6891).
pub const TYPE_OPT: u16 = 41;
pub const CLASS_IN: u16 = 1;

/// Type and class, which follow the name in a question.
pub const QUESTION_TYPE_CLASS_LEN: usize = 4;
/// Owner name of a record that is the question's name: a compression pointer (top two bits set)
/// to the name right after the header.
pub const POINTER_TO_QUESTION: u16 = 0xC000 | DnsHdr::LEN as u16;
/// Fixed part of a resource record with a compressed owner: pointer, type, class, TTL, RDLENGTH.
pub const RECORD_FIXED_LEN: usize = 12;

/// The EDNS version we speak; queries with a higher one get BADVERS from userspace.
pub const EDNS_VERSION: u8 = 0;
/// DNSSEC OK, in the OPT record's flags word.
pub const EDNS_FLAG_DO: u16 = 0x8000;
/// EDNS option code of Client Subnet (RFC 7871).
pub const EDNS_CLIENT_SUBNET: u16 = 8;
/// EDNS option code of the name server identifier (RFC 5001).
pub const EDNS_NSID: u16 = 3;
/// Code and length, in front of each EDNS option's data.
pub const EDNS_OPTION_HEADER_LEN: usize = 4;

/// DNS message header (RFC 1035 4.1.1).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DnsHdr {
    pub id: [u8; 2],
    pub flags: [u8; 2],
    pub qdcount: [u8; 2],
    pub ancount: [u8; 2],
    pub nscount: [u8; 2],
    pub arcount: [u8; 2],
}

impl DnsHdr {
    pub const LEN: usize = core::mem::size_of::<DnsHdr>();
}

/// Fixed part of an EDNS OPT record (RFC 6891 6.1.2), up to its options: root owner, type, the
/// sender's UDP payload size in the class, extended RCODE, version and flags in the TTL.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptHdr {
    pub owner: u8,
    pub rtype: [u8; 2],
    pub udp_payload: [u8; 2],
    pub extended_rcode: u8,
    pub version: u8,
    pub flags: [u8; 2],
    pub rdlen: [u8; 2],
}

impl OptHdr {
    pub const LEN: usize = core::mem::size_of::<OptHdr>();
}

const _: () = assert!(DnsHdr::LEN == 12 && OptHdr::LEN == 11);

/// RDLENGTH of an A or AAAA record: the address's length.
pub const fn rdata_len(qtype: u16) -> usize {
    if qtype == QTYPE_AAAA { 16 } else { 4 }
}
