//! Turning an accepted query into its response, in place.

use aya_ebpf::{
    helpers::generated::{bpf_xdp_adjust_head, bpf_xdp_adjust_tail},
    programs::XdpContext,
};
use network_types::{eth::EthHdr, ip::Ipv4Hdr, ip::Ipv6Hdr, udp::UdpHdr};
use switchyard_common::{
    Counter, DEFAULT_VIEW, FLAG_ENABLED, FLAG_HAS_VIEWS, MAX_ADDRS, MapEntry, NAME_WORDS, QTYPE_AAAA, Scratch,
    XdpConfig, record_len, record_prefix,
};

use crate::{
    ANSWERS, CONFIG, SCRATCH, VIEWS_V4, VIEWS_V6,
    checksum::{at_parity, finish, finish_udp, sum_bytes},
    packet::Packet,
    query::{self, Frame, Question},
};
use aya_ebpf::maps::lpm_trie::Key as PrefixKey;

const OPT_LEN: usize = 11;
/// TTL / hop limit of responses.
const RESPONSE_HOP_LIMIT: u8 = 64;
/// QR and AA.
const RESPONSE_FLAGS: u16 = 0x8400;

/// Answers the query in the frame, or says why it must go to userspace.
#[inline(always)]
pub fn respond(ctx: &XdpContext) -> Result<Counter, Counter> {
    let config: XdpConfig = match CONFIG.get(0) {
        Some(c) if c.enabled & FLAG_ENABLED != 0 => *c,
        _ => return Err(Counter::PassDisabled),
    };
    let frame = query::frame(ctx, config.dns_port)?;
    let scratch = unsafe { &mut *SCRATCH.get_ptr_mut(0).ok_or(Counter::PassDisabled)? };
    let q = query::question(ctx, &frame, scratch)?;
    scratch.key.view =
        if config.enabled & FLAG_HAS_VIEWS != 0 { client_view(&Packet::new(ctx), &frame) } else { DEFAULT_VIEW };
    let set = lookup(scratch)?;
    let count = set.count as usize;
    if count == 0 || count > MAX_ADDRS {
        return Err(Counter::PassMiss);
    }

    // Grow or shrink the frame first: if that fails the frame is still untouched.
    let answers_at = 12 + q.name_len + 4;
    let opt_len = if q.edns_do.is_some() { OPT_LEN } else { 0 };
    let dns_len = answers_at + count * record_len(q.qtype) + opt_len;
    let old_len = (ctx.data_end() - ctx.data()) as i32;
    let delta = (frame.dns + dns_len) as i32 - old_len;
    if delta != 0
        && unsafe { bpf_xdp_adjust_tail(ctx.ctx, delta) } != 0
        && !grow_at_head(ctx, frame.dns + answers_at, delta)
    {
        return Err(Counter::PassTooBig);
    }
    // All packet pointers are stale now; everything below re-derives and re-checks them.
    if write_response(&Packet::new(ctx), &frame, &q, set, &config, dns_len).is_none() {
        // Unreachable after a successful resize; logged because it would mean a parser bug.
        aya_log_ebpf::warn!(ctx, "response did not fit after resizing by {} bytes", delta);
        return Err(Counter::PassTooBig);
    }
    Ok(if frame.ipv6 { Counter::AnsweredV6 } else { Counter::AnsweredV4 })
}

/// Longest prefix moved by `grow_at_head`: VLAN Ethernet + IPv6 + UDP + DNS header + the
/// longest name + type and class (178 bytes), with room for the word loop to stop early.
const MAX_PREFIX: usize = 192;
/// Most bytes taken from the headroom (eight AAAA records and an OPT record fit).
const MAX_HEAD_GROWTH: i32 = 256;

/// Makes room for the answers when the tail cannot grow (a small frame on veth has little
/// tailroom): takes `delta` bytes of headroom and moves the first `prefix` bytes (headers and
/// question) to the new start, so the free bytes end up behind the question.
#[inline(always)]
fn grow_at_head(ctx: &XdpContext, prefix: usize, delta: i32) -> bool {
    if delta <= 0 || delta > MAX_HEAD_GROWTH || prefix > MAX_PREFIX - 8 {
        return false;
    }
    if unsafe { bpf_xdp_adjust_head(ctx.ctx, -delta) } != 0 {
        return false;
    }
    let pkt = Packet::new(ctx);
    let shift = delta as usize;
    let words = prefix / 8;
    // Moving towards lower addresses, so copying upwards never reads a byte already written.
    for i in 0..MAX_PREFIX / 8 {
        if i >= words {
            break;
        }
        let (Some(from), Some(to)) = (pkt.at::<[u8; 8]>(shift + i * 8), pkt.at::<[u8; 8]>(i * 8)) else {
            return false;
        };
        unsafe { *to = *from };
    }
    for i in 0..8 {
        let offset = words * 8 + i;
        if offset >= prefix {
            break;
        }
        // Two bytes checked at the destination (the source byte lies behind it anyway): a
        // one-byte check is compiled to a form the verifier cannot use for the store.
        let (Some(from), Some(to)) = (pkt.at::<u8>(shift + offset), pkt.at::<[u8; 2]>(offset)) else {
            return false;
        };
        unsafe { (*to)[0] = *from };
    }
    true
}

/// The client's view from the locality tries; the default view when no prefix matches.
#[inline(always)]
fn client_view(pkt: &Packet, f: &Frame) -> u32 {
    let view = if f.ipv6 {
        pkt.at::<[u8; 16]>(f.l3 + 8).and_then(|src| VIEWS_V6.get(PrefixKey::new(128, unsafe { *src })))
    } else {
        pkt.at::<[u8; 4]>(f.l3 + 12).and_then(|src| VIEWS_V4.get(PrefixKey::new(32, unsafe { *src })))
    };
    view.copied().unwrap_or(DEFAULT_VIEW)
}

/// The view's own answer set, else the default view's. The entry must hold the question's name:
/// another name under the same hash passes the query (no fallback, which could answer with the
/// default view where the client's view has its own answer).
#[inline(always)]
fn lookup(scratch: &mut Scratch) -> Result<&'static MapEntry, Counter> {
    let set = match unsafe { ANSWERS.get(&scratch.key) } {
        Some(set) => set,
        None if scratch.key.view != DEFAULT_VIEW => {
            scratch.key.view = DEFAULT_VIEW;
            unsafe { ANSWERS.get(&scratch.key) }.ok_or(Counter::PassMiss)?
        }
        None => return Err(Counter::PassMiss),
    };
    if same_name(&set.name, &scratch.name, scratch.name_len as usize) {
        Ok(set)
    } else {
        Err(Counter::PassHashCollision)
    }
}

/// Compares the words that hold a name of `len` bytes (both sides are zero padded).
#[inline(always)]
fn same_name(stored: &[u64; NAME_WORDS], question: &[u64; NAME_WORDS], len: usize) -> bool {
    for i in 0..NAME_WORDS {
        if i * 8 >= len {
            break;
        }
        if stored[i] != question[i] {
            return false;
        }
    }
    true
}

#[inline(always)]
fn write_response(
    pkt: &Packet,
    f: &Frame,
    q: &Question,
    set: &MapEntry,
    config: &XdpConfig,
    dns_len: usize,
) -> Option<()> {
    let count = set.count as usize;
    let udp_len = (UdpHdr::LEN + dns_len) as u16;

    pkt.swap::<6>(0, 6)?;
    let mut sum = 17u64 + 2 * udp_len as u64;
    if f.ipv6 {
        sum += pkt.swap::<16>(f.l3 + 8, f.l3 + 24)?;
        pkt.set_u16(f.l3 + 4, udp_len)?;
        let hop = pkt.at::<u8>(f.l3 + 7)?;
        unsafe { *hop = RESPONSE_HOP_LIMIT };
    } else {
        let addresses = pkt.swap::<4>(f.l3 + 12, f.l3 + 16)?;
        sum += addresses;
        let total_len = Ipv4Hdr::LEN as u16 + udp_len;
        let h = unsafe { &mut *pkt.at::<[u8; 10]>(f.l3)? };
        // Header sum from what stays (version and TOS, identification, fragment word), what is
        // set here (length, TTL, protocol) and the addresses, which the swap leaves summed.
        let kept = [[h[0], h[1]], [h[4], h[5]], [h[6], h[7]]].map(u16::from_be_bytes);
        let ttl_protocol = u16::from_be_bytes([RESPONSE_HOP_LIMIT, h[9]]);
        let ip_sum = kept.iter().map(|w| *w as u64).sum::<u64>() + total_len as u64 + ttl_protocol as u64 + addresses;
        h[2..4].copy_from_slice(&total_len.to_be_bytes());
        h[8] = RESPONSE_HOP_LIMIT;
        pkt.set_u16(f.l3 + 10, finish(ip_sum))?;
    }

    sum += pkt.swap::<2>(f.l4, f.l4 + 2)?;
    pkt.set_u16(f.l4 + 4, udp_len)?;

    let header = dns_header(q, count);
    let h = pkt.at::<[u8; 12]>(f.dns)?;
    unsafe { *h = header };
    sum += sum_bytes(&header) + q.name_sum;

    // Type and class stay as the query had them; answers and OPT follow.
    let tail = f.dns + 12 + q.name_len;
    let mut tail_sum = q.qtype as u64 + 1 + set.answer_sum as u64;
    write_answers(pkt, tail + 4, q.qtype, set)?;
    if let Some(dnssec_ok) = q.edns_do {
        let opt = opt_record(config.edns_udp_payload, dnssec_ok);
        let p = pkt.at::<[u8; OPT_LEN]>(tail + 4 + count * record_len(q.qtype))?;
        unsafe { *p = opt };
        tail_sum += sum_bytes(&opt);
    }
    sum += at_parity(tail_sum, q.name_len % 2 == 1);

    pkt.set_u16(f.l4 + 6, finish_udp(sum))
}

#[inline(always)]
fn dns_header(q: &Question, count: usize) -> [u8; 12] {
    let id = q.id.to_be_bytes();
    let flags = (RESPONSE_FLAGS | q.copied_flags).to_be_bytes();
    let arcount = if q.edns_do.is_some() { 1u8 } else { 0 };
    [id[0], id[1], flags[0], flags[1], 0, 1, 0, count as u8, 0, 0, 0, arcount]
}

/// Writes the answer records straight into the frame, each at a constant size so every store is
/// bounds-checked.
#[inline(always)]
fn write_answers(pkt: &Packet, start: usize, qtype: u16, set: &MapEntry) -> Option<()> {
    let fixed = record_prefix(qtype, set.ttl);
    for i in 0..MAX_ADDRS {
        if i >= set.count as usize {
            break;
        }
        let addr = &set.addrs[i];
        if qtype == QTYPE_AAAA {
            let r = unsafe { &mut *pkt.at::<[u8; 28]>(start + i * 28)? };
            r[..12].copy_from_slice(&fixed);
            r[12..].copy_from_slice(addr);
        } else {
            let r = unsafe { &mut *pkt.at::<[u8; 16]>(start + i * 16)? };
            r[..12].copy_from_slice(&fixed);
            r[12..].copy_from_slice(&addr[..4]);
        }
    }
    Some(())
}

/// Our OPT record: root owner, our UDP payload size, version 0, DO copied, no options.
#[inline(always)]
fn opt_record(udp_payload: u16, dnssec_ok: bool) -> [u8; OPT_LEN] {
    let size = udp_payload.to_be_bytes();
    let flags = if dnssec_ok { 0x80 } else { 0 };
    [0, 0, 41, size[0], size[1], 0, 0, flags, 0, 0, 0]
}

const _: () = assert!(EthHdr::LEN == 14 && Ipv6Hdr::LEN == 40);
