//! Whether the kernel's own stack would deliver a query to this host's DNS sockets: a unicast
//! frame to the MAC of the interface it came in on, to an address of this host that a DNS socket
//! listens on, from an address a client can have, with correct checksums. Everything else is
//! left to the stack, counted by reason.
//!
//! The addresses are checked before the question is parsed; the checksums once it is parsed,
//! before the query is charged to its prefix's rate limit (a frame the stack would drop is not
//! charged, and never gets a truncated reply).
//!
//! The address checks ask the local-address maps only when `LocalSummary` cannot answer: a
//! source whose filter bit is set, a destination other than the one this CPU last found served.

use core::mem::offset_of;

use aya_ebpf::programs::XdpContext;
use network_types::{
    eth::EthHdr,
    ip::{Ipv4Hdr, Ipv6Hdr},
    udp::UdpHdr,
};
use switchyard_common::{
    Counter, LocalSummary, MAX_XDP_INTERFACES, ServedMemo, fold, fold_swapped, local_addr,
    proto::{
        CHECKSUM_VALID_SUM, ETH_GROUP_BIT, IPPROTO_UDP, IPV4_FIRST_NON_UNICAST, IPV4_LOOPBACK,
        IPV4_THIS_NETWORK, IPV6_LOOPBACK_LOW, IPV6_MULTICAST, IPV6_V4_MAPPED_MARK, UDP_NO_CHECKSUM,
    },
    word_sum_swapped,
};

use crate::{
    checksum::at_parity,
    maps,
    packet::{Cursor, Packet},
    query::{Frame, Question},
};

/// Longest stretch after the question that is summed for the UDP checksum: an OPT record with
/// the most option data the parser accepts.
const MAX_TAIL_WORDS: usize = (switchyard_common::proto::OptHdr::LEN + crate::query::MAX_OPT_RDATA) / 8;

/// The frame is addressed to this host's DNS sockets: MAC, destination and source. Addresses
/// are held as the bytes they are in the packet (native-order integers), and only turned into
/// numbers to look at their first bits.
#[inline(always)]
pub fn to_this_host(ctx: &XdpContext, f: &Frame, memo: &mut ServedMemo) -> Result<(), Counter> {
    to_own_mac(ctx)?;
    let (generation, summary) = maps::local_summary().ok_or(Counter::PassNotLocal)?;
    let pkt = Packet::new(ctx);
    if f.ipv6 {
        let dst = address_v6(&pkt, f.l3 + offset_of!(Ipv6Hdr, dst_addr))?;
        if !memo.served_v6(dst, generation) {
            served(maps::local_v6(dst))?;
            (memo.v6, memo.generation_v6) = (dst, generation);
        }
        let [a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q] = f.src_v6();
        client_v6([u64::from_ne_bytes([a, b, c, d, e, g, h, i]), u64::from_ne_bytes([j, k, l, m, n, o, p, q])])
    } else {
        let dst = address_v4(&pkt, f.l3 + offset_of!(Ipv4Hdr, dst_addr))?;
        if !memo.served_v4(dst, generation) {
            served(maps::local_v4(dst))?;
            (memo.v4, memo.generation_v4) = (dst, generation);
        }
        client_v4(u32::from_ne_bytes(f.src_v4()), summary)
    }
}

#[inline(always)]
fn address_v4(pkt: &Packet, offset: usize) -> Result<u32, Counter> {
    pkt.read::<[u8; 4]>(offset).map(u32::from_ne_bytes).ok_or(Counter::PassMalformed)
}

#[inline(always)]
fn address_v6(pkt: &Packet, offset: usize) -> Result<[u64; 2], Counter> {
    let half = |at: usize| pkt.read::<[u8; 8]>(at).map(u64::from_ne_bytes).ok_or(Counter::PassMalformed);
    Ok([half(offset)?, half(offset + 8)?])
}

/// A unicast frame to the MAC of the interface it arrived on.
#[inline(always)]
fn to_own_mac(ctx: &XdpContext) -> Result<(), Counter> {
    let dst: [u8; 6] = Packet::new(ctx).read(offset_of!(EthHdr, dst_addr)).ok_or(Counter::PassMalformed)?;
    if dst[0] & ETH_GROUP_BIT != 0 {
        return Err(Counter::PassMacNotUnicast);
    }
    let own = maps::own_macs().ok_or(Counter::PassUnknownInterface)?;
    let ifindex = ctx.ingress_ifindex() as u32;
    for i in 0..MAX_XDP_INTERFACES {
        let slot = &own.interfaces[i];
        if slot.ifindex == 0 {
            break;
        }
        if slot.ifindex == ifindex {
            return if same_mac(&slot.mac, &dst) { Ok(()) } else { Err(Counter::PassMacOtherHost) };
        }
    }
    Err(Counter::PassUnknownInterface)
}

/// Compared as a 4-byte and a 2-byte word: an array comparison could become a call to memcmp,
/// which BPF does not have.
#[inline(always)]
fn same_mac(a: &[u8; 6], b: &[u8; 6]) -> bool {
    let head = |m: &[u8; 6]| u32::from_ne_bytes([m[0], m[1], m[2], m[3]]);
    let tail = |m: &[u8; 6]| u16::from_ne_bytes([m[4], m[5]]);
    head(a) == head(b) && tail(a) == tail(b)
}

/// The destination is one of ours that a DNS socket listens on; the subnet broadcast is ours
/// too, but not served.
#[inline(always)]
fn served(kind: Option<u32>) -> Result<(), Counter> {
    if kind == Some(local_addr::SERVED) { Ok(()) } else { Err(Counter::PassNotLocal) }
}

/// An IPv4 source a client can have: not 0/8, loopback, multicast, reserved or the limited
/// broadcast, and none of this host's own addresses or subnet broadcasts (which the stack
/// drops as martians).
#[inline(always)]
fn client_v4(src: u32, summary: &LocalSummary) -> Result<(), Counter> {
    let first = (u32::from_be(src) >> 24) as u8;
    if first == IPV4_THIS_NETWORK || first == IPV4_LOOPBACK || first >= IPV4_FIRST_NON_UNICAST {
        return Err(Counter::PassBadSource);
    }
    if summary.may_hold_v4(src) && maps::local_v4(src).is_some() {
        return Err(Counter::PassBadSource);
    }
    Ok(())
}

/// An IPv6 source a client can have: not unspecified, loopback, multicast (link-local ones such
/// as ff02::1 included) or IPv4-mapped.
#[inline(always)]
fn client_v6(src: [u64; 2]) -> Result<(), Counter> {
    let (high, low) = (u64::from_be(src[0]), u64::from_be(src[1]));
    let unspecified_or_loopback = high == 0 && (low == 0 || low == IPV6_LOOPBACK_LOW);
    let v4_mapped = high == 0 && low >> 32 == IPV6_V4_MAPPED_MARK;
    if unspecified_or_loopback || v4_mapped || (high >> 56) as u8 == IPV6_MULTICAST {
        return Err(Counter::PassBadSource);
    }
    Ok(())
}

/// The IPv4 header checksum (IPv4 only) and the UDP checksum of the query are right. A zero
/// UDP checksum means "none" over IPv4 and is refused over IPv6.
#[inline(always)]
pub fn checksums_ok(ctx: &XdpContext, f: &Frame, q: &Question) -> Result<(), Counter> {
    let pkt = Packet::new(ctx);
    let udp_check = pkt.read_u16(f.l4 + offset_of!(UdpHdr, check)).ok_or(Counter::PassMalformed)?;
    let addresses = if f.ipv6 {
        if udp_check == UDP_NO_CHECKSUM {
            return Err(Counter::PassZeroUdpChecksumV6);
        }
        let at = f.l3 + offset_of!(Ipv6Hdr, src_addr);
        let words = [word(&pkt, at)?, word(&pkt, at + 8)?, word(&pkt, at + 16)?, word(&pkt, at + 24)?];
        words.iter().map(|w| word_sum_swapped(*w)).sum::<u64>()
    } else {
        ipv4_header_ok(&pkt, f.l3)?;
        if udp_check == UDP_NO_CHECKSUM {
            return Ok(());
        }
        word_sum_swapped(word(&pkt, f.l3 + offset_of!(Ipv4Hdr, src_addr))?)
    };
    // The pseudo-header's addresses and the UDP header (ports, length, checksum) as read; the
    // pseudo-header's protocol and length; the DNS header, name, type and class as parsed;
    // then whatever follows the question (an OPT record), at the question end's parity.
    let raw = addresses + word_sum_swapped(word(&pkt, f.l4)?);
    let udp_len = (UdpHdr::LEN + f.dns_len) as u64;
    let tail = q.qtype as u64 + q.qclass as u64 + tail_sum(ctx, f.dns + q.end(), f.dns_len - q.end())?;
    let sum = fold_swapped(raw)
        + IPPROTO_UDP as u64
        + udp_len
        + q.header_sum
        + q.name_sum
        + at_parity(tail, q.name_len % 2 == 1);
    if fold(sum) == CHECKSUM_VALID_SUM { Ok(()) } else { Err(Counter::PassBadUdpChecksum) }
}

/// The 20-byte header (no options: the parser took only those) sums to all ones.
#[inline(always)]
fn ipv4_header_ok(pkt: &Packet, l3: usize) -> Result<(), Counter> {
    let last: [u8; 4] = pkt.read(l3 + 16).ok_or(Counter::PassMalformed)?;
    let sum = word_sum_swapped(word(pkt, l3)?)
        + word_sum_swapped(word(pkt, l3 + 8)?)
        + word_sum_swapped(u32::from_le_bytes(last) as u64);
    if fold(sum) == CHECKSUM_VALID_SUM { Ok(()) } else { Err(Counter::PassBadIpv4Checksum) }
}

/// The 8 bytes at `offset` as a little-endian word.
#[inline(always)]
fn word(pkt: &Packet, offset: usize) -> Result<u64, Counter> {
    pkt.read::<[u8; 8]>(offset).map(u64::from_le_bytes).ok_or(Counter::PassMalformed)
}

/// Wire-order sum, folded, of the `len` bytes at `start` as if they began at an even offset:
/// whole words, then the last partial one read as the 8 bytes that end the stretch (any
/// stretch that is not empty is an OPT record, 11 bytes or more).
#[inline(always)]
fn tail_sum(ctx: &XdpContext, start: usize, len: usize) -> Result<u64, Counter> {
    if len == 0 {
        return Ok(0);
    }
    if len < 8 || len > MAX_TAIL_WORDS * 8 + 7 {
        return Err(Counter::PassMalformed);
    }
    let tail = Cursor::new(ctx, start);
    let mut sum = 0u64;
    for i in 0..MAX_TAIL_WORDS {
        if i * 8 + 8 > len {
            break;
        }
        let bytes = tail.peek::<[u8; 8]>(i * 8).ok_or(Counter::PassMalformed)?;
        sum += word_sum_swapped(u64::from_le_bytes(bytes));
    }
    let left = len % 8;
    if left != 0 {
        // Kept opaque: folded into the check, the offset would become a read 8 bytes before a
        // checked pointer, which the verifier refuses.
        let back = core::hint::black_box(len - 8);
        let bytes = tail.peek::<[u8; 8]>(back).ok_or(Counter::PassMalformed)?;
        sum += word_sum_swapped(u64::from_le_bytes(bytes) >> (8 * (8 - left)));
    }
    Ok(fold_swapped(sum))
}
