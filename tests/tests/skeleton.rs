//! The walking skeleton end to end: XDP answers A from the map, userspace answers the rest
//! (over TCP too, within its bounds on connections).

mod common;

use std::{
    io::Read,
    net::{SocketAddr, TcpStream},
    time::Duration,
};

use hickory_proto::{
    op::Message,
    rr::{RData, RecordType},
};
use switchyard_tests::{client, daemon::Daemon, privileges::have_root, topology::Pair};

#[test]
fn dig_a_query_is_answered_by_xdp_and_soa_by_userspace() {
    if !have_root("dig_a_query_is_answered_by_xdp_and_soa_by_userspace") {
        return;
    }
    let pair = Pair::new(1);
    let (_, toml) = common::basic_config(&pair, "native");
    let daemon = Daemon::start(&pair.server, &toml);
    assert!(pair.server_has_xdp(), "XDP is attached to the server end");

    let server = pair.server_v4.to_string();
    let answer =
        client::dig(&pair.client, &[&format!("@{server}"), "WwW.Example.COM", "A", "+short", "+tries=1", "+time=2"]);
    assert_eq!(answer.lines().collect::<Vec<_>>(), ["198.18.10.1", "198.18.20.1"], "A answer in configured order");
    assert_eq!(daemon.xdp_counter("answered_v4"), 1, "the XDP path answered");
    assert_eq!(daemon.userspace_counter("udp"), 0, "the userspace socket saw nothing");

    let soa =
        client::dig(&pair.client, &[&format!("@{server}"), "example.com", "SOA", "+short", "+tries=1", "+time=2"]);
    assert_eq!(soa.trim(), "ns1.example.com. hostmaster.example.com. 7 14400 3600 1209600 60");
    assert_eq!(daemon.userspace_counter("answered"), 1, "userspace answered the SOA query");
    assert_eq!(daemon.xdp_counter("answered_v4"), 1, "XDP did not answer SOA");
    assert_eq!(daemon.xdp_counter("pass_unsupported"), 1, "SOA was passed as a type XDP leaves to userspace");
}

#[test]
fn full_answer_from_xdp_has_flags_question_case_and_ttl() {
    if !have_root("full_answer_from_xdp_has_flags_question_case_and_ttl") {
        return;
    }
    let pair = Pair::new(2);
    let (_, toml) = common::basic_config(&pair, "native");
    let daemon = Daemon::start(&pair.server, &toml);
    let server = SocketAddr::new(pair.server_v4.into(), 53);

    let query = client::query_message("wWw.eXample.com.", RecordType::A, false);
    let response = client::udp(&pair.client, server, &query);
    assert_eq!(response.metadata.id, query.metadata.id);
    assert!(response.metadata.authoritative && response.metadata.recursion_desired);
    assert!(!response.metadata.recursion_available && !response.metadata.truncation);
    assert_eq!(response.queries[0].name().to_string(), "wWw.eXample.com.", "question echoed as sent");
    let addrs: Vec<String> = response.answers.iter().map(|r| r.data.to_string()).collect();
    assert_eq!(addrs, ["198.18.10.1", "198.18.20.1"]);
    assert!(response.answers.iter().all(|r| r.ttl == 30 && r.name.to_string() == "wWw.eXample.com."));
    assert!(response.edns.is_none(), "no OPT without one in the query");
    assert_eq!(daemon.xdp_counter("answered_v4"), 1);
    assert_eq!(daemon.userspace_counter("udp"), 0);
}

#[test]
fn userspace_gives_nxdomain_nodata_refused_and_tcp() {
    if !have_root("userspace_gives_nxdomain_nodata_refused_and_tcp") {
        return;
    }
    let pair = Pair::new(3);
    let (_, toml) = common::basic_config(&pair, "native");
    let daemon = Daemon::start(&pair.server, &toml);
    let server = SocketAddr::new(pair.server_v4.into(), 53);

    let nx = client::udp(&pair.client, server, &client::query_message("nope.example.com.", RecordType::A, false));
    assert_eq!(nx.metadata.response_code.to_string(), "Non-Existent Domain");
    assert!(matches!(nx.authorities[0].data, RData::SOA(_)), "NXDOMAIN carries the SOA");

    let nodata =
        client::udp(&pair.client, server, &client::query_message("api.eu.example.com.", RecordType::AAAA, false));
    assert_eq!(nodata.metadata.response_code.to_string(), "No Error");
    assert!(nodata.answers.is_empty() && matches!(nodata.authorities[0].data, RData::SOA(_)));

    let ent = client::udp(&pair.client, server, &client::query_message("eu.example.com.", RecordType::A, false));
    assert_eq!(ent.metadata.response_code.to_string(), "No Error", "an empty non-terminal exists");

    let refused = client::udp(&pair.client, server, &client::query_message("www.example.org.", RecordType::A, false));
    assert_eq!(refused.metadata.response_code.to_string(), "Query Refused");
    assert!(!refused.metadata.authoritative);

    let over_tcp = client::tcp(&pair.client, server, &client::query_message("www.example.com.", RecordType::A, false));
    let addrs: Vec<String> = over_tcp.answers.iter().map(|r| r.data.to_string()).collect();
    assert_eq!(addrs, ["198.18.10.1", "198.18.20.1"], "TCP gives the same answer as XDP");

    let ns = client::udp(&pair.client, server, &client::query_message("example.com.", RecordType::NS, false));
    assert_eq!(ns.answers[0].data.to_string(), "ns1.example.com.");

    let stats = daemon.stats();
    assert_eq!(stats["userspace"]["tcp"], 1);
    assert_eq!(stats["userspace"]["nxdomain"], 1);
    assert_eq!(stats["userspace"]["refused"], 1);
    assert_eq!(stats["userspace"]["nodata"], 2);
    assert_eq!(stats["xdp"]["pass_miss"], 4, "nope, api.eu AAAA, eu and example.org were looked up and missed");
}

#[test]
fn a_client_holding_idle_tcp_connections_gets_no_more_than_its_share() {
    if !have_root("a_client_holding_idle_tcp_connections_gets_no_more_than_its_share") {
        return;
    }
    let pair = Pair::new(69);
    let (_, toml) = common::basic_config(&pair, "native");
    let daemon = Daemon::start(&pair.server, &toml);
    let server = SocketAddr::new(pair.server_v4.into(), 53);
    let www = client::query_message("www.example.com.", RecordType::A, false);

    // 64 idle connections from the client's one address (a load generator may well open that many):
    // the 65th is closed at once.
    let connect =
        || pair.client.enter(|| TcpStream::connect_timeout(&server, Duration::from_secs(3)).expect("connect"));
    let mut idle: Vec<TcpStream> = (0..64).map(|_| connect()).collect();
    let mut over = connect();
    over.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut byte = [0u8; 1];
    let closed = match over.read(&mut byte) {
        Ok(n) => n == 0,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(closed, "closed at once, not kept waiting for a query");
    assert_eq!(daemon.userspace_counter("tcp_refused"), 1);

    // One of them ends: the place is free for a query again.
    idle.pop();
    let answer = (0..50)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(20));
            client::try_tcp(&pair.client, server, &www).ok().and_then(|bytes| Message::from_vec(&bytes).ok())
        })
        .expect("answered once a connection ended");
    assert_eq!(answer.answers.len(), 2);
    drop(idle);
}

#[test]
fn shutdown_leaves_xdp_for_the_next_daemon_and_cleanup_removes_it() {
    if !have_root("shutdown_leaves_xdp_for_the_next_daemon_and_cleanup_removes_it") {
        return;
    }
    let pair = Pair::new(4);
    let (instance, toml) = common::basic_config(&pair, "native");
    let daemon = Daemon::start(&pair.server, &toml);
    let pins = std::path::Path::new("/sys/fs/bpf/switchyard").join(&instance);
    assert!(pins.join("ANSWERS").exists(), "answer map pinned");
    assert!(pins.join("links").join(&pair.server_if).exists(), "XDP link pinned");
    let status = daemon.stop();
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    assert!(pins.join("ANSWERS").exists() && pair.server_has_xdp(), "maps and XDP stay for the next daemon");

    let out = std::process::Command::new(switchyard_tests::daemon::binary())
        .args(["cleanup", "--instance", &instance])
        .output()
        .unwrap();
    assert!(out.status.success(), "cleanup: {}", String::from_utf8_lossy(&out.stderr));
    assert!(!pins.exists(), "pins removed");
    assert!(!pair.server_has_xdp(), "XDP detached");
    // What the stopped daemon kept for a successor in its run_dir: there is none.
    switchyard_tests::daemon::remove_state_files(&toml);
}

#[test]
fn large_answers_are_answered_by_xdp_over_veth() {
    if !have_root("large_answers_are_answered_by_xdp_over_veth") {
        return;
    }
    let pair = Pair::new(5);
    let (_, toml) = common::basic_config(&pair, "native");
    let daemon = Daemon::start(&pair.server, &toml);
    // Answers grow a small query's frame by more than its tailroom on veth: the program takes
    // the room from the headroom instead (up to about 200 bytes).
    for server in [SocketAddr::new(pair.server_v4.into(), 53), SocketAddr::new(pair.server_v6.into(), 53)] {
        for _ in 0..20 {
            let response =
                client::udp(&pair.client, server, &client::query_message("eight.example.com.", RecordType::A, false));
            let addrs: Vec<String> = response.answers.iter().map(|r| r.data.to_string()).collect();
            assert_eq!(addrs, (1..=8).map(|i| format!("198.18.8.{i}")).collect::<Vec<_>>());
            let response =
                client::udp(&pair.client, server, &client::query_message("www.example.com.", RecordType::AAAA, false));
            assert_eq!(response.answers.len(), 2);
        }
    }
    assert_eq!(daemon.xdp_counter("answered_v4") + daemon.xdp_counter("answered_v6"), 80, "every one answered in XDP");
    assert_eq!(daemon.xdp_counter("pass_too_big"), 0);
    assert_eq!(daemon.userspace_counter("udp"), 0);

    // Eight AAAA records (224 bytes more) may fit neither end on veth; whichever path has room answers.
    let server = SocketAddr::new(pair.server_v4.into(), 53);
    let response =
        client::udp(&pair.client, server, &client::query_message("eight.example.com.", RecordType::AAAA, false));
    assert_eq!(response.answers.len(), 8, "answered, by whichever path has room");
}

#[test]
fn a_burst_from_several_sockets_is_answered_in_full_by_userspace() {
    if !have_root("a_burst_from_several_sockets_is_answered_in_full_by_userspace") {
        return;
    }
    const SOCKETS: usize = 4;
    const PER_SOCKET: usize = 16;
    let pair = Pair::new(6);
    let (_, toml) = common::basic_config(&pair, "off");
    let daemon = Daemon::start(&pair.server, &toml);
    let server = SocketAddr::new(pair.server_v4.into(), 53);
    // One query first, so that neighbour discovery does not hold up the burst.
    client::udp(&pair.client, server, &client::query_message("www.example.com.", RecordType::A, false));

    // Every query of every socket goes out before any answer is read: the server takes them
    // in batches and answers each batch in one call, and every answer must reach its own
    // socket with its own id and question.
    let names = ["www.example.com.", "example.com."];
    let replies = pair.client.enter(move || {
        let sockets: Vec<std::net::UdpSocket> = (0..SOCKETS)
            .map(|_| {
                let s = std::net::UdpSocket::bind("0.0.0.0:0").expect("bind");
                s.set_read_timeout(Some(std::time::Duration::from_secs(3))).unwrap();
                s
            })
            .collect();
        for (s, socket) in sockets.iter().enumerate() {
            for q in 0..PER_SOCKET {
                let mut query = client::query_message(names[q % 2], RecordType::A, false);
                query.metadata.id = (s * PER_SOCKET + q) as u16;
                socket.send_to(&query.to_vec().unwrap(), server).expect("send");
            }
        }
        let mut replies = Vec::new();
        let mut buf = [0u8; 4096];
        for (s, socket) in sockets.iter().enumerate() {
            for _ in 0..PER_SOCKET {
                let Ok(len) = socket.recv(&mut buf) else { break };
                replies.push((s, Message::from_vec(&buf[..len]).expect("a parsable response")));
            }
        }
        replies
    });

    assert_eq!(replies.len(), SOCKETS * PER_SOCKET, "every query answered");
    let mut ids: Vec<u16> = replies.iter().map(|(_, m)| m.metadata.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), SOCKETS * PER_SOCKET, "each id once");
    for (socket, reply) in &replies {
        let id = reply.metadata.id as usize;
        let (asker, q) = (id / PER_SOCKET, id % PER_SOCKET);
        assert_eq!(asker, *socket, "answer {id} came back to the socket that asked");
        assert_eq!(reply.queries[0].name().to_string(), names[q % 2], "question of query {id}");
        // www has two addresses; the apex has none (NODATA).
        let expected = if q.is_multiple_of(2) { vec!["198.18.10.1", "198.18.20.1"] } else { vec![] };
        let addrs: Vec<String> = reply.answers.iter().map(|r| r.data.to_string()).collect();
        assert_eq!(addrs, expected, "answer of query {id}");
        assert_eq!(reply.metadata.response_code.to_string(), "No Error");
    }
    assert_eq!(daemon.userspace_counter("udp"), (SOCKETS * PER_SOCKET + 1) as u64);
}
