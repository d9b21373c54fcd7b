//! The XDP responder packet by packet through BPF_PROG_TEST_RUN: crafted frames in, frames out,
//! checked with etherparse and hickory-proto, and compared byte for byte with what the
//! userspace server answers to the same query.

mod xdp_common;

use std::net::IpAddr;

use hickory_proto::{op::Message, rr::RecordType};
use switchyard::answers::wire_name;
use switchyard::bpf::{
    local_maps::LocalTable,
    test_run::{XDP_PASS, XDP_TX},
};
use switchyard_common::{MapEntry, MapKey, PackedName, QTYPE_A, local_addr, program_names};
use switchyard_tests::{
    frames::{EdnsSpec, check_response, query, udp_frame},
    privileges::have_root,
    xdp_harness::XdpHarness,
};
use xdp_common::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Sends one query frame; asserts XDP_TX with a correct frame identical (DNS bytes) to the
/// userspace answer; returns the parsed response.
fn answered(h: &mut XdpHarness, vlan: Option<u16>, client: &str, dns: &[u8]) -> Message {
    let server = if client.contains(':') { SERVER_V6 } else { SERVER_V4 };
    let frame = udp_frame(vlan, ip(client), ip(server), 40000, 53, dns);
    let run = h.run(&frame).expect("test run");
    assert_eq!(run.action, XDP_TX, "expected XDP_TX");
    let reply = check_response(&frame, &run.frame).unwrap_or_else(|e| panic!("bad response frame: {e}"));
    let userspace = h.userspace(dns, ip(client)).expect("userspace answers too");
    assert_eq!(reply, userspace, "XDP and userspace give the same bytes");
    Message::from_vec(&reply).expect("parsable")
}

/// Asserts XDP_PASS with the frame untouched and the named counter moved by one.
fn passed(h: &mut XdpHarness, frame: &[u8], counter: &str) {
    let before = h.counter(counter);
    let run = h.run(frame).expect("test run");
    assert_eq!(run.action, XDP_PASS, "expected XDP_PASS ({counter})");
    assert_eq!(run.frame, frame, "a passed frame is untouched ({counter})");
    assert_eq!(h.counter(counter), before + 1, "counted as {counter}");
}

fn addrs(m: &Message) -> Vec<String> {
    m.answers.iter().map(|r| r.data.to_string()).collect()
}

#[test]
fn answers_a_aaaa_over_v4_v6_with_and_without_vlan() {
    if !have_root("answers_a_aaaa_over_v4_v6_with_and_without_vlan") {
        return;
    }
    let mut h = harness();
    for vlan in [None, Some(42)] {
        let m = answered(&mut h, vlan, CLIENT_V4, &query(1, "www.example.com.", RecordType::A, None));
        assert_eq!(addrs(&m), ["198.18.10.1", "198.18.20.1"]);
        let m = answered(&mut h, vlan, CLIENT_V6, &query(2, "www.example.com.", RecordType::AAAA, None));
        assert_eq!(addrs(&m), ["fd00:10::1", "fd00:20::1"]);
        let m = answered(&mut h, vlan, CLIENT_V6, &query(3, "www.example.com.", RecordType::A, None));
        assert_eq!(addrs(&m), ["198.18.10.1", "198.18.20.1"], "A over IPv6");
    }
    assert_eq!(h.counter("answered_v4"), 2);
    assert_eq!(h.counter("answered_v6"), 4);
}

#[test]
fn header_question_case_and_ttl() {
    if !have_root("header_question_case_and_ttl") {
        return;
    }
    let mut h = harness();
    let m = answered(&mut h, None, CLIENT_V4, &query(0xbeef, "wWw.ExAmPlE.cOm.", RecordType::A, None));
    assert_eq!(m.metadata.id, 0xbeef);
    assert!(m.metadata.authoritative && m.metadata.recursion_desired && !m.metadata.truncation);
    assert_eq!(m.queries[0].name().to_string(), "wWw.ExAmPlE.cOm.", "0x20 case kept");
    assert!(m.answers.iter().all(|r| r.ttl == 30));
    let m = answered(&mut h, None, CLIENT_V4, &query(7, "x.deep.example.com.", RecordType::A, None));
    assert_eq!((addrs(&m), m.answers[0].ttl), (vec!["198.18.11.1".to_string()], 5));
}

#[test]
fn edns_gets_our_opt_without_echoing_the_cookie_and_with_do_copied() {
    if !have_root("edns_gets_our_opt_without_echoing_the_cookie_and_with_do_copied") {
        return;
    }
    let mut h = harness();
    for (client, rtype) in [(CLIENT_V4, RecordType::A), (CLIENT_V6, RecordType::AAAA)] {
        for dnssec_ok in [false, true] {
            let spec = EdnsSpec { dnssec_ok, cookie: true, ..EdnsSpec::default() };
            let m = answered(&mut h, None, client, &query(9, "www.example.com.", rtype, Some(&spec)));
            let edns = m.edns.expect("OPT in the response");
            assert_eq!((edns.version(), edns.max_payload(), edns.flags().dnssec_ok), (0, 1232, dnssec_ok));
            assert!(edns.options().as_ref().is_empty(), "no options echoed");
            assert_eq!(m.answers.len(), 2);
        }
    }
}

#[test]
fn up_to_eight_addresses_in_map_order() {
    if !have_root("up_to_eight_addresses_in_map_order") {
        return;
    }
    let mut h = harness();
    let m = answered(
        &mut h,
        None,
        CLIENT_V6,
        &query(1, "eight.example.com.", RecordType::AAAA, Some(&EdnsSpec::default())),
    );
    assert_eq!(addrs(&m), (1..=8).map(|i| format!("fd00:8::{i}")).collect::<Vec<_>>());
    let m = answered(&mut h, None, CLIENT_V4, &query(1, "eight.example.com.", RecordType::A, None));
    assert_eq!(m.answers.len(), 8);
    // Nine addresses do not go in the map, nor does the 97-byte name (its A and its AAAA).
    assert_eq!(h.write_stats.userspace_only, 1 + 2, "entries left to userspace");
    passed(&mut h, &v4_query(&query(1, "nine.example.com.", RecordType::A, None)), "pass_miss");
}

#[test]
fn client_locality_views_and_client_subnet() {
    if !have_root("client_locality_views_and_client_subnet") {
        return;
    }
    let mut h = harness();
    let m = answered(&mut h, None, "198.18.200.7", &query(1, "www.example.com.", RecordType::A, None));
    assert_eq!(addrs(&m), ["198.18.20.1", "198.18.10.1"], "near view's order");
    let m = answered(&mut h, None, "fd00:c8::9", &query(1, "www.example.com.", RecordType::AAAA, None));
    assert_eq!(addrs(&m), ["fd00:20::1", "fd00:10::1"]);
    let m = answered(&mut h, None, "198.18.200.7", &query(1, "x.deep.example.com.", RecordType::A, None));
    assert_eq!(addrs(&m), ["198.18.11.1"], "no view entry: the default view's");
    let ecs = EdnsSpec { client_subnet: Some((ip("198.18.200.0"), 24)), ..EdnsSpec::default() };
    passed(&mut h, &v4_query(&query(1, "www.example.com.", RecordType::A, Some(&ecs))), "pass_client_subnet");
}

#[test]
fn a_query_asking_for_nsid_is_left_to_userspace() {
    if !have_root("a_query_asking_for_nsid_is_left_to_userspace") {
        return;
    }
    let mut h = harness();
    let nsid = EdnsSpec { nsid: true, ..EdnsSpec::default() };
    passed(&mut h, &v4_query(&query(1, "www.example.com.", RecordType::A, Some(&nsid))), "pass_nsid");
}

#[test]
fn similar_names_never_share_an_answer() {
    if !have_root("similar_names_never_share_an_answer") {
        return;
    }
    let mut h = harness();
    let a = answered(&mut h, None, CLIENT_V4, &query(1, "a.example.com.", RecordType::A, None));
    let b = answered(&mut h, None, CLIENT_V4, &query(1, "B.example.com.", RecordType::A, None));
    assert_eq!((addrs(&a), addrs(&b)), (vec!["198.18.12.1".to_string()], vec!["198.18.12.2".to_string()]));
    passed(&mut h, &v4_query(&query(1, "c.example.com.", RecordType::A, None)), "pass_miss");
}

#[test]
fn names_of_every_word_count_up_to_the_longest() {
    if !have_root("names_of_every_word_count_up_to_the_longest") {
        return;
    }
    let mut h = harness();
    let edns = EdnsSpec { cookie: true, ..EdnsSpec::default() };
    for (i, name) in LONG_NAMES[..5].iter().enumerate() {
        let upper = name.to_ascii_uppercase();
        for (vlan, edns) in [(None, None), (Some(7), Some(&edns))] {
            let m = answered(&mut h, vlan, CLIENT_V6, &query(1, &upper, RecordType::AAAA, edns));
            assert_eq!(addrs(&m), [format!("fd00:13::{}", i + 1)], "{name}");
            let m = answered(&mut h, vlan, CLIENT_V4, &query(1, name, RecordType::A, edns));
            assert_eq!(addrs(&m), [format!("198.18.13.{}", i + 1)], "{name}");
        }
    }
}

#[test]
fn an_entry_holding_another_name_is_never_used() {
    if !have_root("an_entry_holding_another_name_is_never_used") {
        return;
    }
    let mut h = harness();
    // What two names with one hash would look like: the key of the question's name, the value
    // of another name. Written for the default view of "a" and the near view of "www", whose
    // default-view entry must not be used instead.
    let packed = |name: &str| PackedName::new(&wire_name(&name.parse().unwrap())).unwrap();
    let mut slot = [0u8; 16];
    slot[..4].copy_from_slice(&[198, 18, 99, 9]);
    for (view, name) in [(0, "a.example.com."), (1, "www.example.com.")] {
        let key = MapKey::new(view, QTYPE_A, &packed(name));
        let entry = MapEntry::new(QTYPE_A, 30, &packed("b.example.com."), &[slot]);
        assert!(h.datapath.answers().insert(key, &entry));
    }
    passed(&mut h, &v4_query(&query(1, "a.example.com.", RecordType::A, None)), "pass_hash_collision");
    let near = udp_frame(
        None,
        ip("198.18.200.7"),
        ip(SERVER_V4),
        40000,
        53,
        &query(1, "www.example.com.", RecordType::A, None),
    );
    passed(&mut h, &near, "pass_hash_collision");
    // Other entries are unaffected.
    let m = answered(&mut h, None, CLIENT_V4, &query(1, "www.example.com.", RecordType::A, None));
    assert_eq!(addrs(&m), ["198.18.10.1", "198.18.20.1"]);
}

#[test]
fn never_answers_what_it_must_not() {
    if !have_root("never_answers_what_it_must_not") {
        return;
    }
    let mut h = harness();
    let good = query(0x1111, "www.example.com.", RecordType::A, None);

    let mut response = good.clone();
    response[2] |= 0x80;
    passed(&mut h, &v4_query(&response), "pass_response");

    let mut notify = good.clone();
    notify[2] = (notify[2] & 0x87) | (4 << 3);
    passed(&mut h, &v4_query(&notify), "pass_opcode");

    let mut two_questions = good.clone();
    two_questions[5] = 2;
    passed(&mut h, &v4_query(&two_questions), "pass_qdcount");
    let mut no_question = good.clone();
    no_question[5] = 0;
    passed(&mut h, &v4_query(&no_question), "pass_qdcount");

    passed(&mut h, &v4_query(&good[..good.len() - 3]), "pass_malformed");
    let mut trailing = good.clone();
    trailing.extend_from_slice(&[0, 0, 0]);
    passed(&mut h, &v4_query(&trailing), "pass_malformed");

    let mut pointer = good[..12].to_vec();
    pointer.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1]);
    passed(&mut h, &v4_query(&pointer), "pass_malformed");

    let mut fragment = v4_query(&good);
    fragment[14 + 6] |= 0x20; // more fragments
    passed(&mut h, &fixed_ipv4_checksum(fragment), "pass_fragment");

    passed(&mut h, &udp_frame(None, ip(CLIENT_V4), ip(SERVER_V4), 40000, 5353, &good), "pass_other_port");
    passed(&mut h, &udp_frame(None, ip(CLIENT_V4), ip("224.0.0.251"), 40000, 53, &good), "pass_not_unicast");
    passed(&mut h, &udp_frame(None, ip(CLIENT_V4), ip("255.255.255.255"), 40000, 53, &good), "pass_not_unicast");
    passed(&mut h, &udp_frame(None, ip(CLIENT_V6), ip("ff02::fb"), 40000, 53, &good), "pass_not_unicast");
    passed(
        &mut h,
        &udp_frame(
            None,
            ip("198.18.200.7"),
            ip(SERVER_V4),
            40000,
            53,
            &query(1, "eight.example.com.", RecordType::A, None),
        ),
        "pass_miss",
    );

    let long = format!("{}.example.com.", ["abcdefghij"; 12].join("."));
    passed(&mut h, &v4_query(&query(1, &long, RecordType::A, None)), "pass_name_too_long");
    // One byte over the longest name the fast path takes (97 wire bytes).
    passed(&mut h, &v4_query(&query(1, LONG_NAMES[5], RecordType::A, None)), "pass_name_too_long");

    let v1 = EdnsSpec { version: 1, ..EdnsSpec::default() };
    passed(&mut h, &v4_query(&query(1, "www.example.com.", RecordType::A, Some(&v1))), "pass_bad_version");

    passed(&mut h, &v4_query(&query(1, "www.example.com.", RecordType::MX, None)), "pass_unsupported");
    passed(&mut h, &v4_query(&query(1, "example.com.", RecordType::SOA, None)), "pass_unsupported");
    let mut chaos = good.clone();
    let n = chaos.len();
    chaos[n - 1] = 3; // class CH
    passed(&mut h, &v4_query(&chaos), "pass_unsupported");

    passed(&mut h, &v4_query(&query(1, "nope.example.com.", RecordType::A, None)), "pass_miss");
    passed(&mut h, &v4_query(&query(1, "v6only.example.com.", RecordType::A, None)), "pass_miss");
    assert_eq!(h.counter("answered_v4") + h.counter("answered_v6"), 0, "nothing was answered");
}

#[test]
fn answers_only_what_is_addressed_to_this_host() {
    if !have_root("answers_only_what_is_addressed_to_this_host") {
        return;
    }
    let mut h = harness();
    let good = query(0x2222, "www.example.com.", RecordType::A, None);
    let to_mac = |mac: [u8; 6]| {
        let mut frame = v4_query(&good);
        frame[..6].copy_from_slice(&mac);
        frame
    };
    passed(&mut h, &to_mac([0xff; 6]), "pass_mac_not_unicast");
    passed(&mut h, &to_mac([0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb]), "pass_mac_not_unicast");
    passed(&mut h, &to_mac([0x33, 0x33, 0, 0, 0, 1]), "pass_mac_not_unicast");
    passed(&mut h, &to_mac([0x02, 0, 0, 0, 0, 0x99]), "pass_mac_other_host");

    // Destinations this host does not own, and its subnet broadcast.
    for dst in ["198.18.0.99", "198.18.0.255", "198.18.0.0"] {
        passed(&mut h, &udp_frame(None, ip(CLIENT_V4), ip(dst), 40000, 53, &good), "pass_not_local");
    }
    for dst in ["fd00:9::1", "fd00::99"] {
        passed(&mut h, &udp_frame(None, ip(CLIENT_V6), ip(dst), 40000, 53, &good), "pass_not_local");
    }

    // Sources no client can have; answering them would reflect at a group or at ourselves.
    for src in
        ["224.0.0.5", "239.1.2.3", "255.255.255.255", "240.0.0.1", "127.0.0.1", "0.0.0.0", "198.18.0.255", SERVER_V4]
    {
        passed(&mut h, &udp_frame(None, ip(src), ip(SERVER_V4), 40000, 53, &good), "pass_bad_source");
    }
    for src in ["ff02::1", "ff05::2", "::", "::1", "::ffff:198.18.0.2"] {
        passed(&mut h, &udp_frame(None, ip(src), ip(SERVER_V6), 40000, 53, &good), "pass_bad_source");
    }

    // Checksums: a bit flipped in transit anywhere the checksums cover.
    let l4_v4 = 14 + 20;
    let mut bad_udp = v4_query(&good);
    bad_udp[l4_v4 + 6] ^= 0x01;
    passed(&mut h, &bad_udp, "pass_bad_udp_checksum");
    let mut bad_name = v4_query(&good);
    bad_name[l4_v4 + 8 + 13] ^= 0x20; // "www" -> "wWw": still a hit, but not what was checksummed
    passed(&mut h, &bad_name, "pass_bad_udp_checksum");
    let cookie = EdnsSpec { cookie: true, ..EdnsSpec::default() };
    for (client, server, l4) in [(CLIENT_V4, SERVER_V4, l4_v4), (CLIENT_V6, SERVER_V6, 14 + 40)] {
        for name in ["www.example.com.", LONG_NAMES[0]] {
            // An odd and an even name length put the OPT record at either parity.
            let mut bad_opt =
                udp_frame(None, ip(client), ip(server), 40000, 53, &query(3, name, RecordType::A, Some(&cookie)));
            let last = bad_opt.len() - 1;
            bad_opt[last] ^= 0x40; // the cookie's last byte
            passed(&mut h, &bad_opt, "pass_bad_udp_checksum");
            let mut shifted =
                udp_frame(None, ip(client), ip(server), 40000, 53, &query(3, name, RecordType::A, Some(&cookie)));
            shifted[last - 5] ^= 0x01; // a byte of a partial last word, or of a whole one
            passed(&mut h, &shifted, "pass_bad_udp_checksum");
        }
        let mut bad_header = udp_frame(None, ip(client), ip(server), 40000, 53, &good);
        bad_header[l4 + 8 + 2] ^= 0x01; // RD cleared, checksum not updated
        passed(&mut h, &bad_header, "pass_bad_udp_checksum");
    }
    let mut zero_v6 = udp_frame(None, ip(CLIENT_V6), ip(SERVER_V6), 40000, 53, &good);
    zero_v6[14 + 40 + 6..14 + 40 + 8].copy_from_slice(&[0, 0]);
    passed(&mut h, &zero_v6, "pass_zero_udp_checksum_v6");
    let mut bad_ip = v4_query(&good);
    bad_ip[14 + 8] ^= 0x01; // TTL changed, header checksum not updated
    passed(&mut h, &bad_ip, "pass_bad_ipv4_checksum");
    assert_eq!(h.counter("answered_v4") + h.counter("answered_v6"), 0, "nothing was answered");

    // IPv4 allows "no checksum" (zero): answered like any other query.
    let mut zero_v4 = v4_query(&good);
    zero_v4[l4_v4 + 6..l4_v4 + 8].copy_from_slice(&[0, 0]);
    let run = h.run(&zero_v4).expect("test run");
    assert_eq!(run.action, XDP_TX, "a zero UDP checksum over IPv4 is no checksum");
    let reply = check_response(&zero_v4, &run.frame).unwrap_or_else(|e| panic!("bad response frame: {e}"));
    assert_eq!(Some(reply), h.userspace(&good, ip(CLIENT_V4)));

    // A frame that arrived on an interface the daemon has not described.
    h.datapath.local_maps().unwrap().set_macs(&[]).unwrap();
    passed(&mut h, &v4_query(&good), "pass_unknown_interface");
}

/// Pins the calling thread to the CPU it runs on: every test run then uses that CPU's memory
/// of the destination it last found served.
fn stay_on_this_cpu() {
    // SAFETY: plain system calls on this thread's own affinity, with a zeroed set.
    unsafe {
        let cpu = libc::sched_getcpu();
        assert!(cpu >= 0, "sched_getcpu");
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu as usize, &mut set);
        assert_eq!(libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set), 0, "sched_setaffinity");
    }
}

/// Makes the host's addresses exactly these, as the daemon does when its interfaces change.
fn set_local_addresses(h: &mut XdpHarness, v4: &[(&str, u32)], v6: &[(&str, u32)]) {
    let mut table = LocalTable::default();
    table.v4.extend(v4.iter().map(|(a, kind)| (a.parse().unwrap(), *kind)));
    table.v6.extend(v6.iter().map(|(a, kind)| (a.parse().unwrap(), *kind)));
    h.datapath.local_maps().expect("the local maps").set_addresses(&table).expect("write the local addresses");
}

#[test]
fn a_change_to_the_hosts_addresses_holds_from_the_next_query() {
    if !have_root("a_change_to_the_hosts_addresses_holds_from_the_next_query") {
        return;
    }
    stay_on_this_cpu();
    let mut h = harness();
    let (a, aaaa) =
        (query(1, "www.example.com.", RecordType::A, None), query(2, "www.example.com.", RecordType::AAAA, None));
    let frame = |src: &str, dst: &str, dns: &[u8]| udp_frame(None, ip(src), ip(dst), 40000, 53, dns);
    let sent = |h: &mut XdpHarness, frame: &[u8]| h.run(frame).expect("test run").action == XDP_TX;
    // Twice each: the second time a CPU may go by the destination it last found served.
    for _ in 0..2 {
        answered(&mut h, None, CLIENT_V4, &a);
        answered(&mut h, None, CLIENT_V6, &aaaa);
    }

    // The server's addresses move, and the client's IPv4 address becomes one of the host's.
    let (moved_v4, moved_v6, other_client) = ("198.18.0.7", "fd00::7", "198.18.0.3");
    set_local_addresses(
        &mut h,
        &[(moved_v4, local_addr::SERVED), (CLIENT_V4, local_addr::NOT_SERVED)],
        &[(moved_v6, local_addr::SERVED)],
    );
    passed(&mut h, &frame(other_client, SERVER_V4, &a), "pass_not_local");
    passed(&mut h, &frame(CLIENT_V6, SERVER_V6, &aaaa), "pass_not_local");
    passed(&mut h, &frame(CLIENT_V4, moved_v4, &a), "pass_bad_source");
    assert!(sent(&mut h, &frame(other_client, moved_v4, &a)), "answered at the new IPv4 address");
    assert!(sent(&mut h, &frame(CLIENT_V6, moved_v6, &aaaa)), "answered at the new IPv6 address");

    // And back: the old addresses are served again, the client is a client again.
    set_local_addresses(&mut h, &[(SERVER_V4, local_addr::SERVED)], &[(SERVER_V6, local_addr::SERVED)]);
    passed(&mut h, &frame(other_client, moved_v4, &a), "pass_not_local");
    passed(&mut h, &frame(CLIENT_V6, moved_v6, &aaaa), "pass_not_local");
    answered(&mut h, None, CLIENT_V4, &a);
    answered(&mut h, None, CLIENT_V6, &aaaa);
}

#[test]
fn disabled_until_userspace_turns_it_on() {
    if !have_root("disabled_until_userspace_turns_it_on") {
        return;
    }
    let mut h = harness();
    h.datapath
        .set_config(switchyard_common::XdpConfig {
            dns_port: 53,
            edns_udp_payload: 1232,
            flags: 0,
            stale_after_ns: switchyard_common::XdpConfig::NEVER_STALE,
        })
        .unwrap();
    passed(&mut h, &v4_query(&query(1, "www.example.com.", RecordType::A, None)), "pass_disabled");
}

#[test]
fn answers_stop_when_the_liveness_stamp_goes_stale_and_come_back_with_a_new_one() {
    if !have_root("answers_stop_when_the_liveness_stamp_goes_stale_and_come_back_with_a_new_one") {
        return;
    }
    let mut h = harness();
    let stale_after = std::time::Duration::from_millis(300);
    let config = switchyard_common::XdpConfig {
        dns_port: 53,
        edns_udp_payload: 1232,
        flags: switchyard_common::FLAG_ENABLED,
        stale_after_ns: stale_after.as_nanos() as u64,
    };
    h.datapath.set_config(config).unwrap();
    let www = v4_query(&query(1, "www.example.com.", RecordType::A, None));
    passed(&mut h, &www, "pass_stale");
    h.datapath.stamp_now().unwrap();
    assert_eq!(h.run(&www).unwrap().action, XDP_TX, "a fresh stamp: answered");
    std::thread::sleep(stale_after + std::time::Duration::from_millis(100));
    passed(&mut h, &www, "pass_stale");
    assert_eq!(h.counter("pass_stale"), 2);
    h.datapath.stamp_now().unwrap();
    assert_eq!(h.run(&www).unwrap().action, XDP_TX, "stamped again: answered again");
}

/// Recomputes the IPv4 header checksum after editing a header field.
fn fixed_ipv4_checksum(mut frame: Vec<u8>) -> Vec<u8> {
    let header = etherparse::Ipv4Header::from_slice(&frame[14..]).unwrap().0;
    let sum = header.calc_header_checksum();
    frame[14 + 10..14 + 12].copy_from_slice(&sum.to_be_bytes());
    frame
}

#[test]
fn the_benchmark_floors_send_the_query_back_as_its_reply() {
    if !have_root("the_benchmark_floors_send_the_query_back_as_its_reply") {
        return;
    }
    let mut h = harness();
    let dns = query(0x1234, "www.example.com", RecordType::A, None);
    let frame = v4_query(&dns);
    let mut expected = dns.clone();
    expected[2] |= 0x80;
    // The reflector, and the table floor, which reads a slot of the answer table as well.
    for name in [program_names::REFLECT, program_names::TABLE_FLOOR] {
        let floor = h.datapath.program(name).expect("the floor program");
        let run = switchyard::bpf::test_run::run(floor, &frame, 1).expect("test run");
        assert_eq!(run.action, XDP_TX, "{name}");
        // Swapped, lengths and checksums right (the UDP checksum follows the QR bit).
        let reply = check_response(&frame, &run.frame).unwrap_or_else(|e| panic!("{name}: bad reflected frame: {e}"));
        assert_eq!(reply, expected, "{name}: the query itself with QR set");
    }
}

#[test]
fn dnssec_ok_queries_for_a_signed_name_are_left_to_userspace() {
    if !have_root("dnssec_ok_queries_for_a_signed_name_are_left_to_userspace") {
        return;
    }
    let mut h = harness();
    let key = MapKey::new(0, QTYPE_A, &PackedName::new(&wire_name(&"www.example.com.".parse().unwrap())).unwrap());
    let mut entry = h.datapath.answers().get(&key).expect("www has an entry");
    entry.signed = 1;
    assert!(h.datapath.answers().insert(key, &entry));
    let do_bit = EdnsSpec { dnssec_ok: true, ..EdnsSpec::default() };
    passed(&mut h, &v4_query(&query(1, "www.example.com.", RecordType::A, Some(&do_bit))), "pass_dnssec");
    // Without DO the signed name is answered by XDP as before, with and without EDNS.
    let m = answered(&mut h, None, CLIENT_V4, &query(1, "www.example.com.", RecordType::A, None));
    assert_eq!(addrs(&m).len(), 2);
    answered(&mut h, None, CLIENT_V4, &query(1, "www.example.com.", RecordType::A, Some(&EdnsSpec::default())));
    // An unsigned name is answered with DO=1 too (the DO bit is copied).
    answered(&mut h, None, CLIENT_V4, &query(1, "x.deep.example.com.", RecordType::A, Some(&do_bit)));
}
