//! Answers of a signed zone without sockets: what DO=1 adds, what DO=0 keeps, the RCODE of a
//! compact denial with and without the CO flag, and SERVFAIL rather than an unsigned answer.

use std::net::IpAddr;

use hickory_proto::{
    dnssec::{
        DigestType, PublicKey, TBS,
        rdata::{DNSKEY, DNSSECRData},
    },
    op::{Edns, Message, Query, ResponseCode},
    rr::{DNSClass, Name, RData, Record, RecordType},
    serialize::binary::BinEncodable,
};

use super::authority::{Authority, Outcome};
use crate::{
    answers::{AnswerController, Views, Zones},
    config::{Config, fixture::ConfigText},
    dnssec::{SigningAlgorithm, SigningKeyFile, denial::NXNAME},
    site::{SiteMap, SiteState},
};

/// The zone, signed with `key` when one is given.
fn config_text(key: Option<&str>) -> String {
    let zone = ConfigText::new().xdp_off().zone();
    let zone = match key {
        Some(key) => zone.dnssec("ed25519", key),
        None => zone,
    };
    zone.site("one", &["198.18.1.1"], &["fd00:1::1"])
        .site("two", &["198.18.2.1"], &[])
        .service("www.example.com.", 30, &["one", "two"])
        .fixed_service("ns1.example.com.", &["198.18.53.1"], &[])
        .fixed_service("api.eu.example.com.", &["198.18.11.1"], &[])
        .build()
}

fn authority(text: &str) -> Authority {
    let config = Config::parse(text, "test.toml").unwrap();
    let all_up: SiteMap =
        config.site.iter().map(|s| (s.name.clone(), SiteState { available: true, load: 0, rtt_us: 0 })).collect();
    let zones = Zones::from_config(&config, &Default::default());
    let served = AnswerController::new(&config, Views::from_config(&config), zones, &all_up).unwrap().served();
    Authority::new(config.server.edns_udp_payload, served)
}

/// A signed and an unsigned server for the same zone.
fn servers() -> (Authority, Authority, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("zone.key");
    SigningKeyFile::generate(SigningAlgorithm::Ed25519).unwrap().write_new(&key).unwrap();
    let signed = authority(&config_text(key.to_str()));
    (signed, authority(&config_text(None)), dir)
}

pub(super) fn query(name: &str, rtype: RecordType, edns_flags: Option<u16>) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.id = 7;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    if let Some(flags) = edns_flags {
        let mut e = Edns::new();
        e.set_max_payload(1232);
        *e.flags_mut() = flags.into();
        m.set_edns(e);
    }
    m.to_vec().unwrap()
}

pub(super) fn ask(a: &Authority, q: &[u8]) -> (Message, Outcome, Vec<u8>) {
    let reply = a.respond(q, "198.18.0.2".parse::<IpAddr>().unwrap(), false);
    let bytes = reply.bytes.expect("an answer");
    (Message::from_vec(&bytes).unwrap(), reply.outcome, bytes)
}

fn types(records: &[hickory_proto::rr::Record]) -> Vec<RecordType> {
    records.iter().map(|r| r.record_type()).collect()
}

pub(super) const DO: u16 = 0x8000;
const CO: u16 = 0x4000;

#[test]
fn without_do_a_signed_zone_answers_byte_for_byte_as_unsigned() {
    let (signed, unsigned, _dir) = servers();
    for (name, rtype) in
        [("www.example.com.", RecordType::A), ("example.com.", RecordType::SOA), ("nope.example.com.", RecordType::A)]
    {
        for flags in [None, Some(0)] {
            let q = query(name, rtype, flags);
            assert_eq!(ask(&signed, &q).2, ask(&unsigned, &q).2, "{name} {rtype} {flags:?}");
        }
    }
}

#[test]
fn with_do_every_rrset_has_its_rrsig_and_the_apex_its_keys() {
    let (signed, _, _dir) = servers();
    let (m, outcome, _) = ask(&signed, &query("www.example.com.", RecordType::A, Some(DO)));
    assert_eq!(outcome, Outcome::Answered);
    assert_eq!(types(&m.answers), [RecordType::A, RecordType::A, RecordType::RRSIG]);
    for rtype in [RecordType::DNSKEY, RecordType::CDS, RecordType::CDNSKEY, RecordType::SOA, RecordType::NS] {
        let (m, _, _) = ask(&signed, &query("example.com.", rtype, Some(DO)));
        assert_eq!(m.answers.last().map(|r| r.record_type()), Some(RecordType::RRSIG), "{rtype}");
        assert_eq!(m.answers[0].record_type(), rtype);
    }
}

#[test]
fn a_missing_name_is_noerror_with_nxname_unless_the_query_sets_co() {
    let (signed, _, _dir) = servers();
    let (m, outcome, _) = ask(&signed, &query("nope.example.com.", RecordType::A, Some(DO)));
    assert_eq!((m.metadata.response_code, outcome), (ResponseCode::NoError, Outcome::NxDomain));
    assert_eq!(types(&m.authorities), [RecordType::SOA, RecordType::RRSIG, RecordType::NSEC, RecordType::RRSIG]);
    let RData::DNSSEC(DNSSECRData::NSEC(nsec)) = &m.authorities[2].data else { panic!() };
    assert!(nsec.type_bit_maps().any(|t| t == NXNAME));
    assert_eq!(m.edns.as_ref().unwrap().flags().z & CO, 0);

    let (m, _, _) = ask(&signed, &query("nope.example.com.", RecordType::A, Some(DO | CO)));
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_ne!(m.edns.as_ref().unwrap().flags().z & CO, 0, "the CO flag is echoed");

    let (m, _, _) = ask(&signed, &query("www.example.com.", RecordType::MX, Some(DO | CO)));
    assert_eq!(m.metadata.response_code, ResponseCode::NoError, "a missing type is NODATA, CO or not");
    let RData::DNSSEC(DNSSECRData::NSEC(nsec)) = &m.authorities[2].data else { panic!() };
    let listed: Vec<RecordType> = nsec.type_bit_maps().collect();
    assert!(listed.contains(&RecordType::A) && !listed.contains(&RecordType::MX) && !listed.contains(&NXNAME));

    let (m, outcome, _) = ask(&signed, &query("eu.example.com.", RecordType::A, Some(DO | CO)));
    assert_eq!((m.metadata.response_code, outcome), (ResponseCode::NoError, Outcome::NoData), "empty non-terminal");
    let RData::DNSSEC(DNSSECRData::NSEC(nsec)) = &m.authorities[2].data else { panic!() };
    assert_eq!(nsec.type_bit_maps().collect::<Vec<_>>(), [RecordType::RRSIG, RecordType::NSEC]);
}

#[test]
fn a_key_that_cannot_be_loaded_gives_servfail_to_do_queries_only() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("zone.key");
    SigningKeyFile::generate(SigningAlgorithm::Ed25519).unwrap().write_new(&key).unwrap();
    let text = config_text(key.to_str());
    std::fs::remove_file(&key).unwrap();
    let server = authority(&text);
    let (m, outcome, _) = ask(&server, &query("www.example.com.", RecordType::A, Some(DO)));
    assert_eq!((m.metadata.response_code, outcome), (ResponseCode::ServFail, Outcome::ServFail));
    assert!(m.answers.is_empty());
    let (m, _, _) = ask(&server, &query("www.example.com.", RecordType::A, Some(0)));
    assert_eq!(m.answers.len(), 2);
}

/// example.com. (TTL 7200) and eu.example.com. inside it (TTL 300), each signed with its own key;
/// example.com.'s second name server is in eu.example.com. With `child_key_gone` the child's key
/// file is removed before the server loads it.
fn nested_server(child_key_gone: bool) -> (Authority, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let key = |name: &str| {
        let path = dir.path().join(name);
        SigningKeyFile::generate(SigningAlgorithm::Ed25519).unwrap().write_new(&path).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let (parent_key, child_key) = (key("parent.key"), key("child.key"));
    let soa = "soa = { mname = \"ns1.example.com.\", rname = \"hostmaster.example.com.\" }";
    let text = ConfigText::new()
        .xdp_off()
        .zone_with(&["ns1.example.com.", "ns.eu.example.com."], "")
        .line("ttl = 7200")
        .dnssec("ed25519", &parent_key)
        .table("[[zone]]", &["name = \"eu.example.com.\"", "ttl = 300", "ns = [\"ns1.example.com.\"]", soa])
        .dnssec("ed25519", &child_key)
        .fixed_service("ns1.example.com.", &["198.18.53.1"], &[])
        .fixed_service("ns.eu.example.com.", &["198.18.53.2"], &[])
        .fixed_service("api.eu.example.com.", &["198.18.11.1"], &[])
        .build();
    if child_key_gone {
        std::fs::remove_file(&child_key).unwrap();
    }
    (authority(&text), dir)
}

fn nested_servers() -> (Authority, tempfile::TempDir) {
    nested_server(false)
}

/// The DNSKEY RRset a zone serves at its apex.
pub(super) fn dnskeys(a: &Authority, zone: &str) -> Vec<DNSKEY> {
    let (m, _, _) = ask(a, &query(zone, RecordType::DNSKEY, Some(DO)));
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DNSKEY(key)) => Some(key.clone()),
            _ => None,
        })
        .collect()
}

/// Whether `rrsig` over `rrset` verifies with one of `keys`, as a validator checks it.
pub(super) fn verifies_with(keys: &[DNSKEY], rrset: &[Record], rrsig: &Record) -> bool {
    let RData::DNSSEC(DNSSECRData::RRSIG(sig)) = &rrsig.data else { panic!("not an RRSIG") };
    let tbs = TBS::from_input(&rrset[0].name, DNSClass::IN, sig.input(), rrset.iter()).unwrap();
    let mut by_tag = keys.iter().filter(|k| k.calculate_key_tag().unwrap() == sig.input().key_tag);
    by_tag.any(|key| key.public_key().verify(tbs.as_ref(), sig.sig()).is_ok())
}

#[test]
fn a_ds_query_at_a_nested_zone_is_answered_by_the_parent_with_the_childs_key() {
    let (server, _dir) = nested_servers();
    let (parent, child) = (Name::from_ascii("example.com.").unwrap(), Name::from_ascii("eu.example.com.").unwrap());
    let child_keys = dnskeys(&server, "eu.example.com.");
    let parent_keys = dnskeys(&server, "example.com.");
    assert_eq!(child_keys.len(), 1);

    let (m, outcome, _) = ask(&server, &query("eu.example.com.", RecordType::DS, Some(DO)));
    assert_eq!((m.metadata.response_code, outcome), (ResponseCode::NoError, Outcome::Answered));
    assert!(m.metadata.authoritative);
    assert_eq!(types(&m.answers), [RecordType::DS, RecordType::RRSIG]);
    let RData::DNSSEC(DNSSECRData::DS(ds)) = &m.answers[0].data else { panic!("not a DS") };
    assert_eq!(ds.key_tag(), child_keys[0].calculate_key_tag().unwrap(), "the child's key");
    assert_eq!(ds.digest_type(), DigestType::SHA256);
    assert_eq!(ds.digest(), child_keys[0].to_digest(&child, DigestType::SHA256).unwrap().as_ref());
    assert_eq!(m.answers[0].ttl, 7200, "the parent's TTL");
    let RData::DNSSEC(DNSSECRData::RRSIG(sig)) = &m.answers[1].data else { panic!("not an RRSIG") };
    assert_eq!(sig.input().signer_name, parent, "signed by the parent");
    assert!(verifies_with(&parent_keys, &m.answers[..1], &m.answers[1]));
    assert!(!verifies_with(&child_keys, &m.answers[..1], &m.answers[1]));

    let (m, _, _) = ask(&server, &query("eu.example.com.", RecordType::DS, None));
    assert_eq!(types(&m.answers), [RecordType::DS], "DO=0: the DS without its RRSIG");
}

#[test]
fn the_ds_of_a_nested_zone_whose_key_cannot_be_read_is_servfail_not_a_denial() {
    let (server, _dir) = nested_server(true);
    for flags in [Some(DO), None] {
        let (m, outcome, _) = ask(&server, &query("eu.example.com.", RecordType::DS, flags));
        assert_eq!((m.metadata.response_code, outcome), (ResponseCode::ServFail, Outcome::ServFail), "{flags:?}");
        assert!(m.answers.is_empty() && m.authorities.is_empty(), "{flags:?}");
    }
}

#[test]
fn glue_of_a_name_server_in_a_nested_zone_is_not_signed_by_the_parent() {
    let (server, _dir) = nested_servers();
    let (m, _, _) = ask(&server, &query("example.com.", RecordType::NS, Some(DO)));
    let owners: Vec<String> = m.additionals.iter().map(|r| r.name.to_string()).collect();
    assert_eq!(owners, ["ns1.example.com.", "ns1.example.com."], "only the parent's own name server");
    assert_eq!(types(&m.additionals), [RecordType::A, RecordType::RRSIG]);
}

#[test]
fn a_ds_query_elsewhere_is_answered_by_the_zone_of_the_name_as_before() {
    let (server, _dir) = nested_servers();
    for (name, zone) in [("api.eu.example.com.", "eu.example.com."), ("example.com.", "example.com.")] {
        let (m, outcome, _) = ask(&server, &query(name, RecordType::DS, Some(DO)));
        assert_eq!((m.metadata.response_code, outcome), (ResponseCode::NoError, Outcome::NoData), "{name}");
        assert!(m.answers.is_empty(), "{name}");
        assert_eq!(types(&m.authorities), [RecordType::SOA, RecordType::RRSIG, RecordType::NSEC, RecordType::RRSIG]);
        assert_eq!(m.authorities[0].name.to_string(), zone, "{name}: the SOA of its own zone");
    }
}

/// example.com. signed, with two name servers inside it, each with an A and an AAAA record.
fn server_with_glue() -> (Authority, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("zone.key");
    SigningKeyFile::generate(SigningAlgorithm::Ed25519).unwrap().write_new(&key).unwrap();
    let text = ConfigText::new()
        .xdp_off()
        .zone_with(&["ns1.example.com.", "ns2.example.com."], "")
        .dnssec("ed25519", key.to_str().unwrap())
        .fixed_service("ns1.example.com.", &["198.18.53.1"], &["fd00:53::1"])
        .fixed_service("ns2.example.com.", &["198.18.53.2"], &["fd00:53::2"])
        .build();
    (authority(&text), dir)
}

fn ns_query(payload: u16) -> Vec<u8> {
    let mut m = Message::from_vec(&query("example.com.", RecordType::NS, Some(DO))).unwrap();
    m.edns.as_mut().unwrap().set_max_payload(payload);
    m.to_vec().unwrap()
}

#[test]
fn with_do_the_glue_in_the_additional_section_is_signed() {
    let (server, _dir) = server_with_glue();
    let keys = dnskeys(&server, "example.com.");
    let (m, _, _) = ask(&server, &ns_query(1232));
    let glue = |rtype| m.additionals.iter().filter(|r| r.record_type() == rtype).count();
    assert_eq!((glue(RecordType::A), glue(RecordType::AAAA), glue(RecordType::RRSIG)), (2, 2, 4));
    for rrset in m.additionals.chunk_by(|a, b| a.name == b.name && a.record_type() == b.record_type()) {
        if rrset[0].record_type() == RecordType::RRSIG {
            continue;
        }
        let rrsig = m.additionals.iter().find(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::RRSIG(sig)) => {
                r.name == rrset[0].name && sig.input().type_covered == rrset[0].record_type()
            }
            _ => false,
        });
        let rrsig = rrsig.unwrap_or_else(|| panic!("no RRSIG for {} {}", rrset[0].name, rrset[0].record_type()));
        assert!(verifies_with(&keys, rrset, rrsig), "{} {}", rrset[0].name, rrset[0].record_type());
    }
}

#[test]
fn signed_glue_that_does_not_fit_is_left_out_without_tc() {
    let (server, _dir) = server_with_glue();
    let (full, _, _) = ask(&server, &ns_query(1232));
    assert!(full.to_vec().unwrap().len() > 512, "the test needs a reply over 512 bytes");
    let (m, outcome, bytes) = ask(&server, &ns_query(512));
    assert!(bytes.len() <= 512);
    assert_eq!(outcome, Outcome::Answered);
    assert!(!m.metadata.truncation, "no TC for additional records alone");
    assert_eq!(types(&m.answers), [RecordType::NS, RecordType::NS, RecordType::RRSIG]);
    assert!(m.additionals.is_empty(), "no glue without its RRSIGs: {:?}", types(&m.additionals));
}

/// A name under example.com. of 254 wire octets, or 255 with a leftmost label ending in `last`.
fn longest_name(octets: usize, last: u8) -> Name {
    let mut labels = vec![vec![b'a'; 62], vec![b'b'; 62], vec![b'c'; 62]];
    labels.push([vec![b'd'; octets - 3 * 63 - 13 - 2], vec![last]].concat());
    labels.reverse();
    labels.extend([b"example".to_vec(), b"com".to_vec()]);
    let name = Name::from_labels(labels).unwrap();
    assert_eq!(name.to_bytes().unwrap().len(), octets, "test name");
    name
}

fn query_for(name: &Name) -> Vec<u8> {
    let mut m = Message::from_vec(&query("example.com.", RecordType::A, Some(DO))).unwrap();
    m.queries[0].set_name(name.clone());
    m.to_vec().unwrap()
}

#[test]
fn a_missing_name_of_254_octets_is_denied_with_a_valid_signed_nsec() {
    let (signed, _, _dir) = servers();
    let keys = dnskeys(&signed, "example.com.");
    let qname = longest_name(254, b'd');
    let (m, outcome, _) = ask(&signed, &query_for(&qname));
    assert_eq!((m.metadata.response_code, outcome), (ResponseCode::NoError, Outcome::NxDomain));
    assert_eq!(types(&m.authorities), [RecordType::SOA, RecordType::RRSIG, RecordType::NSEC, RecordType::RRSIG]);
    let RData::DNSSEC(DNSSECRData::NSEC(nsec)) = &m.authorities[2].data else { panic!("not an NSEC") };
    assert_eq!(m.authorities[2].name, qname);
    assert!(nsec.next_domain_name() > &qname, "the next name follows the name denied");
    assert!(nsec.type_bit_maps().any(|t| t == NXNAME));
    assert!(verifies_with(&keys, &m.authorities[2..3], &m.authorities[3]));
}

#[test]
fn a_name_that_cannot_be_denied_gets_servfail_with_bounded_logging() {
    let (signed, _, _dir) = servers();
    let capture = crate::log_capture::LogCapture::default();
    let _guard = capture.install();
    // 255 octets and a leftmost label ending in 0xff: no successor can be written.
    let q = query_for(&longest_name(255, 0xff));
    for _ in 0..20 {
        let (m, outcome, _) = ask(&signed, &q);
        assert_eq!((m.metadata.response_code, outcome), (ResponseCode::ServFail, Outcome::ServFail));
    }
    let lines = capture.lines_with("signing failed");
    assert!(lines.len() <= 1, "{} lines for 20 queries:\n{lines:?}", lines.len());
}

/// The types an RRSIG covers, in the order they come.
fn covered(records: &[Record]) -> Vec<RecordType> {
    records
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some(sig.input().type_covered),
            _ => None,
        })
        .collect()
}

#[test]
fn an_nsec_query_gets_the_nsec_the_name_has_signed_with_do() {
    let (signed, _, _dir) = servers();
    let keys = dnskeys(&signed, "example.com.");
    for (name, nxname) in [("www.example.com.", false), ("nope.example.com.", true), ("eu.example.com.", false)] {
        let (m, outcome, _) = ask(&signed, &query(name, RecordType::NSEC, Some(DO)));
        assert_eq!((m.metadata.response_code, outcome), (ResponseCode::NoError, Outcome::Answered), "{name}");
        assert_eq!(types(&m.answers), [RecordType::NSEC, RecordType::RRSIG], "{name}");
        let RData::DNSSEC(DNSSECRData::NSEC(nsec)) = &m.answers[0].data else { panic!("not an NSEC") };
        let listed: Vec<RecordType> = nsec.type_bit_maps().collect();
        // RFC 4034 4.1.2: the NSEC lists itself, so a validator takes it as an answer, not a NODATA.
        assert!(listed.contains(&RecordType::NSEC) && listed.contains(&NXNAME) == nxname, "{name}: {listed:?}");
        assert!(verifies_with(&keys, &m.answers[..1], &m.answers[1]), "{name}");
        assert!(m.authorities.is_empty(), "{name}: an answer, no SOA");
    }
    let (m, _, _) = ask(&signed, &query("www.example.com.", RecordType::NSEC, None));
    assert_eq!(types(&m.answers), [RecordType::NSEC], "without DO, the NSEC alone (RFC 4035 3.2.1)");
}

#[test]
fn a_missing_name_stays_missing_for_nsec_and_rrsig_queries_without_do_or_with_co() {
    let (signed, _, _dir) = servers();
    for qtype in [RecordType::NSEC, RecordType::RRSIG] {
        let (m, outcome, _) = ask(&signed, &query("nope.example.com.", qtype, None));
        assert_eq!((m.metadata.response_code, outcome), (ResponseCode::NXDomain, Outcome::NxDomain), "{qtype}");
        assert!(m.answers.is_empty(), "{qtype}: nothing made up for a client that asked for no DNSSEC");
        let (m, _, _) = ask(&signed, &query("nope.example.com.", qtype, Some(DO | CO)));
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain, "{qtype}: the CO flag asks for the RCODE");
        assert!(m.edns.as_ref().unwrap().flags().z & CO != 0, "{qtype}: CO echoed");
        assert_eq!(types(&m.authorities), [RecordType::SOA, RecordType::RRSIG, RecordType::NSEC, RecordType::RRSIG]);
    }
}

#[test]
fn an_rrsig_query_gets_every_signature_at_the_name() {
    let (signed, unsigned, _dir) = servers();
    let (m, outcome, _) = ask(&signed, &query("www.example.com.", RecordType::RRSIG, Some(DO)));
    assert_eq!((m.metadata.response_code, outcome), (ResponseCode::NoError, Outcome::Answered));
    let mut kinds = covered(&m.answers);
    kinds.sort();
    assert_eq!(kinds, [RecordType::A, RecordType::AAAA, RecordType::NSEC], "one per RRset and one for the NSEC");
    let (m, _, _) = ask(&signed, &query("nope.example.com.", RecordType::RRSIG, Some(DO)));
    assert_eq!(covered(&m.answers), [RecordType::NSEC], "a missing name has its NSEC's signature");
    let (m, outcome, _) = ask(&unsigned, &query("www.example.com.", RecordType::RRSIG, Some(DO)));
    assert_eq!((m.answers.len(), outcome), (0, Outcome::NoData), "an unsigned zone has none");
}
