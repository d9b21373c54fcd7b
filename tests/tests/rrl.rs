//! Response rate limiting end to end, in namespaces: a client prefix that floods gets no more
//! than its rate while a client in another prefix gets every answer, over XDP and with XDP
//! off; and `switchyard rrl` changing the limits of a running daemon. The other client retries
//! a query it got no reply to, as resolvers do: a flood on a veth also loses datagrams in the
//! receiving end's backlog, which is not the limiter's doing.

mod common;

use std::{
    net::{IpAddr, SocketAddr},
    sync::atomic::AtomicBool,
    time::Duration,
};

use switchyard_tests::{
    daemon::Daemon,
    privileges::have_root,
    rrl_flood::{Received, flood, paced, socket_from},
    topology::Pair,
};

const RATE: u64 = 50;
const BURST: u64 = 50;
const FLOOD: u64 = 2000;

/// A pair whose client has a second address in another /24, `198.18.<subnet + 100>.2`, which
/// the server reaches over the pair's link.
fn pair_with_two_prefixes(subnet: u8) -> (Pair, IpAddr) {
    let pair = Pair::new(subnet);
    let other = format!("198.18.{}.2", subnet + 100);
    pair.add_client_address(&format!("{other}/24"));
    pair.server.ip(&["route", "add", &format!("198.18.{}.0/24", subnet + 100), "dev", &pair.server_if]);
    let other: IpAddr = other.parse().unwrap();
    // Neighbours resolved first: a flood waiting on one would overflow the queue of packets
    // that wait with it, the other client's among them.
    for source in [pair.client_v4.into(), other] {
        pair.client.output("ping", &["-c", "1", "-W", "2", "-I", &source.to_string(), &pair.server_v4.to_string()]);
    }
    (pair, other)
}

fn config(pair: &Pair, mode: &str, rrl: &str) -> String {
    format!("{}\n[rrl]\n{rrl}\n", common::basic_config(pair, mode).1)
}

/// Floods from the pair's client address, alternating a name the XDP program answers and one
/// only userspace answers (NXDOMAIN), while the other address asks `asks` queries one at a time
/// (fewer than its burst: it is a client under the limit).
fn flood_beside_paced(pair: &Pair, other: IpAddr, count: u64, asks: u64) -> (Received, Duration, Received) {
    let server = SocketAddr::new(pair.server_v4.into(), 53);
    let flooder = socket_from(&pair.client, pair.client_v4.into());
    let asker = socket_from(&pair.client, other);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let asking = s.spawn(|| paced(asker, server, "www.example.com.", asks, Duration::from_millis(500), &stop));
        let names = ["www.example.com.", "nx.example.com."];
        let (flooded, elapsed) = flood(flooder, server, &names, count, Duration::from_secs(10));
        let asked = asking.join().expect("paced client");
        (flooded, elapsed, asked)
    })
}

/// Most answers a prefix may get in `elapsed`: the burst, the rate, one more for rounding, and
/// a few for charges lost when the program and the daemon update one bucket at the same time.
fn allowed(elapsed: Duration) -> u64 {
    BURST + (RATE as f64 * elapsed.as_secs_f64()).ceil() as u64 + 1 + RACES
}

const RACES: u64 = 5;

fn a_flooding_prefix_is_limited(mode: &str, subnet: u8) {
    let (pair, other) = pair_with_two_prefixes(subnet);
    let rrl = format!("enabled = true\nresponses_per_second = {RATE}\nburst = {BURST}\nslip = 2");
    let daemon = Daemon::start(&pair.server, &config(&pair, mode, &rrl));
    let (flooded, elapsed, asked) = flood_beside_paced(&pair, other, FLOOD, BURST - 10);
    eprintln!("{mode}: flood {flooded:?} in {elapsed:?}; other prefix {asked:?}");
    assert_eq!(asked.answered, asked.sent, "the other prefix got every answer: {asked:?}");
    assert!(flooded.answered >= BURST, "the burst is answered: {flooded:?}");
    assert!(flooded.answered <= allowed(elapsed), "{flooded:?} in {elapsed:?}: more than the rate");
    let limited = flooded.sent - flooded.answered;
    assert!(flooded.truncated >= 1 && flooded.truncated <= limited / 2 + 1, "every second one slipped: {flooded:?}");
    // One bucket for the prefix whichever path answers: with XDP on, the program answers the
    // name in its map and the daemon the other, and both are limited. Which path spends the
    // burst is a race (the program is faster), so only the limiting is asserted on both.
    let stats = daemon.stats();
    let counter = |path: &str, name: &str| stats[path][name].as_u64().unwrap_or_else(|| panic!("{path} {name}"));
    let limited = |path: &str| counter(path, "rrl_dropped") + counter(path, "rrl_slipped");
    assert!(counter("userspace", "nxdomain") > 0, "NXDOMAIN answers within the burst: {stats}");
    if mode == "off" {
        assert!(limited("userspace") > 0, "the daemon limited: {stats}");
    } else {
        // The program charged the NXDOMAIN queries too, before passing them up: the daemon
        // charged nothing again.
        assert!(counter("xdp", "answered_v4") > 0 && limited("xdp") > 0, "{stats}");
        assert_eq!(limited("userspace") + counter("userspace", "rrl_exempt"), 0, "charged once: {stats}");
    }
    let slipped = counter("userspace", "rrl_slipped") + stats["xdp"]["rrl_slipped"].as_u64().unwrap_or(0);
    assert!(slipped >= flooded.truncated, "slipped replies counted: {stats}");
}

#[test]
fn a_flooding_prefix_is_limited_in_xdp_and_another_answered() {
    if !have_root("a_flooding_prefix_is_limited_in_xdp_and_another_answered") {
        return;
    }
    a_flooding_prefix_is_limited("skb", 61);
}

#[test]
fn a_flooding_prefix_is_limited_without_xdp_and_another_answered() {
    if !have_root("a_flooding_prefix_is_limited_without_xdp_and_another_answered") {
        return;
    }
    a_flooding_prefix_is_limited("off", 62);
}

/// A flood of random names under the zone (NXDOMAIN each, none the program can answer) from one
/// prefix, with XDP on: limited in the kernel, so the daemon sees no more of it than the rate
/// allows, and another prefix is still answered.
#[test]
fn an_nxdomain_flood_is_limited_in_the_kernel() {
    if !have_root("an_nxdomain_flood_is_limited_in_the_kernel") {
        return;
    }
    let (pair, other) = pair_with_two_prefixes(64);
    let rrl = format!("enabled = true\nresponses_per_second = {RATE}\nburst = {BURST}\nslip = 2");
    let daemon = Daemon::start(&pair.server, &config(&pair, "skb", &rrl));
    let server = SocketAddr::new(pair.server_v4.into(), 53);
    let names: Vec<String> = (0..FLOOD).map(|i| format!("r{i:x}-{}.example.com.", std::process::id())).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let udp_before = daemon.userspace_counter("udp");
    let (flooded, elapsed) =
        flood(socket_from(&pair.client, pair.client_v4.into()), server, &names, FLOOD, Duration::from_secs(10));
    let stop = AtomicBool::new(false);
    let asked =
        paced(socket_from(&pair.client, other), server, "nx-other.example.com.", 10, Duration::from_millis(500), &stop);
    eprintln!("flood {flooded:?} in {elapsed:?}; other prefix {asked:?}");
    let stats = daemon.stats();
    let counter = |path: &str, name: &str| stats[path][name].as_u64().unwrap_or_else(|| panic!("{path} {name}"));
    assert_eq!(asked.answered, asked.sent, "the other prefix got every answer: {asked:?}");
    assert!(flooded.answered >= BURST && flooded.answered <= allowed(elapsed), "{flooded:?} in {elapsed:?}");
    assert!(flooded.truncated >= 1, "slipped in the kernel: {flooded:?}");
    assert!(counter("xdp", "rrl_dropped") > 0 && counter("xdp", "rrl_slipped") > 0, "{stats}");
    assert!(counter("xdp", "pass_miss") >= BURST, "the allowed ones passed up: {stats}");
    // What reached the daemon: the flood's allowed queries and the other prefix's ten.
    let reached = counter("userspace", "udp") - udp_before;
    assert!(reached <= allowed(elapsed) + asked.sent, "the daemon saw {reached} queries: {stats}");
    assert_eq!(counter("userspace", "rrl_dropped") + counter("userspace", "rrl_slipped"), 0, "{stats}");
}

#[test]
fn rrl_commands_change_the_running_daemon_until_a_reload() {
    if !have_root("rrl_commands_change_the_running_daemon_until_a_reload") {
        return;
    }
    let (pair, other) = pair_with_two_prefixes(63);
    let daemon = Daemon::start(&pair.server, &config(&pair, "skb", "enabled = false"));
    let show = || -> serde_json::Value { serde_json::from_str(&daemon.cli(&["rrl", "show", "--json"])).unwrap() };
    assert_eq!(show()["settings"]["enabled"], false);
    let (flooded, _, _) = flood_beside_paced(&pair, other, 300, 0);
    assert_eq!(flooded.truncated, 0, "nothing limited while off: {flooded:?}");
    assert_eq!(show()["xdp"]["rrl_dropped"], 0);

    let said = daemon.cli(&["rrl", "set", "--rate", "10", "--burst", "10", "--slip", "0"]);
    assert!(said.contains("rate limiting on: 10 responses/s, burst 10, slip 0"), "{said}");
    let (flooded, elapsed, asked) = flood_beside_paced(&pair, other, 300, 8);
    assert_eq!(asked.answered, asked.sent, "the other prefix is not limited: {asked:?}");
    let most = 10 + (10.0 * elapsed.as_secs_f64()).ceil() as u64 + 1 + RACES;
    assert!(flooded.answered <= most && flooded.truncated == 0, "{flooded:?} in {elapsed:?}");
    let shown = show();
    assert_eq!(shown["settings"]["responses_per_second"], 10);
    assert!(shown["xdp"]["rrl_dropped"].as_u64().unwrap() > 0, "{shown}");

    let prefix = format!("{}/24", pair.client_v4.to_string().rsplit_once('.').unwrap().0.to_owned() + ".0");
    daemon.cli(&["rrl", "exempt", "add", &prefix]);
    let both = |shown: &serde_json::Value, name: &str| {
        shown["xdp"][name].as_u64().unwrap() + shown["userspace"][name].as_u64().unwrap()
    };
    let dropped = both(&show(), "rrl_dropped");
    let (flooded, _, _) = flood_beside_paced(&pair, other, 200, 0);
    let shown = show();
    assert_eq!(both(&shown, "rrl_dropped"), dropped, "an exempt prefix is not limited: {flooded:?}");
    assert!(both(&shown, "rrl_exempt") >= flooded.answered, "{shown}");
    assert_eq!(shown["settings"]["exempt"][0], prefix.as_str());

    let said = daemon.cli(&["reload"]);
    assert!(said.contains("what `switchyard rrl` set gave way to the file: rate limiting off"), "{said}");
    let shown = show();
    assert_eq!(shown["settings"]["enabled"], false, "a reload puts the file's [rrl] back: {shown}");
    let said = daemon.cli(&["reload"]);
    assert!(!said.contains("rate limiting"), "nothing live to replace the second time: {said}");
    assert_eq!(shown["settings"]["exempt"].as_array().map(Vec::len), Some(0));
}
