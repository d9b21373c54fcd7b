//! Thousands of generated queries (names, case mixes, types, EDNS on/off, IPv4/IPv6, VLAN,
//! views) put to both the XDP program and the userspace server: whenever XDP answers, the bytes
//! are the same as userspace's; it answers exactly the queries it can; it passes the rest untouched.

mod xdp_common;

use std::net::IpAddr;

use hickory_proto::rr::RecordType;
use proptest::{
    prelude::*,
    test_runner::{Config, TestRunner},
};
use switchyard::{
    answers::{AnswerTable, Views, wire_name},
    bpf::test_run::{XDP_PASS, XDP_TX},
};
use switchyard_common::{MAX_ADDRS, MAX_NAME_LEN};
use switchyard_tests::{
    frames::{EdnsSpec, check_response, query, udp_frame},
    privileges::have_root,
};
use xdp_common::*;

const NAMES: [&str; 19] = [
    ".",
    LONG_NAMES[0],
    LONG_NAMES[1],
    LONG_NAMES[2],
    LONG_NAMES[3],
    LONG_NAMES[4],
    LONG_NAMES[5],
    "www.example.com.",
    "eight.example.com.",
    "nine.example.com.",
    "x.deep.example.com.",
    "deep.example.com.",
    "a.example.com.",
    "b.example.com.",
    "c.example.com.",
    "v6only.example.com.",
    "example.com.",
    "ns1.example.com.",
    "www.example.org.",
];
const TYPES: [RecordType; 6] =
    [RecordType::A, RecordType::AAAA, RecordType::A, RecordType::AAAA, RecordType::MX, RecordType::TXT];
const CLIENTS: [&str; 4] = [CLIENT_V4, "198.18.200.9", CLIENT_V6, "fd00:c8::9"];

#[derive(Debug, Clone)]
struct Case {
    name: String,
    rtype: RecordType,
    edns: Option<EdnsSpec>,
    client: &'static str,
    vlan: Option<u16>,
    id: u16,
}

fn mixed_case(name: &str, mask: u64) -> String {
    name.chars().enumerate().map(|(i, c)| if mask >> (i % 64) & 1 == 1 { c.to_ascii_uppercase() } else { c }).collect()
}

fn case() -> impl Strategy<Value = Case> {
    let edns = prop_oneof![
        3 => Just(None),
        4 => (any::<bool>(), any::<bool>()).prop_map(|(dnssec_ok, cookie)| Some(EdnsSpec { dnssec_ok, cookie, ..EdnsSpec::default() })),
        1 => Just(Some(EdnsSpec { version: 1, ..EdnsSpec::default() })),
        1 => Just(Some(EdnsSpec { client_subnet: Some(("198.18.200.0".parse().unwrap(), 24)), ..EdnsSpec::default() })),
    ];
    (0..NAMES.len(), any::<u64>(), 0..TYPES.len(), edns, 0..CLIENTS.len(), prop::option::of(1u16..4000), any::<u16>())
        .prop_map(|(n, mask, t, edns, c, vlan, id)| Case {
            name: mixed_case(NAMES[n], mask),
            rtype: TYPES[t],
            edns,
            client: CLIENTS[c],
            vlan,
            id,
        })
}

/// Whether the fast path should answer: an A/AAAA name of at most `MAX_NAME_LEN` wire bytes with
/// 1..=8 addresses for the client's view (or the default view), and EDNS, if any, of version 0
/// without Client Subnet.
fn fast_path_answers(table: &AnswerTable, views: &Views, c: &Case) -> bool {
    let qtype = match c.rtype {
        RecordType::A => 1,
        RecordType::AAAA => 28,
        _ => return false,
    };
    if c.edns.as_ref().is_some_and(|e| e.version != 0 || e.client_subnet.is_some()) {
        return false;
    }
    let view = views.lookup(c.client.parse().unwrap()).map(|(v, _)| v).unwrap_or(0);
    let name = wire_name(&c.name.parse().unwrap());
    if name.len() > MAX_NAME_LEN {
        return false;
    }
    table.lookup(view, qtype, &name).is_some_and(|set| (1..=MAX_ADDRS).contains(&set.addrs.len()))
}

#[test]
fn xdp_and_userspace_agree_on_thousands_of_queries() {
    if !have_root("xdp_and_userspace_agree_on_thousands_of_queries") {
        return;
    }
    let answered = differential(harness(), 4000);
    assert!(answered > 400, "the fast path answered {answered} of 4000: too few to compare");
    eprintln!("differential: {answered} of 4000 answered by XDP, all identical to userspace");
}

/// The same in a signed zone, for both algorithms: DO=1 answers carry the RRSIG the daemon wrote.
#[test]
fn xdp_and_userspace_agree_on_signed_answers() {
    if !have_root("xdp_and_userspace_agree_on_signed_answers") {
        return;
    }
    for algorithm in ALGORITHMS {
        let dir = tempfile::tempdir().unwrap();
        let h = switchyard_tests::xdp_harness::XdpHarness::new(&signed_zone(algorithm, dir.path()), table(), views());
        let signed_before = h.counter("answered_signed");
        let answered = differential_counting_signed(h, 1500, signed_before);
        assert!(answered.0 > 150, "{algorithm}: the fast path answered {} of 1500", answered.0);
        assert!(answered.1 > 30, "{algorithm}: {} signed answers of 1500: too few to compare", answered.1);
        eprintln!(
            "{algorithm}: {} of 1500 answered by XDP, {} signed, all identical to userspace",
            answered.0, answered.1
        );
    }
}

fn differential_counting_signed(h: switchyard_tests::xdp_harness::XdpHarness, cases: u32, before: u64) -> (u32, u64) {
    let h = std::cell::RefCell::new(h);
    let answered = differential_in(&h, cases);
    let signed = h.borrow().counter("answered_signed") - before;
    (answered, signed)
}

/// Puts `cases` generated queries to both paths of `h`; returns how many XDP answered.
fn differential(h: switchyard_tests::xdp_harness::XdpHarness, cases: u32) -> u32 {
    differential_in(&std::cell::RefCell::new(h), cases)
}

fn differential_in(h: &std::cell::RefCell<switchyard_tests::xdp_harness::XdpHarness>, cases: u32) -> u32 {
    let (table, views) = (table(), views());
    let answered = std::cell::Cell::new(0u32);
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let result = runner.run(&case(), |c| {
        let dns = query(c.id, &c.name, c.rtype, c.edns.as_ref());
        let client: IpAddr = c.client.parse().unwrap();
        let server: IpAddr = if client.is_ipv6() { SERVER_V6.parse().unwrap() } else { SERVER_V4.parse().unwrap() };
        let frame = udp_frame(c.vlan, client, server, 33333, 53, &dns);
        let run = h.borrow_mut().run(&frame).expect("test run");
        let expect_tx = fast_path_answers(&table, &views, &c);
        prop_assert_eq!(run.action, if expect_tx { XDP_TX } else { XDP_PASS }, "action for {:?}", c);
        if run.action == XDP_TX {
            let reply = check_response(&frame, &run.frame).map_err(TestCaseError::fail)?;
            let userspace = h.borrow().userspace(&dns, client).expect("userspace answers");
            prop_assert_eq!(reply, userspace, "same bytes for {:?}", c);
            answered.set(answered.get() + 1);
        } else {
            prop_assert_eq!(&run.frame, &frame, "passed frame untouched");
        }
        Ok(())
    });
    result.unwrap();
    answered.get()
}
