//! Reloads that change what is served, live: services added and removed, a zone added, a view's
//! prefixes changed, listen addresses and XDP interfaces removed and added; the SOA serial
//! raised with the content; and reloads that cannot apply, which change nothing, also when the
//! step that fails comes after others that changed something.

mod common;

use std::{net::SocketAddr, process::Command, time::Duration};

use hickory_proto::{
    op::{Message, ResponseCode},
    rr::{RData, RecordType},
};
use switchyard_tests::{
    answers::Question,
    client,
    daemon::{self, Daemon},
    privileges::have_root,
    query_loop::{Kind, QueryLoop},
    topology::Pair,
};

const SECOND: Duration = Duration::from_secs(1);

/// www keeps its answers through the reloads below (the view change comes last).
fn check(kind: Kind, message: &Message) -> Result<(), String> {
    let addrs: Vec<String> = message.answers.iter().map(|r| r.data.to_string()).collect();
    let ok = match kind {
        Kind::A | Kind::Tcp => addrs == ["198.18.10.1", "198.18.20.1"],
        Kind::Aaaa => addrs == ["fd00:10::1", "fd00:20::1"],
        Kind::Missing => message.metadata.response_code == ResponseCode::NXDomain,
    };
    if ok { Ok(()) } else { Err(format!("{:?} {addrs:?}", message.metadata.response_code)) }
}

fn reload(daemon: &Daemon, toml: &str) -> std::process::Output {
    std::fs::write(&daemon.config, toml).unwrap();
    Command::new(daemon::binary()).args(["reload", "--config"]).arg(&daemon.config).output().unwrap()
}

fn soa_serial(pair: &Pair, zone: &str) -> u32 {
    let server = SocketAddr::new(pair.server_v4.into(), 53);
    let answer = client::udp(&pair.client, server, &client::query_message(zone, RecordType::SOA, false));
    match &answer.answers[0].data {
        RData::SOA(soa) => soa.serial,
        other => panic!("not an SOA: {other:?}"),
    }
}

/// The A question for www.example.com at the pair's server, as dig asks it.
fn www_a(pair: &Pair) -> Question<'_> {
    Question::www(pair, "A")
}

fn tcp_answer(pair: &Pair, name: &str) -> (ResponseCode, Vec<String>) {
    let server = SocketAddr::new(pair.server_v4.into(), 53);
    let answer = client::tcp(&pair.client, server, &client::query_message(name, RecordType::A, false));
    (answer.metadata.response_code, answer.answers.iter().map(|r| r.data.to_string()).collect())
}

#[test]
fn services_zones_and_views_change_live_without_losing_a_query() {
    if !have_root("services_zones_and_views_change_live_without_losing_a_query") {
        return;
    }
    let pair = Pair::new(73);
    let (_, toml) = common::basic_config(&pair, "native");
    let daemon = Daemon::start(&pair.server, &toml);
    let server = SocketAddr::new(pair.server_v4.into(), 53);
    let ask =
        |name| Question { client: &pair.client, server: pair.server_v4.to_string(), name, qtype: "A", source: None };
    ask("www.example.com").wait_for(&["198.18.10.1", "198.18.20.1"], SECOND, || daemon.log());
    assert_eq!(soa_serial(&pair, "example.com."), 7);
    let queries = QueryLoop::start(&pair.client, server, "www.example.com.", "missing.example.com.", check);
    std::thread::sleep(Duration::from_millis(300));

    // Two services added (one in a new zone), one removed.
    let added = toml.replace("[[service]]\nname = \"api.eu.example.com.\"\na = [\"198.18.11.1\"]\nttl = 60\n", "")
        + "\n[[zone]]\nname = \"example.net.\"\nns = [\"ns1.example.com.\"]\n"
        + "soa = { mname = \"ns1.example.com.\", rname = \"hostmaster.example.com.\" }\n"
        + "\n[[service]]\nname = \"new.example.com.\"\na = [\"198.18.12.1\"]\n"
        + "\n[[service]]\nname = \"www.example.net.\"\nsites = [\"b\"]\n";
    let out = reload(&daemon, &added);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("services +2 -1 ~0, zones +1 -0 ~0"), "{said}");
    let before = daemon.xdp_counter("answered_v4");
    let took = ask("new.example.com").wait_for(&["198.18.12.1"], SECOND, || daemon.log());
    assert!(daemon.xdp_counter("answered_v4") > before, "XDP answers the new service");
    assert_eq!(tcp_answer(&pair, "new.example.com."), (ResponseCode::NoError, vec!["198.18.12.1".to_string()]));
    eprintln!("the added service was answered {took:?} after the reload returned");
    ask("www.example.net").wait_for(&["198.18.20.1"], SECOND, || daemon.log());
    assert_eq!(tcp_answer(&pair, "api.eu.example.com.").0, ResponseCode::NXDomain, "a removed service is gone");
    assert_eq!(soa_serial(&pair, "example.com."), 8, "the zone's content changed: its serial is raised");
    assert_eq!(soa_serial(&pair, "example.net."), 1, "a new zone starts at its configured serial");

    // The same file again: nothing changed, the serial stays.
    assert!(reload(&daemon, &added).status.success());
    assert_eq!(soa_serial(&pair, "example.com."), 8);
    std::thread::sleep(Duration::from_millis(300));
    let tally = queries.finish();
    assert_eq!((tally.lost, tally.wrong), (0, 0), "{:?}\n{}", tally.problems, daemon.log());
    assert!(tally.sent > 20, "the loop ran through the reloads: {tally:?}");

    // The view's prefix moved to the client's subnet: both paths order www for it.
    let client_subnet = format!("198.18.{}.0/24", pair.server_v4.octets()[2]);
    let moved = added.replace("\"198.18.200.0/24\"", &format!("\"{client_subnet}\""));
    let out = reload(&daemon, &moved);
    assert!(String::from_utf8_lossy(&out.stdout).contains("views +0 -0 ~1"), "{out:?}");
    let before = daemon.xdp_counter("answered_v4");
    ask("www.example.com").wait_for(&["198.18.20.1", "198.18.10.1"], SECOND, || daemon.log());
    assert!(daemon.xdp_counter("answered_v4") > before, "XDP uses the new prefix");
    assert_eq!(tcp_answer(&pair, "www.example.com.").1, ["198.18.20.1", "198.18.10.1"], "and so does userspace");
}

/// Whether userspace answers a name that does not exist over UDP at `server` (XDP passes it).
fn userspace_answers(pair: &Pair, server: SocketAddr) -> bool {
    let query = client::query_message("missing.example.com.", RecordType::A, false).to_vec().unwrap();
    pair.client.enter(move || {
        let socket = std::net::UdpSocket::bind(if server.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" }).unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        socket.send_to(&query, server).unwrap();
        socket.recv(&mut [0u8; 512]).is_ok()
    })
}

#[test]
fn listen_addresses_and_xdp_interfaces_come_and_go_by_reload() {
    if !have_root("listen_addresses_and_xdp_interfaces_come_and_go_by_reload") {
        return;
    }
    let pair = Pair::new(75);
    let (_, toml) = common::basic_config(&pair, "native");
    let daemon = Daemon::start(&pair.server, &toml);
    let (v4, v6) = (SocketAddr::new(pair.server_v4.into(), 53), SocketAddr::new(pair.server_v6.into(), 53));
    assert!(userspace_answers(&pair, v4) && userspace_answers(&pair, v6));

    let v4_only = toml.replace(r#"listen = ["0.0.0.0", "::"]"#, "listen = [\"0.0.0.0\"]\nudp_threads = 1");
    let out = reload(&daemon, &v4_only);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(userspace_answers(&pair, v4), "IPv4 still answered\n{}", daemon.log());
    assert!(!userspace_answers(&pair, v6), "IPv6 no longer listened on");
    assert!(reload(&daemon, &toml).status.success());
    assert!(userspace_answers(&pair, v6), "listened on again\n{}", daemon.log());

    // The server's own address instead of every IPv4 address, and back: the two overlap, so
    // each reload closes the running socket before it binds the new one.
    let specific = toml.replace(r#"listen = ["0.0.0.0", "::"]"#, &format!("listen = [\"{}\", \"::\"]", pair.server_v4));
    for config in [&specific, &toml] {
        let out = reload(&daemon, config);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(userspace_answers(&pair, v4), "IPv4 answered over UDP\n{}", daemon.log());
        assert_eq!(tcp_answer(&pair, "www.example.com.").1, ["198.18.10.1", "198.18.20.1"], "and over TCP");
    }

    // The interface taken out of [xdp]: detached, userspace answers alone; put back: XDP again.
    let www = www_a(&pair);
    let iface_line = format!("interfaces = [{:?}]", pair.server_if);
    assert!(toml.contains(&iface_line));
    let out = reload(&daemon, &toml.replace(&iface_line, "interfaces = []"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!pair.server_has_xdp(), "detached by the reload");
    let before = daemon.xdp_counter("answered_v4");
    www.wait_for(&["198.18.10.1", "198.18.20.1"], SECOND, || daemon.log());
    assert_eq!(daemon.xdp_counter("answered_v4"), before, "answered by userspace");
    assert!(reload(&daemon, &toml).status.success());
    assert!(pair.server_has_xdp(), "attached again");
    www.wait_for(&["198.18.10.1", "198.18.20.1"], SECOND, || daemon.log());
    assert!(daemon.xdp_counter("answered_v4") > before, "answered by XDP again");
}

#[test]
fn a_reload_that_cannot_apply_changes_nothing() {
    if !have_root("a_reload_that_cannot_apply_changes_nothing") {
        return;
    }
    let pair = Pair::new(74);
    let (instance, toml) = common::basic_config(&pair, "native");
    let toml = toml.replace("mode = \"native\"", "mode = \"native\"\nmax_entries = 16");
    let daemon = Daemon::start(&pair.server, &toml);
    let www = www_a(&pair);
    www.wait_for(&["198.18.10.1", "198.18.20.1"], SECOND, || daemon.log());

    let renamed = toml.replacen("instance = \"", "instance = \"x", 1)
        + "\n[[service]]\nname = \"new.example.com.\"\na = [\"198.18.12.1\"]\n";
    std::fs::write(&daemon.config, &renamed).unwrap();
    // The daemon is reached through its running instance name; it reads the file itself.
    let out = Command::new(daemon::binary()).args(["reload", "--instance", &instance]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("server.instance"), "{said}");
    std::fs::write(&daemon.config, &toml).unwrap();
    assert_eq!(tcp_answer(&pair, "new.example.com.").0, ResponseCode::NXDomain, "nothing of it was applied");

    // More answers than the map holds: refused before anything changes.
    let many: String =
        (0..20).map(|i| format!("\n[[service]]\nname = \"s{i}.example.com.\"\na = [\"198.18.12.{i}\"]\n")).collect();
    let out = reload(&daemon, &(toml.clone() + &many));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("xdp.max_entries: is 16, and the services need"), "{said}");
    std::fs::write(&daemon.config, &toml).unwrap();
    assert_eq!(tcp_answer(&pair, "s7.example.com.").0, ResponseCode::NXDomain, "nothing of it was applied");

    // Another file given to `reload`: it only names the daemon (same [server]), which re-reads
    // its own file, so nothing is reloaded and both files are named.
    let other = daemon.config.with_file_name("other.toml");
    let other_service = "\n[[service]]\nname = \"other.example.com.\"\na = [\"198.18.12.2\"]\n";
    std::fs::write(&other, toml.clone() + other_service).unwrap();
    let out = Command::new(daemon::binary()).args(["reload", "--config"]).arg(&other).output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    let served = std::path::absolute(&daemon.config).unwrap();
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("nothing reloaded") && said.contains(&served.display().to_string()), "{said}");
    assert_eq!(tcp_answer(&pair, "other.example.com.").0, ResponseCode::NXDomain, "the other file was not read");
    let status: serde_json::Value = serde_json::from_str(&daemon.cli(&["status", "--json"])).unwrap();
    assert_eq!(status["config_file"].as_str(), Some(served.to_str().unwrap()), "status names the file");
    www.wait_for(&["198.18.10.1", "198.18.20.1"], SECOND, || daemon.log());
}

#[test]
fn a_reload_that_fails_late_is_taken_back_whole() {
    if !have_root("a_reload_that_fails_late_is_taken_back_whole") {
        return;
    }
    let pair = Pair::new(70);
    let (_, toml) = common::basic_config(&pair, "native");
    let toml = toml.replacen("dns_port = 53", "dns_port = 53\nmetrics = \"198.18.70.1:9153\"", 1);
    let daemon = Daemon::start(&pair.server, &toml);
    let metrics_on = |port: u16| pair.server.enter(|| std::net::TcpStream::connect(("198.18.70.1", port)).is_ok());
    assert!(metrics_on(9153), "{}", daemon.log());
    let www = www_a(&pair);
    www.wait_for(&["198.18.10.1", "198.18.20.1"], SECOND, || daemon.log());
    let v6 = SocketAddr::new(pair.server_v6.into(), 53);

    // A bridge has no native XDP: attaching to it comes after the listeners, the answers and
    // the XDP map changed, and fails.
    let bridge = pair.server.output("ip", &["link", "add", "sybr70", "type", "bridge"]);
    assert!(bridge.status.success(), "{}", String::from_utf8_lossy(&bridge.stderr));
    let iface_line = format!("interfaces = [{:?}]", pair.server_if);
    let new_service = "\n[[service]]\nname = \"new.example.com.\"\na = [\"198.18.12.1\"]\n";
    let failing = toml
        .replace(r#"listen = ["0.0.0.0", "::"]"#, "listen = [\"0.0.0.0\"]")
        .replace(&iface_line, &format!("interfaces = [{:?}, \"sybr70\"]", pair.server_if))
        .replace("198.18.70.1:9153", "198.18.70.1:9154")
        + new_service;
    let serial = soa_serial(&pair, "example.com.");
    let out = reload(&daemon, &failing);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("XDP"), "{said}");

    assert_eq!(tcp_answer(&pair, "new.example.com.").0, ResponseCode::NXDomain, "the new service taken back");
    // The refused config's content went out under serial + 1: the old content is back under a
    // serial above that, never the one it had.
    assert_eq!(soa_serial(&pair, "example.com."), serial + 2, "{}", daemon.log());
    assert!(userspace_answers(&pair, v6), "IPv6 listened on again\n{}", daemon.log());
    let before = daemon.xdp_counter("answered_v4");
    let new = Question { name: "new.example.com", ..www_a(&pair) };
    assert_eq!(new.ask(), Some(vec![]), "not in the XDP map either");
    www.wait_for(&["198.18.10.1", "198.18.20.1"], SECOND, || daemon.log());
    assert!(daemon.xdp_counter("answered_v4") > before, "XDP still answers on the pair's interface");
    let shown = pair.server.output("ip", &["link", "show", "sybr70"]);
    assert!(!String::from_utf8_lossy(&shown.stdout).contains("xdp"), "nothing left on the bridge");
    assert!(metrics_on(9153) && !metrics_on(9154), "metrics on the running config's address");
    assert!(!daemon.log().contains("not taken back"), "{}", daemon.log());

    // A new map size fails the same way, after a successor program wrote the refused config's
    // local addresses (no IPv6) and rate limits into the maps it shares with the running one.
    // Both go back, and the rate limits are the ones in force, an exemption set by hand included.
    daemon.cli(&["rrl", "exempt", "add", "198.18.99.0/24"]);
    let resized = failing.replace(
        &format!("interfaces = [{:?}, \"sybr70\"]", pair.server_if),
        &format!("interfaces = [{:?}, \"sybr70\"]\nmax_entries = 8192", pair.server_if),
    ) + "\n[rrl]\nresponses_per_second = 5\n";
    let out = reload(&daemon, &resized);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("XDP"), "{said}");
    let shown: serde_json::Value = serde_json::from_str(&daemon.cli(&["rrl", "show", "--json"])).unwrap();
    assert_eq!(shown["settings"]["enabled"], false, "{shown}");
    assert_eq!(shown["settings"]["exempt"], serde_json::json!(["198.18.99.0/24"]), "{shown}");
    let aaaa = Question { server: pair.server_v6.to_string(), ..Question::www(&pair, "AAAA") };
    let answered_v6 = || daemon.xdp_counter("answered_v6");
    let before = answered_v6();
    let deadline = std::time::Instant::now() + 5 * SECOND;
    while answered_v6() == before && std::time::Instant::now() < deadline {
        assert_eq!(aaaa.ask().map(|a| a.len()), Some(2), "{}", daemon.log());
        std::thread::sleep(SECOND / 10);
    }
    assert!(answered_v6() > before, "XDP answers IPv6 again\n{}", daemon.log());
    assert!(!daemon.log().contains("not taken back"), "{}", daemon.log());

    // The config the daemon runs is still the old one: the same file with the service reloads.
    let out = reload(&daemon, &(toml.clone() + new_service));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(tcp_answer(&pair, "new.example.com.").1, ["198.18.12.1"]);
    assert!(userspace_answers(&pair, v6), "IPv6 still listened on");
}

/// The attach mode `ip link` shows on the pair's server end: "xdpgeneric", "xdp" or none.
fn xdp_shown(pair: &Pair) -> Option<&'static str> {
    let out = pair.server.output("ip", &["link", "show", &pair.server_if]);
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    if shown.contains("xdpgeneric") {
        Some("xdpgeneric")
    } else if shown.contains("xdp") {
        Some("xdp")
    } else {
        None
    }
}

#[test]
fn xdp_mode_and_map_size_change_by_reload_without_losing_a_query() {
    if !have_root("xdp_mode_and_map_size_change_by_reload_without_losing_a_query") {
        return;
    }
    let pair = Pair::new(76);
    let (_, toml) = common::basic_config(&pair, "native");
    let daemon = Daemon::start(&pair.server, &toml);
    let server = SocketAddr::new(pair.server_v4.into(), 53);
    let www = www_a(&pair);
    www.wait_for(&["198.18.10.1", "198.18.20.1"], SECOND, || daemon.log());
    assert_eq!(xdp_shown(&pair), Some("xdp"));
    let queries = QueryLoop::start(&pair.client, server, "www.example.com.", "missing.example.com.", check);
    let answered_by_xdp = |before: u64| {
        www.wait_for(&["198.18.10.1", "198.18.20.1"], SECOND, || daemon.log());
        daemon.xdp_counter("answered_v4") > before
    };
    let apply = |text: &str| {
        let out = reload(&daemon, text);
        assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stderr), daemon.log());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    let said = apply(&toml.replace("mode = \"native\"", "mode = \"skb\""));
    assert!(said.contains("xdp mode native -> skb"), "{said}");
    assert_eq!(xdp_shown(&pair), Some("xdpgeneric"), "attached again in generic mode");
    assert!(answered_by_xdp(daemon.xdp_counter("answered_v4")), "XDP answers in its new mode");

    let said = apply(&toml.replace("mode = \"native\"", "mode = \"off\""));
    assert!(said.contains("xdp mode skb -> off"), "{said}");
    assert_eq!(xdp_shown(&pair), None, "detached: XDP is off");
    assert!(daemon.cli(&["status"]).contains("off"), "{}", daemon.cli(&["status"]));
    www.wait_for(&["198.18.10.1", "198.18.20.1"], SECOND, || daemon.log());

    apply(&toml);
    assert_eq!(xdp_shown(&pair), Some("xdp"), "XDP on again, in native mode");
    assert!(answered_by_xdp(daemon.xdp_counter("answered_v4")), "XDP answers again");

    // A new answer map size, with a service added in the same reload: a program with the new
    // map takes over the interface and answers the new service.
    let bigger = toml.replace("mode = \"native\"", "mode = \"native\"\nmax_entries = 4096")
        + "\n[[service]]\nname = \"new.example.com.\"\na = [\"198.18.12.1\"]\n";
    let said = apply(&bigger);
    assert!(said.contains("services +1 -0 ~0") && said.contains("xdp max_entries 65536 -> 4096"), "{said}");
    let before = daemon.xdp_counter("answered_v4");
    let new = Question { name: "new.example.com", server: www.server.clone(), ..www };
    new.wait_for(&["198.18.12.1"], SECOND, || daemon.log());
    assert!(daemon.xdp_counter("answered_v4") > before, "XDP answers the new service from the new map");
    assert!(answered_by_xdp(daemon.xdp_counter("answered_v4")));

    // A map the kernel cannot make: refused, and the running program goes on answering.
    let out = reload(&daemon, &bigger.replace("max_entries = 4096", "max_entries = 4000000000"));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("XDP"), "{said}");
    assert_eq!(xdp_shown(&pair), Some("xdp"));
    assert!(answered_by_xdp(daemon.xdp_counter("answered_v4")), "{}", daemon.log());
    std::fs::write(&daemon.config, &bigger).unwrap();

    std::thread::sleep(Duration::from_millis(300));
    let tally = queries.finish();
    assert_eq!((tally.lost, tally.wrong), (0, 0), "{:?}\n{}", tally.problems, daemon.log());
    assert!(tally.sent > 20, "the loop ran through the reloads: {tally:?}");
}
