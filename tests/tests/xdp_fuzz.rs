//! Random and mutated frames through the XDP program: never XDP_ABORTED or XDP_DROP, a passed
//! frame is untouched, and XDP_TX only for a valid query (checked with etherparse and hickory),
//! with exactly the userspace server's answer.

mod xdp_common;

use etherparse::{PacketHeaders, TransportHeader};
use hickory_proto::{
    op::{Message, MessageType, OpCode},
    rr::RecordType,
};
use proptest::{
    prelude::*,
    test_runner::{Config, TestRunner},
};
use switchyard::bpf::test_run::{XDP_PASS, XDP_TX};
use switchyard_tests::{
    frames::{EdnsSpec, check_response, ones_complement_sum_is_zero, query, udp_frame},
    privileges::have_root,
    xdp_harness::XdpHarness,
};
use xdp_common::*;

fn seeds() -> Vec<Vec<u8>> {
    let edns = EdnsSpec { cookie: true, ..EdnsSpec::default() };
    vec![
        udp_frame(
            None,
            CLIENT_V4.parse().unwrap(),
            SERVER_V4.parse().unwrap(),
            1000,
            53,
            &query(1, "www.example.com.", RecordType::A, None),
        ),
        udp_frame(
            Some(5),
            CLIENT_V6.parse().unwrap(),
            SERVER_V6.parse().unwrap(),
            1000,
            53,
            &query(2, "eight.example.com.", RecordType::AAAA, Some(&edns)),
        ),
        udp_frame(
            None,
            "198.18.200.1".parse().unwrap(),
            SERVER_V4.parse().unwrap(),
            1000,
            53,
            &query(3, "a.example.com.", RecordType::A, Some(&edns)),
        ),
    ]
}

/// A frame mutated by byte flips, truncation or extension.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let edits = prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..5);
    (0..3usize, edits, any::<prop::sample::Index>(), prop::collection::vec(any::<u8>(), 0..8), 0..3u8).prop_map(
        |(seed, edits, cut, tail, how)| {
            let mut frame = seeds()[seed].clone();
            for (at, byte) in edits {
                let i = at.index(frame.len());
                frame[i] = byte;
            }
            match how {
                0 => frame.truncate(14 + cut.index(frame.len() - 14)),
                1 => frame.extend_from_slice(&tail),
                _ => {}
            }
            frame
        },
    )
}

/// Random bytes behind a plausible Ethernet header.
fn random() -> impl Strategy<Value = Vec<u8>> {
    let ether = prop_oneof![Just([0x08u8, 0x00]), Just([0x86, 0xDD]), Just([0x81, 0x00]), any::<[u8; 2]>()];
    (ether, prop::collection::vec(any::<u8>(), 0..600)).prop_map(|(ether, body)| {
        let mut frame = [SERVER_MAC_BYTES, CLIENT_MAC_BYTES].concat();
        frame.extend_from_slice(&ether);
        frame.extend_from_slice(&body);
        frame
    })
}
const SERVER_MAC_BYTES: [u8; 6] = switchyard_tests::frames::SERVER_MAC;
const CLIENT_MAC_BYTES: [u8; 6] = switchyard_tests::frames::CLIENT_MAC;

/// The DNS message of `frame` when it is a UDP datagram to port 53 carrying a standard query.
fn valid_query(frame: &[u8]) -> Option<Vec<u8>> {
    let headers = PacketHeaders::from_ethernet_slice(frame).ok()?;
    let Some(TransportHeader::Udp(udp)) = headers.transport else {
        return None;
    };
    let dns = headers.payload.slice();
    let m = Message::from_vec(dns).ok()?;
    let standard = udp.destination_port == 53
        && m.metadata.message_type == MessageType::Query
        && m.metadata.op_code == OpCode::Query
        && m.queries.len() == 1;
    standard.then(|| dns.to_vec())
}

/// Whether the IPv4 header checksum (IPv4) and the UDP checksum of `frame` are right, as
/// etherparse recomputes them (a zero UDP checksum is "none" over IPv4 only).
fn checksums_right(frame: &[u8]) -> bool {
    let Ok(headers) = PacketHeaders::from_ethernet_slice(frame) else { return false };
    let (Some(net), Some(TransportHeader::Udp(udp))) = (headers.net, headers.transport) else { return false };
    let payload = headers.payload.slice();
    match net {
        etherparse::NetHeaders::Ipv4(ip, _) => {
            // Summed over the raw bytes: a re-serialised header would drop the reserved flag bit.
            let l3 = 14 + 4 * headers.link_exts.len();
            let header_right = frame.get(l3..l3 + ip.header_len()).is_some_and(ones_complement_sum_is_zero);
            header_right && (udp.checksum == 0 || udp.calc_checksum_ipv4(&ip, payload).is_ok_and(|c| c == udp.checksum))
        }
        etherparse::NetHeaders::Ipv6(ip, _) => udp.calc_checksum_ipv6(&ip, payload).is_ok_and(|c| c == udp.checksum),
        _ => false,
    }
}

fn check(
    h: &std::cell::RefCell<XdpHarness>,
    frame: &[u8],
    transmitted: &std::cell::Cell<u32>,
) -> Result<(), TestCaseError> {
    let run = h.borrow_mut().run(frame);
    let h = h.borrow();
    let run = match run {
        Ok(run) => run,
        // The kernel refuses frames shorter than an Ethernet header before running anything.
        Err(_) if frame.len() < 14 => return Ok(()),
        Err(e) => return Err(TestCaseError::fail(format!("test run failed: {e}"))),
    };
    prop_assert!(run.action == XDP_PASS || run.action == XDP_TX, "action {} for {:02x?}", run.action, frame);
    if run.action == XDP_PASS {
        prop_assert_eq!(&run.frame, frame, "passed frame untouched");
        return Ok(());
    }
    transmitted.set(transmitted.get() + 1);
    let dns =
        valid_query(frame).ok_or_else(|| TestCaseError::fail(format!("XDP_TX for an invalid query {frame:02x?}")))?;
    prop_assert!(checksums_right(frame), "XDP_TX for a query with a wrong checksum {:02x?}", frame);
    let reply = check_response(frame, &run.frame).map_err(TestCaseError::fail)?;
    let client = PacketHeaders::from_ethernet_slice(frame)
        .ok()
        .and_then(|h| h.net)
        .map(|n| match n {
            etherparse::NetHeaders::Ipv4(h, _) => std::net::IpAddr::from(h.source),
            etherparse::NetHeaders::Ipv6(h, _) => std::net::IpAddr::from(h.source),
            _ => unreachable!("valid query has IP"),
        })
        .unwrap();
    prop_assert_eq!(Some(reply), h.userspace(&dns, client), "XDP answer equals userspace's");
    Ok(())
}

#[test]
fn random_and_mutated_frames_are_never_mis_answered() {
    if !have_root("random_and_mutated_frames_are_never_mis_answered") {
        return;
    }
    let h = std::cell::RefCell::new(harness());
    let transmitted = std::cell::Cell::new(0);
    let mut runner = TestRunner::new(Config { cases: 6000, failure_persistence: None, ..Config::default() });
    runner.run(&mutated(), |frame| check(&h, &frame, &transmitted)).unwrap();
    let mut runner = TestRunner::new(Config { cases: 6000, failure_persistence: None, ..Config::default() });
    runner.run(&random(), |frame| check(&h, &frame, &transmitted)).unwrap();
    let h = h.into_inner();
    let transmitted = transmitted.get();
    let counters = h.datapath.counters().unwrap();
    eprintln!("fuzz: {transmitted} of 12000 frames answered; counters {counters:?}");
    assert!(h.counter("pass_malformed") > 0, "malformed frames were seen and counted");
}
