//! DNS cookies with a real client: dig sends a client cookie, gets a server cookie, and sends
//! it back with its next query, which the daemon counts as carrying a valid server cookie;
//! over XDP and with XDP off.

mod common;

use switchyard_tests::{client, daemon::Daemon, privileges::have_root, topology::Pair};

/// The COOKIE line of dig's output: the hex of client and server cookie, and dig's verdict.
fn cookie_line(out: &str) -> (String, String) {
    let line = out.lines().find(|l| l.starts_with("; COOKIE: ")).unwrap_or_else(|| panic!("no COOKIE in:\n{out}"));
    let mut words = line.trim_start_matches("; COOKIE: ").split_whitespace();
    (words.next().unwrap().to_string(), words.next().unwrap_or("").to_string())
}

/// Two queries from the client: the first with a new client cookie, the second with the
/// cookie pair the first reply carried. Returns both replies' cookie lines.
fn two_queries(pair: &Pair) -> ((String, String), (String, String)) {
    let server = format!("@{}", pair.server_v4);
    let base = [server.as_str(), "www.example.com", "A", "+tries=1", "+time=2"];
    let first = client::dig(&pair.client, &[&base[..], &["+cookie"]].concat());
    let (cookies, verdict) = cookie_line(&first);
    assert_eq!(cookies.len(), 16 + 32, "client and 16-byte server cookie: {first}");
    assert_eq!(verdict, "(good)", "dig found its client cookie: {first}");
    let again = format!("+cookie={cookies}");
    let second = client::dig(&pair.client, &[&base[..], &[again.as_str()]].concat());
    assert!(second.contains("198.18.10.1"), "answered: {second}");
    ((cookies, verdict), cookie_line(&second))
}

#[test]
fn dig_s_second_query_carries_a_valid_server_cookie_over_xdp() {
    if !have_root("dig_s_second_query_carries_a_valid_server_cookie_over_xdp") {
        return;
    }
    let pair = Pair::new(1);
    let (_, toml) = common::basic_config(&pair, "auto");
    let daemon = Daemon::start(&pair.server, &toml);
    let ((first, _), (second, _)) = two_queries(&pair);
    assert_eq!(second, first, "a recent valid cookie comes back as it was sent");
    assert_eq!(daemon.xdp_counter("cookie_issued"), 1, "the first query got a new cookie from XDP");
    assert_eq!(daemon.xdp_counter("cookie_valid"), 1, "the second carried a valid one");
    assert_eq!(daemon.xdp_counter("answered_v4"), 2);
    assert_eq!(daemon.userspace_counter("cookie_valid"), 0);
}

#[test]
fn dig_s_second_query_carries_a_valid_server_cookie_with_xdp_off() {
    if !have_root("dig_s_second_query_carries_a_valid_server_cookie_with_xdp_off") {
        return;
    }
    let pair = Pair::new(1);
    let (_, toml) = common::basic_config(&pair, "off");
    let daemon = Daemon::start(&pair.server, &toml);
    let ((first, _), (second, _)) = two_queries(&pair);
    assert_eq!(second, first);
    assert_eq!(daemon.userspace_counter("cookie_valid"), 1, "the second query carried a valid cookie");
    assert_eq!(daemon.userspace_counter("answered"), 2);
}

#[test]
fn a_malformed_cookie_gets_formerr_from_the_daemon() {
    if !have_root("a_malformed_cookie_gets_formerr_from_the_daemon") {
        return;
    }
    let pair = Pair::new(1);
    let (_, toml) = common::basic_config(&pair, "auto");
    let daemon = Daemon::start(&pair.server, &toml);
    let server = format!("@{}", pair.server_v4);
    // Nine bytes: a client cookie and one stray byte.
    let out = client::dig(
        &pair.client,
        &[&server, "www.example.com", "A", "+tries=1", "+time=2", "+cookie=000102030405060708"],
    );
    assert!(out.contains("status: FORMERR"), "{out}");
    assert_eq!(daemon.xdp_counter("pass_cookie_malformed"), 1, "XDP left it to userspace");
    assert_eq!(daemon.userspace_counter("formerr"), 1);
}

/// With one response per second and no burst to speak of, dig's queries carrying the server
/// cookie it was given are all answered (exempt), while plain ones are limited; over XDP and
/// with XDP off.
#[test]
fn queries_with_a_valid_server_cookie_are_never_rate_limited() {
    if !have_root("queries_with_a_valid_server_cookie_are_never_rate_limited") {
        return;
    }
    for mode in ["auto", "off"] {
        let pair = Pair::new(1);
        let (_, toml) = common::basic_config(&pair, mode);
        let toml = format!("{toml}\n[rrl]\nenabled = true\nresponses_per_second = 1\nburst = 1\nslip = 0\n");
        let daemon = Daemon::start(&pair.server, &toml);
        let server = format!("@{}", pair.server_v4);
        let ask = |extra: &str| {
            let out = pair.client.output("dig", &[&server, "www.example.com", "A", "+tries=1", "+time=1", extra]);
            String::from_utf8_lossy(&out.stdout).contains("198.18.10.1")
        };
        // The burst: one answer, which carries the server cookie.
        let first = client::dig(&pair.client, &[&server, "www.example.com", "A", "+tries=1", "+time=2", "+cookie"]);
        let (cookies, _) = cookie_line(&first);
        let again = format!("+cookie={cookies}");
        let exempt: Vec<bool> = (0..5).map(|_| ask(&again)).collect();
        assert_eq!(exempt, [true; 5], "{mode}: a valid server cookie is never limited");
        assert!(!ask("+nocookie"), "{mode}: without one the prefix is over its rate");
        let counted = |name: &str| {
            let xdp = if mode == "off" { 0 } else { daemon.xdp_counter(name) };
            xdp + daemon.userspace_counter(name)
        };
        assert_eq!(counted("rrl_exempt"), 5, "{mode}: counted as exempt");
        assert!(counted("rrl_dropped") >= 1, "{mode}: the plain query was dropped");
    }
}
