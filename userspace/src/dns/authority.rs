//! Authoritative answers: SOA/NS at the apex, A/AAAA from the answer table, NXDOMAIN vs NODATA,
//! REFUSED outside our zones, EDNS (version, DO, Client Subnet) and truncation.
//!
//! For a query the XDP program could answer, this gives the same bytes in the header, question,
//! answer section and OPT record, so a packet that falls back gets what a hot one would have.

use std::{collections::HashSet, net::IpAddr, sync::Arc};

use arc_swap::ArcSwap;
use hickory_proto::{
    op::{Edns, Message, MessageType, OpCode, ResponseCode},
    rr::{
        DNSClass, Name, RData, Record, RecordType,
        rdata::{
            A, AAAA, NS, SOA,
            opt::{ClientSubnet, EdnsCode, EdnsOption},
        },
    },
};
use switchyard_common::DEFAULT_VIEW;

use crate::{
    answers::{AnswerTable, Views, wire_name},
    config::{Config, parse_name},
};

struct Zone {
    name: Name,
    /// `name` in the answer table's form, to tell the apex without encoding it per query.
    wire: Vec<u8>,
    soa: Record,
    ns: Vec<Record>,
}

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
    /// Not answered at all (a response, or too short to have a header).
    Dropped,
}

pub struct Reply {
    pub bytes: Option<Vec<u8>>,
    pub outcome: Outcome,
}

pub struct Authority {
    zones: Vec<Zone>,
    /// Every name that exists in our zones (apexes, services, and the names between them).
    names: HashSet<Vec<u8>>,
    views: Views,
    table: Arc<ArcSwap<AnswerTable>>,
    edns_payload: u16,
}

impl Authority {
    pub fn new(config: &Config, views: Views, table: Arc<ArcSwap<AnswerTable>>) -> Authority {
        let mut zones = Vec::new();
        let mut names = HashSet::new();
        for z in &config.zone {
            let name = parse_name(&z.name).expect("validated");
            let soa = SOA::new(
                parse_name(&z.soa.mname).expect("validated"),
                parse_name(&z.soa.rname).expect("validated"),
                z.soa.serial,
                z.soa.refresh,
                z.soa.retry,
                z.soa.expire,
                z.soa.minimum,
            );
            // RFC 2308: negative answers are cached for min(SOA TTL, SOA MINIMUM).
            let soa = Record::from_rdata(name.clone(), z.ttl.min(z.soa.minimum), RData::SOA(soa));
            let ns =
                z.ns.iter()
                    .map(|n| Record::from_rdata(name.clone(), z.ttl, RData::NS(NS(parse_name(n).expect("validated")))))
                    .collect();
            let wire = wire_name(&name);
            names.insert(wire.clone());
            zones.push(Zone { name, wire, soa, ns });
        }
        for service in &config.service {
            let mut name = parse_name(&service.name).expect("validated");
            // The service name and every empty non-terminal up to its zone exist.
            while zones.iter().any(|z| z.name.zone_of(&name)) {
                names.insert(wire_name(&name));
                if name.is_root() {
                    break;
                }
                name = name.base_name();
            }
        }
        Authority { zones, names, views, table, edns_payload: config.server.edns_udp_payload }
    }

    /// Answers one DNS message received over `tcp` or UDP from `client`.
    pub fn respond(&self, request: &[u8], client: IpAddr, tcp: bool) -> Reply {
        let query = match Message::from_vec(request) {
            Ok(q) => q,
            Err(_) => return self.format_error(request),
        };
        if query.metadata.message_type != MessageType::Query {
            return Reply { bytes: None, outcome: Outcome::Dropped };
        }
        let mut response = Message::response(query.metadata.id, query.metadata.op_code);
        response.metadata.recursion_desired = query.metadata.recursion_desired;
        response.metadata.checking_disabled = query.metadata.checking_disabled;
        response.add_queries(query.queries.iter().cloned());

        if let Some(edns) = &query.edns {
            response.set_edns(self.response_edns(edns));
            if edns.version() > 0 {
                response.metadata.response_code = ResponseCode::BADVERS;
                return self.finish(response, &query, tcp, Outcome::BadVers);
            }
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
        let Some(zone) = self.zone_of(qname) else {
            response.metadata.response_code = ResponseCode::Refused;
            return self.finish(response, &query, tcp, Outcome::Refused);
        };
        if question.query_class() != DNSClass::IN {
            response.metadata.response_code = ResponseCode::Refused;
            return self.finish(response, &query, tcp, Outcome::Refused);
        }
        response.metadata.authoritative = true;

        let name = wire_name(qname);
        let (view, scope) = self.locality(&query, client, &name);
        let subnet = client_subnet(&query).map(|s| s.addr()).unwrap_or(client);
        let answers = self.records(zone, qname, &name, question.query_type(), (view, subnet));
        if answers.is_empty() {
            // Asked only now: a name with answers exists, and most queries have answers.
            if !self.names.contains(&name) {
                response.metadata.response_code = ResponseCode::NXDomain;
                response.add_authority(zone.soa.clone());
                return self.finish(response, &query, tcp, Outcome::NxDomain);
            }
            response.add_authority(zone.soa.clone());
            self.set_subnet_scope(&mut response, &query, scope);
            return self.finish(response, &query, tcp, Outcome::NoData);
        }
        response.add_answers(answers);
        self.set_subnet_scope(&mut response, &query, scope);
        self.finish(response, &query, tcp, Outcome::Answered)
    }

    /// Records of one type at one existing name, for a client in `view` at `subnet`. Owners are
    /// the query name as received, so the encoder compresses them to a pointer at the question
    /// (0xC00C), as XDP does.
    fn records(
        &self,
        zone: &Zone,
        qname: &Name,
        name: &[u8],
        qtype: RecordType,
        (view, subnet): (u32, IpAddr),
    ) -> Vec<Record> {
        let at_apex = zone.wire == name;
        let mut out = Vec::new();
        let table = self.table.load();
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
                out.extend(set.ordered_for(subnet).map(|addr| {
                    let rdata = match addr {
                        IpAddr::V4(a) => RData::A(A(*a)),
                        IpAddr::V6(a) => RData::AAAA(AAAA(*a)),
                    };
                    Record::from_rdata(qname.clone(), set.ttl, rdata)
                }));
            }
        }
        out
    }

    /// The view for this query and the ECS scope to report: the client subnet when the query
    /// carries one (RFC 7871), else the source address.
    fn locality(&self, query: &Message, client: IpAddr, name: &[u8]) -> (u32, Option<u8>) {
        let subnet = client_subnet(query);
        let addr = subnet.map(|s| s.addr()).unwrap_or(client);
        let matched = self.views.lookup(addr);
        let view = matched.map(|(v, _)| v).unwrap_or(DEFAULT_VIEW);
        let table = self.table.load();
        let scope = subnet.map(|s| {
            let by_view = if !table.has_view_specific(name, &self.views) {
                0
            } else if let Some((_, len)) = matched {
                len
            } else {
                // Not in any view's prefix: valid for the client's subnet as sent.
                s.source_prefix()
            };
            by_view.max(table.weighted_prefix(name, &self.views, s.addr()))
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

    fn response_edns(&self, query_edns: &Edns) -> Edns {
        let mut edns = Edns::new();
        edns.set_max_payload(self.edns_payload);
        edns.set_version(0);
        edns.set_dnssec_ok(query_edns.flags().dnssec_ok);
        edns
    }

    fn zone_of(&self, name: &Name) -> Option<&Zone> {
        self.zones.iter().filter(|z| z.name.zone_of(name)).max_by_key(|z| z.name.num_labels())
    }

    /// A message we could not parse: FORMERR with its id if it has a header, else nothing.
    fn format_error(&self, request: &[u8]) -> Reply {
        if request.len() < 12 || request[2] & 0x80 != 0 {
            return Reply { bytes: None, outcome: Outcome::Dropped };
        }
        let id = u16::from_be_bytes([request[0], request[1]]);
        let response = Message::error_msg(id, OpCode::Query, ResponseCode::FormErr);
        Reply { bytes: response.to_vec().ok(), outcome: Outcome::FormErr }
    }

    /// Encodes, truncating for UDP when the answer does not fit the client's buffer.
    fn finish(&self, response: Message, query: &Message, tcp: bool, outcome: Outcome) -> Reply {
        let Ok(bytes) = response.to_vec() else {
            return Reply { bytes: None, outcome: Outcome::Dropped };
        };
        let limit = match &query.edns {
            Some(e) => e.max_payload().max(512).min(self.edns_payload) as usize,
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

fn client_subnet(query: &Message) -> Option<&ClientSubnet> {
    match query.edns.as_ref()?.option(EdnsCode::Subnet)? {
        EdnsOption::Subnet(s) => Some(s),
        _ => None,
    }
}
