//! Turning an accepted query into its response, in place.

use core::mem::offset_of;

use aya_ebpf::programs::XdpContext;
use network_types::{eth::EthHdr, ip::Ipv4Hdr, ip::Ipv6Hdr, udp::UdpHdr, vlan::VlanHdr};
use switchyard_common::{
    AnswerCopy, CLIENT_COOKIE_LEN, COOKIE_REPLY_LEN, Counter, DEFAULT_VIEW, EDNS_COOKIE, FLAG_ENABLED, FLAG_HAS_VIEWS, MAX_ADDRS,
    FirstChoice, MAX_NAME_LEN, NOT_PARKED, RrlVerdict, Scratch, SignatureEntry, XdpConfig,
    client_bucket_v4, client_bucket_v6,
    proto::{
        DNS_FLAG_AA, DNS_FLAG_QR, DNS_FLAG_TC, DnsHdr, EDNS_FLAG_DO, EDNS_OPTION_HEADER_LEN, EDNS_VERSION,
        IPPROTO_UDP, OptHdr, QTYPE_A, QTYPE_AAAA, QUESTION_TYPE_CLASS_LEN, TYPE_OPT,
    },
    record_len, record_prefix,
};

use crate::{
    addressed,
    answer_slot::Slot,
    checksum::{at_parity, finish, finish_udp, sum_bytes},
    clock,
    cookies::{self, ReplyCookie},
    liveness, maps,
    packet::{self, Packet},
    query::{self, Frame, Question},
    rrl, signed,
};

/// TTL / hop limit of responses.
const RESPONSE_HOP_LIMIT: u8 = 64;

/// Why a frame goes up to the stack: the slot of the counter it is counted in.
pub struct Pass(pub u32);

impl From<Counter> for Pass {
    #[inline(always)]
    fn from(counter: Counter) -> Pass {
        Pass(counter as u32)
    }
}

/// Answers the query in the frame, or says why it must go to userspace.
#[inline(always)]
pub fn respond(ctx: &XdpContext) -> Result<Counter, Pass> {
    let config: XdpConfig = match maps::config() {
        Some(c) if c.flags & FLAG_ENABLED != 0 => *c,
        _ => return Err(Counter::PassDisabled.into()),
    };
    let frame = query::frame(ctx, config.dns_port)?;
    let scratch = maps::scratch().ok_or(Counter::PassDisabled)?;
    addressed::to_this_host(ctx, &frame, &mut scratch.served)?;
    let now = clock::now_ns(&mut scratch.clock);
    // A stale daemon's settings are not trusted, its limits included: the daemon that still
    // serves the sockets charges what it answers itself.
    if !liveness::daemon_alive(&config, now) {
        return Err(Counter::PassStale.into());
    }
    // A frame with a bad checksum is not charged: the stack drops it, nobody answers it.
    let parsed = query::question(ctx, &frame, scratch).and_then(|q| {
        addressed::checksums_ok(ctx, &frame, &q)?;
        Ok((cookies::checked(ctx, &frame, &q, now)?, q))
    });
    // Every query is charged before any work on its answer, whichever path is to answer it.
    // A valid server cookie of ours proves the client is real (it got our reply before).
    let exempt = match &parsed {
        Ok((checked, _)) => checked.as_ref().is_some_and(|c| c.valid()),
        Err(reason @ (Counter::PassResponse | Counter::PassBadUdpChecksum | Counter::PassBadIpv4Checksum)) => {
            return Err((*reason).into());
        }
        Err(reason) => {
            maps::park(scratch, *reason as u32);
            false
        }
    };
    let verdict = rrl::verdict(&frame, exempt, now);
    let Ok((checked, q)) = parsed else {
        // Without a question there is no truncated reply to send.
        return if verdict == RrlVerdict::Answer { Err(Pass(maps::parked(scratch))) } else { Ok(Counter::RrlDropped) };
    };
    match verdict {
        RrlVerdict::Answer => {}
        RrlVerdict::Drop => return Ok(Counter::RrlDropped),
        RrlVerdict::Slip => return Ok(truncated(ctx, &frame, &q, &config)),
    }
    let parked = maps::parked(scratch);
    if parked != NOT_PARKED {
        return Err(Pass(parked));
    }
    scratch.key.view = if config.flags & FLAG_HAS_VIEWS != 0 { client_view(&frame) } else { DEFAULT_VIEW };
    let found = lookup(scratch)?;
    let entry = copy_answer(&frame, found, &mut scratch.answer, &mut scratch.first)?;
    let count = entry.count as usize;
    if count == 0 || count > MAX_ADDRS {
        return Err(Counter::PassMiss.into());
    }
    let signature = signed::for_answer(&scratch.key, entry, &q, now)?;
    let cookie = checked.map(|c| c.reply());

    // Grow or shrink the frame first: if that fails the frame is still untouched.
    let answers_at = q.end();
    let opt_len = match (q.edns_do, &cookie) {
        (None, _) => 0,
        (Some(_), None) => OptHdr::LEN,
        (Some(_), Some(_)) => OPT_WITH_COOKIE_LEN,
    };
    let signature_len = signature.map_or(0, signed::len);
    let dns_len = answers_at + count * record_len(q.qtype) + signature_len + opt_len;
    if signature.is_some() {
        let limit = signed::udp_limit(&Packet::new(ctx), frame.dns + answers_at, config.edns_udp_payload);
        // Userspace answers with TC=1, as for any answer over the client's size.
        if dns_len > limit.ok_or(Counter::PassMalformed)? {
            return Err(Counter::PassTooBig.into());
        }
    }
    let old_len = Packet::new(ctx).frame_len() as i32;
    let delta = (frame.dns + dns_len) as i32 - old_len;
    if delta != 0 && !packet::adjust_tail(ctx, delta) && !grow_at_head(ctx, frame.dns + answers_at, delta) {
        return Err(Counter::PassTooBig.into());
    }
    // Every earlier `Packet` is stale now; the writer makes its own and checks every access.
    let written = write_response(&Packet::new(ctx), &frame, &q, (entry, signature), cookie.as_ref(), &config, dns_len);
    let signature_at = frame.dns + answers_at + count * record_len(q.qtype);
    let signed = signature.is_none_or(|signature| signed::write(ctx, signature_at, signature));
    if written.is_none() || !signed {
        // Unreachable after a successful resize; logged because it would mean a parser bug.
        aya_log_ebpf::warn!(ctx, "response did not fit after resizing by {} bytes", delta);
        return Err(Counter::PassTooBig.into());
    }
    if let Some(cookie) = cookie {
        maps::count(if cookie.valid_server_cookie { Counter::CookieValid } else { Counter::CookieIssued });
    }
    if signature.is_some() {
        maps::count(Counter::AnsweredSigned);
    }
    Ok(if frame.ipv6 { Counter::AnsweredV6 } else { Counter::AnsweredV4 })
}

/// Longest prefix moved by `grow_at_head`: headers and question of the longest accepted query,
/// with room for the word loop to stop early.
const MAX_PREFIX: usize = 192;
const _: () = assert!(
    EthHdr::LEN + VlanHdr::LEN + Ipv6Hdr::LEN + UdpHdr::LEN + DnsHdr::LEN + MAX_NAME_LEN + QUESTION_TYPE_CLASS_LEN
        <= MAX_PREFIX - 8
);
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
    if !packet::adjust_head(ctx, -delta) {
        return false;
    }
    move_to_front(&Packet::new(ctx), delta as usize, prefix).is_some()
}

/// Copies `len` bytes from `from` to the frame's start, a word at a time and then byte by byte.
#[inline(always)]
fn move_to_front(pkt: &Packet, from: usize, len: usize) -> Option<()> {
    let words = len / 8;
    // Moving towards lower addresses, so copying upwards never reads a byte already written.
    for i in 0..MAX_PREFIX / 8 {
        if i >= words {
            break;
        }
        let word = pkt.read::<[u8; 8]>(from + i * 8)?;
        pkt.write(i * 8, word)?;
    }
    for i in 0..8 {
        let offset = words * 8 + i;
        if offset >= len {
            break;
        }
        let byte = pkt.read::<u8>(from + offset)?;
        // Two bytes checked at the destination refuse nothing: the source lies further on.
        pkt.write_u8_checked_as_pair(offset, byte)?;
    }
    Some(())
}

/// The client's view from the locality tries; the default view when no prefix matches.
#[inline(always)]
fn client_view(f: &Frame) -> u32 {
    let view = if f.ipv6 { maps::view_v6(f.src_v6()) } else { maps::view_v4(f.src_v4()) };
    view.unwrap_or(DEFAULT_VIEW)
}

// `write_answers` masks address indexes with MAX_ADDRS - 1.
const _: () = assert!(MAX_ADDRS.is_power_of_two());

/// Copies what the reply takes out of the slot, then reads the slot's sequence number again: a
/// slot the daemon rewrote meanwhile sends the query to userspace while the frame is untouched.
/// The reply is written from the copy, which no writer touches.
#[inline(always)]
fn copy_answer<'a>(
    f: &Frame,
    (slot, seq): (Slot, u32),
    copy: &'a mut AnswerCopy,
    first: &mut FirstChoice,
) -> Result<&'a AnswerCopy, Counter> {
    let bucket = || if f.ipv6 { client_bucket_v6(f.src_v6()) } else { client_bucket_v4(f.src_v4()) };
    slot.copy_answer(bucket, copy, first);
    if slot.seq() != seq {
        return Err(Counter::PassSlotBusy);
    }
    Ok(copy)
}

/// The slot of the view's own answer set, else the default view's, and its sequence number.
/// The entry must hold the question's name: another name under the same hash passes the query
/// (no fallback, which could answer with the default view where the client's view has its own
/// answer).
#[inline(always)]
fn lookup(scratch: &mut Scratch) -> Result<(Slot, u32), Counter> {
    let (slot, seq) = match maps::answer_slot(&scratch.key) {
        Some(found) => found,
        None if scratch.key.view != DEFAULT_VIEW => {
            scratch.key.view = DEFAULT_VIEW;
            maps::answer_slot(&scratch.key).ok_or(Counter::PassMiss)?
        }
        None => return Err(Counter::PassMiss),
    };
    if seq & 1 != 0 {
        return Err(Counter::PassSlotBusy);
    }
    if slot.holds_name(&scratch.name, scratch.name_len as usize) {
        Ok((slot, seq))
    } else {
        Err(Counter::PassHashCollision)
    }
}

#[inline(always)]
fn write_response(
    pkt: &Packet,
    f: &Frame,
    q: &Question,
    (entry, signature): (&AnswerCopy, Option<&SignatureEntry>),
    cookie: Option<&ReplyCookie>,
    config: &XdpConfig,
    dns_len: usize,
) -> Option<()> {
    let count = entry.count as usize;
    let sum = write_front(pkt, f, q, dns_header(q, count + usize::from(signature.is_some()), 0), dns_len)?;
    // Type and class stay as the query had them; answers, the signature and OPT follow.
    let answers_at = f.dns + q.end();
    write_answers(pkt, answers_at, q.qtype, entry)?;
    let mut opt_at = answers_at + count * record_len(q.qtype);
    let mut tail_sum = entry.answer_sum as u64;
    // Answer records have an even length: the signature starts at the answers' parity, and the
    // OPT record after it at the signature's.
    let mut odd_opt = false;
    if let Some(signature) = signature {
        // Its bytes are copied in by `respond`, after this writer is done with the frame.
        tail_sum += signature.sum as u64;
        let len = signed::len(signature);
        opt_at += len;
        odd_opt = len % 2 == 1;
    }
    tail_sum += at_parity(write_opt(pkt, opt_at, q, cookie, config)?, odd_opt);
    write_udp_checksum(pkt, f, q, sum, tail_sum)
}

/// Answers a rate-limited query with an empty truncated reply (TC=1: the question, and our OPT
/// record when the query had one), which sends a real client to TCP. The frame only shrinks;
/// should that fail, the query is dropped: it is over the limit either way.
#[inline(always)]
fn truncated(ctx: &XdpContext, f: &Frame, q: &Question, config: &XdpConfig) -> Counter {
    let opt_len = if q.edns_do.is_some() { OptHdr::LEN } else { 0 };
    let dns_len = q.end() + opt_len;
    let delta = (f.dns + dns_len) as i32 - Packet::new(ctx).frame_len() as i32;
    if delta != 0 && !packet::adjust_tail(ctx, delta) {
        return Counter::RrlDropped;
    }
    match write_truncated(&Packet::new(ctx), f, q, config, dns_len) {
        Some(()) => Counter::RrlSlipped,
        None => Counter::RrlDropped,
    }
}

#[inline(always)]
fn write_truncated(pkt: &Packet, f: &Frame, q: &Question, config: &XdpConfig, dns_len: usize) -> Option<()> {
    let sum = write_front(pkt, f, q, dns_header(q, 0, DNS_FLAG_TC), dns_len)?;
    let tail_sum = write_opt(pkt, f.dns + q.end(), q, None, config)?;
    write_udp_checksum(pkt, f, q, sum, tail_sum)
}

/// Turns the frame around and writes the DNS header; returns the checksum's sum so far (the
/// question name's included).
#[inline(always)]
fn write_front(pkt: &Packet, f: &Frame, q: &Question, header: [u16; 6], dns_len: usize) -> Option<u64> {
    let sum = turn_around(pkt, f, dns_len)?;
    Some(sum + write_dns_header(pkt, f, q, header)?)
}

/// Writes our OPT record at `at` when the query had one (with our cookie when there is one);
/// returns its sum as if it began at an even offset.
#[inline(always)]
fn write_opt(pkt: &Packet, at: usize, q: &Question, cookie: Option<&ReplyCookie>, config: &XdpConfig) -> Option<u64> {
    let Some(dnssec_ok) = q.edns_do else { return Some(0) };
    let Some(cookie) = cookie else {
        let opt = opt_record(config.edns_udp_payload, dnssec_ok, 0);
        pkt.write(at, opt)?;
        return Some(sum_bytes(&opt));
    };
    let opt = opt_record(config.edns_udp_payload, dnssec_ok, COOKIE_OPTION_LEN as u16);
    pkt.write(at, opt)?;
    Some(sum_bytes(&opt) + write_cookie_option(pkt, at + OptHdr::LEN, cookie)?)
}

/// Writes the UDP checksum from the sum up to the question name and `tail_sum`, the sum of
/// what follows the question's type and class (as if it began at an even offset).
#[inline(always)]
fn write_udp_checksum(pkt: &Packet, f: &Frame, q: &Question, sum: u64, tail_sum: u64) -> Option<()> {
    let tail = q.qtype as u64 + q.qclass as u64 + tail_sum;
    let sum = sum + at_parity(tail, q.name_len % 2 == 1);
    pkt.write_u16(f.l4 + offset_of!(UdpHdr, check), finish_udp(sum))
}

/// Swaps MACs, addresses and ports and sets the lengths (and the IPv4 header) for a DNS
/// message of `dns_len` bytes; returns the UDP checksum's sum so far.
#[inline(always)]
fn turn_around(pkt: &Packet, f: &Frame, dns_len: usize) -> Option<u64> {
    let udp_len = (UdpHdr::LEN + dns_len) as u16;
    pkt.swap::<6>(offset_of!(EthHdr, dst_addr), offset_of!(EthHdr, src_addr))?;
    // The pseudo-header's protocol and length, and the UDP header's length field.
    let mut sum = IPPROTO_UDP as u64 + 2 * udp_len as u64;
    if f.ipv6 {
        sum += pkt.swap::<16>(f.l3 + offset_of!(Ipv6Hdr, src_addr), f.l3 + offset_of!(Ipv6Hdr, dst_addr))?;
        pkt.write_u16(f.l3 + offset_of!(Ipv6Hdr, payload_len), udp_len)?;
        pkt.write(f.l3 + offset_of!(Ipv6Hdr, hop_limit), RESPONSE_HOP_LIMIT)?;
    } else {
        let addresses = pkt.swap::<4>(f.l3 + offset_of!(Ipv4Hdr, src_addr), f.l3 + offset_of!(Ipv4Hdr, dst_addr))?;
        sum += addresses;
        ipv4_header(pkt, f.l3, udp_len, addresses)?;
    }
    sum += pkt.swap::<2>(f.l4 + offset_of!(UdpHdr, src), f.l4 + offset_of!(UdpHdr, dst))?;
    pkt.write_u16(f.l4 + offset_of!(UdpHdr, len), udp_len)?;
    Some(sum)
}

/// Writes the DNS header; returns its sum and the question name's.
#[inline(always)]
fn write_dns_header(pkt: &Packet, f: &Frame, q: &Question, header: [u16; 6]) -> Option<u64> {
    let [id, flags, qdcount, ancount, nscount, arcount] = header.map(u16::to_be_bytes);
    pkt.write(f.dns, DnsHdr { id, flags, qdcount, ancount, nscount, arcount })?;
    Some(header.iter().map(|w| *w as u64).sum::<u64>() + q.name_sum)
}

/// Sets the IPv4 header's total length, TTL and checksum. The checksum is summed from what
/// stays (version and TOS, identification, fragment word, protocol), what is set here and the
/// addresses, which the swap left summed.
#[inline(always)]
fn ipv4_header(pkt: &Packet, l3: usize, udp_len: u16, addresses: u64) -> Option<()> {
    let ip: Ipv4Hdr = pkt.read(l3)?;
    let total_len = Ipv4Hdr::LEN as u16 + udp_len;
    let kept = [[ip.vihl, ip.tos], ip.id, ip.frags].map(u16::from_be_bytes);
    let ttl_protocol = u16::from_be_bytes([RESPONSE_HOP_LIMIT, ip.proto]);
    let ip_sum = kept.iter().map(|w| *w as u64).sum::<u64>() + total_len as u64 + ttl_protocol as u64 + addresses;
    pkt.write_u16(l3 + offset_of!(Ipv4Hdr, tot_len), total_len)?;
    pkt.write(l3 + offset_of!(Ipv4Hdr, ttl), RESPONSE_HOP_LIMIT)?;
    pkt.write_u16(l3 + offset_of!(Ipv4Hdr, check), finish(ip_sum))
}

/// The response's header as its six 16-bit words: the query's ID; QR and AA (and `extra`
/// flags), with RD and CD copied; one question; the answers; no authority records; our OPT
/// record when the query had one.
#[inline(always)]
fn dns_header(q: &Question, count: usize, extra: u16) -> [u16; 6] {
    [q.id, DNS_FLAG_QR | DNS_FLAG_AA | extra | q.copied_flags, 1, count as u16, 0, u16::from(q.edns_do.is_some())]
}

/// Writes the answer records straight into the frame, each at a constant size so every store is
/// bounds-checked, in the copy's order (positions to address indexes). Records have an even
/// length, so their order does not change the entry's checksum sum.
#[inline(always)]
fn write_answers(pkt: &Packet, start: usize, qtype: u16, entry: &AnswerCopy) -> Option<()> {
    let fixed = record_prefix(qtype, entry.ttl);
    for i in 0..MAX_ADDRS {
        if i >= entry.count as usize {
            break;
        }
        // Masked to the array: an index the verifier can bound without a branch.
        let addr = &entry.addrs[entry.order[i] as usize & (MAX_ADDRS - 1)];
        if qtype == QTYPE_AAAA {
            pkt.write_pair(start + i * record_len(QTYPE_AAAA), &fixed, addr)?;
        } else {
            let ipv4 = addr.first_chunk::<4>()?;
            pkt.write_pair(start + i * record_len(QTYPE_A), &fixed, ipv4)?;
        }
    }
    Some(())
}

/// Our OPT record up to its options: root owner, our UDP payload size, version 0, DO copied,
/// `rdlen` bytes of options to follow.
#[inline(always)]
fn opt_record(udp_payload: u16, dnssec_ok: bool, rdlen: u16) -> [u8; OptHdr::LEN] {
    let (rtype, size, len) = (TYPE_OPT.to_be_bytes(), udp_payload.to_be_bytes(), rdlen.to_be_bytes());
    let flags = (if dnssec_ok { EDNS_FLAG_DO } else { 0 }).to_be_bytes();
    [0, rtype[0], rtype[1], size[0], size[1], 0, EDNS_VERSION, flags[0], flags[1], len[0], len[1]]
}

/// The COOKIE option of our OPT record: the client's cookie and our server cookie.
const COOKIE_OPTION_LEN: usize = EDNS_OPTION_HEADER_LEN + COOKIE_REPLY_LEN;
const OPT_WITH_COOKIE_LEN: usize = OptHdr::LEN + COOKIE_OPTION_LEN;

/// Writes the COOKIE option at `at`, right after the 11-byte OPT header (an odd offset from
/// the answers), piece by piece: a byte array assembled on the stack would be stored with
/// misaligned wide writes, which the verifier refuses. Returns its checksum contribution as
/// if the answers started at an even offset.
#[inline(always)]
fn write_cookie_option(pkt: &Packet, at: usize, cookie: &ReplyCookie) -> Option<u64> {
    let (code, len) = (EDNS_COOKIE.to_be_bytes(), (COOKIE_REPLY_LEN as u16).to_be_bytes());
    let header = [code[0], code[1], len[0], len[1]];
    pkt.write(at, header)?;
    let words = [cookie.client, cookie.server.head, cookie.server.hash].map(u64::to_le_bytes);
    let mut sum = sum_bytes(&header);
    for (i, word) in words.iter().enumerate() {
        pkt.write(at + EDNS_OPTION_HEADER_LEN + i * CLIENT_COOKIE_LEN, *word)?;
        sum += sum_bytes(word);
    }
    Some(at_parity(sum, OptHdr::LEN % 2 == 1))
}
