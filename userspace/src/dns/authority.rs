//! Authoritative answers: SOA/NS at the apex (with glue for name servers inside the zone),
//! A/AAAA from the answer table, NXDOMAIN vs NODATA, REFUSED outside our zones, EDNS (version,
//! DO, Client Subnet) and truncation. TSIG is not supported: a signed query is answered NOTAUTH
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
    op::{Edns, Message, MessageType, OpCode, ResponseCode},
    rr::{
        DNSClass, Name, RData, Record, RecordType,
        rdata::{
            A, AAAA, NS, TSIG,
            opt::{ClientSubnet, EdnsCode, EdnsOption},
            tsig::TsigError,
        },
    },
    serialize::binary::DecodeError,
};
use switchyard_common::DEFAULT_VIEW;

use crate::answers::{AnswerTable, Served, Zone, wire_name};

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
}

pub struct Reply {
    pub bytes: Option<Vec<u8>>,
    pub outcome: Outcome,
}

pub struct Authority {
    /// Zones, names, views and answers, swapped whole by the answer controller.
    served: Arc<ArcSwap<Served>>,
    /// Advertised in EDNS responses (`[server] edns_udp_payload`, reloadable).
    edns_payload: AtomicU16,
}

impl Authority {
    pub fn new(edns_payload: u16, served: Arc<ArcSwap<Served>>) -> Authority {
        Authority { served, edns_payload: AtomicU16::new(edns_payload) }
    }

    pub fn set_edns_payload(&self, payload: u16) {
        self.edns_payload.store(payload, Ordering::Relaxed);
    }

    /// Answers one DNS message received over `tcp` or UDP from `client`.
    pub fn respond(&self, request: &[u8], client: IpAddr, tcp: bool) -> Reply {
        let query = match Message::from_vec(request) {
            Ok(q) => q,
            Err(e) => return self.format_error(request, &e),
        };
        if query.metadata.message_type != MessageType::Query {
            return Reply { bytes: None, outcome: Outcome::Dropped };
        }
        let mut response = Message::response(query.metadata.id, query.metadata.op_code);
        response.metadata.recursion_desired = query.metadata.recursion_desired;
        response.metadata.checking_disabled = query.metadata.checking_disabled;
        response.add_queries(query.queries.iter().cloned());

        if let Some(edns) = &query.edns {
            response.set_edns(self.response_edns(edns.flags().dnssec_ok));
            if edns.version() > 0 {
                response.metadata.response_code = ResponseCode::BADVERS;
                return self.finish(response, &query, tcp, Outcome::BadVers);
            }
        }
        if let Some(badkey) = unsigned_badkey(&query) {
            response.metadata.response_code = ResponseCode::NotAuth;
            response.signature = Some(Box::new(badkey));
            return self.finish(response, &query, tcp, Outcome::NotAuth);
        }
        if query.metadata.op_code != OpCode::Query {
            response.metadata.response_code = ResponseCode::NotImp;
            return self.finish(response, &query, tcp, Outcome::NotImp);
        }
        if query.queries.len() != 1 {
            response.metadata.response_code = ResponseCode::FormErr;
            return self.finish(response, &query, tcp, Outcome::FormErr);
        }
        let question = &query.queries[0];
        let qname = question.name();
        let served = self.served.load();
        let Some(zone) = served.zones.zone_of(qname) else {
            response.metadata.response_code = ResponseCode::Refused;
            return self.finish(response, &query, tcp, Outcome::Refused);
        };
        if question.query_class() != DNSClass::IN {
            response.metadata.response_code = ResponseCode::Refused;
            return self.finish(response, &query, tcp, Outcome::Refused);
        }
        response.metadata.authoritative = true;

        let name = wire_name(qname);
        let (view, scope) = self.locality(&served, &query, client, &name);
        let answers = self.records(&served, zone, qname, &name, question.query_type(), view);
        if answers.is_empty() {
            // Asked only now: a name with answers exists, and most queries have answers.
            if !served.zones.exists(&name) {
                response.metadata.response_code = ResponseCode::NXDomain;
                response.add_authority(zone.soa.clone());
                // RFC 7871 7.2.1: the option goes back with negative answers too.
                self.set_subnet_scope(&mut response, &query, scope);
                return self.finish(response, &query, tcp, Outcome::NxDomain);
            }
            response.add_authority(zone.soa.clone());
            self.set_subnet_scope(&mut response, &query, scope);
            return self.finish(response, &query, tcp, Outcome::NoData);
        }
        let glue = glue(&served.table, zone, &answers, view);
        response.add_answers(answers);
        response.add_additionals(glue);
        self.set_subnet_scope(&mut response, &query, scope);
        self.finish(response, &query, tcp, Outcome::Answered)
    }

    /// Records of one type at one existing name. Owners are the query name as received, so
    /// the encoder compresses them to a pointer at the question (0xC00C), as XDP does.
    fn records(
        &self,
        served: &Served,
        zone: &Zone,
        qname: &Name,
        name: &[u8],
        qtype: RecordType,
        view: u32,
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
        for (t, code) in
            [(RecordType::A, switchyard_common::QTYPE_A), (RecordType::AAAA, switchyard_common::QTYPE_AAAA)]
        {
            if !want(t) {
                continue;
            }
            if let Some(set) = table.lookup(view, code, name) {
                out.extend(
                    set.addrs.iter().map(|addr| Record::from_rdata(qname.clone(), set.ttl, address_rdata(*addr))),
                );
            }
        }
        out
    }

    /// The view for this query and the ECS scope to report: the client subnet when the query
    /// carries one (RFC 7871), else the source address.
    fn locality(&self, served: &Served, query: &Message, client: IpAddr, name: &[u8]) -> (u32, Option<u8>) {
        let subnet = client_subnet(query);
        let addr = subnet.map(|s| s.addr()).unwrap_or(client);
        let matched = served.views.lookup(addr);
        let view = matched.map(|(v, _)| v).unwrap_or(DEFAULT_VIEW);
        let scope = subnet.map(|s| {
            if !served.table.has_view_specific(name, &served.views) {
                0
            } else if let Some((_, len)) = matched {
                len
            } else {
                // Not in any view's prefix: valid for the client's subnet as sent.
                s.source_prefix()
            }
        });
        (view, scope)
    }

    fn set_subnet_scope(&self, response: &mut Message, query: &Message, scope: Option<u8>) {
        let (Some(scope), Some(subnet), Some(edns)) = (scope, client_subnet(query), response.edns.as_mut()) else {
            return;
        };
        let echoed = ClientSubnet::new(subnet.addr(), subnet.source_prefix(), scope);
        edns.options_mut().insert(EdnsOption::Subnet(echoed));
    }

    /// Our OPT record: our payload size, version 0, the query's DO bit.
    fn response_edns(&self, dnssec_ok: bool) -> Edns {
        let mut edns = Edns::new();
        edns.set_max_payload(self.edns_payload.load(Ordering::Relaxed));
        edns.set_version(0);
        edns.set_dnssec_ok(dnssec_ok);
        edns
    }

    /// A message we could not parse: FORMERR with its id if it has a header, else nothing. A
    /// query with more than one OPT record speaks EDNS, so its FORMERR carries our OPT record
    /// (RFC 6891 7).
    fn format_error(&self, request: &[u8], error: &DecodeError) -> Reply {
        if request.len() < 12 || request[2] & 0x80 != 0 {
            return Reply { bytes: None, outcome: Outcome::Dropped };
        }
        let id = u16::from_be_bytes([request[0], request[1]]);
        let mut response = Message::error_msg(id, OpCode::Query, ResponseCode::FormErr);
        if matches!(error, DecodeError::DuplicateEdns) {
            response.set_edns(self.response_edns(false));
        }
        Reply { bytes: response.to_vec().ok(), outcome: Outcome::FormErr }
    }

    /// Encodes, truncating for UDP when the answer does not fit the client's buffer.
    fn finish(&self, response: Message, query: &Message, tcp: bool, outcome: Outcome) -> Reply {
        let Ok(bytes) = response.to_vec() else {
            return Reply { bytes: None, outcome: Outcome::Dropped };
        };
        let limit = match &query.edns {
            Some(e) => e.max_payload().max(512).min(self.edns_payload.load(Ordering::Relaxed)) as usize,
            None => 512,
        };
        if tcp || bytes.len() <= limit {
            return Reply { bytes: Some(bytes), outcome };
        }
        let mut truncated = response.truncate();
        truncated.metadata.truncation = true;
        Reply { bytes: truncated.to_vec().ok(), outcome }
    }
}

/// The addresses of the name servers among `records` that lie inside the zone (RFC 1034 4.3.2:
/// a resolver could not find them otherwise).
fn glue(table: &AnswerTable, zone: &Zone, records: &[Record], view: u32) -> Vec<Record> {
    let mut glue = Vec::new();
    for record in records {
        let RData::NS(NS(server)) = &record.data else { continue };
        if !zone.name.zone_of(server) {
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
    let (key, signed) = query.additionals.iter().find_map(|r| match &r.data {
        RData::TSIG(tsig) => Some((r.name.clone(), tsig)),
        _ => None,
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

fn client_subnet(query: &Message) -> Option<&ClientSubnet> {
    match query.edns.as_ref()?.option(EdnsCode::Subnet)? {
        EdnsOption::Subnet(s) => Some(s),
        _ => None,
    }
}
