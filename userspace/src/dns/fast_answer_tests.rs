//! The fast path answers with the very bytes of the full one, and takes the common queries.

use std::net::IpAddr;

use proptest::prelude::*;

use super::{
    authority::{Authority, Outcome},
    authority_tests::{config, served_for},
    fast_answer,
};
use crate::config::Config;

/// The test zone of `authority_tests` with a weighted service, a wildcard with a name that
/// exists beside it and a weighted wildcard besides, and a second zone written in mixed case
/// whose SOA names lie outside it (so its RNAME is compressed against its MNAME, not against
/// the question).
fn server() -> (Authority, Config) {
    let text = config()
        .service("w.example.com.", 30, &["one", "two"])
        .line("first_weights = { one = 1, two = 1 }")
        .service("*.wild.example.com.", 30, &["one", "two"])
        .line(r#"views.eu = ["two", "one"]"#)
        .fixed_service("sub.wild.example.com.", &["198.18.4.1"], &[])
        .service("*.w.example.com.", 30, &["one", "two"])
        .line("first_weights = { one = 1, two = 1 }");
    let other = "[[zone]]\nname = \"Other.Example.NET.\"\nns = [\"ns.provider.test.\"]\n\
                 soa = { mname = \"ns.provider.test.\", rname = \"dns.provider.test.\" }\n";
    let config = Config::parse(&format!("{}\n{other}", text.build()), "test.toml").unwrap();
    (Authority::new(config.server.edns_udp_payload, served_for(&config)), config)
}

/// The longest name below example.com.: 255 bytes in wire form.
const LONGEST: &str = concat!(
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.",
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.",
    "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc.",
    "ddddddddddddddddddddddddddddddddddddddddddddddddd.example.com."
);

const NAMES: [&str; 27] = [
    "www.example.com.",
    "WwW.ExAmPlE.cOm.",
    // Names a wildcard covers, and names it does not (they exist, or lie below one that does).
    "a.wild.example.com.",
    "A.b.WILD.example.com.",
    "*.wild.example.com.",
    "wild.example.com.",
    "x.sub.wild.example.com.",
    "x.*.wild.example.com.",
    "sub.wild.example.com.",
    "x.w.example.com.",
    "many.deep.example.com.",
    "w.example.com.",
    "ns1.example.com.",
    "example.com.",
    "deep.example.com.",
    "www.example.org.",
    // Names that do not exist: NXDOMAIN.
    "nope.example.com.",
    "NoPe.example.com.",
    "a.nope.example.com.",
    "x.www.example.com.",
    "x.ns1.example.com.",
    "hostmaster.example.com.",
    "x.hostmaster.example.com.",
    LONGEST,
    "x.other.example.net.",
    "ns.other.example.net.",
    "other.example.net.",
];
const CLIENTS: [&str; 4] = ["198.18.0.2", "198.18.200.7", "fd00:e0::5", "fd00:1::2"];

/// EDNS as a query may carry it: payload, DO, version, and one option's code and data.
#[derive(Clone, Debug)]
struct Opt {
    payload: u16,
    dnssec_ok: bool,
    version: u8,
    option: Option<(u16, Vec<u8>)>,
}

fn wire_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.trim_end_matches('.').split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// A query's bytes, built by hand so that odd ones (flags, trailing bytes) can be made too.
fn query_bytes(id: u16, flags: u16, name: &str, qtype: u16, qclass: u16, opt: Option<&Opt>, trailing: bool) -> Vec<u8> {
    let mut out = id.to_be_bytes().to_vec();
    for word in [flags, 1, 0, 0, u16::from(opt.is_some())] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out.extend(wire_name(name));
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&qclass.to_be_bytes());
    if let Some(opt) = opt {
        let options: Vec<u8> = match &opt.option {
            Some((code, data)) => [&code.to_be_bytes()[..], &(data.len() as u16).to_be_bytes(), data].concat(),
            None => Vec::new(),
        };
        let flags: u16 = if opt.dnssec_ok { 0x8000 } else { 0 };
        out.extend_from_slice(&[0, 0, 41]);
        out.extend_from_slice(&opt.payload.to_be_bytes());
        out.extend_from_slice(&[0, opt.version]);
        out.extend_from_slice(&flags.to_be_bytes());
        out.extend_from_slice(&(options.len() as u16).to_be_bytes());
        out.extend(options);
    }
    if trailing {
        out.push(0);
    }
    out
}

fn opt_strategy() -> impl Strategy<Value = Option<Opt>> {
    let option = prop_oneof![
        3 => Just(None),
        1 => Just(Some((10, b"clientck".to_vec()))),
        1 => Just(Some((3, Vec::new()))),
        1 => Just(Some((8, vec![0, 1, 24, 0, 198, 18, 200]))),
    ];
    let payload = prop_oneof![Just(0u16), Just(511), Just(512), Just(1232), Just(4096)];
    proptest::option::of(
        (payload, any::<bool>(), prop_oneof![Just(0u8), Just(1)], option)
            .prop_map(|(payload, dnssec_ok, version, option)| Opt { payload, dnssec_ok, version, option }),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn every_query_gets_the_bytes_of_the_full_path(
        id in any::<u16>(),
        flags in prop_oneof![Just(0u16), Just(0x0100), Just(0x0110), Just(0x0130), Just(0x0800), Just(0x8100), Just(0x0200)],
        name in prop::sample::select(&NAMES[..]),
        qtype in prop_oneof![3 => Just(1u16), 3 => Just(28), 1 => Just(15), 1 => Just(255), 1 => Just(6)],
        qclass in prop_oneof![4 => Just(1u16), 1 => Just(3), 1 => Just(255)],
        opt in opt_strategy(),
        trailing in prop::bool::weighted(0.1),
        client in prop::sample::select(&CLIENTS[..]),
    ) {
        let (authority, _) = server();
        let request = query_bytes(id, flags, name, qtype, qclass, opt.as_ref(), trailing);
        let client: IpAddr = client.parse().unwrap();
        let (fast, full) = (authority.respond(&request, client, false), authority.respond_in_full(&request, client, false));
        prop_assert_eq!(fast.bytes, full.bytes);
        prop_assert_eq!(fast.outcome, full.outcome);
    }
}

/// Names of up to 90 labels under each zone (and one not ours), from labels that meet the SOA
/// names' and the answers' names, cut to fit 255 bytes: long ones fill hickory's 64 remembered
/// names, which the fast path must notice.
fn generated_name() -> impl Strategy<Value = String> {
    let other = prop::sample::select(vec![
        "ns1",
        "hostmaster",
        "www",
        "deep",
        "Nope",
        "ns",
        "dns",
        "provider",
        "wild",
        "sub",
        "*",
    ]);
    let label = prop_oneof![6 => Just("x"), 1 => other];
    let zone = prop::sample::select(vec!["example.com.", "other.example.net.", "provider.test."]);
    (prop::collection::vec(label, 0..90), zone).prop_map(|(mut labels, zone)| {
        loop {
            let name = labels.iter().map(|l| format!("{l}.")).collect::<String>() + zone;
            if wire_name(&name).len() <= 255 {
                return name;
            }
            labels.remove(0);
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn every_generated_name_gets_the_bytes_of_the_full_path(
        name in generated_name(),
        qtype in prop_oneof![Just(1u16), Just(28)],
        opt in opt_strategy(),
        client in prop::sample::select(&CLIENTS[..]),
    ) {
        let (authority, _) = server();
        let request = query_bytes(7, 0x0100, &name, qtype, 1, opt.as_ref(), false);
        let client: IpAddr = client.parse().unwrap();
        let (fast, full) = (authority.respond(&request, client, false), authority.respond_in_full(&request, client, false));
        prop_assert_eq!(fast.bytes, full.bytes);
        prop_assert_eq!(fast.outcome, full.outcome);
    }
}

#[test]
fn the_common_queries_take_the_fast_path() {
    let (_, config) = server();
    let served = served_for(&config).load_full();
    let payload = config.server.edns_udp_payload;
    let plain = Opt { payload: 1232, dnssec_ok: false, version: 0, option: None };
    let cases = [
        ("www.example.com.", 1, None),
        ("WwW.ExAmPlE.cOm.", 28, Some(&plain)),
        ("many.deep.example.com.", 1, Some(&plain)),
        ("w.example.com.", 1, None),
        ("nope.example.com.", 1, None),
        ("a.nope.example.com.", 28, Some(&plain)),
        ("x.www.example.com.", 1, None),
        (LONGEST, 1, Some(&plain)),
        ("x.other.example.net.", 1, None),
        // Names a wildcard covers, or does not as they lie below a name that exists.
        ("a.b.wild.example.com.", 1, None),
        ("x.w.example.com.", 28, Some(&plain)),
        ("x.sub.wild.example.com.", 1, None),
        ("wild.example.com.", 28, None),
        // Names that exist without the type asked: NODATA (an empty non-terminal, the apex).
        ("deep.example.com.", 1, None),
        ("example.com.", 28, Some(&plain)),
        ("other.example.net.", 1, None),
    ];
    for client in CLIENTS {
        let client: IpAddr = client.parse().unwrap();
        for (name, qtype, opt) in cases {
            let request = query_bytes(7, 0x0100, name, qtype, 1, opt, false);
            assert!(fast_answer::answer(&request, client, &served, payload).is_some(), "{name} {qtype} from {client}");
        }
    }
    // And leaves the rest to the full path.
    let cookie = Opt { option: Some((10, b"clientck".to_vec())), ..plain.clone() };
    let client: IpAddr = "198.18.0.2".parse().unwrap();
    for (name, qtype, qclass, opt) in [
        ("example.com.", 6, 1, None),
        // NXDOMAIN asked in mixed case, or for a name that an SOA name is or lies under (it
        // would be compressed into the question), or outside our zones.
        ("NoPe.example.com.", 1, 1, None),
        ("x.ns1.example.com.", 1, 1, None),
        ("hostmaster.example.com.", 1, 1, None),
        ("x.hostmaster.example.com.", 1, 1, None),
        ("www.example.org.", 1, 1, None),
        ("www.example.com.", 1, 255, None),
        ("www.example.com.", 1, 1, Some(&cookie)),
    ] {
        let request = query_bytes(7, 0x0100, name, qtype, qclass, opt, false);
        assert!(fast_answer::answer(&request, client, &served, payload).is_none(), "{name} {qtype} {qclass}");
    }
    let (authority, _) = server();
    let www = query_bytes(7, 0x0100, "www.example.com.", 1, 1, None, false);
    assert_eq!(authority.respond(&www, client, false).outcome, Outcome::Answered);
    for (name, outcome) in [("nope.example.com.", Outcome::NxDomain), ("deep.example.com.", Outcome::NoData)] {
        let request = query_bytes(7, 0x0100, name, 1, 1, None, false);
        assert_eq!(authority.fast_answer(&request, client).map(|(_, outcome)| outcome), Some(outcome), "{name}");
    }
}

#[test]
fn a_signed_zone_leaves_do_queries_to_the_full_path_its_denials_included() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("zone.key");
    let algorithm = crate::dnssec::SigningAlgorithm::Ed25519;
    crate::dnssec::SigningKeyFile::generate(algorithm).unwrap().write_new(&key).unwrap();
    let text = crate::config::fixture::ConfigText::new()
        .xdp_off()
        .zone()
        .dnssec("ed25519", key.to_str().unwrap())
        .site("one", &["198.18.1.1"], &[])
        .service("www.example.com.", 30, &["one"]);
    let config = Config::parse(&text.build(), "test.toml").unwrap();
    let served = served_for(&config).load_full();
    assert!(served.zones.any_signed);
    let client: IpAddr = "198.18.0.2".parse().unwrap();
    let payload = config.server.edns_udp_payload;
    let authority = Authority::new(payload, served_for(&config));
    for name in ["www.example.com.", "nope.example.com.", "example.com."] {
        for (dnssec_ok, fast) in [(false, true), (true, false)] {
            let opt = Opt { payload: 1232, dnssec_ok, version: 0, option: None };
            let request = query_bytes(7, 0x0100, name, 1, 1, Some(&opt), false);
            assert_eq!(
                fast_answer::answer(&request, client, &served, payload).is_some(),
                fast,
                "{name} DO={dnssec_ok}"
            );
            let (fast, full) =
                (authority.respond(&request, client, false), authority.respond_in_full(&request, client, false));
            assert_eq!(fast.bytes, full.bytes, "{name} DO={dnssec_ok}");
        }
    }
}
