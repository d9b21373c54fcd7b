//! Changing a running server: restarts that lose no query (the new daemon takes the sockets,
//! the pinned maps and the attached XDP program over from the old one, or swaps its own
//! program in when the maps differ), and a killed daemon
//! whose answers stop once its liveness stamp is stale; overrides a successor's config has no
//! place for are dropped for good.

mod common;

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use hickory_proto::{
    op::{Message, ResponseCode},
    rr::RecordType,
};
use switchyard_tests::{
    client,
    daemon::Daemon,
    privileges::have_root,
    query_loop::{Kind, QueryLoop},
    topology::Pair,
};

const A: [&str; 2] = ["198.18.10.1", "198.18.20.1"];
const AAAA: [&str; 2] = ["fd00:10::1", "fd00:20::1"];

fn check(kind: Kind, message: &Message) -> Result<(), String> {
    let addrs: Vec<String> = message.answers.iter().map(|r| r.data.to_string()).collect();
    let (code, expected) = match kind {
        Kind::A | Kind::Tcp => (ResponseCode::NoError, &A[..]),
        Kind::Aaaa => (ResponseCode::NoError, &AAAA[..]),
        Kind::Missing => (ResponseCode::NXDomain, &[][..]),
    };
    if message.metadata.response_code == code && addrs == expected {
        Ok(())
    } else {
        Err(format!("{:?} {addrs:?}", message.metadata.response_code))
    }
}

/// The id of the XDP program on the server's interface.
fn program_id(pair: &Pair) -> String {
    let out = pair.server.output("ip", &["-d", "link", "show", &pair.server_if]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let id = text.split("prog/xdp id ").nth(1).and_then(|rest| rest.split_whitespace().next());
    id.unwrap_or_else(|| panic!("no XDP program on {}: {text}", pair.server_if)).to_string()
}

#[test]
fn restarts_lose_no_query() {
    if !have_root("restarts_lose_no_query") {
        return;
    }
    let pair = Pair::new(71);
    let (_, toml) = common::basic_config(&pair, "native");
    let mut daemon = Daemon::start(&pair.server, &toml);
    let program = program_id(&pair);
    let server = SocketAddr::new(pair.server_v4.into(), 53);
    client::udp(&pair.client, server, &client::query_message("www.example.com.", RecordType::A, false));

    let queries = QueryLoop::start(&pair.client, server, "www.example.com.", "missing.example.com.", check);
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(300));
        // Started beside the running one, the new daemon takes its sockets and lets it go.
        let successor = Daemon::start(&pair.server, &toml);
        let status = daemon.replaced();
        assert!(status.success(), "the replaced daemon exits cleanly: {status}");
        assert!(successor.log().contains("taking over from the running daemon"), "{}", successor.log());
        daemon = successor;
    }
    assert_eq!(program_id(&pair), program, "the same program stayed attached throughout");

    // A successor whose answer map has another size, like an upgrade whose object differs:
    // its program is swapped in place (BPF_LINK_UPDATE), the interface never without one.
    std::thread::sleep(Duration::from_millis(300));
    let upgraded = toml.replace("mode = \"native\"", "mode = \"native\"\nmax_entries = 4096");
    let successor = Daemon::start(&pair.server, &upgraded);
    assert!(daemon.replaced().success());
    daemon = successor;
    std::thread::sleep(Duration::from_millis(300));
    let tally = queries.finish();
    eprintln!("{} queries over 4 restarts: {} lost, {} wrong", tally.sent, tally.lost, tally.wrong);
    assert!(tally.sent > 400, "the loop ran: {tally:?}");
    assert_eq!((tally.lost, tally.wrong), (0, 0), "{:?}\n{}", tally.problems, daemon.log());
    assert_ne!(program_id(&pair), program, "the new program replaced the old one\n{}", daemon.log());
    assert!(daemon.log().contains("Replaced"), "{}", daemon.log());
    assert!(daemon.userspace_counter("tcp") > 0 && daemon.xdp_counter("answered_v4") > 0);
}

#[test]
fn an_override_a_successor_has_no_place_for_is_dropped_for_good() {
    if !have_root("an_override_a_successor_has_no_place_for_is_dropped_for_good") {
        return;
    }
    let pair = Pair::new(68);
    let (_, toml) = common::basic_config(&pair, "off");
    let with_api = toml.clone() + "\n[[service]]\nname = \"api.example.com.\"\na = [\"198.18.12.1\"]\n";
    let daemon = Daemon::start(&pair.server, &with_api);
    daemon.cli(&["map", "set", "api.example.com", "A", "192.0.2.7"]);
    let server = SocketAddr::new(pair.server_v4.into(), 53);
    let api = || {
        let answer =
            client::udp(&pair.client, server, &client::query_message("api.example.com.", RecordType::A, false));
        answer.answers.iter().map(|r| r.data.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(api(), ["192.0.2.7"]);

    // A successor whose config lacks the service drops the override, from the state file too.
    let successor = Daemon::start(&pair.server, &toml);
    assert!(daemon.replaced().success());
    assert!(successor.log().contains("override dropped: the config has no place for it"), "{}", successor.log());
    // The service back: answered as configured, not with the old override.
    let again = Daemon::start(&pair.server, &with_api);
    assert!(successor.replaced().success());
    assert_eq!(api(), ["198.18.12.1"], "{}", again.log());
}

/// A successor that cannot have a socket its config asks for (here the metrics port, taken
/// by another program) exits before it lets the running daemon go: that one keeps serving,
/// through XDP and its admin socket, and no query is lost.
#[test]
fn a_successor_that_cannot_start_leaves_the_running_daemon_serving() {
    if !have_root("a_successor_that_cannot_start_leaves_the_running_daemon_serving") {
        return;
    }
    let pair = Pair::new(79);
    let (_, toml) = common::basic_config(&pair, "native");
    let daemon = Daemon::start(&pair.server, &toml);
    let server = SocketAddr::new(pair.server_v4.into(), 53);
    let taken = SocketAddr::new(pair.server_v4.into(), 9153);
    let _holder = pair.server.enter(move || std::net::TcpListener::bind(taken).expect("a listener holds the port"));
    let queries = QueryLoop::start(&pair.client, server, "www.example.com.", "missing.example.com.", check);
    std::thread::sleep(Duration::from_millis(300));

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("successor.toml");
    std::fs::write(&config, toml.replace("dns_port = 53", &format!("dns_port = 53\nmetrics = \"{taken}\""))).unwrap();
    let out = pair
        .server
        .command(switchyard_tests::daemon::binary().to_str().unwrap())
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the successor cannot bind {taken}: {said}");
    assert!(said.contains(&taken.to_string()) && said.contains("in use"), "names the address: {said}");
    assert!(!said.contains("the replaced daemon stopped"), "{said}");

    std::thread::sleep(Duration::from_millis(300));
    let tally = queries.finish();
    assert!(tally.sent > 50, "the loop ran: {tally:?}");
    assert_eq!((tally.lost, tally.wrong), (0, 0), "{:?}\n{}", tally.problems, daemon.log());
    assert!(daemon.stats()["userspace"]["tcp"].as_u64().unwrap() > 0, "the admin socket answers");
    let before = daemon.xdp_counter("answered_v4");
    client::udp(&pair.client, server, &client::query_message("www.example.com.", RecordType::A, false));
    assert!(daemon.xdp_counter("answered_v4") > before, "XDP still answers\n{}", daemon.log());
}

#[test]
fn a_killed_daemon_stops_answering_once_its_stamp_is_stale() {
    if !have_root("a_killed_daemon_stops_answering_once_its_stamp_is_stale") {
        return;
    }
    let pair = Pair::new(72);
    let (_, toml) = common::basic_config(&pair, "native");
    let toml = toml.replace("mode = \"native\"", "mode = \"native\"\nstale_after_ms = 600");
    let daemon = Daemon::start(&pair.server, &toml);
    let pin_dir = daemon.pin_dir();
    let server = SocketAddr::new(pair.server_v4.into(), 53);
    let www = client::query_message("www.example.com.", RecordType::A, false);
    client::udp(&pair.client, server, &www);

    // SAFETY: signalling the daemon we started, by PID.
    unsafe { libc::kill(daemon.pid() as i32, libc::SIGKILL) };
    let killed = Instant::now();
    let answered = |query: &Message| {
        let bytes = query.to_vec().unwrap();
        pair.client.enter(move || {
            let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
            socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
            socket.send_to(&bytes, server).unwrap();
            socket.recv(&mut [0u8; 512]).is_ok()
        })
    };
    assert!(answered(&www), "XDP answers for a while after the daemon died");
    let mut silent_after = None;
    while killed.elapsed() < Duration::from_secs(5) {
        if !answered(&www) {
            silent_after = Some(killed.elapsed());
            break;
        }
    }
    let silent_after = silent_after.expect("XDP still answered 5 s after the daemon died");
    eprintln!("XDP stopped answering {silent_after:?} after SIGKILL (stale_after 600 ms)");
    assert!(silent_after >= Duration::from_millis(400), "stale only after stale_after: {silent_after:?}");
    let counters = switchyard::bpf::counters::read(&pin_dir).expect("pinned counters");
    let stale = counters.iter().find(|(name, _)| *name == "pass_stale").map(|(_, n)| *n).unwrap_or(0);
    assert!(stale >= 1, "passed as stale and counted: {counters:?}");

    // A new daemon takes the leftovers over and answers at once.
    let _ = daemon.stop();
    let daemon = Daemon::start(&pair.server, &toml);
    assert!(daemon.log().contains("maps of an earlier daemon adopted"), "{}", daemon.log());
    assert!(answered(&www), "answered again\n{}", daemon.log());
}
