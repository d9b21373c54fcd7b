//! The zone and answer table the packet tests put to the XDP program and the userspace server.
#![allow(dead_code, unused_imports)]

use std::net::IpAddr;

use switchyard::{
    answers::{AnswerKey, AnswerSet, AnswerTable, Views, wire_name},
    config::fixture::ConfigText,
};
use switchyard_common::{FirstChoice, QTYPE_A, QTYPE_AAAA};
use switchyard_tests::xdp_harness::XdpHarness;

/// The zone both paths serve: a service per name the packet tests ask for, plus one per long
/// name with one A and one AAAA.
pub fn zone() -> String {
    with_test_names(ConfigText::new().xdp_off().zone())
}

/// `zone` with the services the packet tests ask for.
fn with_test_names(mut zone: ConfigText) -> String {
    zone = zone.fixed_service("www.example.com.", &["198.18.10.1"], &[]);
    zone = zone.fixed_service("v6only.example.com.", &[], &["fd00:10::1"]);
    for name in ["eight", "nine", "x.deep", "a", "b"] {
        zone = zone.fixed_service(&format!("{name}.example.com."), &["198.18.10.1"], &[]);
    }
    for (i, name) in LONG_NAMES.iter().enumerate() {
        let (a, aaaa) = (format!("198.18.13.{}", i + 1), format!("fd00:13::{}", i + 1));
        zone = zone.fixed_service(name, &[&a], &[&aaaa]);
    }
    zone.build()
}

/// Names whose wire lengths (16, 24, 64, 95, 96 and 97 bytes) exercise every part of the name
/// parser: a whole last word, several words, the longest name the fast path takes, and one byte
/// more (userspace only).
pub const LONG_NAMES: [&str; 6] = [
    "ab.example.com.",
    "abcdefghij.example.com.",
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwx.example.com.",
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk.abcdefghijklmnopq.example.com.",
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk.abcdefghijklmnopqr.example.com.",
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk.abcdefghijklmnopqrs.example.com.",
];

/// View 1 ("near") covers these client prefixes.
pub const NEAR_V4: &str = "198.18.200.0/24";
pub const NEAR_V6: &str = "fd00:c8::/64";

pub fn put(table: &mut AnswerTable, view: u32, qtype: u16, name: &str, ttl: u32, addrs: &[&str]) {
    let name = wire_name(&name.parse().unwrap());
    let addrs: Vec<IpAddr> = addrs.iter().map(|a| a.parse().unwrap()).collect();
    table.entries.insert(AnswerKey { view, qtype, name }, AnswerSet { ttl, addrs, first: FirstChoice::NONE });
}

pub fn table() -> AnswerTable {
    let mut t = AnswerTable::default();
    put(&mut t, 0, QTYPE_A, "www.example.com.", 30, &["198.18.10.1", "198.18.20.1"]);
    put(&mut t, 0, QTYPE_AAAA, "www.example.com.", 30, &["fd00:10::1", "fd00:20::1"]);
    put(&mut t, 1, QTYPE_A, "www.example.com.", 30, &["198.18.20.1", "198.18.10.1"]);
    put(&mut t, 1, QTYPE_AAAA, "www.example.com.", 30, &["fd00:20::1", "fd00:10::1"]);
    put(&mut t, 0, QTYPE_AAAA, "v6only.example.com.", 300, &["fd00:10::1"]);
    let eight: Vec<String> = (1..=8).map(|i| format!("fd00:8::{i}")).collect();
    put(&mut t, 0, QTYPE_AAAA, "eight.example.com.", 60, &eight.iter().map(String::as_str).collect::<Vec<_>>());
    let eight_v4: Vec<String> = (1..=8).map(|i| format!("198.18.8.{i}")).collect();
    put(&mut t, 0, QTYPE_A, "eight.example.com.", 60, &eight_v4.iter().map(String::as_str).collect::<Vec<_>>());
    let nine: Vec<String> = (1..=9).map(|i| format!("198.18.9.{i}")).collect();
    put(&mut t, 0, QTYPE_A, "nine.example.com.", 60, &nine.iter().map(String::as_str).collect::<Vec<_>>());
    // Near clients get nine addresses for "eight": more than the map holds, so XDP must pass
    // them to userspace rather than answer with the default view's eight.
    put(&mut t, 1, QTYPE_A, "eight.example.com.", 60, &nine.iter().map(String::as_str).collect::<Vec<_>>());
    put(&mut t, 0, QTYPE_A, "x.deep.example.com.", 5, &["198.18.11.1"]);
    // Two names one letter apart with different answers: a key mix-up would show.
    put(&mut t, 0, QTYPE_A, "a.example.com.", 30, &["198.18.12.1"]);
    put(&mut t, 0, QTYPE_A, "b.example.com.", 30, &["198.18.12.2"]);
    for (i, name) in LONG_NAMES.iter().enumerate() {
        put(&mut t, 0, QTYPE_A, name, 30, &[format!("198.18.13.{}", i + 1).as_str()]);
        put(&mut t, 0, QTYPE_AAAA, name, 30, &[format!("fd00:13::{}", i + 1).as_str()]);
    }
    t
}

/// `count` names under example.com, each with one site's address (`site` 1 or 2).
pub fn many_names(count: u32, site: u8) -> AnswerTable {
    let mut table = table();
    for i in 0..count {
        let address = format!("198.18.{}.{}", site * 10 + (i / 250) as u8 % 8, i % 250 + 1);
        put(&mut table, 0, QTYPE_A, &format!("s{i}.example.com."), 30, &[&address]);
    }
    table
}

pub fn views() -> Views {
    Views::new(vec![("near".into(), 1)], vec![(NEAR_V4.parse().unwrap(), 1), (NEAR_V6.parse().unwrap(), 1)])
}

pub fn harness() -> XdpHarness {
    XdpHarness::new(&zone(), table(), views())
}

pub use switchyard_tests::frames::{SERVER_V4, SERVER_V6};
pub const CLIENT_V4: &str = "198.18.0.2";
pub const CLIENT_V6: &str = "fd00::2";

/// A frame carrying `dns` from the test client to the server over IPv4 (port 40000 to 53).
pub fn v4_query(dns: &[u8]) -> Vec<u8> {
    switchyard_tests::frames::udp_frame(None, CLIENT_V4.parse().unwrap(), SERVER_V4.parse().unwrap(), 40000, 53, dns)
}

/// `zone()` signed with a new key of `algorithm` written into `dir`.
pub fn signed_zone(algorithm: &str, dir: &std::path::Path) -> String {
    signed_zone_with(algorithm, dir, &[])
}

/// `signed_zone` with more `[zone.dnssec]` settings (`timing`: lines such as `refresh_ms = ...`).
/// The test names in a zone signed by every key in `key_files` (a rollover's config).
pub fn signed_zone_keys(algorithm: &str, key_files: &[&str]) -> String {
    with_test_names(ConfigText::new().xdp_off().zone().dnssec_keys(algorithm, key_files))
}

pub fn signed_zone_with(algorithm: &str, dir: &std::path::Path, timing: &[&str]) -> String {
    use switchyard::dnssec::{SigningAlgorithm, SigningKeyFile};
    let key = dir.join(format!("{algorithm}.key"));
    let wanted = SigningAlgorithm::from_name(algorithm).expect("an algorithm name");
    SigningKeyFile::generate(wanted).unwrap().write_new(&key).unwrap();
    let mut lines = vec![format!("algorithm = {algorithm:?}"), format!("key_file = {:?}", key.to_str().unwrap())];
    lines.extend(timing.iter().map(|l| l.to_string()));
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    with_test_names(ConfigText::new().xdp_off().zone().table("[zone.dnssec]", &lines))
}

pub const ALGORITHMS: [&str; 2] = ["ecdsap256sha256", "ed25519"];

/// A zone whose name is long enough (76 wire bytes, carried uncompressed as the RRSIG's signer)
/// that a signed answer of eight AAAA records for its longest name needs more than 512 bytes:
/// under example.com no signed reply the program can build exceeds 512, the least EDNS size.
pub fn long_zone() -> String {
    format!("{}.tc.example.", "z".repeat(63))
}

/// The longest name the program takes (96 wire bytes) under `long_zone`.
pub fn too_big_name() -> String {
    format!("{}.{}", "x".repeat(19), long_zone())
}

/// The eight AAAA records of `too_big_name`.
pub fn eight_aaaa() -> Vec<String> {
    (1..=8).map(|i| format!("fd00:8::{i}")).collect()
}

/// `base` with `long_zone`, signed with `algorithm` and the key in `key_file`, serving
/// `too_big_name`'s eight AAAA records.
pub fn signed_long_zone(base: ConfigText, algorithm: &str, key_file: &str) -> String {
    let zone = long_zone();
    let eight = eight_aaaa();
    base.table(
        "[[zone]]",
        &[
            &format!("name = {zone:?}"),
            &format!("ns = [\"ns1.{zone}\"]"),
            &format!("soa = {{ mname = \"ns1.{zone}\", rname = \"hostmaster.{zone}\" }}"),
        ],
    )
    .dnssec(algorithm, key_file)
    .fixed_service(&too_big_name(), &[], &eight.iter().map(String::as_str).collect::<Vec<_>>())
    .build()
}

/// Sets the flag when dropped: a writer thread that polls it stops however the test ends.
pub struct StopOnDrop<'a>(pub &'a std::sync::atomic::AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
