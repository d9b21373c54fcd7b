//! Parsing: which frames are standard DNS queries the fast path may answer.

use aya_ebpf::programs::XdpContext;
use network_types::{eth::EthHdr, ip::Ipv4Hdr, ip::Ipv6Hdr, udp::UdpHdr, vlan::VlanHdr};
use switchyard_common::{
    Counter, MAX_NAME_LEN, NAME_HASH_SEED, NAME_WORDS, QTYPE_A, QTYPE_AAAA, Scratch, fold_swapped, lowercase_word,
    mix_word, word_sum_swapped,
};

use crate::packet::{at, u8_at, u16_at};

const ETH_P_IPV4: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86DD;
const ETH_P_8021Q: u16 = 0x8100;
const IPPROTO_UDP: u8 = 17;
const IPV6_FRAGMENT: u8 = 44;
const DNS_HEADER_LEN: usize = 12;
const OPT_FIXED_LEN: usize = 11;
const OPT_TYPE: u16 = 41;
const EDNS_CLIENT_SUBNET: u16 = 8;
/// Most EDNS options inspected; queries with more are left to userspace.
const MAX_OPTIONS: usize = 8;
/// Longest OPT RDATA inspected.
const MAX_OPT_RDATA: usize = 512;

/// Where the layers of an accepted frame are.
pub struct Frame {
    pub l3: usize,
    pub ipv6: bool,
    pub l4: usize,
    /// Offset of the DNS message and its length (from the UDP length, not the frame).
    pub dns: usize,
    pub dns_len: usize,
}

/// What the response needs from the query.
pub struct Question {
    pub id: u16,
    /// RD and CD of the query, to be copied.
    pub copied_flags: u16,
    pub name_len: usize,
    /// Checksum contribution of the name bytes (the name starts at an even offset).
    pub name_sum: u64,
    pub qtype: u16,
    /// Present when the query had an OPT record: its DO bit.
    pub edns_do: Option<bool>,
}

/// Finds the UDP datagram to our port inside Ethernet (optionally one 802.1Q tag) and IPv4/IPv6.
#[inline(always)]
pub fn frame(ctx: &XdpContext, dns_port: u16) -> Result<Frame, Counter> {
    let mut l3 = EthHdr::LEN;
    let mut ether_type = u16_at(ctx, 12).ok_or(Counter::PassNotUdp)?;
    if ether_type == ETH_P_8021Q {
        ether_type = u16_at(ctx, EthHdr::LEN + 2).ok_or(Counter::PassNotUdp)?;
        l3 += VlanHdr::LEN;
    }
    let frame_len = ctx.data_end() - ctx.data();
    let (l4, ip_payload_len, ipv6) = match ether_type {
        ETH_P_IPV4 => {
            let ip = at::<Ipv4Hdr>(ctx, l3).ok_or(Counter::PassMalformed)?;
            let ip = unsafe { &*ip };
            if ip.vihl != 0x45 {
                // Options or a bad version: not worth the fast path.
                return Err(if ip.vihl >> 4 == 4 { Counter::PassUnsupported } else { Counter::PassMalformed });
            }
            if ip.proto != IPPROTO_UDP {
                return Err(Counter::PassNotUdp);
            }
            // Multicast, broadcast or class E: a unicast server must not answer those.
            if ip.dst_addr[0] >= 224 {
                return Err(Counter::PassNotUnicast);
            }
            // More-fragments flag or a nonzero offset.
            if u16::from_be_bytes(ip.frags) & 0x3fff != 0 {
                return Err(Counter::PassFragment);
            }
            let total = u16::from_be_bytes(ip.tot_len) as usize;
            if total < Ipv4Hdr::LEN || l3 + total > frame_len {
                return Err(Counter::PassMalformed);
            }
            (l3 + Ipv4Hdr::LEN, total - Ipv4Hdr::LEN, false)
        }
        ETH_P_IPV6 => {
            let ip = at::<Ipv6Hdr>(ctx, l3).ok_or(Counter::PassMalformed)?;
            let ip = unsafe { &*ip };
            if ip.vcf[0] >> 4 != 6 {
                return Err(Counter::PassMalformed);
            }
            if ip.dst_addr[0] == 0xff {
                return Err(Counter::PassNotUnicast);
            }
            if ip.next_hdr == IPV6_FRAGMENT {
                return Err(Counter::PassFragment);
            }
            if ip.next_hdr != IPPROTO_UDP {
                return Err(Counter::PassNotUdp);
            }
            let payload = u16::from_be_bytes(ip.payload_len) as usize;
            if l3 + Ipv6Hdr::LEN + payload > frame_len {
                return Err(Counter::PassMalformed);
            }
            (l3 + Ipv6Hdr::LEN, payload, true)
        }
        _ => return Err(Counter::PassNotUdp),
    };
    let udp = at::<UdpHdr>(ctx, l4).ok_or(Counter::PassMalformed)?;
    let udp = unsafe { &*udp };
    if u16::from_be_bytes(udp.dst) != dns_port {
        return Err(Counter::PassOtherPort);
    }
    let udp_len = u16::from_be_bytes(udp.len) as usize;
    if udp_len != ip_payload_len || udp_len < UdpHdr::LEN + DNS_HEADER_LEN {
        return Err(Counter::PassMalformed);
    }
    Ok(Frame { l3, ipv6, l4, dns: l4 + UdpHdr::LEN, dns_len: udp_len - UdpHdr::LEN })
}

/// Reads the header and question, fills `key` with the lowercased name and type, and checks
/// that nothing but an optional OPT record follows.
#[inline(always)]
pub fn question(ctx: &XdpContext, f: &Frame, scratch: &mut Scratch) -> Result<Question, Counter> {
    let header = at::<[u8; DNS_HEADER_LEN]>(ctx, f.dns).ok_or(Counter::PassMalformed)?;
    let h = unsafe { &*header };
    let flags = u16::from_be_bytes([h[2], h[3]]);
    if flags & 0x8000 != 0 {
        return Err(Counter::PassResponse);
    }
    if (flags >> 11) & 0xf != 0 {
        return Err(Counter::PassOpcode);
    }
    if u16::from_be_bytes([h[4], h[5]]) != 1 {
        return Err(Counter::PassQdcount);
    }
    let arcount = u16::from_be_bytes([h[10], h[11]]);
    // Taken now, so the header pointer is not live through the name loop, where each check
    // widens its known range and would keep the verifier from merging paths.
    let id = u16::from_be_bytes([h[0], h[1]]);
    // TC set in a query, or answer/authority records in it: leave it to userspace.
    if flags & 0x0200 != 0 || h[6] | h[7] | h[8] | h[9] != 0 || arcount > 1 {
        return Err(Counter::PassUnsupported);
    }

    let name_sum = name(ctx, f.dns + DNS_HEADER_LEN, scratch)?;
    // Read back again: the word loop's exits tell the verifier a different range of lengths
    // each; from here on there is one.
    let name_len = unsafe { core::ptr::read_volatile(&scratch.name_len) } as usize;
    if name_len == 0 || name_len > MAX_NAME_LEN {
        return Err(Counter::PassMalformed);
    }
    let after_name = DNS_HEADER_LEN + name_len;
    let qtype = u16_at(ctx, f.dns + after_name).ok_or(Counter::PassMalformed)?;
    let qclass = u16_at(ctx, f.dns + after_name + 2).ok_or(Counter::PassMalformed)?;
    if qclass != 1 || (qtype != QTYPE_A && qtype != QTYPE_AAAA) {
        return Err(Counter::PassUnsupported);
    }
    scratch.key.qtype = qtype;
    let question_end = after_name + 4;
    let edns_do = if arcount == 1 {
        Some(opt_record(ctx, f, question_end)?)
    } else if question_end != f.dns_len {
        return Err(Counter::PassMalformed);
    } else {
        None
    };
    Ok(Question { id, copied_flags: flags & 0x0110, name_len, name_sum, qtype, edns_do })
}

/// Label bytes the walk reads at most: a name of `MAX_NAME_LEN` bytes has up to 47 labels (each
/// takes two bytes or more) plus the root, 48 reads. Fewer would refuse long names of short labels.
const MAX_LABELS: usize = MAX_NAME_LEN / 2;

/// Finds the question name's length by walking its labels, then packs it into `scratch.name` a
/// word at a time: lowercased, hashed into the key, and summed as it stands in the packet (for
/// the response checksum). Label length bytes (0..=63) are never letters, so a whole word can be
/// lowercased at once.
#[inline(always)]
fn name(ctx: &XdpContext, start: usize, scratch: &mut Scratch) -> Result<u64, Counter> {
    let mut end = 0usize;
    let mut found = false;
    for _ in 0..MAX_LABELS {
        let label = u8_at(ctx, start + end).ok_or(Counter::PassMalformed)? as usize;
        if label == 0 {
            found = true;
            break;
        }
        if label > 63 {
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
    // Read back through memory the compiler cannot see through: the verifier gets one length
    // instead of a path per label count, and the word loop keeps its constant bound.
    let len = unsafe { core::ptr::read_volatile(&scratch.name_len) } as usize;
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
        let p = at::<[u8; 8]>(ctx, start + i * 8).ok_or(Counter::PassMalformed)?;
        pack_word(scratch, i, u64::from_le_bytes(unsafe { *p }), &mut hash, &mut sum);
    }
    let whole = len / 8;
    let left = len % 8;
    if left != 0 {
        if whole >= NAME_WORDS {
            return Err(Counter::PassMalformed);
        }
        let raw = last_word(ctx, start + whole * 8, left)?;
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

/// The `left` (1..=7) name bytes at `offset` as a little-endian word, zero above them.
#[inline(always)]
fn last_word(ctx: &XdpContext, offset: usize, left: usize) -> Result<u64, Counter> {
    let word = match at::<[u8; 8]>(ctx, offset) {
        Some(p) => u64::from_le_bytes(unsafe { *p }),
        // The frame ends within these 8 bytes. Type and class (4 bytes) must follow the name,
        // so that only happens to a last word of under 4 bytes: read the 8 bytes that end with
        // the class instead and shift the name's bytes down. One read, no byte loop: a loop
        // with an exit per byte multiplies the paths the verifier walks.
        None if left < 4 => {
            let back = 4 - left;
            let p = at::<[u8; 8]>(ctx, offset - back).ok_or(Counter::PassMalformed)?;
            u64::from_le_bytes(unsafe { *p }) >> (8 * back)
        }
        None => return Err(Counter::PassMalformed),
    };
    Ok(word & ((1u64 << (8 * left)) - 1))
}

/// Checks the OPT record that follows the question and returns its DO bit.
#[inline(always)]
fn opt_record(ctx: &XdpContext, f: &Frame, offset: usize) -> Result<bool, Counter> {
    let opt = at::<[u8; OPT_FIXED_LEN]>(ctx, f.dns + offset).ok_or(Counter::PassMalformed)?;
    let o = unsafe { &*opt };
    if o[0] != 0 || u16::from_be_bytes([o[1], o[2]]) != OPT_TYPE {
        // Another kind of additional record (TSIG, ...).
        return Err(Counter::PassUnsupported);
    }
    if o[6] != 0 {
        return Err(Counter::PassBadVersion);
    }
    let rdata_len = u16::from_be_bytes([o[9], o[10]]) as usize;
    if offset + OPT_FIXED_LEN + rdata_len != f.dns_len {
        return Err(Counter::PassMalformed);
    }
    if rdata_len > MAX_OPT_RDATA {
        return Err(Counter::PassUnsupported);
    }
    let rdata = f.dns + offset + OPT_FIXED_LEN;
    let mut pos = 0usize;
    for _ in 0..MAX_OPTIONS {
        if pos == rdata_len {
            return Ok(o[7] & 0x80 != 0);
        }
        let code = u16_at(ctx, rdata + pos).ok_or(Counter::PassMalformed)?;
        let len = u16_at(ctx, rdata + pos + 2).ok_or(Counter::PassMalformed)? as usize;
        if code == EDNS_CLIENT_SUBNET {
            return Err(Counter::PassClientSubnet);
        }
        pos += 4 + len;
        if pos > rdata_len {
            return Err(Counter::PassMalformed);
        }
    }
    if pos == rdata_len { Ok(o[7] & 0x80 != 0) } else { Err(Counter::PassUnsupported) }
}
