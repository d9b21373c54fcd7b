//! A server holding several IPv4 and IPv6 addresses, listening on 0.0.0.0 and ::, answers every
//! query from the address it was sent to: dig, a connected socket and a real resolver (unbound)
//! all refuse anything else. With XDP off and on, over UDP and TCP. And the XDP program follows
//! an address added to and removed from the interface while the daemon runs.

mod common;

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    time::{Duration, Instant},
};

use hickory_proto::rr::{RData, RecordType};
use switchyard_tests::{
    client, daemon::Daemon, netns::Netns, privileges::have_root, resolver::Unbound, topology::Pair,
};

/// Host part of the server's second address in each family.
const SECOND: u8 = 3;

/// A pair whose server end has a second IPv4 and IPv6 address; returns all four.
fn server_with_two_addresses_per_family(subnet: u8) -> (Pair, Vec<IpAddr>) {
    let pair = Pair::new(subnet);
    let v4 = Ipv4Addr::new(198, 18, subnet, SECOND);
    let v6: Ipv6Addr = format!("fd00:{subnet:x}::{SECOND}").parse().unwrap();
    pair.server.ip(&["addr", "add", &format!("{v4}/24"), "dev", &pair.server_if]);
    pair.server.ip(&["addr", "add", &format!("{v6}/64"), "dev", &pair.server_if, "nodad"]);
    let addresses = vec![pair.server_v4.into(), v4.into(), pair.server_v6.into(), v6.into()];
    (pair, addresses)
}

fn dig_short(ns: &Netns, server: IpAddr, args: &[&str]) -> Vec<String> {
    let at = format!("@{server}");
    let mut all = vec![at.as_str(), "+short", "+tries=2", "+time=2"];
    all.extend_from_slice(args);
    // dig takes a reply only from the address it asked ("reply from unexpected source").
    client::dig(ns, &all).lines().map(str::to_string).collect()
}

fn every_address_answers_from_itself(mode: &str, subnet: u8) -> Daemon {
    let (pair, addresses) = server_with_two_addresses_per_family(subnet);
    let (_, toml) = common::basic_config(&pair, mode);
    let daemon = Daemon::start(&pair.server, &toml);
    let www_a = ["198.18.10.1", "198.18.20.1"];
    let www_aaaa = ["fd00:10::1", "fd00:20::1"];
    for server in addresses {
        assert_eq!(dig_short(&pair.client, server, &["www.example.com", "A"]), www_a, "A asked at {server}");
        assert_eq!(dig_short(&pair.client, server, &["WWW.example.com", "AAAA", "+dnssec"]), www_aaaa, "at {server}");
        let soa = dig_short(&pair.client, server, &["example.com", "SOA"]);
        assert!(soa[0].starts_with("ns1.example.com. "), "SOA asked at {server}: {soa:?}");
        assert_eq!(dig_short(&pair.client, server, &["+tcp", "www.example.com", "A"]), www_a, "TCP at {server}");

        let ns = client::query_message("example.com.", RecordType::NS, true);
        let reply = client::udp_connected(&pair.client, SocketAddr::new(server, 53), &ns, Duration::from_secs(3))
            .unwrap_or_else(|| panic!("no answer from {server} to a socket connected to it"));
        assert_eq!(reply.answers[0].data.to_string(), "ns1.example.com.");
        assert!(
            reply.additionals.iter().any(|r| matches!(r.data, RData::A(a) if a.to_string() == "198.18.0.53")),
            "glue for ns1"
        );

        // The resolver rotates the records it hands out: compared as sets.
        let resolver = Unbound::start(&pair.client, "example.com", server);
        let sorted = |mut lines: Vec<String>| {
            lines.sort();
            lines
        };
        assert_eq!(sorted(resolver.resolve(&pair.client, "www.example.com", "A")), www_a, "unbound asking {server}");
        assert_eq!(sorted(resolver.resolve(&pair.client, "www.example.com", "AAAA")), www_aaaa, "via {server}");
        let nx = pair.client.output("dig", &["@127.0.0.1", "nope.example.com", "A", "+tries=1", "+time=5"]);
        assert!(String::from_utf8_lossy(&nx.stdout).contains("NXDOMAIN"), "unbound got the NXDOMAIN from {server}");
    }
    daemon
}

#[test]
fn with_xdp_off_every_address_answers_from_itself() {
    if !have_root("with_xdp_off_every_address_answers_from_itself") {
        return;
    }
    let daemon = every_address_answers_from_itself("off", 40);
    assert!(daemon.userspace_counter("answered") >= 4 * 6, "userspace answered everything");
}

#[test]
fn with_xdp_on_every_address_answers_from_itself() {
    if !have_root("with_xdp_on_every_address_answers_from_itself") {
        return;
    }
    let daemon = every_address_answers_from_itself("native", 41);
    // A and AAAA over UDP at each address, from dig and from unbound.
    assert!(daemon.xdp_counter("answered_v4") >= 2 * 2 * 2, "XDP answered at both IPv4 addresses");
    assert!(daemon.xdp_counter("answered_v6") >= 2 * 2 * 2, "XDP answered at both IPv6 addresses");
    assert!(daemon.userspace_counter("answered") >= 4 * 3, "userspace answered SOA, NS and TCP at each");
    assert_eq!(daemon.xdp_counter("pass_bad_udp_checksum"), 0, "the client end sends full checksums");
}

/// The MAC of `iface` in `ns`, from `ip -o link`.
fn mac_of(ns: &Netns, iface: &str) -> String {
    let out = ns.output("ip", &["-o", "link", "show", "dev", iface]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let after = text.split("link/ether ").nth(1).unwrap_or_else(|| panic!("no MAC in {text}"));
    after.split_whitespace().next().unwrap().to_string()
}

/// Asks www A at `server` until `counter` has grown past `before` (the daemon follows the
/// interface within milliseconds; the deadline only bounds a failure). The last answer.
fn ask_until_counted(pair: &Pair, daemon: &Daemon, server: IpAddr, counter: &str, before: u64) -> Option<Vec<String>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let query = client::query_message("www.example.com.", RecordType::A, false);
        let reply =
            client::udp_connected(&pair.client, SocketAddr::new(server, 53), &query, Duration::from_millis(500));
        let answer = reply.map(|m| m.answers.iter().map(|r| r.data.to_string()).collect());
        if daemon.xdp_counter(counter) > before {
            return answer;
        }
        assert!(Instant::now() < deadline, "{counter} did not move for queries to {server}:\n{}", daemon.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn xdp_follows_an_address_added_and_removed_while_it_runs() {
    if !have_root("xdp_follows_an_address_added_and_removed_while_it_runs") {
        return;
    }
    let subnet = 42;
    let pair = Pair::new(subnet);
    let (_, toml) = common::basic_config(&pair, "native");
    let daemon = Daemon::start(&pair.server, &toml);
    let added: [(IpAddr, &str, &str); 2] = [
        (Ipv4Addr::new(198, 18, subnet, 7).into(), "24", "answered_v4"),
        (format!("fd00:{subnet:x}::7").parse::<Ipv6Addr>().unwrap().into(), "64", "answered_v6"),
    ];
    for (address, prefix, answered) in added {
        let cidr = format!("{address}/{prefix}");
        let mut add = vec!["addr", "add", &cidr, "dev", &pair.server_if];
        if address.is_ipv6() {
            add.push("nodad");
        }
        pair.server.ip(&add);
        let before = daemon.xdp_counter(answered);
        let answer = ask_until_counted(&pair, &daemon, address, answered, before);
        assert_eq!(answer.as_deref(), Some(&["198.18.10.1".to_string(), "198.18.20.1".to_string()][..]), "{address}");
    }
    assert!(daemon.log().contains("addresses answered by XDP changed"), "the change is logged");

    // Removed: frames still reach the server (the client's neighbour entry is pinned to its
    // MAC), but nothing answers them any more, and XDP counts them as not local.
    let mac = mac_of(&pair.server, &pair.server_if);
    for (address, prefix, _) in added {
        pair.server.ip(&["addr", "del", &format!("{address}/{prefix}"), "dev", &pair.server_if]);
        let neighbour = address.to_string();
        pair.client.ip(&["neigh", "replace", &neighbour, "lladdr", &mac, "dev", &pair.client_if, "nud", "permanent"]);
        let before = daemon.xdp_counter("pass_not_local");
        let answer = ask_until_counted(&pair, &daemon, address, "pass_not_local", before);
        assert_eq!(answer, None, "no answer once {address} is gone");
    }
    // The addresses the interface kept are still answered by XDP.
    let before = daemon.xdp_counter("answered_v4");
    let answer = ask_until_counted(&pair, &daemon, pair.server_v4.into(), "answered_v4", before);
    assert!(answer.is_some());
}
