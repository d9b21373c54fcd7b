//! The common query answered straight from its bytes: one A or AAAA question of class IN for a
//! name with answers, or for a name in one of our zones without them (NXDOMAIN or NODATA, see
//! `fast_denial`), with no EDNS option (an OPT record without options is fine). An answer
//! is written with the record layout the XDP program uses (`switchyard_common::render_record`),
//! so it is the same bytes the full path builds with hickory, without parsing into a `Message`
//! or allocating per record. Everything else, and any query this does not fully understand,
//! goes to the full path (`None`).

use std::net::IpAddr;

use switchyard_common::{
    DEFAULT_VIEW, QTYPE_A, QTYPE_AAAA,
    proto::{CLASS_IN, DNS_FLAG_AA, DNS_FLAG_CD, DNS_FLAG_QR, DNS_FLAG_RD, EDNS_FLAG_DO, TYPE_OPT},
    record_len,
};

use super::authority::Outcome;
use crate::answers::{AnswerSet, Rendered, Served, Zone, render_records};

const HEADER_LEN: usize = 12;
/// Root owner, type, class, TTL and RDLENGTH of an OPT record.
const OPT_LEN: usize = 11;
/// Longest name in wire form (RFC 1035 2.3.4).
const MAX_WIRE_NAME: usize = 255;
/// What a reply without EDNS may take (RFC 1035 4.2.1).
const PLAIN_UDP_LIMIT: usize = 512;
/// RCODE in the header's flags word (RFC 1035 4.1.1).
const RCODE_NO_ERROR: u16 = 0;
const RCODE_NXDOMAIN: u16 = 3;

/// The parts of a query this path needs, read from its bytes.
struct Plain<'a> {
    id: [u8; 2],
    /// RD and CD, copied into the reply.
    copied_flags: u16,
    /// The question as received (name in the client's case, type, class).
    question: &'a [u8],
    qtype: u16,
    /// The name lowercased, the table's key.
    name: Vec<u8>,
    /// `Some(DO bit)` when the query has an OPT record.
    edns_do: Option<bool>,
    /// The UDP payload size its OPT record offers (0 without one).
    payload: u16,
}

/// The reply to `request` from `client` and what it is, when it is the common case: answers,
/// or NXDOMAIN or NODATA for a name in one of our zones (see `fast_denial`); else `None`.
pub fn answer(request: &[u8], client: IpAddr, served: &Served, edns_payload: u16) -> Option<(Vec<u8>, Outcome)> {
    let query = parse(request)?;
    if query.edns_do == Some(true) && served.zones.any_signed {
        return None;
    }
    let view = served.views.lookup(client).map_or(DEFAULT_VIEW, |(view, _)| view);
    let answered = |reply| (reply, Outcome::Answered);
    let reply = |found: Found<'_>| match found {
        Found::Records(count, records) => rendered(&query, count, records, edns_payload).map(answered),
        Found::Set(set) => addresses(&query, set, client, edns_payload).map(answered),
    };
    if let Some(found) = found(served, view, query.qtype, &query.name) {
        return reply(found);
    }
    // A name that does not exist may be covered by a wildcard (RFC 4592): its records' owner
    // is a pointer to the question either way.
    let zone = served.zones.zone_of_wire(&query.name)?;
    let source = served.zones.wildcard_source(zone, &query.name);
    match source.as_deref().and_then(|source| found(served, view, query.qtype, source)) {
        Some(found) => reply(found),
        None => denial(&query, zone, source.as_deref().unwrap_or(&query.name), served, edns_payload),
    }
}

/// A name's records of one type, as the fast path finds them.
enum Found<'s> {
    /// Rendered ahead: this many records, in stored order.
    Records(u16, &'s [u8]),
    /// In the table only (the order depends on the client).
    Set(&'s AnswerSet),
}

fn found<'s>(served: &'s Served, view: u32, qtype: u16, name: &[u8]) -> Option<Found<'s>> {
    match served.rendered.lookup(view, qtype, name)? {
        Rendered::Records { count, records } => Some(Found::Records(count, records)),
        Rendered::AskTable => served.table.lookup(view, qtype, name).map(Found::Set),
    }
}

/// The answer from records rendered ahead, in stored order (a set without a weighted first
/// answer: every client gets that order).
fn rendered(query: &Plain, count: u16, records: &[u8], edns_payload: u16) -> Option<Vec<u8>> {
    let len = HEADER_LEN + query.question.len() + records.len() + opt_len(query);
    if count == 0 || len > limit(query, edns_payload) {
        return None;
    }
    let mut out = reply_start(query, len, RCODE_NO_ERROR, count, 0);
    out.extend_from_slice(records);
    push_opt(&mut out, query, edns_payload);
    Some(out)
}

/// The answer with the set's addresses in this client's order (a weighted first answer).
fn addresses(query: &Plain, set: &AnswerSet, client: IpAddr, edns_payload: u16) -> Option<Vec<u8>> {
    let mut records = Vec::with_capacity(set.addrs.len() * record_len(query.qtype));
    if !render_records(&mut records, query.qtype, set.ttl, set.ordered_for(client)) {
        return None;
    }
    rendered(query, u16::try_from(set.addrs.len()).ok()?, &records, edns_payload)
}

/// The denial for a name in `zone` that has no records of the type asked: NXDOMAIN
/// when `name` (the one asked, or the wildcard that covers it) does not exist, NODATA when it
/// does (RFC 2308), with the zone's negative SOA; asked in lowercase (the case the zone's
/// template was encoded after).
fn denial(query: &Plain, zone: &Zone, name: &[u8], served: &Served, edns_payload: u16) -> Option<(Vec<u8>, Outcome)> {
    if query.question[..query.name.len()] != query.name[..] {
        return None;
    }
    let (rcode, outcome) =
        if served.zones.exists(name) { (RCODE_NO_ERROR, Outcome::NoData) } else { (RCODE_NXDOMAIN, Outcome::NxDomain) };
    let template = zone.negative.as_ref()?;
    let len = HEADER_LEN + query.question.len() + template.section_len() + opt_len(query);
    if len > limit(query, edns_payload) {
        return None;
    }
    let mut out = reply_start(query, len, rcode, 0, 1);
    template.write_for(&query.name, &mut out)?;
    push_opt(&mut out, query, edns_payload);
    Some((out, outcome))
}

/// A reply of `len` bytes begun: header (ID, QR, AA, RD and CD copied, `rcode`, the counts)
/// and the question as received.
fn reply_start(query: &Plain, len: usize, rcode: u16, answers: u16, authority: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let flags = DNS_FLAG_QR | DNS_FLAG_AA | query.copied_flags | rcode;
    out.extend_from_slice(&query.id);
    for word in [flags, 1, answers, authority, u16::from(query.edns_do.is_some())] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out.extend_from_slice(query.question);
    out
}

fn opt_len(query: &Plain) -> usize {
    if query.edns_do.is_some() { OPT_LEN } else { 0 }
}

/// Our OPT record last, when the query had one.
fn push_opt(out: &mut Vec<u8>, query: &Plain, edns_payload: u16) {
    if let Some(dnssec_ok) = query.edns_do {
        out.extend_from_slice(&opt_record(edns_payload, dnssec_ok));
    }
}

/// The most a UDP reply may take (longer ones the full path truncates): 512 bytes without EDNS,
/// else the client's payload size (at least 512) up to ours.
fn limit(query: &Plain, ours: u16) -> usize {
    match query.edns_do {
        None => PLAIN_UDP_LIMIT,
        Some(_) => usize::from(query.payload.max(512).min(ours)),
    }
}

/// Our OPT record: root owner, our payload size, extended RCODE and version 0, DO copied, no
/// options.
fn opt_record(payload: u16, dnssec_ok: bool) -> [u8; OPT_LEN] {
    let (t, size) = (TYPE_OPT.to_be_bytes(), payload.to_be_bytes());
    let flags = if dnssec_ok { EDNS_FLAG_DO } else { 0 }.to_be_bytes();
    [0, t[0], t[1], size[0], size[1], 0, 0, flags[0], flags[1], 0, 0]
}

/// The query when it is a plain one: a standard query with one question, no answer or
/// authority records, and at most an OPT record of version 0 without options that ends the
/// message.
fn parse(request: &[u8]) -> Option<Plain<'_>> {
    let header: &[u8; HEADER_LEN] = request.first_chunk()?;
    let word = |i: usize| u16::from_be_bytes([header[i], header[i + 1]]);
    let flags = word(2);
    // QR, opcode, AA, TC must be clear (a query, opcode QUERY); RD and CD are copied.
    if flags & 0xfe00 != 0 || word(4) != 1 || word(6) != 0 || word(8) != 0 || word(10) > 1 {
        return None;
    }
    let (name, name_len) = lowercase_name(&request[HEADER_LEN..])?;
    let question_end = HEADER_LEN + name_len + 4;
    let fixed = request.get(HEADER_LEN + name_len..question_end)?;
    let (qtype, qclass) = (u16::from_be_bytes([fixed[0], fixed[1]]), u16::from_be_bytes([fixed[2], fixed[3]]));
    if !matches!(qtype, QTYPE_A | QTYPE_AAAA) || qclass != CLASS_IN {
        return None;
    }
    let (edns_do, payload) = match word(10) {
        0 if request.len() == question_end => (None, 0),
        1 => empty_opt(&request[question_end..]).map(|(dnssec_ok, payload)| (Some(dnssec_ok), payload))?,
        _ => return None,
    };
    Some(Plain {
        id: [header[0], header[1]],
        copied_flags: flags & (DNS_FLAG_RD | DNS_FLAG_CD),
        question: &request[HEADER_LEN..question_end],
        qtype,
        name,
        edns_do,
        payload,
    })
}

/// The name at the start of `bytes`, lowercased, and its length in wire form: plain labels
/// only (no compression pointer, none longer than 63 bytes, at most 255 bytes in all).
fn lowercase_name(bytes: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut at = 0;
    loop {
        let len = usize::from(*bytes.get(at)?);
        if len > 63 || at + 1 + len > MAX_WIRE_NAME {
            return None;
        }
        at += 1 + len;
        if len == 0 {
            break;
        }
    }
    let mut name = bytes.get(..at)?.to_vec();
    name.make_ascii_lowercase();
    Some((name, at))
}

/// The DO bit and payload size of an OPT record that is all of `bytes`: root owner, version 0,
/// no options.
fn empty_opt(bytes: &[u8]) -> Option<(bool, u16)> {
    let opt: &[u8; OPT_LEN] = bytes.try_into().ok()?;
    let rtype = u16::from_be_bytes([opt[1], opt[2]]);
    let (version, flags, rdlen) = (opt[6], u16::from_be_bytes([opt[7], opt[8]]), u16::from_be_bytes([opt[9], opt[10]]));
    let payload = u16::from_be_bytes([opt[3], opt[4]]);
    (opt[0] == 0 && rtype == TYPE_OPT && version == 0 && rdlen == 0).then_some((flags & EDNS_FLAG_DO != 0, payload))
}
