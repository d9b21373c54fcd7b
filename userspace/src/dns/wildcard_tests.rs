//! Wildcard services (RFC 4592): a name that does not exist below a wildcard's parent is
//! answered from the wildcard's records, with the name asked as owner; names that exist, and
//! names below them, are not covered.

use hickory_proto::{
    op::ResponseCode,
    rr::{RData, RecordType},
};

use super::authority::{Authority, Outcome};
use super::authority_tests::{addrs, ask, config, query, served_with_down};
use crate::config::Config;

/// The test zone with a site-backed wildcard under `wild` (view "eu" prefers site two) and a
/// name that exists beside it, `sub.wild`.
fn wildcard_config() -> Config {
    let text = config()
        .service("*.wild.example.com.", 30, &["one", "two"])
        .line(r#"views.eu = ["two", "one"]"#)
        .fixed_service("sub.wild.example.com.", &["198.18.4.1"], &[]);
    Config::parse(&text.build(), "test.toml").unwrap()
}

fn authority_with_down(down: &[&str]) -> Authority {
    let config = wildcard_config();
    Authority::new(config.server.edns_udp_payload, served_with_down(&config, down))
}

#[test]
fn a_name_under_a_wildcard_gets_its_records_with_the_name_asked_as_owner() {
    let a = authority_with_down(&[]);
    for name in ["a.wild.example.com.", "A.b.WiLd.example.com."] {
        let (reply, outcome) = ask(&a, &query(name, RecordType::A), "198.18.0.2");
        assert_eq!((reply.metadata.response_code, outcome), (ResponseCode::NoError, Outcome::Answered), "{name}");
        assert!(reply.metadata.authoritative, "{name}");
        assert_eq!(addrs(&reply), ["198.18.1.1", "198.18.2.1"], "{name}");
        assert!(reply.answers.iter().all(|r| r.name.to_string() == name && r.ttl == 30), "{name}: {reply:?}");
        let (v6, _) = ask(&a, &query(name, RecordType::AAAA), "198.18.0.2");
        assert_eq!(addrs(&v6), ["fd00:1::1"], "{name}");
    }
    // The wildcard's views hold for the names it covers.
    let (eu, _) = ask(&a, &query("x.wild.example.com.", RecordType::A), "198.18.200.7");
    assert_eq!(addrs(&eu), ["198.18.2.1", "198.18.1.1"]);
    // A type the wildcard does not have: NODATA, not NXDOMAIN (RFC 4592 4.1).
    let (mx, outcome) = ask(&a, &query("x.wild.example.com.", RecordType::MX), "198.18.0.2");
    assert_eq!((mx.metadata.response_code, outcome), (ResponseCode::NoError, Outcome::NoData));
    assert!(mx.answers.is_empty() && matches!(mx.authorities[0].data, RData::SOA(_)));
}

#[test]
fn a_wildcard_follows_its_sites_health() {
    let a = authority_with_down(&["one"]);
    let (reply, _) = ask(&a, &query("x.wild.example.com.", RecordType::A), "198.18.0.2");
    assert_eq!(addrs(&reply), ["198.18.2.1"]);
    let (v6, outcome) = ask(&a, &query("x.wild.example.com.", RecordType::AAAA), "198.18.0.2");
    assert_eq!((v6.answers.len(), outcome), (0, Outcome::NoData), "site two has no IPv6 address");
}

#[test]
fn names_that_exist_or_lie_below_one_that_does_are_not_covered() {
    let a = authority_with_down(&[]);
    let answered = |name: &str, rtype| {
        let (reply, outcome) = ask(&a, &query(name, rtype), "198.18.0.2");
        (reply.metadata.response_code, outcome, addrs(&reply))
    };
    let nxdomain = (ResponseCode::NXDomain, Outcome::NxDomain, vec![]);
    let nodata = (ResponseCode::NoError, Outcome::NoData, vec![]);
    // sub.wild exists: its own records, and NODATA for a type it lacks.
    let sub = (ResponseCode::NoError, Outcome::Answered, vec!["198.18.4.1".to_string()]);
    assert_eq!(answered("sub.wild.example.com.", RecordType::A), sub);
    assert_eq!(answered("sub.wild.example.com.", RecordType::AAAA), nodata);
    // Below it the closest encloser is sub.wild, which has no wildcard.
    assert_eq!(answered("x.sub.wild.example.com.", RecordType::A), nxdomain);
    // wild is an empty non-terminal: it exists, with no records.
    assert_eq!(answered("wild.example.com.", RecordType::A), nodata);
    // The wildcard's own name is answered as written; a name below it is not covered by it.
    assert_eq!(answered("*.wild.example.com.", RecordType::A).2, ["198.18.1.1", "198.18.2.1"]);
    assert_eq!(answered("x.*.wild.example.com.", RecordType::A), nxdomain);
    // Outside the wildcard's parent nothing changes.
    assert_eq!(answered("x.example.com.", RecordType::A), nxdomain);
    assert_eq!(answered("x.www.example.com.", RecordType::A), nxdomain);
}

#[test]
fn in_a_signed_zone_a_covered_name_is_signed_as_if_it_existed_and_its_signatures_are_not_cached() {
    use super::authority_tests::served_for;
    use super::signed_tests::{DO, ask as ask_bytes, dnskeys, query as query_bytes, verifies_with};
    use crate::dnssec::{SigningAlgorithm, SigningKeyFile, denial::NXNAME};
    use hickory_proto::dnssec::rdata::DNSSECRData;

    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("zone.key");
    SigningKeyFile::generate(SigningAlgorithm::Ed25519).unwrap().write_new(&key).unwrap();
    let text = config()
        .dnssec("ed25519", key.to_str().unwrap())
        .service("*.wild.example.com.", 30, &["one", "two"])
        .fixed_service("sub.wild.example.com.", &["198.18.4.1"], &[]);
    let config = Config::parse(&text.build(), "test.toml").unwrap();
    let served = served_for(&config);
    let a = Authority::new(config.server.edns_udp_payload, served.clone());
    let keys = dnskeys(&a, "example.com.");
    let cached = || served.load().zones.zones[0].signing.signer().unwrap().cached();

    let (reply, outcome, _) = ask_bytes(&a, &query_bytes("a.b.wild.example.com.", RecordType::A, Some(DO)));
    assert_eq!(outcome, Outcome::Answered);
    let (addresses, rrsig) = reply.answers.split_at(2);
    assert!(addresses.iter().all(|r| r.record_type() == RecordType::A), "{reply:?}");
    let RData::DNSSEC(DNSSECRData::RRSIG(sig)) = &rrsig[0].data else { panic!("no RRSIG: {reply:?}") };
    // Signed for the name asked, labels and all: a validator needs no wildcard proof.
    assert_eq!(sig.input().num_labels, 5);
    assert!(verifies_with(&keys, addresses, &rrsig[0]));

    // A type the wildcard lacks: NODATA, the NSEC at the name listing the wildcard's types.
    let (nodata, outcome, _) = ask_bytes(&a, &query_bytes("x.wild.example.com.", RecordType::MX, Some(DO)));
    assert_eq!((nodata.metadata.response_code, outcome), (ResponseCode::NoError, Outcome::NoData));
    let nsec = nodata.authorities.iter().find(|r| r.record_type() == RecordType::NSEC).expect("an NSEC");
    let RData::DNSSEC(DNSSECRData::NSEC(bitmap)) = &nsec.data else { unreachable!() };
    let listed: Vec<RecordType> = bitmap.type_bit_maps().collect();
    assert!(listed.contains(&RecordType::A) && !listed.contains(&NXNAME), "{listed:?}");
    assert_eq!(nsec.name.to_string(), "x.wild.example.com.");

    // Names asked once each do not fill the signature cache.
    let before = cached();
    for i in 0..50 {
        ask_bytes(&a, &query_bytes(&format!("n{i}.wild.example.com."), RecordType::A, Some(DO)));
        ask_bytes(&a, &query_bytes(&format!("n{i}.wild.example.com."), RecordType::MX, Some(DO)));
    }
    assert_eq!(cached(), before);
    // The wildcard's own name is an existing name: signed and cached like any other.
    let (own, _, _) = ask_bytes(&a, &query_bytes("*.wild.example.com.", RecordType::A, Some(DO)));
    assert!(verifies_with(&keys, &own.answers[..2], &own.answers[2]));
    assert!(cached() > before);
}
