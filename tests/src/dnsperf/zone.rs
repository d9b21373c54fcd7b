//! The one zone every server serves, and the query mix dnsperf sends to all of them.

use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

use switchyard::config::{DEFAULT_MAX_ENTRIES, fixture::ConfigText};

pub const ZONE: &str = "example.com";
/// Names in the zone unless `SWITCHYARD_DNSPERF_NAMES` says otherwise.
pub const DEFAULT_NAMES: usize = 10_000;
pub const MAX_NAMES: usize = 100_000;
pub const TTL: u32 = 300;

/// How many names the zone has: `SWITCHYARD_DNSPERF_NAMES` (1 to 100,000), else 10,000.
pub fn names() -> usize {
    match crate::bench::report::env_number("SWITCHYARD_DNSPERF_NAMES", DEFAULT_NAMES as u64) {
        Ok(n) if (1..=MAX_NAMES as u64).contains(&n) => n as usize,
        Ok(n) => panic!("SWITCHYARD_DNSPERF_NAMES: {n} is not from 1 to {MAX_NAMES}"),
        Err(e) => panic!("{e}"),
    }
}

/// The XDP answer map's size (`xdp.max_entries`): `SWITCHYARD_DNSPERF_MAX_ENTRIES`, else room
/// for every name's A and AAAA entries and at least the daemon's default. The kernel's hash
/// table has this many buckets, rounded up to a power of two.
pub fn max_entries() -> u64 {
    let room = (2 * names() as u64 + 16).next_power_of_two().max(DEFAULT_MAX_ENTRIES.into());
    crate::bench::report::env_number("SWITCHYARD_DNSPERF_MAX_ENTRIES", room).unwrap_or_else(|e| panic!("{e}"))
}

pub fn name(i: usize) -> String {
    format!("s{i:05}.{ZONE}")
}

/// Two A and two AAAA per name, inside the benchmarking ranges; distinct for up to 25,000
/// names (more names reuse addresses, which changes nothing for the servers).
pub fn a(i: usize) -> [Ipv4Addr; 2] {
    let (hi, lo) = ((i / 250 % 100) as u8, (i % 250 + 1) as u8);
    [Ipv4Addr::new(198, 19, hi, lo), Ipv4Addr::new(198, 19, 100 + hi, lo)]
}

pub fn aaaa(i: usize) -> [Ipv6Addr; 2] {
    let i = i as u16;
    [Ipv6Addr::new(0xfd00, 0xa, 0, 0, 0, 0, i, 1), Ipv6Addr::new(0xfd00, 0xb, 0, 0, 0, 0, i, 1)]
}

pub const NS_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 53);

/// RFC 1035 master file, read by Knot, NSD, BIND, PowerDNS and gdnsd alike.
pub fn master_file() -> String {
    let mut z = format!(
        "$ORIGIN {ZONE}.\n$TTL {TTL}\n@ IN SOA ns1.{ZONE}. hostmaster.{ZONE}. 1 3600 600 86400 60\n@ IN NS ns1.{ZONE}.\nns1 IN A {NS_V4}\n"
    );
    for i in 0..names() {
        let label = format!("s{i:05}");
        for v4 in a(i) {
            writeln!(z, "{label} IN A {v4}").unwrap();
        }
        for v6 in aaaa(i) {
            writeln!(z, "{label} IN AAAA {v6}").unwrap();
        }
    }
    z
}

/// The same names as static Switchyard services (`ConfigText`'s zone is this `ZONE`).
pub fn switchyard_config(instance: &str, iface: &str, mode: &str) -> String {
    switchyard_config_signed(instance, iface, mode, None)
}

/// `switchyard_config`, the zone signed with the ECDSA P-256 key in `key_file` when one is given.
pub fn switchyard_config_signed(instance: &str, iface: &str, mode: &str, key_file: Option<&str>) -> String {
    let ttl = format!("ttl = {TTL}");
    let mut config = ConfigText::new()
        .server(instance, &["dns_port = 53", r#"listen = ["0.0.0.0", "::"]"#, "udp_threads = 1"])
        .xdp(iface, mode)
        .lines(&[&format!("max_entries = {}", max_entries())])
        .zone_with(&[&format!("ns1.{ZONE}.")], "serial = 1, minimum = 60");
    if let Some(key) = key_file {
        config = config.dnssec("ecdsap256sha256", key);
    }
    config = config.fixed_service(&format!("ns1.{ZONE}."), &[&NS_V4.to_string()], &[]).line(&ttl);
    for i in 0..names() {
        let (a, aaaa) = (a(i).map(|x| x.to_string()), aaaa(i).map(|x| x.to_string()));
        let (a, aaaa) = ([a[0].as_str(), a[1].as_str()], [aaaa[0].as_str(), aaaa[1].as_str()]);
        config = config.fixed_service(&format!("{}.", name(i)), &a, &aaaa).line(&ttl);
    }
    config.build()
}

/// Every (name, type) pair once, A and AAAA in equal parts, in a fixed pseudo-random order so
/// that every run and every server sees the same sequence.
pub fn query_file() -> String {
    let mut pairs: Vec<(usize, &str)> = (0..names()).flat_map(|i| [(i, "A"), (i, "AAAA")]).collect();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for k in (1..pairs.len()).rev() {
        // xorshift64: deterministic and good enough for a shuffle.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        pairs.swap(k, (state % (k as u64 + 1)) as usize);
    }
    pairs.iter().map(|(i, t)| format!("{} {t}\n", name(*i))).collect()
}

/// `query_file` with every other query for a name that does not exist in the zone, each one
/// different (a random-subdomain flood's mix): what the NXDOMAIN path costs.
pub fn query_file_nxdomain() -> String {
    query_file()
        .lines()
        .enumerate()
        .map(|(j, line)| if j % 2 == 1 { format!("nx{j:05}.{ZONE} A\n") } else { format!("{line}\n") })
        .collect()
}

/// `query_file` for kxdpgun with every query asking for signatures (its `D` flag: EDNS, DO=1);
/// dnsperf sets DO for a whole run instead (-D).
pub fn query_file_do() -> String {
    query_file().lines().map(|l| format!("{l} D\n")).collect()
}
