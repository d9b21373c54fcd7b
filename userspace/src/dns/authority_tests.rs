//! Authoritative logic without sockets: every answer kind, EDNS and Client Subnet.

use std::net::IpAddr;

use hickory_proto::{
    op::{Edns, Message, Query, ResponseCode},
    rr::{
        Name, RData, RecordType,
        rdata::opt::{ClientSubnet, EdnsCode, EdnsOption},
    },
};

use super::authority::{Authority, Outcome};
use crate::{
    answers::{AnswerController, Views},
    config::{Config, fixture::ConfigText},
    site::{SiteMap, SiteState},
};

/// Two static sites behind www (view "eu" prefers two), and a name with ten fixed addresses.
fn config() -> ConfigText {
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
}

fn authority() -> Authority {
    authority_for(&config().build())
}

/// The server as the daemon builds it, with every site available (they have no checks).
fn authority_for(text: &str) -> Authority {
    let config = Config::parse(text, "test.toml").unwrap();
    let views = Views::from_config(&config);
    let all_up: SiteMap =
        config.site.iter().map(|s| (s.name.clone(), SiteState { available: true, load: 0, rtt_us: 0 })).collect();
    let table = AnswerController::new(&config, views.clone(), &all_up).unwrap().table();
    Authority::new(&config, views, table)
}

fn query(name: &str, rtype: RecordType) -> Message {
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

fn ask(a: &Authority, m: &Message, client: &str) -> (Message, Outcome) {
    let reply = a.respond(&m.to_vec().unwrap(), client.parse::<IpAddr>().unwrap(), false);
    (Message::from_vec(&reply.bytes.expect("an answer")).unwrap(), reply.outcome)
}

fn addrs(m: &Message) -> Vec<String> {
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
