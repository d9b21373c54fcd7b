//! Response rate limiting in the XDP program, packet by packet through BPF_PROG_TEST_RUN: the
//! burst answered, what is over it dropped or slipped as a truncated reply (checked with
//! etherparse and hickory-proto), exempt prefixes, clients grouped by /24 and /56, and queries
//! the program leaves to userspace charged all the same before they are passed.

mod xdp_common;

use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

use hickory_proto::{
    op::{Message, MessageType},
    rr::RecordType,
};
use switchyard::bpf::test_run::{XDP_DROP, XDP_PASS, XDP_TX};
use switchyard_common::RrlConfig;
use switchyard_tests::{
    frames::{EdnsSpec, check_response, query, udp_frame},
    privileges::have_root,
    xdp_harness::XdpHarness,
};
use xdp_common::*;

/// Limits whose buckets refill once an hour: nothing refills while a test runs, however slowly.
fn limits(burst: u64, slip: u32) -> RrlConfig {
    let hour = 3_600_000_000_000;
    RrlConfig { interval_ns: hour, burst_ns: burst * hour, ..RrlConfig::new(1, 1, slip, 24, 56) }
}

fn limited_harness(limits: RrlConfig, exempt: &[&str]) -> XdpHarness {
    let mut h = harness();
    let exempt: Vec<ipnet::IpNet> = exempt.iter().map(|p| p.parse().unwrap()).collect();
    h.datapath.set_rrl(limits, &exempt).expect("write the rate limit maps");
    h
}

fn frame_from(client: &str, dns: &[u8]) -> Vec<u8> {
    let client: IpAddr = client.parse().unwrap();
    let server: IpAddr = if client.is_ipv6() { SERVER_V6 } else { SERVER_V4 }.parse().unwrap();
    udp_frame(None, client, server, 40000, 53, dns)
}

/// The action the program takes on one A query from `client` (a name it answers).
fn action(h: &mut XdpHarness, client: &str) -> u32 {
    let rtype = if client.contains(':') { RecordType::AAAA } else { RecordType::A };
    h.run(&frame_from(client, &query(7, "www.example.com.", rtype, None))).expect("test run").action
}

#[test]
fn the_burst_is_answered_and_the_rest_dropped() {
    if !have_root("the_burst_is_answered_and_the_rest_dropped") {
        return;
    }
    let mut h = limited_harness(limits(3, 0), &[]);
    let actions: Vec<u32> = (0..6).map(|_| action(&mut h, "198.18.7.1")).collect();
    assert_eq!(actions, [XDP_TX, XDP_TX, XDP_TX, XDP_DROP, XDP_DROP, XDP_DROP]);
    assert_eq!((h.counter("answered_v4"), h.counter("rrl_dropped")), (3, 3));
    // Another address of the same /24 shares the bucket; another /24 has its own.
    assert_eq!(action(&mut h, "198.18.7.250"), XDP_DROP);
    assert_eq!(action(&mut h, "198.18.8.1"), XDP_TX);
    // An answered frame under the limit is still a correct answer.
    let dns = query(9, "www.example.com.", RecordType::A, None);
    let frame = frame_from("198.18.9.1", &dns);
    let run = h.run(&frame).unwrap();
    let reply = check_response(&frame, &run.frame).expect("a correct frame");
    assert_eq!(Message::from_vec(&reply).unwrap().answers.len(), 2);
}

#[test]
fn a_burst_shorter_than_a_tick_keeps_its_rate() {
    if !have_root("a_burst_shorter_than_a_tick_keeps_its_rate") {
        return;
    }
    // 1,000 a second with a burst of one: a response a millisecond, under the kernel's tick
    // (4 ms at HZ=250), during which the program's cached time stands still.
    let mut h = limited_harness(RrlConfig::new(1000, 1, 0, 24, 56), &[]);
    let frame = frame_from("198.18.7.1", &query(7, "www.example.com.", RecordType::A, None));
    let millisecond = Duration::from_millis(1);
    // Time the loop was asking, a query's wait counted up to a millisecond: a thread the
    // machine set aside for longer finds one response waiting, not all it missed.
    let (started, mut asking, mut answered) = (Instant::now(), Duration::ZERO, 0u64);
    for _ in 0..2_000_000 {
        let before = Instant::now();
        answered += u64::from(h.run(&frame).expect("test run").action == XDP_TX);
        asking += before.elapsed().min(millisecond);
        if started.elapsed() >= Duration::from_millis(300) {
            break;
        }
    }
    let (asking_ms, elapsed_ms) = (asking.as_millis() as u64, started.elapsed().as_millis() as u64);
    assert!(
        answered * 10 >= asking_ms * 8 && answered <= elapsed_ms + 2,
        "{answered} responses in {elapsed_ms} ms ({asking_ms} ms asking) at 1,000 a second"
    );
}

#[test]
fn a_slipped_reply_is_an_empty_truncated_answer() {
    if !have_root("a_slipped_reply_is_an_empty_truncated_answer") {
        return;
    }
    let mut h = limited_harness(limits(1, 2), &[]);
    assert_eq!(action(&mut h, CLIENT_V4), XDP_TX);
    for edns in [None, Some(EdnsSpec { dnssec_ok: true, ..Default::default() })] {
        let dns = query(0x5151, "WwW.Example.com.", RecordType::A, edns.as_ref());
        let frame = frame_from(CLIENT_V4, &dns);
        // slip = 2: the first limited response is dropped, the second slipped.
        assert_eq!(h.run(&frame).unwrap().action, XDP_DROP);
        let run = h.run(&frame).unwrap();
        assert_eq!(run.action, XDP_TX, "slipped");
        let reply = check_response(&frame, &run.frame).unwrap_or_else(|e| panic!("bad slipped frame: {e}"));
        let message = Message::from_vec(&reply).expect("parsable");
        let asked = Message::from_vec(&dns).unwrap();
        assert_eq!(message.metadata.message_type, MessageType::Response);
        assert!(message.metadata.truncation && message.metadata.authoritative, "TC and AA set");
        assert_eq!(message.metadata.id, 0x5151);
        assert_eq!(message.queries, asked.queries, "the question echoed as asked");
        assert!(message.answers.is_empty() && message.authorities.is_empty() && message.additionals.is_empty());
        assert_eq!(message.edns.is_some(), edns.is_some(), "OPT only when the query had one");
        if let Some(opt) = &message.edns {
            assert!(opt.flags().dnssec_ok, "DO copied");
        }
        assert_eq!(
            Some(reply),
            h.authority.truncated_reply(&Message::from_vec(&dns).unwrap()),
            "the same bytes as userspace's slipped reply"
        );
    }
    assert_eq!((h.counter("rrl_dropped"), h.counter("rrl_slipped")), (2, 2));
}

#[test]
fn exempt_prefixes_are_never_limited() {
    if !have_root("exempt_prefixes_are_never_limited") {
        return;
    }
    let mut h = limited_harness(limits(1, 0), &["198.18.77.0/24", "fd00:77::/48"]);
    for client in ["198.18.77.5", "fd00:77:0:1::5"] {
        assert!((0..10).all(|_| action(&mut h, client) == XDP_TX), "{client} exempt");
    }
    assert_eq!(h.counter("rrl_exempt"), 20);
    assert_eq!(action(&mut h, "198.18.78.5"), XDP_TX);
    assert_eq!(action(&mut h, "198.18.78.5"), XDP_DROP, "next to the exempt prefix: limited");
    // Removed from the list: limited like any client.
    h.datapath.set_rrl(limits(1, 0), &[]).unwrap();
    assert_eq!(action(&mut h, "198.18.77.5"), XDP_TX);
    assert_eq!(action(&mut h, "198.18.77.5"), XDP_DROP);
}

#[test]
fn ipv6_clients_share_a_bucket_per_56() {
    if !have_root("ipv6_clients_share_a_bucket_per_56") {
        return;
    }
    let mut h = limited_harness(limits(1, 0), &[]);
    assert_eq!(action(&mut h, "fd00:1:2:3400::1"), XDP_TX);
    assert_eq!(action(&mut h, "fd00:1:2:34ff:ffff::2"), XDP_DROP, "same /56");
    assert_eq!(action(&mut h, "fd00:1:2:3500::1"), XDP_TX, "another /56");
    assert_eq!(action(&mut h, "fd00:1:2:3500::1"), XDP_DROP);
    assert_eq!(h.counter("answered_v6"), 2);
}

#[test]
fn nothing_is_limited_while_off() {
    if !have_root("nothing_is_limited_while_off") {
        return;
    }
    let mut h = limited_harness(RrlConfig::OFF, &[]);
    assert!((0..50).all(|_| action(&mut h, CLIENT_V4) == XDP_TX));
    assert_eq!(h.counter("rrl_dropped") + h.counter("rrl_slipped") + h.counter("rrl_exempt"), 0);
}

#[test]
fn queries_left_to_userspace_are_charged_before_they_are_passed() {
    if !have_root("queries_left_to_userspace_are_charged_before_they_are_passed") {
        return;
    }
    let subnet = EdnsSpec { client_subnet: Some(("198.18.0.0".parse().unwrap(), 24)), ..Default::default() };
    let dnssec = EdnsSpec { dnssec_ok: true, ..Default::default() };
    let nsid = EdnsSpec { nsid: true, ..Default::default() };
    let left_to_userspace = [
        ("pass_miss", query(1, "nx-4711.example.com.", RecordType::A, None)),
        ("pass_unsupported", query(2, "www.example.com.", RecordType::TXT, None)),
        ("pass_client_subnet", query(3, "www.example.com.", RecordType::A, Some(&subnet))),
        ("pass_nsid", query(4, "www.example.com.", RecordType::A, Some(&nsid))),
        ("pass_name_too_long", query(5, &format!("{}.example.com.", ["x"; 60].join(".")), RecordType::A, None)),
    ];
    for (i, (reason, dns)) in left_to_userspace.iter().enumerate() {
        let mut h = limited_harness(limits(2, 2), &[]);
        let client = format!("198.18.{}.1", 20 + i);
        let frame = frame_from(&client, dns);
        let runs: Vec<_> = (0..4).map(|_| h.run(&frame).unwrap()).collect();
        let actions: Vec<u32> = runs.iter().map(|r| r.action).collect();
        // Burst 2, slip 2: two passed up, then one dropped and one slipped in the kernel; a
        // question the program does not parse has no truncated reply: dropped both times.
        let parsed = *reason != "pass_name_too_long";
        let second = if parsed { XDP_TX } else { XDP_DROP };
        assert_eq!(actions, [XDP_PASS, XDP_PASS, XDP_DROP, second], "{reason}");
        assert_eq!(h.counter(reason), 2, "passed while under the limit: {reason}");
        let limited = (h.counter("rrl_dropped"), h.counter("rrl_slipped"));
        assert_eq!(limited, if parsed { (1, 1) } else { (2, 0) }, "{reason}");
        if parsed {
            let reply = check_response(&frame, &runs[3].frame).unwrap_or_else(|e| panic!("{reason}: {e}"));
            let slipped = Message::from_vec(&reply).unwrap();
            assert!(slipped.metadata.truncation && slipped.answers.is_empty(), "{reason}: {slipped:?}");
            let expected = h.authority.truncated_reply(&Message::from_vec(dns).unwrap());
            assert_eq!(Some(reply), expected, "{reason}: the same bytes as userspace's slip");
        }
        // The bucket is one per prefix: a query the program would answer finds it spent.
        assert_eq!(action(&mut h, &client), XDP_DROP, "after {reason}");
    }
    // A signed name asked with DO=1 is charged as well (passed only after the lookup).
    let mut h = limited_harness(limits(1, 0), &[]);
    let signed = frame_from("198.18.30.1", &query(6, "www.example.com.", RecordType::A, Some(&dnssec)));
    let first = h.run(&signed).unwrap().action;
    assert_eq!(action(&mut h, "198.18.30.1"), XDP_DROP, "the first query ({first}) spent the burst");
}

#[test]
fn what_is_not_a_query_to_this_host_is_not_charged() {
    if !have_root("what_is_not_a_query_to_this_host_is_not_charged") {
        return;
    }
    let mut h = limited_harness(limits(1, 0), &[]);
    let mut response = query(8, "www.example.com.", RecordType::A, None);
    response[2] |= 0x80;
    let to_another_host = udp_frame(
        None,
        CLIENT_V4.parse().unwrap(),
        "198.18.250.250".parse().unwrap(),
        4000,
        53,
        &query(9, "www.example.com.", RecordType::A, None),
    );
    // Ethernet and IPv4 headers, then the UDP checksum: flipped, the stack would drop the frame.
    let mut corrupted = frame_from(CLIENT_V4, &query(10, "nx.example.com.", RecordType::A, None));
    corrupted[14 + 20 + 6] ^= 0xff;
    for _ in 0..5 {
        assert_eq!(h.run(&frame_from(CLIENT_V4, &response)).unwrap().action, XDP_PASS);
        assert_eq!(h.run(&to_another_host).unwrap().action, XDP_PASS);
        assert_eq!(h.run(&corrupted).unwrap().action, XDP_PASS);
    }
    assert_eq!((h.counter("pass_response"), h.counter("pass_not_local")), (5, 5));
    assert_eq!(h.counter("pass_bad_udp_checksum"), 5);
    assert_eq!(action(&mut h, CLIENT_V4), XDP_TX, "the bucket is still full");
    assert_eq!(h.counter("rrl_dropped") + h.counter("rrl_slipped"), 0);
}
