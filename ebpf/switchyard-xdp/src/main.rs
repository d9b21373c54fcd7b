//! Switchyard's in-kernel DNS responder.
//!
//! Answers standard A/AAAA queries (IPv4 or IPv6, optional 802.1Q tag, optional EDNS OPT) for
//! names in the `ANSWERS` map by rewriting the frame in place and sending it back (XDP_TX).
//! Everything else goes up to the stack unchanged (XDP_PASS), counted by reason. A client prefix
//! over its response rate (`rrl`) gets nothing (XDP_DROP) or now and then an empty truncated reply.
//!
//! `packet` holds every access to the frame, `maps` and `answer_slot` every access to map
//! memory; the rest is safe code.
#![no_std]
// For the compiler barriers around the answer table's sequence numbers (`answer_slot`).
#![feature(asm_experimental_arch)]
#![no_main]

mod addressed;
mod answer_slot;
mod checksum;
mod clock;
mod cookies;
mod liveness;
mod maps;
mod packet;
mod query;
mod response;
mod rrl;
mod signed;

use core::mem::offset_of;

use aya_ebpf::{bindings::xdp_action, macros::xdp, programs::XdpContext};
use network_types::{eth::EthHdr, ip::Ipv4Hdr, udp::UdpHdr};
use switchyard_common::{
    Counter, NAME_HASH_SEED, mix_word,
    proto::{DNS_FLAG_QR, DnsHdr, ETH_P_IPV4, IPPROTO_UDP},
};

use crate::packet::Packet;

#[xdp]
pub fn switchyard(ctx: XdpContext) -> u32 {
    let (action, slot) = match response::respond(&ctx) {
        Ok(Counter::RrlDropped) => (xdp_action::XDP_DROP, Counter::RrlDropped as u32),
        Ok(sent) => (xdp_action::XDP_TX, sent as u32),
        Err(response::Pass(reason)) => (xdp_action::XDP_PASS, reason),
    };
    maps::count_slot(slot);
    action
}

/// Passes everything. Attached to the far end of a veth pair, where frames sent with XDP_TX are
/// otherwise dropped.
#[xdp]
pub fn switchyard_pass(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

/// Swaps MAC and IPv4 addresses and UDP ports and transmits: the least any responder must do.
/// Only used as the floor in benchmarks.
#[xdp]
pub fn switchyard_swap(ctx: XdpContext) -> u32 {
    match swap_ipv4_udp(&Packet::new(&ctx)) {
        Some(()) => xdp_action::XDP_TX,
        None => xdp_action::XDP_PASS,
    }
}

/// Sends the query back as its own reply: MACs, addresses and ports swapped, QR set, the UDP
/// checksum adjusted for that one bit; no parsing past the fixed offsets, no lookup. What any
/// XDP responder must at least do per answer: the floor of the throughput benchmark.
#[xdp]
pub fn switchyard_reflect(ctx: XdpContext) -> u32 {
    let pkt = Packet::new(&ctx);
    match swap_ipv4_udp(&pkt).and_then(|()| set_qr(&pkt)) {
        Some(()) => xdp_action::XDP_TX,
        None => xdp_action::XDP_PASS,
    }
}

/// The reflector (`switchyard_reflect`) plus one answer-table slot head read: the least a
/// lookup into the table adds, without parsing the question. The slot is picked from the
/// question name's first 8 bytes, mixed as the name hash mixes a word, so that queries for
/// names that differ there (the benchmarks' `s00001` ... names) read slots spread over the
/// table. One slot per name: the A and AAAA queries for a name read the same one, where the
/// responder's sets for them start apart.
#[xdp]
pub fn switchyard_table_floor(ctx: XdpContext) -> u32 {
    let pkt = Packet::new(&ctx);
    let name_at = EthHdr::LEN + Ipv4Hdr::LEN + UdpHdr::LEN + DnsHdr::LEN;
    // Picked before the frame is touched: a frame too short for it is passed unchanged.
    let Some(first_word) = pkt.read::<[u8; 8]>(name_at) else { return xdp_action::XDP_PASS };
    let hash = mix_word(NAME_HASH_SEED, u64::from_le_bytes(first_word));
    match swap_ipv4_udp(&pkt).and_then(|()| set_qr(&pkt)).and_then(|()| maps::touch_slot_head(hash)) {
        Some(()) => xdp_action::XDP_TX,
        None => xdp_action::XDP_PASS,
    }
}

/// Sets QR in the DNS header of an untagged IPv4 UDP frame and updates the UDP checksum for the
/// changed word (RFC 1624: HC' = ~(~HC + ~m + m')).
#[inline(always)]
fn set_qr(pkt: &Packet) -> Option<()> {
    let l4 = EthHdr::LEN + Ipv4Hdr::LEN;
    let flags_at = l4 + UdpHdr::LEN + offset_of!(DnsHdr, flags);
    let flags = pkt.read_u16(flags_at)?;
    let reply = flags | DNS_FLAG_QR;
    pkt.write_u16(flags_at, reply)?;
    let check_at = l4 + offset_of!(UdpHdr, check);
    let check = pkt.read_u16(check_at)?;
    if check != 0 {
        pkt.write_u16(check_at, checksum::finish_udp(u64::from(!check) + u64::from(!flags) + u64::from(reply)))?;
    }
    Some(())
}

/// The benchmark floor's work: untagged IPv4 UDP, swap MACs, addresses and ports.
#[inline(always)]
fn swap_ipv4_udp(pkt: &Packet) -> Option<()> {
    let l3 = EthHdr::LEN;
    if pkt.read_u16(offset_of!(EthHdr, ether_type))? != ETH_P_IPV4
        || pkt.read::<u8>(l3 + offset_of!(Ipv4Hdr, proto))? != IPPROTO_UDP
    {
        return None;
    }
    let l4 = l3 + Ipv4Hdr::LEN;
    if !pkt.has::<UdpHdr>(l4) {
        return None;
    }
    pkt.swap::<6>(offset_of!(EthHdr, dst_addr), offset_of!(EthHdr, src_addr))?;
    pkt.swap::<4>(l3 + offset_of!(Ipv4Hdr, src_addr), l3 + offset_of!(Ipv4Hdr, dst_addr))?;
    pkt.swap::<2>(l4 + offset_of!(UdpHdr, src), l4 + offset_of!(UdpHdr, dst)).map(|_| ())
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
