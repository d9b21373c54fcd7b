//! DNS cookies on the XDP path through BPF_PROG_TEST_RUN: a client cookie, a valid, an old, a
//! forged and a foreign server cookie, rotated secrets and malformed options, each compared
//! byte for byte with the userspace server's reply to the same query.

mod xdp_common;

use std::net::IpAddr;

use hickory_proto::{
    op::{Edns, Message, Query},
    rr::{
        Name, RecordType,
        rdata::opt::{EdnsCode, EdnsOption},
    },
};
use switchyard::{bpf::test_run::XDP_TX, cookie_secrets::wall_offset_ns, dns::cookies::wall_seconds};
use switchyard_common::{
    COOKIES_ENABLED, COOKIES_HAS_PREVIOUS, CookieAddr, CookieCheck, CookieConfig, EDNS_COOKIE, check_cookie, key_words,
    server_cookie,
};
use switchyard_tests::{
    frames::{check_response, udp_frame},
    privileges::have_root,
    xdp_harness::XdpHarness,
};
use xdp_common::*;

const CLIENT_COOKIE: [u8; 8] = *b"\x11\x22\x33\x44\x55\x66\x77\x88";
const SECRET: [u8; 16] = [0xa5; 16];
const PREVIOUS: [u8; 16] = [0x3c; 16];
const OLDER: [u8; 16] = [0x77; 16];

fn cookies(current: [u8; 16], previous: Option<[u8; 16]>) -> CookieConfig {
    let flags = COOKIES_ENABLED | if previous.is_some() { COOKIES_HAS_PREVIOUS } else { 0 };
    CookieConfig {
        flags,
        _pad: 0,
        wall_offset_ns: wall_offset_ns(),
        current: key_words(&current),
        previous: key_words(&previous.unwrap_or_default()),
    }
}

fn harness_with_cookies() -> XdpHarness {
    let mut h = harness();
    h.set_cookies(cookies(SECRET, None));
    h
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn addr_of(client: &str) -> CookieAddr {
    match ip(client) {
        IpAddr::V4(a) => CookieAddr::V4(a.octets()),
        IpAddr::V6(a) => CookieAddr::V6(a.octets()),
    }
}

fn ours(secret: [u8; 16], timestamp: u32, client: &str) -> Vec<u8> {
    let cookie = server_cookie(&key_words(&secret), u64::from_le_bytes(CLIENT_COOKIE), timestamp, &addr_of(client));
    [CLIENT_COOKIE.as_slice(), &cookie.to_bytes()].concat()
}

fn cookie_query(option: &[u8], rtype: RecordType) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.id = 0x5eed;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii("www.example.com.").unwrap(), rtype));
    let mut e = Edns::new();
    e.set_max_payload(1232);
    e.options_mut().insert(EdnsOption::Unknown(EDNS_COOKIE, option.to_vec()));
    m.set_edns(e);
    m.to_vec().unwrap()
}

fn frame_from(client: &str, dns: &[u8]) -> Vec<u8> {
    let server = if client.contains(':') { SERVER_V6 } else { SERVER_V4 };
    udp_frame(None, ip(client), ip(server), 40000, 53, dns)
}

/// XDP's reply to the query, checked (frame, checksums) and identical to userspace's; a fresh
/// cookie carries the current second, so a pair made across a second boundary is made again.
fn answered(h: &mut XdpHarness, client: &str, dns: &[u8]) -> (Message, Vec<u8>) {
    let frame = frame_from(client, dns);
    for _ in 0..3 {
        let before = wall_seconds();
        let run = h.run(&frame).expect("test run");
        assert_eq!(run.action, XDP_TX, "expected XDP_TX");
        let reply = check_response(&frame, &run.frame).unwrap_or_else(|e| panic!("bad response frame: {e}"));
        let userspace = h.userspace(dns, ip(client)).expect("userspace answers too");
        if wall_seconds() != before && reply != userspace {
            continue;
        }
        assert_eq!(reply, userspace, "XDP and userspace give the same bytes");
        let m = Message::from_vec(&reply).expect("parsable");
        let cookie = m.edns.as_ref().and_then(|e| e.option(EdnsCode::Cookie)).expect("a COOKIE option");
        let cookie = Vec::<u8>::try_from(cookie).unwrap();
        return (m, cookie);
    }
    panic!("three second boundaries in a row");
}

/// The server cookie in `option` is ours, for this client, fresh.
fn verifies(option: &[u8], client: &str, config: &CookieConfig) -> bool {
    let server: [u8; 16] = option[8..].try_into().expect("a 16-byte server cookie");
    let server = switchyard_common::ServerCookie::from_bytes(&server);
    let verdict = check_cookie::<switchyard_common::OwnSipHash>(
        config,
        u64::from_le_bytes(CLIENT_COOKIE),
        &server,
        wall_seconds(),
        &addr_of(client),
    );
    verdict == CookieCheck::Valid { refresh: false }
}

#[test]
fn a_client_cookie_gets_a_server_cookie_on_both_families() {
    if !have_root("a_client_cookie_gets_a_server_cookie_on_both_families") {
        return;
    }
    let mut h = harness_with_cookies();
    for (client, rtype) in [(CLIENT_V4, RecordType::A), (CLIENT_V6, RecordType::AAAA), (CLIENT_V6, RecordType::A)] {
        let (m, cookie) = answered(&mut h, client, &cookie_query(&CLIENT_COOKIE, rtype));
        assert_eq!(m.answers.len(), 2);
        assert_eq!((cookie.len(), &cookie[..8]), (24, CLIENT_COOKIE.as_slice()));
        assert!(verifies(&cookie, client, &cookies(SECRET, None)), "{client}: the cookie made verifies");
    }
    assert_eq!((h.counter("cookie_issued"), h.counter("cookie_valid")), (3, 0));
}

#[test]
fn a_valid_server_cookie_is_echoed_and_counted() {
    if !have_root("a_valid_server_cookie_is_echoed_and_counted") {
        return;
    }
    let mut h = harness_with_cookies();
    for client in [CLIENT_V4, CLIENT_V6] {
        let sent = ours(SECRET, wall_seconds() - 100, client);
        let (m, cookie) = answered(&mut h, client, &cookie_query(&sent, RecordType::A));
        assert_eq!((m.answers.len(), &cookie), (2, &sent));
        assert!(h.authority.respond(&cookie_query(&sent, RecordType::A), ip(client), false).valid_server_cookie);
    }
    assert_eq!((h.counter("cookie_valid"), h.counter("cookie_issued")), (2, 0));
}

#[test]
fn an_old_cookie_is_renewed_and_still_counts_as_valid() {
    if !have_root("an_old_cookie_is_renewed_and_still_counts_as_valid") {
        return;
    }
    let mut h = harness_with_cookies();
    let sent = ours(SECRET, wall_seconds() - 2000, CLIENT_V4);
    let (_, cookie) = answered(&mut h, CLIENT_V4, &cookie_query(&sent, RecordType::A));
    assert_ne!(cookie, sent);
    assert!(verifies(&cookie, CLIENT_V4, &cookies(SECRET, None)), "a new cookie of now");
    assert_eq!(h.counter("cookie_valid"), 1);
}

#[test]
fn forged_foreign_and_expired_cookies_get_a_fresh_one() {
    if !have_root("forged_foreign_and_expired_cookies_get_a_fresh_one") {
        return;
    }
    let mut h = harness_with_cookies();
    let now = wall_seconds();
    let mut forged = ours(SECRET, now, CLIENT_V4);
    forged[20] ^= 1;
    let other_address = ours(SECRET, now, "198.18.0.3");
    let expired = ours(SECRET, now - 3700, CLIENT_V4);
    let short_foreign = [CLIENT_COOKIE.as_slice(), &[9; 8]].concat();
    let long_foreign = [CLIENT_COOKIE.as_slice(), &[9; 32]].concat();
    for sent in [forged, other_address, expired, short_foreign, long_foreign] {
        let (m, cookie) = answered(&mut h, CLIENT_V4, &cookie_query(&sent, RecordType::A));
        assert_eq!(m.answers.len(), 2, "answered normally");
        assert!(verifies(&cookie, CLIENT_V4, &cookies(SECRET, None)), "a fresh cookie for {sent:02x?}");
    }
    assert_eq!((h.counter("cookie_issued"), h.counter("cookie_valid")), (5, 0));
}

#[test]
fn after_rotation_the_previous_secret_verifies_and_an_older_one_does_not() {
    if !have_root("after_rotation_the_previous_secret_verifies_and_an_older_one_does_not") {
        return;
    }
    let mut h = harness();
    h.set_cookies(cookies(SECRET, Some(PREVIOUS)));
    let now = wall_seconds();
    let under_previous = ours(PREVIOUS, now - 10, CLIENT_V4);
    let (_, cookie) = answered(&mut h, CLIENT_V4, &cookie_query(&under_previous, RecordType::A));
    assert_eq!((cookie, h.counter("cookie_valid")), (under_previous, 1), "echoed as it came");
    let under_older = ours(OLDER, now - 10, CLIENT_V4);
    let (_, cookie) = answered(&mut h, CLIENT_V4, &cookie_query(&under_older, RecordType::A));
    assert!(verifies(&cookie, CLIENT_V4, &cookies(SECRET, None)), "a fresh cookie under the current secret");
    assert_eq!(h.counter("cookie_issued"), 1);
}

#[test]
fn malformed_cookie_options_go_to_userspace_which_answers_formerr() {
    if !have_root("malformed_cookie_options_go_to_userspace_which_answers_formerr") {
        return;
    }
    let mut h = harness_with_cookies();
    for len in [0, 7, 9, 15, 41] {
        let dns = cookie_query(&vec![0x42; len], RecordType::A);
        let frame = frame_from(CLIENT_V4, &dns);
        let before = h.counter("pass_cookie_malformed");
        let run = h.run(&frame).expect("test run");
        assert_eq!(run.action, switchyard::bpf::test_run::XDP_PASS, "length {len}");
        assert_eq!(run.frame, frame, "passed untouched");
        assert_eq!(h.counter("pass_cookie_malformed"), before + 1);
        let reply = Message::from_vec(&h.userspace(&dns, ip(CLIENT_V4)).unwrap()).unwrap();
        assert_eq!(reply.metadata.response_code, hickory_proto::op::ResponseCode::FormErr, "length {len}");
    }
}

#[test]
fn a_valid_server_cookie_is_never_rate_limited() {
    if !have_root("a_valid_server_cookie_is_never_rate_limited") {
        return;
    }
    let mut h = harness_with_cookies();
    // A burst of one, then one response an hour: nothing refills while the test runs.
    let hour = 3_600_000_000_000;
    let limits = switchyard_common::RrlConfig {
        interval_ns: hour,
        burst_ns: hour,
        ..switchyard_common::RrlConfig::new(1, 1, 0, 24, 56)
    };
    h.datapath.set_rrl(limits, &[]).expect("rate limits");
    let valid = ours(SECRET, wall_seconds() - 100, CLIENT_V4);
    let mut action =
        |option: &[u8]| h.run(&frame_from(CLIENT_V4, &cookie_query(option, RecordType::A))).unwrap().action;
    assert_eq!(action(&CLIENT_COOKIE), XDP_TX, "the burst");
    assert_eq!(action(&CLIENT_COOKIE), switchyard::bpf::test_run::XDP_DROP, "over the rate without a server cookie");
    for _ in 0..5 {
        assert_eq!(action(&valid), XDP_TX, "a valid server cookie of ours is exempt");
    }
    assert_eq!(action(&CLIENT_COOKIE), switchyard::bpf::test_run::XDP_DROP, "still limited without one");
    assert_eq!((h.counter("rrl_exempt"), h.counter("rrl_dropped"), h.counter("cookie_valid")), (5, 2, 5));
}
