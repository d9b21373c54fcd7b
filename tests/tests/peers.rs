//! Peer heartbeats end to end: a DNS server per site, each in its own namespace, joined by
//! veths. Each serves www from every site, where the other sites are `remote = true` and known
//! only from their DNS servers' heartbeats (period 100 ms, N = 3).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use switchyard_tests::{
    answers::Question,
    bench::watch::Watcher,
    capture,
    daemon::Daemon,
    lab::http::request_in,
    link,
    netns::Netns,
    peer_sites::{A, B, C, LIVE_PERIODS, PERIOD_MS, config},
    privileges::have_root,
    topology::Pair,
};

/// Heartbeat link between the two DNS servers: a is .1, b is .2.
const LINK_SUBNET: u8 = 34;

fn key_file(dir: &Path, name: &str, secret: &str) -> PathBuf {
    switchyard_tests::key_file::write(dir, name, secret).unwrap()
}

struct Lab {
    pair: Pair,
    site_b: Netns,
    keys: tempfile::TempDir,
}

impl Lab {
    fn new(subnet: u8) -> Lab {
        let pair = Pair::new(subnet);
        let site_b = Netns::new("syb");
        link::join(&pair.server, &site_b, LINK_SUBNET);
        Lab { pair, site_b, keys: tempfile::tempdir().unwrap() }
    }

    fn start_a(&self, key: &Path) -> Daemon {
        let peers = [("b", format!("198.18.{LINK_SUBNET}.2"))];
        Daemon::start(&self.pair.server, &config("a", &peers, key, Some(&self.pair.server_if)))
    }

    fn start_b(&self, key: &Path) -> Daemon {
        Daemon::start(&self.site_b, &config("b", &[("a", format!("198.18.{LINK_SUBNET}.1"))], key, None))
    }

    fn www_from_a(&self) -> Question<'_> {
        Question {
            client: &self.pair.client,
            server: self.pair.server_v4.to_string(),
            name: "www.example.com",
            qtype: "A",
            source: None,
        }
    }
}

fn peer_b(daemon_a: &Daemon) -> serde_json::Value {
    let status: serde_json::Value = serde_json::from_str(&daemon_a.cli(&["status", "--json"])).unwrap();
    status["peers"]["peers"][0].clone()
}

#[test]
fn a_dead_peer_site_leaves_the_answers_and_comes_back() {
    if !have_root("a_dead_peer_site_leaves_the_answers_and_comes_back") {
        return;
    }
    let lab = Lab::new(32);
    let key = key_file(lab.keys.path(), "peer.key", "shared-peer-key-0123456789abcdef");
    let daemon_a = lab.start_a(&key);
    let www = lab.www_from_a();
    www.wait_for(&[A], Duration::from_secs(2), || daemon_a.log());

    let daemon_b = lab.start_b(&key);
    www.wait_for(&[A, B], Duration::from_secs(3), || daemon_a.log());
    assert_eq!(peer_b(&daemon_a)["alive"], true);

    drop(daemon_b);
    let took = www.wait_for(&[A], Duration::from_secs(2), || daemon_a.log());
    // Liveness needs a heartbeat in each of the last N periods: silence shows within N+1
    // periods; the slack covers scheduling and dig's round trips on a busy machine.
    let bound = Duration::from_millis((LIVE_PERIODS + 1) * PERIOD_MS + 600);
    assert!(took <= bound, "site b left the answers only {took:?} after its DNS server stopped");
    eprintln!("site b left the answers {took:?} after its DNS server stopped");
    assert_eq!(peer_b(&daemon_a)["alive"], false);

    let _daemon_b = lab.start_b(&key);
    www.wait_for(&[A, B], Duration::from_secs(3), || daemon_a.log());
}

#[test]
fn heartbeats_with_a_wrong_key_are_ignored() {
    if !have_root("heartbeats_with_a_wrong_key_are_ignored") {
        return;
    }
    let lab = Lab::new(33);
    let key = key_file(lab.keys.path(), "peer.key", "shared-peer-key-0123456789abcdef");
    let wrong = key_file(lab.keys.path(), "wrong.key", "not-the-shared-key-0123456789abc");
    let daemon_a = lab.start_a(&key);
    let _daemon_b = lab.start_b(&wrong);

    // Wait until a has rejected several of b's heartbeats, then check nothing came of them.
    let deadline = Instant::now() + Duration::from_secs(3);
    let status = loop {
        let status: serde_json::Value = serde_json::from_str(&daemon_a.cli(&["status", "--json"])).unwrap();
        if status["peers"]["drops"]["unknown_key"].as_u64().unwrap_or(0) >= 5 {
            break status;
        }
        assert!(Instant::now() < deadline, "no rejected heartbeats counted: {status}\n{}", daemon_a.log());
        std::thread::sleep(Duration::from_millis(50));
    };
    let b = &status["peers"]["peers"][0];
    assert_eq!((b["alive"].as_bool(), b["heartbeats_accepted"].as_u64()), (Some(false), Some(0)), "{status}");
    assert_eq!(lab.www_from_a().ask(), Some(vec![A.to_string()]), "site b stays unavailable");
    let site_b = status["sites"].as_array().unwrap().iter().find(|s| s["name"] == "b").unwrap();
    assert_eq!(site_b["state"]["available"], false);
}

#[test]
fn three_sites_each_see_the_others_come_and_go() {
    if !have_root("three_sites_each_see_the_others_come_and_go") {
        return;
    }
    let lab = Lab::new(35);
    let site_c = Netns::new("syc3");
    // a = .1 and b = .2 on the existing link; c joins a on .36 and b on .37.
    link::join_with(&lab.pair.server, &site_c, 36, 1, 3);
    link::join_with(&lab.site_b, &site_c, 37, 2, 3);
    let key = key_file(lab.keys.path(), "peer.key", "shared-peer-key-0123456789abcdef");
    let peers_of_a = [("b", format!("198.18.{LINK_SUBNET}.2")), ("c", "198.18.36.3".to_string())];
    let peers_of_b = [("a", format!("198.18.{LINK_SUBNET}.1")), ("c", "198.18.37.3".to_string())];
    let peers_of_c = [("a", "198.18.36.1".to_string()), ("b", "198.18.37.2".to_string())];
    let daemon_a = Daemon::start(&lab.pair.server, &config("a", &peers_of_a, &key, Some(&lab.pair.server_if)));
    let _daemon_b = Daemon::start(&lab.site_b, &config("b", &peers_of_b, &key, None));
    let start_c = || Daemon::start(&site_c, &config("c", &peers_of_c, &key, None));
    let daemon_c = start_c();
    let www = lab.www_from_a();
    www.wait_for(&[A, B, C], Duration::from_secs(3), || daemon_a.log());

    drop(daemon_c);
    www.wait_for(&[A, B], Duration::from_secs(2), || daemon_a.log());
    let _daemon_c = start_c();
    www.wait_for(&[A, B, C], Duration::from_secs(3), || daemon_a.log());
}

#[test]
fn restarted_dns_servers_are_never_dropped_by_the_other_site() {
    if !have_root("restarted_dns_servers_are_never_dropped_by_the_other_site") {
        return;
    }
    let lab = Lab::new(38);
    let key = key_file(lab.keys.path(), "peer.key", "shared-peer-key-0123456789abcdef");
    // A period longer than a restart takes on a busy two-core machine (a daemon's start costs
    // about 100 ms of CPU there, while both daemons, the other site's and the clients run).
    let slower = |toml: String| toml.replace(&format!("period_ms = {PERIOD_MS}"), "period_ms = 300");
    let peers_of_a = [("b", format!("198.18.{LINK_SUBNET}.2"))];
    let peers_of_b = [("a", format!("198.18.{LINK_SUBNET}.1"))];
    let config_a = slower(config("a", &peers_of_a, &key, Some(&lab.pair.server_if)));
    let config_b = slower(config("b", &peers_of_b, &key, None));
    let mut daemon_a = Daemon::start(&lab.pair.server, &config_a);
    let mut daemon_b = Daemon::start(&lab.site_b, &config_b);
    let at_a = SocketAddr::new(lab.pair.server_v4.into(), 53);
    let at_b = SocketAddr::new([127, 0, 0, 1].into(), 53);
    lab.www_from_a().wait_for(&[A, B], Duration::from_secs(3), || daemon_a.log());
    Question { client: &lab.site_b, server: "127.0.0.1".into(), name: "www.example.com", qtype: "A", source: None }
        .wait_for(&[A, B], Duration::from_secs(3), || daemon_b.log());

    for round in 0..2 {
        // Each restart is a new daemon taking over from the running one: the other site's
        // server keeps answering with both sites, and so does the restarted one.
        let (watched, successor) = std::thread::scope(|s| {
            let watch_b = s.spawn(|| watch(&lab.site_b, at_b));
            let watch_a = s.spawn(|| watch(&lab.pair.client, at_a));
            std::thread::sleep(Duration::from_millis(300));
            let successor = Daemon::start(&lab.pair.server, &config_a);
            ((watch_b.join().unwrap(), watch_a.join().unwrap()), successor)
        });
        assert!(std::mem::replace(&mut daemon_a, successor).replaced().success());
        assert_eq!(
            watched,
            (vec![], vec![]),
            "round {round}, a restarted: (at b, at a)\n{}\n{}",
            daemon_b.log(),
            daemon_a.log()
        );
        let (watched, successor) = std::thread::scope(|s| {
            let watch_a = s.spawn(|| watch(&lab.pair.client, at_a));
            std::thread::sleep(Duration::from_millis(300));
            let successor = Daemon::start(&lab.site_b, &config_b);
            (watch_a.join().unwrap(), successor)
        });
        assert!(std::mem::replace(&mut daemon_b, successor).replaced().success());
        assert!(watched.is_empty(), "round {round}, b restarted: at a {watched:?}\n{}", daemon_a.log());
    }
    assert_eq!(peer_b(&daemon_a)["alive"], true);
}

/// Asks `server` from `ns` for 1.5 s; every answer that is not [A, B]. (Whether queries are
/// lost across a restart is `restart.rs`'s question; the watcher's timeout is short.)
fn watch(ns: &Netns, server: SocketAddr) -> Vec<Vec<String>> {
    let mut watcher = Watcher::new(ns, server, "www.example.com.");
    let started = Instant::now();
    let mut odd = Vec::new();
    while started.elapsed() < Duration::from_millis(1500) {
        if let Some(answer) = watcher.ask()
            && answer != [A, B]
        {
            odd.push(answer);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    odd
}

#[test]
fn peers_and_keys_change_by_reload() {
    if !have_root("peers_and_keys_change_by_reload") {
        return;
    }
    let lab = Lab::new(39);
    let site_c = Netns::new("syc4");
    link::join_with(&lab.pair.server, &site_c, 40, 1, 3);
    let key = key_file(lab.keys.path(), "peer.key", "shared-peer-key-0123456789abcdef");
    let new_key = key_file(lab.keys.path(), "new.key", "the-next-peer-key-0123456789abcd");
    let b_of_a = ("b", format!("198.18.{LINK_SUBNET}.2"));
    // Periods long enough not to be missed while three daemons start on two cores.
    let slower = |toml: String| toml.replace(&format!("period_ms = {PERIOD_MS}"), "period_ms = 300");
    let daemon_a = Daemon::start(
        &lab.pair.server,
        &slower(config("a", std::slice::from_ref(&b_of_a), &key, Some(&lab.pair.server_if))),
    );
    let daemon_b =
        Daemon::start(&lab.site_b, &slower(config("b", &[("a", format!("198.18.{LINK_SUBNET}.1"))], &key, None)));
    let _daemon_c = Daemon::start(&site_c, &slower(config("c", &[("a", "198.18.40.1".to_string())], &key, None)));
    let www = lab.www_from_a();
    www.wait_for(&[A, B], Duration::from_secs(5), || daemon_a.log());

    // A peer (and its remote site) added by reload: its site joins a's answers.
    let running = std::fs::read_to_string(&daemon_a.config).unwrap();
    let instance = running.lines().find(|l| l.starts_with("instance = ")).unwrap().to_string();
    let with_c = slower(config("a", &[b_of_a, ("c", "198.18.40.3".to_string())], &key, Some(&lab.pair.server_if)));
    let with_c: String =
        with_c.lines().map(|l| if l.starts_with("instance = ") { &instance } else { l }).collect::<Vec<_>>().join("\n");
    std::fs::write(&daemon_a.config, &with_c).unwrap();
    let said = daemon_a.cli(&["reload"]);
    assert!(said.contains("peers +1 -0 ~0"), "{said}");
    www.wait_for(&[A, B, C], Duration::from_secs(5), || daemon_a.log());

    // Rekeyed one site at a time: a first, while b still has only the old key; a keeps signing
    // with the old key during the rotation window, so neither drops the other.
    let with_new_key = |toml: &str| toml.replace(&key.display().to_string(), &new_key.display().to_string());
    std::fs::write(&daemon_a.config, with_new_key(&with_c)).unwrap();
    daemon_a.cli(&["reload"]);
    let at_b =
        Question { client: &lab.site_b, server: "127.0.0.1".into(), name: "www.example.com", qtype: "A", source: None };
    let b_config = std::fs::read_to_string(&daemon_b.config).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(www.ask(), Some(vec![A.to_string(), B.to_string(), C.to_string()]), "{}", daemon_a.log());
    assert_eq!(at_b.ask(), Some(vec![A.to_string(), B.to_string()]), "{}\n{}", daemon_b.log(), daemon_a.log());
    std::fs::write(&daemon_b.config, with_new_key(&b_config)).unwrap();
    daemon_b.cli(&["reload"]);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(at_b.ask(), Some(vec![A.to_string(), B.to_string()]), "{}", daemon_b.log());
    let status: serde_json::Value = serde_json::from_str(&daemon_a.cli(&["status", "--json"])).unwrap();
    let ids = status["peers"]["key_ids"].as_array().unwrap().len();
    assert_eq!(ids, 2, "the old key signs and both verify during the window: {status}");
    assert_eq!(peer_b(&daemon_a)["alive"], true);
}

#[test]
fn heartbeat_settings_change_by_reload_without_a_withdrawal() {
    if !have_root("heartbeat_settings_change_by_reload_without_a_withdrawal") {
        return;
    }
    let lab = Lab::new(47);
    let key = key_file(lab.keys.path(), "peer.key", "shared-peer-key-0123456789abcdef");
    let slower = |toml: String| toml.replace(&format!("period_ms = {PERIOD_MS}"), "period_ms = 300");
    let config_a = slower(config("a", &[("b", format!("198.18.{LINK_SUBNET}.2"))], &key, Some(&lab.pair.server_if)));
    let config_b = slower(config("b", &[("a", format!("198.18.{LINK_SUBNET}.1"))], &key, None));
    let daemon_a = Daemon::start(&lab.pair.server, &config_a);
    let daemon_b = Daemon::start(&lab.site_b, &config_b);
    let at_a = SocketAddr::new(lab.pair.server_v4.into(), 53);
    let at_b = SocketAddr::new([127, 0, 0, 1].into(), 53);
    let www_at_b =
        Question { client: &lab.site_b, server: "127.0.0.1".into(), name: "www.example.com", qtype: "A", source: None };
    lab.www_from_a().wait_for(&[A, B], Duration::from_secs(3), || daemon_a.log());
    www_at_b.wait_for(&[A, B], Duration::from_secs(3), || daemon_b.log());
    let status =
        |daemon: &Daemon| -> serde_json::Value { serde_json::from_str(&daemon.cli(&["status", "--json"])).unwrap() };
    let boot_before = status(&daemon_a)["peers"]["boot_id"].clone();

    // Another N at a: its peer service starts again from what it knew, and neither server
    // answers without the other site meanwhile.
    let longer = config_a.replace(&format!("live_periods = {LIVE_PERIODS}"), "live_periods = 4");
    assert_ne!(longer, config_a);
    let watched = std::thread::scope(|s| {
        let watch_b = s.spawn(|| watch(&lab.site_b, at_b));
        let watch_a = s.spawn(|| watch(&lab.pair.client, at_a));
        std::thread::sleep(Duration::from_millis(300));
        std::fs::write(&daemon_a.config, &longer).unwrap();
        let said = daemon_a.cli(&["reload"]);
        assert!(said.contains("peer service restarted"), "{said}");
        (watch_b.join().unwrap(), watch_a.join().unwrap())
    });
    assert_eq!(watched, (vec![], vec![]), "(at b, at a)\n{}\n{}", daemon_b.log(), daemon_a.log());
    let now = status(&daemon_a);
    assert_eq!(now["peers"]["live_periods"].as_u64(), Some(4));
    assert_ne!(now["peers"]["boot_id"], boot_before, "a new peer service runs");
    assert_eq!(peer_b(&daemon_a)["alive"], true);
    // b heard a in every period throughout: the new service's heartbeats, twice per period,
    // fill each of b's periods whatever their phase against b's clock.
    assert_eq!(status(&daemon_b)["peers"]["peers"][0]["alive"], true, "{}", daemon_b.log());

    // A new period at both sites (each must hear the other once per period): both go on.
    let faster = |toml: &str| toml.replace("period_ms = 300", "period_ms = 200");
    std::fs::write(&daemon_a.config, faster(&longer)).unwrap();
    daemon_a.cli(&["reload"]);
    std::fs::write(&daemon_b.config, faster(&std::fs::read_to_string(&daemon_b.config).unwrap())).unwrap();
    daemon_b.cli(&["reload"]);
    assert_eq!(status(&daemon_a)["peers"]["period_ms"].as_u64(), Some(200));
    assert_eq!(status(&daemon_b)["peers"]["period_ms"].as_u64(), Some(200));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(lab.www_from_a().ask(), Some(vec![A.to_string(), B.to_string()]), "{}", daemon_a.log());
    assert_eq!(www_at_b.ask(), Some(vec![A.to_string(), B.to_string()]), "{}", daemon_b.log());

    // Another heartbeat port at both sites: the new socket is bound, the old one closed.
    let moved = |daemon: &Daemon| {
        let text = std::fs::read_to_string(&daemon.config).unwrap().replace(":5300", ":5301");
        std::fs::write(&daemon.config, text).unwrap();
        let said = daemon.cli(&["reload"]);
        assert!(said.contains("peer service restarted"), "{said}");
    };
    moved(&daemon_a);
    moved(&daemon_b);
    assert_eq!(status(&daemon_a)["peers"]["listen"], "0.0.0.0:5301");
    lab.www_from_a().wait_for(&[A, B], Duration::from_secs(3), || daemon_a.log());
    www_at_b.wait_for(&[A, B], Duration::from_secs(3), || daemon_b.log());
    let old_port_free = lab.pair.server.enter(|| std::net::UdpSocket::bind("0.0.0.0:5300").is_ok());
    assert!(old_port_free, "the old heartbeat socket is closed\n{}", daemon_a.log());

    // From the wildcard to one address on the same port, which the running socket holds:
    // bound as soon as that one closed.
    let one_address = format!("listen = \"198.18.{LINK_SUBNET}.1:5301\"");
    let text = std::fs::read_to_string(&daemon_a.config).unwrap().replace("listen = \"0.0.0.0:5301\"", &one_address);
    std::fs::write(&daemon_a.config, text).unwrap();
    let said = daemon_a.cli(&["reload"]);
    assert!(said.contains("peer service restarted"), "{said}");
    assert_eq!(status(&daemon_a)["peers"]["listen"], format!("198.18.{LINK_SUBNET}.1:5301"));
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(peer_b(&daemon_a)["alive"], true, "{}", daemon_a.log());
    assert_eq!(status(&daemon_b)["peers"]["peers"][0]["alive"], true, "{}", daemon_b.log());
    let longer = longer.replace("listen = \"0.0.0.0:5300\"", &one_address);

    // A period out of range is refused and the running service goes on.
    std::fs::write(&daemon_a.config, faster(&longer).replace("period_ms = 200", "period_ms = 1")).unwrap();
    let out = std::process::Command::new(switchyard_tests::daemon::binary())
        .args(["reload", "--config"])
        .arg(&daemon_a.config)
        .output()
        .unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("period_ms"), "{out:?}");
    std::fs::write(&daemon_a.config, faster(&longer)).unwrap();
    assert_eq!(status(&daemon_a)["peers"]["period_ms"].as_u64(), Some(200));
}

#[test]
fn the_peers_section_comes_and_goes_by_reload() {
    if !have_root("the_peers_section_comes_and_goes_by_reload") {
        return;
    }
    let lab = Lab::new(48);
    let key = key_file(lab.keys.path(), "peer.key", "shared-peer-key-0123456789abcdef");
    let (daemon_a, daemon_b) = (lab.start_a(&key), lab.start_b(&key));
    let www_at_b =
        Question { client: &lab.site_b, server: "127.0.0.1".into(), name: "www.example.com", qtype: "A", source: None };
    lab.www_from_a().wait_for(&[A, B], Duration::from_secs(3), || daemon_a.log());
    www_at_b.wait_for(&[A, B], Duration::from_secs(3), || daemon_b.log());
    let with_peers = std::fs::read_to_string(&daemon_a.config).unwrap();
    let reload_a = |text: &str| {
        std::fs::write(&daemon_a.config, text).unwrap();
        daemon_a.cli(&["reload"])
    };

    // a alone: no heartbeats, b's site gone from a's answers, and b withdraws a.
    // The same config without peers ends where its [peers] section starts; same instance.
    let alone = config("a", &[], &key, Some(&lab.pair.server_if));
    let instance = with_peers.lines().find(|l| l.starts_with("instance = ")).unwrap();
    let alone: String = alone[..alone.find("[peers]").unwrap()]
        .lines()
        .map(|l| if l.starts_with("instance = ") { instance } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    let said = reload_a(&alone);
    assert!(said.contains("peer service stopped"), "{said}");
    lab.www_from_a().wait_for(&[A], Duration::from_secs(3), || daemon_a.log());
    www_at_b.wait_for(&[B], Duration::from_secs(3), || daemon_b.log());
    let status: serde_json::Value = serde_json::from_str(&daemon_a.cli(&["status", "--json"])).unwrap();
    assert!(status["peers"].is_null(), "{status}");

    // [peers] back: both hear each other and answer with both sites again.
    let said = reload_a(&with_peers);
    assert!(said.contains("peer service started"), "{said}");
    lab.www_from_a().wait_for(&[A, B], Duration::from_secs(3), || daemon_a.log());
    www_at_b.wait_for(&[A, B], Duration::from_secs(3), || daemon_b.log());

    // Another node name: the peer service speaks under it.
    let said = reload_a(&with_peers.replace("node = \"dns-a1\"", "node = \"dns-a2\""));
    assert!(said.contains("peer service restarted"), "{said}");
    let status: serde_json::Value = serde_json::from_str(&daemon_a.cli(&["status", "--json"])).unwrap();
    assert_eq!(status["peers"]["node"], "dns-a2");

    // Site a renamed x at a (its [[site]] and services follow), then at b: both hear each
    // other under the new name.
    let renamed = |text: &str| text.replace("\"a\"", "\"x\"");
    let said = reload_a(&renamed(&with_peers));
    assert!(said.contains("peer service restarted") && !said.contains("sync"), "{said}");
    let b_config = std::fs::read_to_string(&daemon_b.config).unwrap();
    std::fs::write(&daemon_b.config, renamed(&b_config)).unwrap();
    daemon_b.cli(&["reload"]);
    let status: serde_json::Value = serde_json::from_str(&daemon_a.cli(&["status", "--json"])).unwrap();
    assert_eq!(status["peers"]["site"], "x");
    lab.www_from_a().wait_for(&[A, B], Duration::from_secs(3), || daemon_a.log());
    www_at_b.wait_for(&[A, B], Duration::from_secs(3), || daemon_b.log());
}

#[test]
fn heartbeats_captured_before_a_restart_are_refused_after_it() {
    if !have_root("heartbeats_captured_before_a_restart_are_refused_after_it") {
        return;
    }
    let lab = Lab::new(49);
    let key = key_file(lab.keys.path(), "peer.key", "shared-peer-key-0123456789abcdef");
    // A skew limit far above the test's length: what refuses the capture must be the start nonce.
    let lenient = |toml: String| {
        toml.replace(
            &format!("live_periods = {LIVE_PERIODS}"),
            &format!("live_periods = {LIVE_PERIODS}\nmax_skew_ms = 600000"),
        )
    };
    let a_peers = [("b", format!("198.18.{LINK_SUBNET}.2"))];
    let b_peers = [("a", format!("198.18.{LINK_SUBNET}.1"))];
    let b_config = lenient(config("b", &b_peers, &key, None)).replacen(
        "listen = [\"0.0.0.0\"]",
        "listen = [\"0.0.0.0\"]\nmetrics = \"127.0.0.1:9153\"",
        1,
    );
    let daemon_a = Daemon::start(&lab.pair.server, &lenient(config("a", &a_peers, &key, None)));
    let daemon_b = Daemon::start(&lab.site_b, &b_config);
    let peer_a = |daemon: &Daemon| -> serde_json::Value {
        let status: serde_json::Value = serde_json::from_str(&daemon.cli(&["status", "--json"])).unwrap();
        status["peers"]["peers"][0].clone()
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    while peer_a(&daemon_b)["alive"] != true {
        assert!(Instant::now() < deadline, "b never saw a alive: {}", daemon_b.log());
        std::thread::sleep(Duration::from_millis(50));
    }

    // What a sends b on the link, while b accepts it.
    let captured = capture::udp_payload(&lab.site_b, 5300, Duration::from_secs(2)).expect("a heartbeat from a to b");
    drop(daemon_a);
    drop(daemon_b);
    let daemon_b = Daemon::start(&lab.site_b, &b_config);

    // Replayed from a's address to the restarted b, a period apart.
    let target: SocketAddr = format!("198.18.{LINK_SUBNET}.2:5300").parse().unwrap();
    lab.pair.server.enter(|| {
        let socket = std::net::UdpSocket::bind(format!("198.18.{LINK_SUBNET}.1:0")).unwrap();
        for _ in 0..5 {
            socket.send_to(&captured, target).unwrap();
            std::thread::sleep(Duration::from_millis(PERIOD_MS));
        }
    });
    let a = peer_a(&daemon_b);
    let drops = &a["drops"];
    assert_eq!((a["alive"].as_bool(), a["heartbeats_accepted"].as_u64()), (Some(false), Some(0)), "{a}");
    // Authentic (not bad_mac), not stale: refused because it answers b's earlier start.
    assert_eq!(drops["other_start"], 1, "{a}");
    assert_eq!(drops["replayed"], 4, "the same capture again: {a}");
    assert_eq!((drops["bad_mac"].as_u64(), drops["stale"].as_u64()), (Some(0), Some(0)), "{a}");
    let table = daemon_b.cli(&["status"]);
    assert!(table.contains("other_start 1") && table.contains("replayed 4"), "every reason in the table: {table}");
    let (code, metrics) = request_in(&lab.site_b, "GET", "127.0.0.1:9153".parse().unwrap(), "/metrics").unwrap();
    assert_eq!(code, 200, "{metrics}");
    for line in [
        "switchyard_peer_datagrams_dropped_total{reason=\"other_start\"} 1",
        "switchyard_peer_datagrams_dropped_total{reason=\"replayed\"} 4",
        "switchyard_peer_datagrams_dropped_total{reason=\"bad_mac\"} 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in the metrics:\n{metrics}");
    }
    let status: serde_json::Value = serde_json::from_str(&daemon_b.cli(&["status", "--json"])).unwrap();
    let site_a = status["sites"].as_array().unwrap().iter().find(|s| s["name"] == "a").unwrap();
    assert_eq!(site_a["state"]["available"], false, "site a stays unavailable at b: {status}");
}
