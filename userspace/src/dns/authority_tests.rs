//! Authoritative logic without sockets: every answer kind, EDNS and Client Subnet.

use std::{net::IpAddr, sync::Arc};

use arc_swap::ArcSwap;

use hickory_proto::{
    op::{Edns, Message, OpCode, Query, ResponseCode},
    rr::{
        DNSClass, Name, RData, Record, RecordType,
        rdata::{
            TSIG,
            opt::{ClientSubnet, EdnsCode, EdnsOption},
            tsig::{TsigAlgorithm, TsigError},
        },
    },
};

use super::authority::{Authority, Outcome};
use crate::{
    answers::{AnswerController, Served, Views, Zones},
    config::{Config, fixture::ConfigText},
    dnssec::denial::NXNAME,
    site::{SiteMap, SiteState},
};

/// Two static sites behind www (view "eu" prefers two), and a name with ten fixed addresses.
pub(super) fn config() -> ConfigText {
    let many: Vec<String> = (1..=10).map(|i| format!("198.18.3.{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    ConfigText::new()
        .xdp_off()
        .zone_with(&["ns1.example.com.", "ns2.example.com."], "minimum = 60")
        .view("eu", &["198.18.128.0/17", "fd00:e0::/32"])
        .site("one", &["198.18.1.1"], &["fd00:1::1"])
        .site("two", &["198.18.2.1"], &[])
        .service("www.example.com.", 30, &["one", "two"])
        .line(r#"views.eu = ["two", "one"]"#)
        .fixed_service("many.deep.example.com.", &many, &[])
        .fixed_service("ns1.example.com.", &["198.18.53.1"], &["fd00:53::1"])
}

fn authority() -> Authority {
    authority_for(&config().build())
}

/// The server as the daemon builds it, with every site available (they have no checks).
pub(super) fn authority_for(text: &str) -> Authority {
    let config = Config::parse(text, "test.toml").unwrap();
    Authority::new(config.server.edns_udp_payload, served_for(&config))
}

/// What the daemon serves for `config` with every site available.
pub(super) fn served_for(config: &Config) -> Arc<ArcSwap<Served>> {
    served_with_down(config, &[])
}

/// What the daemon serves for `config` while the sites named in `down` are unavailable.
pub(super) fn served_with_down(config: &Config, down: &[&str]) -> Arc<ArcSwap<Served>> {
    let views = Views::from_config(config);
    let state = |name: &str| SiteState { available: !down.contains(&name), load: 0, rtt_us: 0 };
    let sites: SiteMap = config.site.iter().map(|s| (s.name.clone(), state(&s.name))).collect();
    let zones = Zones::from_config(config, &Default::default());
    AnswerController::new(config, views, zones, &sites).unwrap().served()
}

pub(super) fn query(name: &str, rtype: RecordType) -> Message {
    let mut m = Message::query();
    m.metadata.id = 4242;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    m
}

fn with_edns(mut m: Message, payload: u16) -> Message {
    let mut e = Edns::new();
    e.set_max_payload(payload);
    m.set_edns(e);
    m
}

pub(super) fn ask(a: &Authority, m: &Message, client: &str) -> (Message, Outcome) {
    let reply = a.respond(&m.to_vec().unwrap(), client.parse::<IpAddr>().unwrap(), false);
    (Message::from_vec(&reply.bytes.expect("an answer")).unwrap(), reply.outcome)
}

pub(super) fn addrs(m: &Message) -> Vec<String> {
    m.answers.iter().map(|r| r.data.to_string()).collect()
}

#[test]
fn a_answer_keeps_order_case_and_flags() {
    let (r, outcome) = ask(&authority(), &query("WWW.example.COM.", RecordType::A), "198.18.0.2");
    assert_eq!(outcome, Outcome::Answered);
    assert_eq!(addrs(&r), ["198.18.1.1", "198.18.2.1"]);
    assert_eq!(r.queries[0].name().to_string(), "WWW.example.COM.");
    assert!(r.metadata.authoritative && r.metadata.recursion_desired && !r.metadata.recursion_available);
    assert_eq!(r.metadata.id, 4242);
}

#[test]
fn answers_are_compressed_to_the_question() {
    let a = authority();
    let reply =
        a.respond(&query("www.example.com.", RecordType::A).to_vec().unwrap(), "198.18.0.2".parse().unwrap(), false);
    let bytes = reply.bytes.unwrap();
    // Header (12) + question (17 + 4), then the first answer's owner: pointer 0xC00C.
    assert_eq!(&bytes[33..35], &[0xC0, 0x0C]);
}

#[test]
fn apex_has_soa_and_ns() {
    let a = authority();
    let (soa, _) = ask(&a, &query("example.com.", RecordType::SOA), "198.18.0.2");
    assert!(matches!(soa.answers[0].data, RData::SOA(_)));
    let (ns, _) = ask(&a, &query("example.com.", RecordType::NS), "198.18.0.2");
    assert_eq!(addrs(&ns), ["ns1.example.com.", "ns2.example.com."]);
}

#[test]
fn nxdomain_nodata_and_empty_non_terminal() {
    let a = authority();
    let (nx, outcome) = ask(&a, &query("missing.example.com.", RecordType::A), "198.18.0.2");
    assert_eq!((nx.metadata.response_code, outcome), (ResponseCode::NXDomain, Outcome::NxDomain));
    assert_eq!(nx.authorities[0].ttl, 60, "negative TTL is the SOA minimum");
    let (nodata, outcome) = ask(&a, &query("www.example.com.", RecordType::MX), "198.18.0.2");
    assert_eq!((nodata.metadata.response_code, outcome), (ResponseCode::NoError, Outcome::NoData));
    assert!(nodata.answers.is_empty() && matches!(nodata.authorities[0].data, RData::SOA(_)));
    let (ent, outcome) = ask(&a, &query("deep.example.com.", RecordType::A), "198.18.0.2");
    assert_eq!((ent.metadata.response_code, outcome), (ResponseCode::NoError, Outcome::NoData));
}

#[test]
fn outside_our_zones_is_refused() {
    let (r, outcome) = ask(&authority(), &query("www.example.net.", RecordType::A), "198.18.0.2");
    assert_eq!((r.metadata.response_code, outcome), (ResponseCode::Refused, Outcome::Refused));
    assert!(!r.metadata.authoritative);
}

#[test]
fn edns_is_answered_with_our_opt_and_badvers_for_version_1() {
    let a = authority();
    let (r, _) = ask(&a, &with_edns(query("www.example.com.", RecordType::A), 4096), "198.18.0.2");
    let edns = r.edns.expect("OPT in the response");
    assert_eq!((edns.version(), edns.max_payload()), (0, 1232));
    let mut q = with_edns(query("www.example.com.", RecordType::A), 4096);
    q.edns.as_mut().unwrap().set_version(1);
    let (r, outcome) = ask(&a, &q, "198.18.0.2");
    // BADVERS shares code 16 with BADSIG; the decoder names it BADSIG.
    assert_eq!((u16::from(r.metadata.response_code), outcome), (16, Outcome::BadVers));
    assert_eq!(r.edns.unwrap().version(), 0);
}

#[test]
fn locality_from_source_address_and_from_client_subnet() {
    let a = authority();
    let (r, _) = ask(&a, &query("www.example.com.", RecordType::A), "198.18.200.9");
    assert_eq!(addrs(&r), ["198.18.2.1", "198.18.1.1"], "eu clients get their own order");
    let (r, _) = ask(&a, &query("www.example.com.", RecordType::AAAA), "198.18.200.9");
    assert_eq!(addrs(&r), ["fd00:1::1"], "only site one has IPv6, in every view");

    let mut q = with_edns(query("www.example.com.", RecordType::A), 1232);
    let subnet = ClientSubnet::new("198.18.130.0".parse().unwrap(), 24, 0);
    q.edns.as_mut().unwrap().options_mut().insert(EdnsOption::Subnet(subnet));
    let (r, _) = ask(&a, &q, "198.18.0.2");
    assert_eq!(addrs(&r), ["198.18.2.1", "198.18.1.1"], "the subnet, not the resolver, decides");
    let Some(EdnsOption::Subnet(echo)) = r.edns.as_ref().unwrap().option(EdnsCode::Subnet) else {
        panic!("ECS echoed")
    };
    assert_eq!((echo.source_prefix(), echo.scope_prefix()), (24, 17), "scope is the matching view prefix");
}

#[test]
fn large_answers_are_truncated_over_udp_but_not_tcp() {
    let aaaa: Vec<String> = (1..=30).map(|i| format!("fd00:3::{i:x}")).collect();
    let aaaa: Vec<&str> = aaaa.iter().map(String::as_str).collect();
    let a = authority_for(&config().fixed_service("big.example.com.", &[], &aaaa).build());
    let client: IpAddr = "198.18.0.2".parse().unwrap();
    let q = query("big.example.com.", RecordType::AAAA).to_vec().unwrap();
    let udp = Message::from_vec(&a.respond(&q, client, false).bytes.unwrap()).unwrap();
    assert!(udp.metadata.truncation && udp.answers.is_empty(), "30 AAAA do not fit in 512 bytes");
    let tcp = Message::from_vec(&a.respond(&q, client, true).bytes.unwrap()).unwrap();
    assert!(!tcp.metadata.truncation);
    assert_eq!(tcp.answers.len(), 30);
    let q = with_edns(query("big.example.com.", RecordType::AAAA), 1232).to_vec().unwrap();
    let edns = Message::from_vec(&a.respond(&q, client, false).bytes.unwrap()).unwrap();
    assert_eq!(edns.answers.len(), 30, "fits in the EDNS buffer");
}

#[test]
fn garbage_gets_formerr_or_nothing() {
    let a = authority();
    let client: IpAddr = "198.18.0.2".parse().unwrap();
    assert!(a.respond(&[1, 2, 3], client, false).bytes.is_none(), "no header: nothing");
    let mut header_only = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    header_only.extend_from_slice(&[0xff; 5]);
    let reply = a.respond(&header_only, client, false);
    assert_eq!(reply.outcome, Outcome::FormErr);
    let r = Message::from_vec(&reply.bytes.unwrap()).unwrap();
    assert_eq!((r.metadata.id, r.metadata.response_code), (0x1234, ResponseCode::FormErr));
    let mut response = query("www.example.com.", RecordType::A);
    response.metadata.message_type = hickory_proto::op::MessageType::Response;
    assert_eq!(
        a.respond(&response.to_vec().unwrap(), client, false).outcome,
        Outcome::Dropped,
        "never answer a response"
    );
}

#[test]
fn a_formerr_copies_the_opcode_and_rd_of_the_query() {
    let a = authority();
    let client: IpAddr = "198.18.0.2".parse().unwrap();
    // (flags byte, opcode, RD): NOTIFY with RD, QUERY without, UPDATE with.
    for (flags, opcode, rd) in
        [(0x21, OpCode::Notify, true), (0x00, OpCode::Query, false), (0x29, OpCode::Update, true)]
    {
        let mut unparsable = vec![0x12, 0x34, flags, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        unparsable.extend_from_slice(&[0xff; 5]);
        let reply = a.respond(&unparsable, client, false);
        assert_eq!(reply.outcome, Outcome::FormErr);
        let r = Message::from_vec(&reply.bytes.unwrap()).unwrap();
        assert_eq!(r.metadata.response_code, ResponseCode::FormErr);
        assert_eq!((r.metadata.op_code, r.metadata.recursion_desired), (opcode, rd), "flags {flags:#04x}");
    }
}

#[test]
fn notify_update_and_other_opcodes_get_notimp_with_the_question_echoed() {
    let a = authority();
    for (op_code, rcode, outcome) in [
        (OpCode::Notify, ResponseCode::NotImp, Outcome::NotImp),
        (OpCode::Update, ResponseCode::NotImp, Outcome::NotImp),
        (OpCode::Status, ResponseCode::NotImp, Outcome::NotImp),
    ] {
        let mut q = query("example.com.", RecordType::SOA);
        q.metadata.op_code = op_code;
        let (r, got) = ask(&a, &q, "198.18.0.2");
        assert_eq!((r.metadata.response_code, got), (rcode, outcome), "{op_code:?}");
        assert_eq!(r.metadata.op_code, op_code, "the opcode is echoed");
        assert_eq!(r.queries.len(), 1, "{op_code:?}: the question is echoed");
        assert!(r.answers.is_empty() && !r.metadata.authoritative, "{op_code:?}: nothing answered");
    }
}

#[test]
fn a_query_for_the_nxname_pseudo_type_gets_formerr() {
    let a = authority();
    for name in ["www.example.com.", "nope.example.com."] {
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        edns.set_dnssec_ok(true);
        let mut q = query(name, NXNAME);
        q.set_edns(edns);
        let (r, outcome) = ask(&a, &q, "198.18.0.2");
        assert_eq!((r.metadata.response_code, outcome), (ResponseCode::FormErr, Outcome::FormErr), "{name}");
        assert!(r.answers.is_empty() && r.authorities.is_empty(), "{name}");
    }
}

fn with_subnet(mut m: Message, subnet: &str, prefix: u8) -> Message {
    let subnet = ClientSubnet::new(subnet.parse().unwrap(), prefix, 0);
    m.edns.get_or_insert_with(Edns::new).options_mut().insert(EdnsOption::Subnet(subnet));
    m
}

fn echoed_subnet(m: &Message) -> Option<(u8, u8)> {
    match m.edns.as_ref()?.option(EdnsCode::Subnet)? {
        EdnsOption::Subnet(s) => Some((s.source_prefix(), s.scope_prefix())),
        _ => None,
    }
}

#[test]
fn two_opt_records_get_formerr_with_our_opt() {
    let a = authority();
    let mut bytes = with_edns(query("www.example.com.", RecordType::A), 1232).to_vec().unwrap();
    // A second OPT record (root owner, type 41, payload 512, no options) and ARCOUNT 2.
    bytes.extend_from_slice(&[0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 0]);
    bytes[11] = 2;
    let reply = a.respond(&bytes, "198.18.0.2".parse().unwrap(), false);
    assert_eq!(reply.outcome, Outcome::FormErr);
    let r = Message::from_vec(&reply.bytes.unwrap()).unwrap();
    assert_eq!((r.metadata.id, r.metadata.response_code), (4242, ResponseCode::FormErr));
    let edns = r.edns.expect("RFC 6891 7: FORMERR with our OPT record");
    assert_eq!((edns.version(), edns.max_payload()), (0, 1232));
}

#[test]
fn an_opt_record_not_owned_by_the_root_gets_formerr_with_our_opt() {
    let a = authority();
    let bytes = with_edns(query("www.example.com.", RecordType::A), 1232).to_vec().unwrap();
    // The OPT record is the last 11 bytes; its owner, the root, becomes `foo.`.
    let opt_at = bytes.len() - 11;
    let mut owned = bytes[..opt_at].to_vec();
    owned.extend_from_slice(b"\x03foo");
    owned.extend_from_slice(&bytes[opt_at..]);
    let reply = a.respond(&owned, "198.18.0.2".parse().unwrap(), false);
    assert_eq!(reply.outcome, Outcome::FormErr, "RFC 6891 6.1.2: the OPT record's NAME MUST be 0");
    let r = Message::from_vec(&reply.bytes.unwrap()).unwrap();
    assert_eq!((r.metadata.id, r.metadata.response_code), (4242, ResponseCode::FormErr));
    assert!(r.answers.is_empty());
    assert!(r.edns.is_some(), "RFC 6891 7: FORMERR with our OPT record");
    // The same query with the root as owner is answered.
    let reply = a.respond(&bytes, "198.18.0.2".parse().unwrap(), false);
    assert_eq!(reply.outcome, Outcome::Answered);
}

/// A query with EDNS (DO set) whose OPT record holds `option` (code, then data) as its only option.
fn with_raw_option(code: u16, data: &[u8]) -> Vec<u8> {
    let mut m = with_edns(query("www.example.com.", RecordType::A), 1232);
    m.edns.as_mut().unwrap().set_dnssec_ok(true);
    let mut bytes = m.to_vec().unwrap();
    // The OPT record comes last, with no options: its RDLENGTH is the last two bytes.
    let rdlen = (4 + data.len()) as u16;
    let at = bytes.len() - 2;
    bytes[at..].copy_from_slice(&rdlen.to_be_bytes());
    bytes.extend_from_slice(&code.to_be_bytes());
    bytes.extend_from_slice(&(data.len() as u16).to_be_bytes());
    bytes.extend_from_slice(data);
    bytes
}

#[test]
fn a_client_subnet_the_parser_refuses_gets_formerr_with_the_question_and_our_opt() {
    let a = authority();
    // An unknown address family (3), and an IPv4 source prefix of 33 bits.
    for data in [&[0u8, 3, 24, 0, 1, 2, 3][..], &[0, 1, 33, 0, 198, 18, 0, 0, 0]] {
        let reply = a.respond(&with_raw_option(8, data), "198.18.0.2".parse().unwrap(), false);
        assert_eq!(reply.outcome, Outcome::FormErr, "{data:?}");
        let r = Message::from_vec(&reply.bytes.unwrap()).unwrap();
        assert_eq!((r.metadata.id, r.metadata.response_code), (4242, ResponseCode::FormErr));
        assert_eq!(r.queries.len(), 1, "the question is echoed");
        assert_eq!(r.queries[0].name().to_string(), "www.example.com.");
        let edns = r.edns.expect("RFC 6891 7: the query had an OPT record, so has the FORMERR");
        assert!(edns.flags().dnssec_ok, "DO copied");
        assert!(edns.option(EdnsCode::Subnet).is_none(), "RFC 7871 6: never echoed");
    }
}

#[test]
fn an_option_that_overruns_the_opt_record_gets_formerr() {
    let a = authority();
    let mut bytes = with_raw_option(156, &[0; 8]);
    let at = bytes.len() - 8 - 2;
    bytes[at + 1] = 12; // the option claims 12 bytes; the OPT record holds 8 after its header
    let reply = a.respond(&bytes, "198.18.0.2".parse().unwrap(), false);
    assert_eq!(reply.outcome, Outcome::FormErr);
    let r = Message::from_vec(&reply.bytes.unwrap()).unwrap();
    assert_eq!((r.metadata.response_code, r.answers.len()), (ResponseCode::FormErr, 0));
    assert!(r.edns.is_some(), "with our OPT record");
}

#[test]
fn nxdomain_nodata_and_answers_all_echo_client_subnet() {
    let a = authority();
    let ecs = |name: &str, rtype| with_subnet(with_edns(query(name, rtype), 1232), "198.18.130.0", 24);
    let (nx, outcome) = ask(&a, &ecs("missing.example.com.", RecordType::A), "198.18.0.2");
    assert_eq!(outcome, Outcome::NxDomain);
    assert_eq!(echoed_subnet(&nx), Some((24, 0)), "RFC 7871 7.2.1: NXDOMAIN carries the option, scope 0");
    let (nodata, outcome) = ask(&a, &ecs("www.example.com.", RecordType::MX), "198.18.0.2");
    assert_eq!(outcome, Outcome::NoData);
    assert_eq!(echoed_subnet(&nodata), Some((24, 17)));
    let (answer, _) = ask(&a, &ecs("www.example.com.", RecordType::A), "198.18.0.2");
    assert_eq!(echoed_subnet(&answer), Some((24, 17)));
}

#[test]
fn ns_answers_carry_glue_for_name_servers_inside_the_zone() {
    let a = authority();
    let (ns, _) = ask(&a, &query("example.com.", RecordType::NS), "198.18.0.2");
    assert_eq!(addrs(&ns), ["ns1.example.com.", "ns2.example.com."]);
    let glue: Vec<(String, String)> = ns.additionals.iter().map(|r| (r.name.to_string(), r.data.to_string())).collect();
    // ns2 has no addresses in the zone, so no glue for it.
    assert_eq!(
        glue,
        [
            ("ns1.example.com.".to_string(), "198.18.53.1".to_string()),
            ("ns1.example.com.".to_string(), "fd00:53::1".to_string())
        ]
    );
    let (soa, _) = ask(&a, &query("example.com.", RecordType::SOA), "198.18.0.2");
    assert!(soa.additionals.is_empty(), "glue only with NS records");
}

#[test]
fn a_tsig_signed_query_gets_notauth_badkey_unsigned() {
    let a = authority();
    let mut q = with_edns(query("www.example.com.", RecordType::A), 1232);
    let signed = TSIG::new(TsigAlgorithm::HmacSha256, 1_700_000_000, 300, vec![7; 32], 4242, None, Vec::new());
    let mut record = Record::from_rdata(Name::from_ascii("key.example.").unwrap(), 0, signed);
    record.dns_class = DNSClass::ANY;
    // Encoded last, after the OPT record, as RFC 8945 4.2 requires.
    q.signature = Some(Box::new(record));
    let (r, outcome) = ask(&a, &q, "198.18.0.2");
    assert_eq!((r.metadata.response_code, outcome), (ResponseCode::NotAuth, Outcome::NotAuth));
    assert!(r.answers.is_empty(), "nothing answered to an unverified query");
    // The decoder takes the TSIG record that ends the answer as its signature.
    let tsig = r
        .signature
        .as_deref()
        .map(|rec| (rec.name.to_string(), rec.dns_class, rec.data.clone()))
        .expect("a TSIG record at the end of the answer");
    assert_eq!((tsig.0.as_str(), tsig.1), ("key.example.", DNSClass::ANY));
    assert_eq!(tsig.2.error, Some(TsigError::BadKey), "RFC 8945 5.2: BADKEY");
    assert!(tsig.2.mac.is_empty(), "unsigned: no MAC");
    assert_eq!((tsig.2.time, tsig.2.oid), (1_700_000_000, 4242));
    assert!(r.edns.is_some(), "OPT kept for an EDNS query");
}

/// `config()` with a narrow view inside a /24 (and a /124 inside a /56) that prefers site two.
fn narrow_view_config() -> String {
    config().view("corner", &["198.18.10.96/28", "fd00:10::60/124"]).build().replace(
        "views.eu = [\"two\", \"one\"]\n",
        "views.eu = [\"two\", \"one\"]\nviews.corner = [\"two\", \"one\"]\n",
    )
}

#[test]
fn the_subnet_scope_never_covers_a_narrower_view_inside_the_clients_subnet() {
    let a = authority_for(&narrow_view_config());
    let ecs =
        |subnet: &str, prefix| with_subnet(with_edns(query("www.example.com.", RecordType::A), 1232), subnet, prefix);
    // 198.18.10.0/24 holds the view's 198.18.10.96/28: the default answer holds for .0-.63 only.
    let (r, _) = ask(&a, &ecs("198.18.10.0", 24), "198.18.0.2");
    assert_eq!(addrs(&r), ["198.18.1.1", "198.18.2.1"]);
    assert_eq!(echoed_subnet(&r), Some((24, 26)));
    let (r, _) = ask(&a, &ecs("198.18.0.0", 16), "198.18.0.2");
    assert_eq!(echoed_subnet(&r), Some((16, 21)));
    // Inside the view: the view's own prefix.
    let (r, _) = ask(&a, &ecs("198.18.10.96", 28), "198.18.0.2");
    assert_eq!((addrs(&r), echoed_subnet(&r)), (vec!["198.18.2.1".to_string(), "198.18.1.1".into()], Some((28, 28))));
    let v6 = with_subnet(with_edns(query("www.example.com.", RecordType::AAAA), 1232), "fd00:10::", 56);
    let (r, _) = ask(&a, &v6, "198.18.0.2");
    assert_eq!(echoed_subnet(&r), Some((56, 122)));
}

/// A query for www with a Client Subnet option whose data is `option`, as raw bytes.
fn with_raw_subnet(option: &[u8]) -> Vec<u8> {
    let mut bytes = query("www.example.com.", RecordType::A).to_vec().unwrap();
    bytes[11] = 1;
    bytes.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0]);
    bytes.extend_from_slice(&(option.len() as u16 + 4).to_be_bytes());
    bytes.extend_from_slice(&[0, 8]);
    bytes.extend_from_slice(&(option.len() as u16).to_be_bytes());
    bytes.extend_from_slice(option);
    bytes
}

#[test]
fn a_malformed_client_subnet_gets_formerr_and_is_not_echoed() {
    let a = authority();
    for (option, why) in [
        (&[0, 1, 24, 0, 198, 18, 130, 7][..], "an octet beyond the /24"),
        (&[0, 1, 20, 0, 198, 18, 0x81][..], "bits beyond the /20"),
    ] {
        let reply = a.respond(&with_raw_subnet(option), "198.18.0.2".parse().unwrap(), false);
        assert_eq!(reply.outcome, Outcome::FormErr, "{why}");
        let r = Message::from_vec(&reply.bytes.unwrap()).unwrap();
        assert_eq!(r.metadata.response_code, ResponseCode::FormErr, "{why}");
        assert!(r.answers.is_empty() && echoed_subnet(&r).is_none(), "{why}: nothing copied back");
    }
    let reply = a.respond(&with_raw_subnet(&[0, 1, 24, 0, 198, 18, 130]), "198.18.0.2".parse().unwrap(), false);
    assert_eq!(reply.outcome, Outcome::Answered, "the same subnet written correctly");
}

#[test]
fn zone_transfers_are_refused_at_once() {
    let a = authority();
    for rtype in [RecordType::AXFR, RecordType::IXFR] {
        for tcp in [false, true] {
            let reply = a.respond(&query("example.com.", rtype).to_vec().unwrap(), "198.18.0.2".parse().unwrap(), tcp);
            let r = Message::from_vec(&reply.bytes.unwrap()).unwrap();
            assert_eq!((r.metadata.response_code, reply.outcome), (ResponseCode::Refused, Outcome::Refused), "{rtype}");
            assert!(r.answers.is_empty() && r.authorities.is_empty());
        }
    }
}

#[test]
fn the_soa_asked_for_carries_the_zone_ttl_and_negative_answers_the_minimum() {
    let text = config().build().replace("name = \"example.com.\"", "name = \"example.com.\"\nttl = 3600");
    let a = authority_for(&text);
    let (soa, _) = ask(&a, &query("example.com.", RecordType::SOA), "198.18.0.2");
    assert_eq!(soa.answers[0].ttl, 3600);
    let (ns, _) = ask(&a, &query("example.com.", RecordType::NS), "198.18.0.2");
    assert_eq!(ns.answers[0].ttl, 3600);
    let (nx, _) = ask(&a, &query("missing.example.com.", RecordType::A), "198.18.0.2");
    assert_eq!(nx.authorities[0].ttl, 60, "min(SOA TTL, SOA MINIMUM)");
}

#[test]
fn class_any_matches_in_and_other_classes_are_refused() {
    let a = authority();
    let mut q = query("www.example.com.", RecordType::A);
    q.queries[0].set_query_class(DNSClass::ANY);
    let (r, outcome) = ask(&a, &q, "198.18.0.2");
    assert_eq!((r.metadata.response_code, outcome), (ResponseCode::NoError, Outcome::Answered));
    assert_eq!(addrs(&r), ["198.18.1.1", "198.18.2.1"]);
    q.queries[0].set_query_class(DNSClass::CH);
    let (r, outcome) = ask(&a, &q, "198.18.0.2");
    assert_eq!((r.metadata.response_code, outcome), (ResponseCode::Refused, Outcome::Refused));
}

fn identified() -> Authority {
    let a = authority();
    let text = config()
        .server("dns1", &["nsid = \"dns1.site-a\"", "chaos_id = \"dns1.site-a\"", "chaos_version = \"switchyard 1\""])
        .build();
    a.set_identity(super::identity::Identity::from_config(&Config::parse(&text, "t.toml").unwrap().server));
    a
}

fn nsid_of(m: &Message) -> Option<Vec<u8>> {
    match m.edns.as_ref()?.option(EdnsCode::NSID)? {
        EdnsOption::NSID(payload) => Some(payload.as_ref().to_vec()),
        _ => None,
    }
}

#[test]
fn nsid_is_sent_when_asked_for_and_configured() {
    let asking = || {
        let mut q = with_edns(query("www.example.com.", RecordType::A), 1232);
        let empty = hickory_proto::rr::rdata::opt::NSIDPayload::new(Vec::new()).unwrap();
        q.edns.as_mut().unwrap().options_mut().insert(EdnsOption::NSID(empty));
        q
    };
    let (r, _) = ask(&identified(), &asking(), "198.18.0.2");
    assert_eq!(nsid_of(&r).as_deref(), Some(&b"dns1.site-a"[..]));
    assert_eq!(addrs(&r), ["198.18.1.1", "198.18.2.1"], "the answer is unchanged");
    let (r, _) = ask(&identified(), &with_edns(query("www.example.com.", RecordType::A), 1232), "198.18.0.2");
    assert_eq!(nsid_of(&r), None, "not asked for");
    let (r, _) = ask(&authority(), &asking(), "198.18.0.2");
    assert_eq!(nsid_of(&r), None, "not configured");
}

#[test]
fn chaos_names_answer_when_configured_and_are_refused_otherwise() {
    let chaos = |name: &str| {
        let mut q = query(name, RecordType::TXT);
        q.queries[0].set_query_class(DNSClass::CH);
        q
    };
    let a = identified();
    for (name, text) in [
        ("id.server.", "dns1.site-a"),
        ("HOSTNAME.bind.", "dns1.site-a"),
        ("version.bind.", "switchyard 1"),
        ("version.server.", "switchyard 1"),
    ] {
        let (r, outcome) = ask(&a, &chaos(name), "198.18.0.2");
        assert_eq!(outcome, Outcome::Answered, "{name}");
        assert_eq!(r.answers[0].dns_class, DNSClass::CH);
        assert_eq!(r.answers[0].data.to_string(), text, "{name}");
    }
    let (r, outcome) = ask(&a, &chaos("authors.bind."), "198.18.0.2");
    assert_eq!((r.metadata.response_code, outcome), (ResponseCode::Refused, Outcome::Refused));
    let (r, outcome) = ask(&authority(), &chaos("version.bind."), "198.18.0.2");
    assert_eq!((r.metadata.response_code, outcome), (ResponseCode::Refused, Outcome::Refused), "off by default");
}

/// The first site of a weighted service for a query from `client` carrying `subnet` (if any),
/// and the ECS scope of the reply.
fn weighted_first(a: &Authority, client: &str, subnet: Option<(&str, u8)>) -> (String, Option<u8>) {
    let mut q = with_edns(query("w.example.com.", RecordType::A), 1232);
    if let Some((addr, len)) = subnet {
        let subnet = ClientSubnet::new(addr.parse().unwrap(), len, 0);
        q.edns.as_mut().unwrap().options_mut().insert(EdnsOption::Subnet(subnet));
    }
    let (r, _) = ask(a, &q, client);
    let answer = addrs(&r);
    assert_eq!(answer.len(), 2, "both sites answered: {answer:?}");
    let scope = match r.edns.as_ref().unwrap().option(EdnsCode::Subnet) {
        Some(EdnsOption::Subnet(echo)) => Some(echo.scope_prefix()),
        _ => None,
    };
    (answer[0].clone(), scope)
}

#[test]
fn weighted_first_answer_follows_the_client_subnet() {
    let text = config().service("w.example.com.", 30, &["one", "two"]).line("first_weights = { one = 1, two = 1 }");
    let a = authority_for(&text.build());
    let firsts: Vec<String> = (0..64).map(|i| weighted_first(&a, &format!("198.18.{i}.9"), None).0).collect();
    assert!(firsts.contains(&"198.18.1.1".to_string()) && firsts.contains(&"198.18.2.1".to_string()), "{firsts:?}");
    for (i, expected) in firsts.iter().enumerate() {
        let (first, scope) = weighted_first(&a, "198.18.0.2", Some((&format!("198.18.{i}.0"), 24)));
        assert_eq!(&first, expected, "the ECS subnet decides like a client of that subnet");
        assert_eq!(scope, Some(24), "the answer holds for the client's /24");
        assert_eq!(&weighted_first(&a, &format!("198.18.{i}.200"), None).0, expected, "same /24, same first");
    }
}
