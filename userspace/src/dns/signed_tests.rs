//! Answers of a signed zone without sockets: what DO=1 adds, what DO=0 keeps, the RCODE of a
//! compact denial with and without the CO flag, and SERVFAIL rather than an unsigned answer.

use std::net::IpAddr;

use hickory_proto::{
    dnssec::rdata::DNSSECRData,
    op::{Edns, Message, Query, ResponseCode},
    rr::{Name, RData, RecordType},
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

fn query(name: &str, rtype: RecordType, edns_flags: Option<u16>) -> Vec<u8> {
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

fn ask(a: &Authority, q: &[u8]) -> (Message, Outcome, Vec<u8>) {
    let reply = a.respond(q, "198.18.0.2".parse::<IpAddr>().unwrap(), false);
    let bytes = reply.bytes.expect("an answer");
    (Message::from_vec(&bytes).unwrap(), reply.outcome, bytes)
}

fn types(records: &[hickory_proto::rr::Record]) -> Vec<RecordType> {
    records.iter().map(|r| r.record_type()).collect()
}

const DO: u16 = 0x8000;
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
