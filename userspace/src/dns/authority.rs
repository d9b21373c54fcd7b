//! Authoritative answers: SOA/NS at the apex (with glue for name servers inside the zone),
//! A/AAAA from the answer table, NXDOMAIN vs NODATA, REFUSED outside our zones, EDNS (version,
//! DO, Client Subnet, NSID, cookies), CHAOS identity names and truncation. TSIG is not supported: a signed query is answered NOTAUTH
//! with an unsigned TSIG record saying BADKEY (RFC 8945 5.2), as by a server that knows no key.
//!
//! For a query the XDP program could answer, this gives the same bytes in the header, question,
//! answer section and OPT record, so a packet that falls back gets what a hot one would have.

use std::{
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicU16, Ordering},
    },
};

use arc_swap::ArcSwap;
use hickory_proto::{
    dnssec::rdata::DNSSECRData,
    op::{Edns, Message, MessageType, OpCode, Query, ResponseCode},
    rr::{
        DNSClass, Name, RData, Record, RecordType,
        rdata::{
            A, AAAA, NS, TSIG,
            opt::{ClientSubnet, EdnsCode, EdnsOption},
            tsig::TsigError,
        },
    },
    serialize::binary::{BinDecodable, BinDecoder, DecodeError},
};
use switchyard_common::{CookieConfig, DEFAULT_VIEW};

use super::{
    client_subnet,
    cookies::{self, CookieReply},
    fast_answer,
    identity::Identity,
    signed,
};
use crate::answers::{AnswerTable, Served, Zone, wire_name};
use crate::dnssec::{ZoneSigning, denial::NXNAME};
use crate::rrl::Rrl;

/// How a query was handled, for counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Answered,
    NoData,
    NxDomain,
    Refused,
    FormErr,
    NotImp,
    BadVers,
    /// TSIG-signed: no key is known (TSIG is not supported).
    NotAuth,
    /// Not answered at all (a response, or too short to have a header).
    Dropped,
    /// A signed zone's answer could not be signed.
    ServFail,
}

pub struct Reply {
    pub bytes: Option<Vec<u8>>,
    pub outcome: Outcome,
    /// The query carried a valid server cookie of ours (RFC 7873): the client has talked to us
    /// before from its address, so it is no spoofed source (what rate limiting exempts).
    pub valid_server_cookie: bool,
}

pub struct Authority {
    /// Zones, names, views and answers, swapped whole by the answer controller.
    served: Arc<ArcSwap<Served>>,
    /// Advertised in EDNS responses (`[server] edns_udp_payload`, reloadable).
    edns_payload: AtomicU16,
    /// NSID and CHAOS names (reloadable).
    identity: ArcSwap<Identity>,
    /// Server cookie secrets (`CookieConfig::default()`: cookies off), swapped on rotation.
    cookies: ArcSwap<CookieConfig>,
    /// Unix seconds now, for cookies; a fixed clock in tests.
    clock: fn() -> u32,
    /// Response rate limiting of what the UDP server answers (settings reloadable).
    rrl: Arc<Rrl>,
}

impl Authority {
    pub fn new(edns_payload: u16, served: Arc<ArcSwap<Served>>) -> Authority {
        Authority {
            served,
            edns_payload: AtomicU16::new(edns_payload),
            identity: Default::default(),
            cookies: Default::default(),
            clock: cookies::wall_seconds,
            rrl: Default::default(),
        }
    }

    pub fn set_cookies(&self, config: CookieConfig) {
        self.cookies.store(Arc::new(config));
    }

    /// Stamps cookies with `clock` instead of the wall clock.
    pub fn with_clock(mut self, clock: fn() -> u32) -> Authority {
        self.clock = clock;
        self
    }

    /// What the query's COOKIE option asks of its reply, from `client` now; see
    /// `CookieReply::valid_server_cookie` for whether it carried a valid server cookie.
    pub fn cookie_reply(&self, query: &Message, client: IpAddr) -> CookieReply {
        cookies::reply_for(&self.cookies.load(), query, client, (self.clock)())
    }

    /// The UDP server's rate limiter.
    pub fn rrl(&self) -> &Arc<Rrl> {
        &self.rrl
    }

    /// The empty truncated reply (TC=1) a rate-limited query may get instead of its answer, so
    /// that a real client retries over TCP: header, question and a plain OPT record (no cookie,
    /// NSID or Client Subnet, as in XDP's). `None` for what would get no answer anyway.
    pub fn truncated_reply(&self, query: &Message) -> Option<Vec<u8>> {
        if query.metadata.message_type != MessageType::Query {
            return None;
        }
        let mut response = header_and_question(query);
        if let Some(edns) = &query.edns {
            response.set_edns(self.response_edns(edns.flags().dnssec_ok));
        }
        response.metadata.authoritative = true;
        response.metadata.truncation = true;
        response.to_vec().ok()
    }

    pub fn set_identity(&self, identity: Identity) {
        self.identity.store(Arc::new(identity));
    }

    pub fn set_edns_payload(&self, payload: u16) {
        self.edns_payload.store(payload, Ordering::Relaxed);
    }

    /// Answers one DNS message received over `tcp` or UDP from `client`: the common A/AAAA
    /// query from its bytes when it can be, else through hickory.
    pub fn respond(&self, request: &[u8], client: IpAddr, tcp: bool) -> Reply {
        match self.fast_answer(request, client) {
            Some((bytes, outcome)) => Reply { bytes: Some(bytes), outcome, valid_server_cookie: false },
            None => self.respond_in_full(request, client, tcp),
        }
    }

    /// The reply to the common A/AAAA query (one question of class IN for a name with answers
    /// or one that does not exist in our zones, no EDNS option, so no cookie), written from its
    /// bytes, and what it is; `None` for every other query.
    pub fn fast_answer(&self, request: &[u8], client: IpAddr) -> Option<(Vec<u8>, Outcome)> {
        fast_answer::answer(request, client, &self.served.load(), self.edns_payload.load(Ordering::Relaxed))
    }

    /// `respond` through hickory for every query (what the fast path must equal).
    pub(super) fn respond_in_full(&self, request: &[u8], client: IpAddr, tcp: bool) -> Reply {
        let query = match self.parse(request) {
            Ok(query) => query,
            Err(reply) => return reply,
        };
        let cookie = self.cookie_reply(&query, client);
        self.respond_to(&query, request, client, &cookie, tcp)
    }

    /// The query in a received message, or the reply the message gets without one: FORMERR for
    /// what does not parse, nothing for a response.
    pub fn parse(&self, request: &[u8]) -> Result<Message, Reply> {
        let query = Message::from_vec(request).map_err(|e| self.format_error(request, &e))?;
        if query.metadata.message_type != MessageType::Query {
            return Err(Reply { bytes: None, outcome: Outcome::Dropped, valid_server_cookie: false });
        }
        Ok(query)
    }

    /// Answers `query` (parsed from `request`) with the `cookie` decided for it.
    pub fn respond_to(
        &self,
        query: &Message,
        request: &[u8],
        client: IpAddr,
        cookie: &CookieReply,
        tcp: bool,
    ) -> Reply {
        let mut response = self.response_to(query, cookie);
        let outcome = match self.refusal(query, request, cookie, &mut response) {
            Some(outcome) => outcome,
            None => self.answer(query, client, &mut response),
        };
        let mut reply = self.finish(response, query, tcp, outcome);
        reply.valid_server_cookie = cookie.valid_server_cookie();
        reply
    }

    /// The response's header, question and OPT record (with our NSID when asked for, and our
    /// cookie).
    fn response_to(&self, query: &Message, cookie: &CookieReply) -> Message {
        let mut response = header_and_question(query);
        if let Some(edns) = &query.edns {
            let mut ours = self.response_edns(edns.flags().dnssec_ok);
            self.identity.load().add_nsid(query, &mut ours);
            if let CookieReply::Answer { option, .. } = cookie {
                ours.options_mut().insert(cookies::edns_option(option));
            }
            response.set_edns(ours);
        }
        response
    }

    /// The error a query gets before its question is looked at, set in `response`.
    fn refusal(
        &self,
        query: &Message,
        request: &[u8],
        cookie: &CookieReply,
        response: &mut Message,
    ) -> Option<Outcome> {
        let (code, outcome) = if query.edns.as_ref().is_some_and(|e| e.version() > 0) {
            (ResponseCode::BADVERS, Outcome::BadVers)
        } else if let Some(badkey) = unsigned_badkey(query) {
            response.signature = Some(Box::new(badkey));
            (ResponseCode::NotAuth, Outcome::NotAuth)
        } else if query.metadata.op_code != OpCode::Query {
            // NOTIFY too: RFC 1996 3.12 has a server that does not implement it answer NOTIMP.
            (ResponseCode::NotImp, Outcome::NotImp)
        } else if asks_only_for_a_cookie(query, cookie) {
            // RFC 7873 5.4: a client learns our server cookie with a query without a question.
            (ResponseCode::NoError, Outcome::Answered)
        } else if query.queries.len() != 1
            || (subnet_option(query).is_some() && !client_subnet::well_formed(request))
            || (query.edns.is_some() && !client_subnet::opt_well_formed(request))
            || *cookie == CookieReply::Malformed
            || asks_for_nxname(query)
        {
            // Refused: an option that overruns the OPT record's data (RFC 6891 6.1.2 gives each
            // option's length; refusing one that does not fit is our choice), or an OPT record
            // whose owner is not the root (6.1.2: it MUST be; BIND refuses it too); a malformed Client
            // Subnet option, never echoed (RFC 7871 6); a COOKIE option of a length it does not
            // allow (RFC 7873 5.2.2); the NXNAME pseudo-type as a QTYPE (RFC 9824 3.5).
            (ResponseCode::FormErr, Outcome::FormErr)
        } else {
            return None;
        };
        response.metadata.response_code = code;
        Some(outcome)
    }

    /// Answers the one question: a CHAOS identity name, or a name in our zones (class IN or
    /// ANY, which matches IN: RFC 1035 3.2.5); anything else is refused.
    fn answer(&self, query: &Message, client: IpAddr, response: &mut Message) -> Outcome {
        let question = &query.queries[0];
        if let Some(record) = self.identity.load().chaos_answer(question) {
            response.metadata.authoritative = true;
            response.add_answer(record);
            return Outcome::Answered;
        }
        let qname = question.name();
        let served = self.served.load();
        let in_class = matches!(question.query_class(), DNSClass::IN | DNSClass::ANY);
        // Zone transfers are not offered: refused at once, not an answer a client waits on.
        let transfer = matches!(question.query_type(), RecordType::AXFR | RecordType::IXFR);
        let Some(zone) = served.zones.zone_of(qname).filter(|_| in_class && !transfer) else {
            response.metadata.response_code = ResponseCode::Refused;
            return Outcome::Refused;
        };
        response.metadata.authoritative = true;

        let name = wire_name(qname);
        // A name that does not exist but that a wildcard covers is answered from the wildcard's
        // records, with the name asked as their owner (RFC 4592 3.3.1); signed, as if it existed.
        let source = served.zones.wildcard_source(zone, &name);
        let synthesized = source.is_some();
        let name = source.unwrap_or(name);
        let subnet = subnet_option(query);
        let addr = subnet.map_or(client, |s| s.addr());
        let (view, scope) = self.locality(&served, subnet, addr, &name);
        // RFC 7871 7.2.1: the option goes back with negative answers too.
        if let (Some(subnet), Some(scope)) = (subnet, scope) {
            echo_subnet(response, subnet, scope);
        }
        // RFC 4035 3.1.4.1: the DS at a zone cut is the parent's, when we serve the parent too.
        if question.query_type() == RecordType::DS
            && zone.wire == name
            && let Some(parent) = served.zones.parent_of(zone)
        {
            return delegation_ds(parent, zone, query, qname, response);
        }
        if let Some(signer) = zone.signing.signer()
            && matches!(question.query_type(), RecordType::NSEC | RecordType::RRSIG)
        {
            let exists = served.zones.exists(&name);
            if signed::answers_dnssec_query(query, exists) {
                let rrsets = exists.then(|| self.records(&served, zone, qname, &name, RecordType::ANY, (view, addr)));
                return signed::explicit_dnssec_query(zone, signer, query, rrsets, synthesized, response);
            }
        }
        let answers = self.records(&served, zone, qname, &name, question.query_type(), (view, addr));
        if answers.is_empty() {
            response.add_authority(zone.negative_soa.clone());
            // Asked only now: a name with answers exists, and most queries have answers.
            if !served.zones.exists(&name) {
                response.metadata.response_code = ResponseCode::NXDomain;
                return signed::sign_if_asked(zone, query, response, Some((qname, None)), Outcome::NxDomain, false);
            }
            let existing = || self.types_at(&served, zone, qname, &name, (view, addr));
            let denied = signed::dnssec_ok(query).then(|| (qname, Some(existing())));
            return signed::sign_if_asked(zone, query, response, denied, Outcome::NoData, synthesized);
        }
        let glue = glue(&served, zone, &answers, view);
        response.add_answers(answers);
        response.add_additionals(glue);
        signed::sign_if_asked(zone, query, response, None, Outcome::Answered, synthesized)
    }

    /// The types a name has for this client, for the NSEC that denies the others.
    fn types_at(&self, served: &Served, zone: &Zone, qname: &Name, name: &[u8], at: (u32, IpAddr)) -> Vec<RecordType> {
        let mut types: Vec<RecordType> =
            self.records(served, zone, qname, name, RecordType::ANY, at).iter().map(|r| r.record_type()).collect();
        types.dedup();
        types
    }

    /// Records of one type at one existing name, for a client in `view` at `subnet`. Owners are
    /// the query name as received, so the encoder compresses them to a pointer at the question
    /// (0xC00C), as XDP does.
    fn records(
        &self,
        served: &Served,
        zone: &Zone,
        qname: &Name,
        name: &[u8],
        qtype: RecordType,
        (view, subnet): (u32, IpAddr),
    ) -> Vec<Record> {
        let at_apex = zone.wire == name;
        let mut out = Vec::new();
        let table = &served.table;
        let want = |t: RecordType| qtype == t || qtype == RecordType::ANY;
        if at_apex && want(RecordType::SOA) {
            let mut soa = zone.soa.clone();
            soa.name = qname.clone();
            out.push(soa);
        }
        if at_apex && want(RecordType::NS) {
            out.extend(zone.ns.iter().cloned().map(|mut r| {
                r.name = qname.clone();
                r
            }));
        }
        if let Some(signer) = zone.signing.signer().filter(|_| at_apex) {
            for t in [RecordType::DNSKEY, RecordType::CDS, RecordType::CDNSKEY] {
                if want(t) {
                    out.extend(signer.apex_records(t, qname, zone.soa.ttl));
                }
            }
        }
        for (t, code) in
            [(RecordType::A, switchyard_common::QTYPE_A), (RecordType::AAAA, switchyard_common::QTYPE_AAAA)]
        {
            if !want(t) {
                continue;
            }
            if let Some(set) = table.lookup(view, code, name) {
                out.extend(
                    set.ordered_for(subnet)
                        .map(|addr| Record::from_rdata(qname.clone(), set.ttl, address_rdata(*addr))),
                );
            }
        }
        out
    }

    /// The view for this query and the ECS scope to report: the client subnet when the query
    /// carries one (RFC 7871), else the source address. The scope covers exactly the addresses
    /// that get the same view (0 for a name answered alike in every view), so a resolver never
    /// reuses the answer for a client of another view, whatever subnet length it sent.
    fn locality(&self, served: &Served, subnet: Option<&ClientSubnet>, addr: IpAddr, name: &[u8]) -> (u32, Option<u8>) {
        let matched = served.views.lookup(addr);
        let view = matched.map(|(v, _)| v).unwrap_or(DEFAULT_VIEW);
        let scope = subnet.map(|s| {
            let by_view =
                if served.table.has_view_specific(name, &served.views) { served.views.scope(addr) } else { 0 };
            // A weighted first answer holds for the client's /24 or /56 only.
            by_view.max(served.table.weighted_prefix(name, &served.views, s.addr()))
        });
        (view, scope)
    }

    /// Our OPT record: our payload size, version 0, the query's DO bit.
    fn response_edns(&self, dnssec_ok: bool) -> Edns {
        let mut edns = Edns::new();
        edns.set_max_payload(self.edns_payload.load(Ordering::Relaxed));
        edns.set_version(0);
        edns.set_dnssec_ok(dnssec_ok);
        edns
    }

    /// A message we could not parse: FORMERR with its id if it has a header, else nothing, and
    /// its question when that much parses. A query with an OPT record (or more than one) speaks
    /// EDNS, so its FORMERR carries our OPT record (RFC 6891 7).
    fn format_error(&self, request: &[u8], error: &DecodeError) -> Reply {
        if request.len() < 12 || request[2] & 0x80 != 0 {
            return Reply { bytes: None, outcome: Outcome::Dropped, valid_server_cookie: false };
        }
        let id = u16::from_be_bytes([request[0], request[1]]);
        // RFC 1035 4.1.1: the reply copies the query's opcode and RD bit.
        let op_code = OpCode::from_u8((request[2] >> 3) & 0x0f);
        let mut response = Message::error_msg(id, op_code, ResponseCode::FormErr);
        response.metadata.recursion_desired = request[2] & 0x01 != 0;
        if let Some(question) = only_question(request) {
            response.add_query(question);
        }
        let dnssec_ok = client_subnet::opt_dnssec_ok(request);
        if dnssec_ok.is_some() || matches!(error, DecodeError::DuplicateEdns) {
            response.set_edns(self.response_edns(dnssec_ok.unwrap_or(false)));
        }
        Reply { bytes: response.to_vec().ok(), outcome: Outcome::FormErr, valid_server_cookie: false }
    }

    /// Encodes, truncating for UDP when the answer does not fit the client's buffer.
    fn finish(&self, mut response: Message, query: &Message, tcp: bool, outcome: Outcome) -> Reply {
        let Ok(bytes) = response.to_vec() else {
            return Reply { bytes: None, outcome: Outcome::Dropped, valid_server_cookie: false };
        };
        let limit = match &query.edns {
            Some(e) => e.max_payload().max(512).min(self.edns_payload.load(Ordering::Relaxed)) as usize,
            None => 512,
        };
        if tcp || bytes.len() <= limit {
            return Reply { bytes: Some(bytes), outcome, valid_server_cookie: false };
        }
        // RFC 2181 9, RFC 4035 3.1.1: additional records (glue and its RRSIGs) that do not fit
        // are left out without TC; the OPT record is kept apart and stays.
        if !response.additionals.is_empty() {
            response.additionals.clear();
            if let Some(bytes) = response.to_vec().ok().filter(|b| b.len() <= limit) {
                return Reply { bytes: Some(bytes), outcome, valid_server_cookie: false };
            }
        }
        let mut truncated = response.truncate();
        truncated.metadata.truncation = true;
        Reply { bytes: truncated.to_vec().ok(), outcome, valid_server_cookie: false }
    }
}

/// A response to `query` with its ID, opcode, RD and CD, and its question.
fn header_and_question(query: &Message) -> Message {
    let mut response = Message::response(query.metadata.id, query.metadata.op_code);
    response.metadata.recursion_desired = query.metadata.recursion_desired;
    response.metadata.checking_disabled = query.metadata.checking_disabled;
    response.add_queries(query.queries.iter().cloned());
    response
}

/// The one question of a message whose later sections did not parse.
fn only_question(request: &[u8]) -> Option<Query> {
    if request.get(4..6)? != [0, 1] {
        return None;
    }
    let mut decoder = BinDecoder::new(request);
    decoder.read_slice(12).ok()?;
    Query::read(&mut decoder).ok()
}

/// The answer to a DS query for the apex of `child`, a zone inside `parent` that we serve too:
/// the DS RRset is the parent's data (RFC 4035 3.1.4.1), so it comes from the child's keys
/// (the digest `dnssec ds` prints) with the parent's TTL, signed with the parent's key. A child
/// whose keys could not be read gets SERVFAIL: a signed denial of its DS would tell validators
/// that the child is unsigned.
fn delegation_ds(parent: &Zone, child: &Zone, query: &Message, qname: &Name, response: &mut Message) -> Outcome {
    let ds = match &child.signing {
        ZoneSigning::Signed(signer) => signer.ds_records(),
        ZoneSigning::Unavailable(_) => return signed::server_failure(response),
        ZoneSigning::Unsigned => {
            // An insecure delegation: the parent has the cut's NS and no DS there.
            response.add_authority(parent.negative_soa.clone());
            let denied = signed::dnssec_ok(query).then(|| (qname, Some(vec![RecordType::NS])));
            return signed::sign_if_asked(parent, query, response, denied, Outcome::NoData, false);
        }
    };
    let ds = match ds {
        Ok(ds) => ds,
        Err(e) => {
            tracing::debug!(zone = %child.name, error = %e, "no DS for the zone: SERVFAIL");
            return signed::server_failure(response);
        }
    };
    let ttl = parent.soa.ttl;
    response.add_answers(
        ds.into_iter().map(|ds| Record::from_rdata(qname.clone(), ttl, RData::DNSSEC(DNSSECRData::DS(ds)))),
    );
    signed::sign_if_asked(parent, query, response, None, Outcome::Answered, false)
}

/// The addresses of the name servers among `records` that lie inside the zone (RFC 1034 4.3.2:
/// a resolver could not find them otherwise), not below a zone of ours inside it: those are
/// the other zone's data, which this zone's key must not sign.
fn glue(served: &Served, zone: &Zone, records: &[Record], view: u32) -> Vec<Record> {
    let table: &AnswerTable = &served.table;
    let mut glue = Vec::new();
    for record in records {
        let RData::NS(NS(server)) = &record.data else { continue };
        if served.zones.zone_of(server).is_none_or(|z| z.name != zone.name) {
            continue;
        }
        let name = wire_name(server);
        for code in [switchyard_common::QTYPE_A, switchyard_common::QTYPE_AAAA] {
            if let Some(set) = table.lookup(view, code, &name) {
                glue.extend(
                    set.addrs.iter().map(|addr| Record::from_rdata(server.clone(), set.ttl, address_rdata(*addr))),
                );
            }
        }
    }
    glue
}

fn address_rdata(addr: IpAddr) -> RData {
    match addr {
        IpAddr::V4(a) => RData::A(A(a)),
        IpAddr::V6(a) => RData::AAAA(AAAA(a)),
    }
}

/// For a TSIG-signed query, the TSIG record of the answer: BADKEY, unsigned (no MAC), as RFC
/// 8945 5.2 and 5.3.2 ask of a server that does not know the key.
fn unsigned_badkey(query: &Message) -> Option<Record<TSIG>> {
    // The decoder takes a TSIG that ends the message as its signature.
    let last = query.signature.as_deref().map(|r| (r.name.clone(), &r.data));
    let (key, signed) = last.or_else(|| {
        query.additionals.iter().find_map(|r| match &r.data {
            RData::TSIG(tsig) => Some((r.name.clone(), tsig)),
            _ => None,
        })
    })?;
    let tsig = TSIG::new(
        signed.algorithm.clone(),
        signed.time,
        signed.fudge,
        Vec::new(),
        signed.oid,
        Some(TsigError::BadKey),
        Vec::new(),
    );
    let mut record = Record::from_rdata(key, 0, tsig);
    record.dns_class = DNSClass::ANY;
    Some(record)
}

/// Whether `query` has no question and no records, only a COOKIE option we answer.
fn asks_only_for_a_cookie(query: &Message, cookie: &CookieReply) -> bool {
    let empty = query.queries.is_empty() && query.answers.is_empty() && query.authorities.is_empty();
    empty && matches!(cookie, CookieReply::Answer { .. })
}

/// Whether `query` asks for the NXNAME pseudo-type, which only ever appears in an NSEC's bitmap.
fn asks_for_nxname(query: &Message) -> bool {
    query.queries.iter().any(|q| q.query_type() == NXNAME)
}

/// Our OPT record carries the query's Client Subnet back with the scope the answer holds for.
fn echo_subnet(response: &mut Message, subnet: &ClientSubnet, scope: u8) {
    if let Some(edns) = response.edns.as_mut() {
        let echoed = ClientSubnet::new(subnet.addr(), subnet.source_prefix(), scope);
        edns.options_mut().insert(EdnsOption::Subnet(echoed));
    }
}

fn subnet_option(query: &Message) -> Option<&ClientSubnet> {
    match query.edns.as_ref()?.option(EdnsCode::Subnet)? {
        EdnsOption::Subnet(s) => Some(s),
        _ => None,
    }
}
