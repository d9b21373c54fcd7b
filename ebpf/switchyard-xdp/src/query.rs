//! Parsing: which frames are standard DNS queries the fast path may answer.

use core::mem::size_of;

use aya_ebpf::programs::XdpContext;
use network_types::{eth::EthHdr, ip::Ipv4Hdr, ip::Ipv6Hdr, udp::UdpHdr, vlan::VlanHdr};
use switchyard_common::{
    Counter, EDNS_COOKIE, MAX_NAME_LEN, NAME_HASH_SEED, NAME_WORDS, NOT_PARKED, Scratch, fold_swapped, lowercase_word, mix_word,
    proto::{
        CLASS_IN, DNS_FLAG_CD, DNS_FLAG_QR, DNS_FLAG_RD, DNS_FLAG_TC, DNS_OPCODE_MASK, DnsHdr, EDNS_CLIENT_SUBNET, EDNS_NSID,
        EDNS_FLAG_DO, EDNS_OPTION_HEADER_LEN, EDNS_VERSION, ETH_P_8021Q, ETH_P_IPV4, ETH_P_IPV6, IPPROTO_FRAGMENT,
        IPPROTO_UDP, IPV4_FIRST_NON_UNICAST, IPV4_FRAGMENT_BITS, IPV4_VERSION, IPV4_VIHL_NO_OPTIONS, IPV6_MULTICAST,
        IPV6_VERSION, MAX_LABEL_LEN, OptHdr, QTYPE_A, QTYPE_AAAA, QUESTION_TYPE_CLASS_LEN, TYPE_OPT,
    },
    word_sum_swapped,
};

use crate::{maps, packet::Cursor};

/// Most EDNS options inspected; queries with more are left to userspace.
const MAX_OPTIONS: usize = 8;
/// Longest OPT RDATA inspected.
pub const MAX_OPT_RDATA: usize = 512;

/// Where the layers of an accepted frame are, and who sent it.
pub struct Frame {
    pub l3: usize,
    pub ipv6: bool,
    pub l4: usize,
    /// Offset of the DNS message and its length (from the UDP length, not the frame).
    pub dns: usize,
    pub dns_len: usize,
    /// The client's address as in the packet: an IPv4 one in the first four bytes.
    pub src: Source,
}

/// A source address, aligned so that it is copied as whole words: the verifier refuses a
/// misaligned wide access to the stack.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
pub struct Source(pub [u8; 16]);

impl Frame {
    #[inline(always)]
    pub fn src_v4(&self) -> [u8; 4] {
        let [a, b, c, d, ..] = self.src.0;
        [a, b, c, d]
    }

    #[inline(always)]
    pub fn src_v6(&self) -> [u8; 16] {
        self.src.0
    }
}

/// What the response needs from the query.
pub struct Question {
    pub id: u16,
    /// Sum of the query header's six words, for the UDP checksum.
    pub header_sum: u64,
    /// RD and CD of the query, to be copied.
    pub copied_flags: u16,
    pub name_len: usize,
    /// Checksum contribution of the name bytes (the name starts at an even offset).
    pub name_sum: u64,
    pub qtype: u16,
    pub qclass: u16,
    /// Present when the query had an OPT record: its DO bit.
    pub edns_do: Option<bool>,
    /// The COOKIE option's data, when the OPT record has one (see `cookies`).
    pub cookie: Option<CookieOption>,
}

/// Where a COOKIE option's data is in the message, and its length as the query states it.
#[derive(Clone, Copy)]
pub struct CookieOption {
    pub at: usize,
    pub len: usize,
}

impl Question {
    /// Offset in the DNS message of the question's end: header, name, type and class.
    #[inline(always)]
    pub fn end(&self) -> usize {
        DnsHdr::LEN + self.name_len + QUESTION_TYPE_CLASS_LEN
    }
}

/// Finds the UDP datagram to our port inside Ethernet (optionally one 802.1Q tag) and IPv4/IPv6.
#[inline(always)]
pub fn frame(ctx: &XdpContext, dns_port: u16) -> Result<Frame, Counter> {
    let mut cursor = Cursor::new(ctx, 0);
    let eth: EthHdr = cursor.parse().ok_or(Counter::PassNotUdp)?;
    let mut ether_type = u16::from_be(eth.ether_type);
    if ether_type == ETH_P_8021Q {
        let vlan: VlanHdr = cursor.parse().ok_or(Counter::PassNotUdp)?;
        ether_type = u16::from_be(vlan.ether_type);
    }
    let l3 = cursor.pos;
    let ((ip_payload_len, src), ipv6) = match ether_type {
        ETH_P_IPV4 => (ipv4(&mut cursor)?, false),
        ETH_P_IPV6 => (ipv6(&mut cursor)?, true),
        _ => return Err(Counter::PassNotUdp),
    };
    let l4 = cursor.pos;
    let udp: UdpHdr = cursor.parse().ok_or(Counter::PassMalformed)?;
    if u16::from_be_bytes(udp.dst) != dns_port {
        return Err(Counter::PassOtherPort);
    }
    let udp_len = u16::from_be_bytes(udp.len) as usize;
    if udp_len != ip_payload_len || udp_len < UdpHdr::LEN + DnsHdr::LEN {
        return Err(Counter::PassMalformed);
    }
    Ok(Frame { l3, ipv6, l4, dns: cursor.pos, dns_len: udp_len - UdpHdr::LEN, src })
}

/// Checks an IPv4 header that carries unicast, unfragmented UDP and returns the payload length
/// and the source address.
#[inline(always)]
fn ipv4(cursor: &mut Cursor) -> Result<(usize, Source), Counter> {
    let l3 = cursor.pos;
    let frame_len = cursor.frame_len();
    let ip: Ipv4Hdr = cursor.parse().ok_or(Counter::PassMalformed)?;
    if ip.vihl != IPV4_VIHL_NO_OPTIONS {
        // Options or a bad version: not worth the fast path.
        return Err(if ip.vihl >> 4 == IPV4_VERSION { Counter::PassUnsupported } else { Counter::PassMalformed });
    }
    if ip.proto != IPPROTO_UDP {
        return Err(Counter::PassNotUdp);
    }
    // A unicast server must not answer multicast or broadcast.
    if ip.dst_addr[0] >= IPV4_FIRST_NON_UNICAST {
        return Err(Counter::PassNotUnicast);
    }
    // More-fragments flag or a nonzero offset.
    if u16::from_be_bytes(ip.frags) & IPV4_FRAGMENT_BITS != 0 {
        return Err(Counter::PassFragment);
    }
    let total = u16::from_be_bytes(ip.tot_len) as usize;
    if total < Ipv4Hdr::LEN || l3 + total > frame_len {
        return Err(Counter::PassMalformed);
    }
    let [a, b, c, d] = ip.src_addr;
    Ok((total - Ipv4Hdr::LEN, Source([a, b, c, d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])))
}

/// Checks an IPv6 header that carries unicast UDP directly and returns the payload length and
/// the source address.
#[inline(always)]
fn ipv6(cursor: &mut Cursor) -> Result<(usize, Source), Counter> {
    let l3 = cursor.pos;
    let frame_len = cursor.frame_len();
    let ip: Ipv6Hdr = cursor.parse().ok_or(Counter::PassMalformed)?;
    if ip.vcf[0] >> 4 != IPV6_VERSION {
        return Err(Counter::PassMalformed);
    }
    if ip.dst_addr[0] == IPV6_MULTICAST {
        return Err(Counter::PassNotUnicast);
    }
    if ip.next_hdr == IPPROTO_FRAGMENT {
        return Err(Counter::PassFragment);
    }
    if ip.next_hdr != IPPROTO_UDP {
        return Err(Counter::PassNotUdp);
    }
    let payload = u16::from_be_bytes(ip.payload_len) as usize;
    if l3 + Ipv6Hdr::LEN + payload > frame_len {
        return Err(Counter::PassMalformed);
    }
    Ok((payload, Source(ip.src_addr)))
}

/// Reads the header and question, fills `key` with the lowercased name and type, and checks
/// that nothing but an optional OPT record follows. A well-formed query the fast path leaves to
/// userspace (another type or class, Client Subnet, NSID) is parsed to the end all the same, for
/// its cookie, with the reason parked in `scratch` (`maps::park`) to be acted on once charged.
#[inline(always)]
pub fn question(ctx: &XdpContext, f: &Frame, scratch: &mut Scratch) -> Result<Question, Counter> {
    let message = Cursor::new(ctx, f.dns);
    maps::park(scratch, NOT_PARKED);
    let h: DnsHdr = message.peek(0).ok_or(Counter::PassMalformed)?;
    let flags = u16::from_be_bytes(h.flags);
    if flags & DNS_FLAG_QR != 0 {
        return Err(Counter::PassResponse);
    }
    if flags & DNS_OPCODE_MASK != 0 {
        return Err(Counter::PassOpcode);
    }
    if u16::from_be_bytes(h.qdcount) != 1 {
        return Err(Counter::PassQdcount);
    }
    let arcount = u16::from_be_bytes(h.arcount);
    // Taken now, so no pointer into the header stays live through the name loop, where each
    // check widens a pointer's known range and would keep the verifier from merging paths.
    let id = u16::from_be_bytes(h.id);
    // TC set in a query, or answer/authority records in it: leave it to userspace.
    let other_records = u16::from_be_bytes(h.ancount) | u16::from_be_bytes(h.nscount);
    if flags & DNS_FLAG_TC != 0 || other_records != 0 || arcount > 1 {
        return Err(Counter::PassUnsupported);
    }

    let name_sum = name(&Cursor::new(ctx, f.dns + DnsHdr::LEN), scratch)?;
    // Read back again: the word loop's exits tell the verifier a different range of lengths
    // each; from here on there is one.
    let name_len = maps::stored_name_len(scratch);
    if name_len == 0 || name_len > MAX_NAME_LEN {
        return Err(Counter::PassMalformed);
    }
    let after_name = DnsHdr::LEN + name_len;
    let qtype = message.peek_u16(after_name).ok_or(Counter::PassMalformed)?;
    let qclass = message.peek_u16(after_name + size_of::<u16>()).ok_or(Counter::PassMalformed)?;
    if qclass != CLASS_IN || (qtype != QTYPE_A && qtype != QTYPE_AAAA) {
        maps::park(scratch, Counter::PassUnsupported as u32);
    }
    scratch.key.qtype = qtype;
    let question_end = after_name + QUESTION_TYPE_CLASS_LEN;
    let (edns_do, cookie) = if arcount == 1 {
        let (dnssec_ok, cookie) = opt_record(&message, f.dns_len, question_end, scratch)?;
        (Some(dnssec_ok), cookie)
    } else if question_end != f.dns_len {
        return Err(Counter::PassMalformed);
    } else {
        (None, None)
    };
    let copied_flags = flags & (DNS_FLAG_RD | DNS_FLAG_CD);
    // One question and no answer or authority records (checked above).
    let header_sum = id as u64 + flags as u64 + 1 + arcount as u64;
    Ok(Question { id, header_sum, copied_flags, name_len, name_sum, qtype, qclass, edns_do, cookie })
}

/// Label bytes the walk reads at most: a name of `MAX_NAME_LEN` bytes has up to 47 labels (each
/// takes two bytes or more) plus the root, 48 reads. Fewer would refuse long names of short labels.
const MAX_LABELS: usize = MAX_NAME_LEN / 2;

/// Finds the length of the question name at the cursor by walking its labels, then packs it
/// into `scratch.name` a word at a time: lowercased, hashed into the key, and summed as it
/// stands in the packet (for the response checksum). Label length bytes (0..=63) are never
/// letters, so a whole word can be lowercased at once.
#[inline(always)]
fn name(name: &Cursor, scratch: &mut Scratch) -> Result<u64, Counter> {
    let mut end = 0usize;
    let mut found = false;
    for _ in 0..MAX_LABELS {
        let label = name.peek::<u8>(end).ok_or(Counter::PassMalformed)? as usize;
        if label == 0 {
            found = true;
            break;
        }
        if label > MAX_LABEL_LEN {
            // Compression pointer or extended label type in a question.
            return Err(Counter::PassMalformed);
        }
        end += 1 + label;
        if end >= MAX_NAME_LEN {
            return Err(Counter::PassNameTooLong);
        }
    }
    if !found {
        return Err(Counter::PassNameTooLong);
    }
    scratch.name_len = (end + 1) as u32;
    // The word loop below keeps its constant bound and the verifier one length.
    let len = maps::stored_name_len(scratch);
    if len == 0 || len > MAX_NAME_LEN {
        return Err(Counter::PassMalformed);
    }
    scratch.key.name_len = len as u16;
    let mut hash = NAME_HASH_SEED;
    let mut sum = 0u64;
    // Whole words first, then the last, partial one: the loop keeps no masks or shifts.
    for i in 0..NAME_WORDS {
        if i * 8 + 8 > len {
            break;
        }
        let word = name.peek::<[u8; 8]>(i * 8).ok_or(Counter::PassMalformed)?;
        pack_word(scratch, i, u64::from_le_bytes(word), &mut hash, &mut sum);
    }
    let whole = len / 8;
    let left = len % 8;
    if left != 0 {
        if whole >= NAME_WORDS {
            return Err(Counter::PassMalformed);
        }
        let raw = last_word(name, whole * 8, left)?;
        pack_word(scratch, whole, raw, &mut hash, &mut sum);
    }
    scratch.key.name_hash = hash;
    Ok(fold_swapped(sum))
}

/// Word `i` of the name as it stands in the packet: summed for the checksum, then lowercased,
/// stored and hashed.
#[inline(always)]
fn pack_word(scratch: &mut Scratch, i: usize, raw: u64, hash: &mut u64, sum: &mut u64) {
    *sum += word_sum_swapped(raw);
    let word = lowercase_word(raw);
    scratch.name[i] = word;
    *hash = mix_word(*hash, word);
}

/// The `left` (1..=7) name bytes `ahead` of the cursor as a little-endian word, zero above them.
#[inline(always)]
fn last_word(name: &Cursor, ahead: usize, left: usize) -> Result<u64, Counter> {
    let word = match name.peek::<[u8; 8]>(ahead) {
        Some(bytes) => u64::from_le_bytes(bytes),
        // The frame ends within these 8 bytes. Type and class (4 bytes) must follow the name,
        // so that only happens to a last word of under 4 bytes: read the 8 bytes that end with
        // the class instead and shift the name's bytes down. One read, no byte loop: a loop
        // with an exit per byte multiplies the paths the verifier walks.
        None if left < QUESTION_TYPE_CLASS_LEN => {
            let back = QUESTION_TYPE_CLASS_LEN - left;
            let bytes = name.peek::<[u8; 8]>(ahead - back).ok_or(Counter::PassMalformed)?;
            u64::from_le_bytes(bytes) >> (8 * back)
        }
        None => return Err(Counter::PassMalformed),
    };
    Ok(word & ((1u64 << (8 * left)) - 1))
}

/// Checks the OPT record at `offset` in the message, which must end the message, and returns
/// its DO bit and where its COOKIE option is; an option only userspace handles (Client Subnet,
/// NSID) is parked in `scratch`.
#[inline(always)]
fn opt_record(
    message: &Cursor,
    dns_len: usize,
    offset: usize,
    scratch: &mut Scratch,
) -> Result<(bool, Option<CookieOption>), Counter> {
    let opt: OptHdr = message.peek(offset).ok_or(Counter::PassMalformed)?;
    if opt.owner != 0 || u16::from_be_bytes(opt.rtype) != TYPE_OPT {
        // Another kind of additional record (TSIG, ...).
        return Err(Counter::PassUnsupported);
    }
    if opt.version != EDNS_VERSION {
        return Err(Counter::PassBadVersion);
    }
    let dnssec_ok = u16::from_be_bytes(opt.flags) & EDNS_FLAG_DO != 0;
    let rdata_len = u16::from_be_bytes(opt.rdlen) as usize;
    if offset + OptHdr::LEN + rdata_len != dns_len {
        return Err(Counter::PassMalformed);
    }
    if rdata_len > MAX_OPT_RDATA {
        return Err(Counter::PassUnsupported);
    }
    let rdata = offset + OptHdr::LEN;
    let mut pos = 0usize;
    let mut cookie = None;
    for _ in 0..MAX_OPTIONS {
        if pos == rdata_len {
            return Ok((dnssec_ok, cookie));
        }
        let code = message.peek_u16(rdata + pos).ok_or(Counter::PassMalformed)?;
        let len = message.peek_u16(rdata + pos + size_of::<u16>()).ok_or(Counter::PassMalformed)? as usize;
        if code == EDNS_CLIENT_SUBNET {
            maps::park(scratch, Counter::PassClientSubnet as u32);
        } else if code == EDNS_NSID {
            maps::park(scratch, Counter::PassNsid as u32);
        }
        if code == EDNS_COOKIE {
            if cookie.is_some() {
                return Err(Counter::PassUnsupported);
            }
            cookie = Some(CookieOption { at: rdata + pos + EDNS_OPTION_HEADER_LEN, len });
        }
        pos += EDNS_OPTION_HEADER_LEN + len;
        if pos > rdata_len {
            return Err(Counter::PassMalformed);
        }
    }
    if pos == rdata_len { Ok((dnssec_ok, cookie)) } else { Err(Counter::PassUnsupported) }
}
