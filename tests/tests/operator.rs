//! The operator surface against a running daemon: answer overrides (`map`), drains and weights
//! (`site`), reloads under load, metrics and counter rates.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream, UdpSocket},
    process::{Command, Output},
    time::Duration,
};

use hickory_proto::{
    op::{Message, ResponseCode},
    rr::{RData, RecordType},
};
use switchyard::config::fixture::ConfigText;
use switchyard_tests::{
    answers::Question,
    client,
    daemon::{self, Daemon},
    http_server::{Behavior, HttpServer},
    netns::unique,
    privileges::have_root,
    topology::Pair,
};

const A: &str = "198.18.10.1";
const B: &str = "198.18.20.1";
const SECOND: Duration = Duration::from_secs(1);

/// Two static sites behind www; `run_dir` keeps the state file across restarts.
fn config(pair: &Pair, instance: &str, run_dir: &std::path::Path, mode: &str, extra_server: &str) -> String {
    let run_dir = format!("run_dir = {:?}", run_dir.display().to_string());
    ConfigText::new()
        .server(instance, &[r#"listen = ["0.0.0.0"]"#, &run_dir, extra_server])
        .xdp(&pair.server_if, mode)
        .zone()
        .view("near-b", &["198.18.200.0/24"])
        .site("a", &[A], &["fd00:10::1"])
        .site("b", &[B], &["fd00:20::1"])
        .service("www.example.com.", 5, &["a", "b"])
        .line(r#"views = { near-b = ["b", "a"] }"#)
        .line("by_load = { margin_percent = 10, margin_abs = 50 }")
        .line("reorder_hold = 1")
        .build()
}

fn question<'a>(pair: &'a Pair, qtype: &'a str) -> Question<'a> {
    Question::www(pair, qtype)
}

/// `switchyard ARGS --config <config>` whatever its exit status.
fn cli_output(daemon: &Daemon, args: &[&str]) -> Output {
    Command::new(daemon::binary()).args(args).arg("--config").arg(&daemon.config).output().expect("switchyard cli")
}

fn tcp_addresses(pair: &Pair) -> Vec<String> {
    let query = client::query_message("www.example.com.", RecordType::A, false);
    let response = client::tcp(&pair.client, SocketAddr::new(pair.server_v4.into(), 53), &query);
    response.answers.iter().map(|r| r.data.to_string()).collect()
}

#[test]
fn map_override_serves_both_paths_and_survives_policy_changes_and_restart() {
    if !have_root("map_override_serves_both_paths_and_survives_policy_changes_and_restart") {
        return;
    }
    let pair = Pair::new(61);
    let run_dir = tempfile::tempdir().unwrap();
    let toml = config(&pair, &unique("op"), run_dir.path(), "native", "");
    let daemon = Daemon::start(&pair.server, &toml);
    let a = question(&pair, "A");
    a.wait_for(&[A, B], SECOND, || daemon.log());

    let before = daemon.xdp_counter("answered_v4");
    daemon.cli(&["map", "set", "www.example.com", "A", "192.0.2.7", "192.0.2.8", "--ttl", "9"]);
    assert_eq!(a.ask().unwrap(), ["192.0.2.7", "192.0.2.8"], "set returns once the answer is served");
    assert!(daemon.xdp_counter("answered_v4") > before, "the XDP path served the override");
    assert_eq!(tcp_addresses(&pair), ["192.0.2.7", "192.0.2.8"], "the userspace path serves it too");

    let listed: serde_json::Value = serde_json::from_str(&daemon.cli(&["map", "list", "--json"])).unwrap();
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "www.example.com." && e["qtype"] == "A" && e["view_id"] == 0)
        .unwrap();
    assert_eq!((entry["is_override"].as_bool(), entry["ttl"].as_u64()), (Some(true), Some(9)), "{listed}");
    let got = daemon.cli(&["map", "get", "www.example.com.", "A"]);
    assert!(got.contains("override") && got.contains("192.0.2.7 192.0.2.8"), "{got}");
    let near_b = daemon.cli(&["map", "get", "www.example.com", "A", "--view", "near-b", "--json"]);
    assert!(
        near_b.contains(B) && near_b.contains("\"is_override\":false"),
        "other views keep the policy's answer: {near_b}"
    );

    // A policy rewrite (a drained site) changes the other answers but not the override.
    daemon.cli(&["site", "drain", "b"]);
    question(&pair, "AAAA").wait_for(&["fd00:10::1"], SECOND, || daemon.log());
    assert_eq!(a.ask().unwrap(), ["192.0.2.7", "192.0.2.8"]);
    daemon.cli(&["site", "undrain", "b"]);

    // And a restart: the state file brings it back.
    daemon.end_keeping_operator_state();
    let daemon = Daemon::start(&pair.server, &toml);
    assert_eq!(a.ask().unwrap(), ["192.0.2.7", "192.0.2.8"], "the override survived the restart");
    assert_eq!(tcp_addresses(&pair), ["192.0.2.7", "192.0.2.8"]);

    daemon.cli(&["map", "del", "www.example.com", "A"]);
    assert_eq!(a.ask().unwrap(), [A, B], "del restores the policy's answer at once");
    assert_eq!(tcp_addresses(&pair), [A, B]);
    let bad = cli_output(&daemon, &["map", "set", "nope.example.com", "A", "192.0.2.1"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("not a configured [[service]]"));
    let wrong_family = cli_output(&daemon, &["map", "set", "www.example.com", "AAAA", "192.0.2.1"]);
    assert!(!wrong_family.status.success(), "an IPv4 address in an AAAA override is refused");

    // --all-views: one command overrides the default view and near-b, on both paths.
    pair.add_client_address("198.18.200.2/24");
    let near = Question { source: Some("198.18.200.2"), ..question(&pair, "A") };
    assert_eq!(near.ask().unwrap(), [B, A], "near-b clients get their own order first");
    let set = daemon.cli(&["map", "set", "www.example.com", "A", "192.0.2.9", "--all-views"]);
    assert!(set.contains("every view (default, near-b)"), "{set}");
    assert_eq!(a.ask().unwrap(), ["192.0.2.9"]);
    assert_eq!(near.ask().unwrap(), ["192.0.2.9"], "the near-b view is overridden too");
    let listed: serde_json::Value = serde_json::from_str(&daemon.cli(&["map", "list", "--json"])).unwrap();
    let overridden = listed.as_array().unwrap().iter().filter(|e| e["name"] == "www.example.com." && e["qtype"] == "A");
    assert_eq!(overridden.filter(|e| e["is_override"] == true).count(), 2, "{listed}");
    let both = cli_output(&daemon, &["map", "set", "www.example.com", "A", "192.0.2.9", "--all-views", "--view", "x"]);
    assert!(!both.status.success(), "--view and --all-views together are refused");
    daemon.cli(&["map", "del", "www.example.com", "A", "--all-views"]);
    assert_eq!(
        (a.ask().unwrap(), near.ask().unwrap()),
        (vec![A.to_string(), B.to_string()], vec![B.to_string(), A.to_string()])
    );
    let again = cli_output(&daemon, &["map", "del", "www.example.com", "A", "--all-views"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("no override for www.example.com. A in any view"));
}

#[test]
fn overrides_apply_to_userspace_with_xdp_off() {
    if !have_root("overrides_apply_to_userspace_with_xdp_off") {
        return;
    }
    let pair = Pair::new(62);
    let run_dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&pair.server, &config(&pair, &unique("op"), run_dir.path(), "off", ""));
    let a = question(&pair, "A");
    a.wait_for(&[A, B], SECOND, || daemon.log());
    daemon.cli(&["map", "set", "www.example.com", "A", "192.0.2.9"]);
    assert_eq!(a.ask().unwrap(), ["192.0.2.9"]);
    assert_eq!(tcp_addresses(&pair), ["192.0.2.9"]);
    let list = cli_output(&daemon, &["map", "list"]);
    let said = String::from_utf8_lossy(&list.stderr);
    assert!(!list.status.success() && said.contains("XDP is off for instance"), "says why there is no map: {said}");
    daemon.cli(&["map", "del", "www.example.com", "A"]);
    assert_eq!(a.ask().unwrap(), [A, B]);
    // A refused change asked for as JSON fails as JSON on stdout too, for scripts.
    let refused = cli_output(&daemon, &["map", "set", "nosuch.example.com", "A", "192.0.2.9", "--json"]);
    let said: serde_json::Value = serde_json::from_slice(&refused.stdout).expect("JSON on stdout");
    assert!(!refused.status.success() && said["ok"] == false, "{said}");
    assert!(said["error"].as_str().is_some_and(|e| e.contains("nosuch.example.com")), "{said}");

    // An override whose service a reload removes is dropped with a log line: when the service
    // comes back, it answers as configured, not with the old override.
    let toml = std::fs::read_to_string(&daemon.config).unwrap();
    let with_api = toml.clone() + "\n[[service]]\nname = \"api.example.com.\"\na = [\"198.18.12.1\"]\n";
    std::fs::write(&daemon.config, &with_api).unwrap();
    daemon.cli(&["reload"]);
    daemon.cli(&["map", "set", "api.example.com", "A", "192.0.2.7"]);
    let api = Question { name: "api.example.com", ..question(&pair, "A") };
    assert_eq!(api.ask().unwrap(), ["192.0.2.7"]);
    std::fs::write(&daemon.config, &toml).unwrap();
    let said = daemon.cli(&["reload"]);
    assert!(
        said.contains("overrides dropped (no service or view for them now): api.example.com. A (view default)"),
        "the reload says what it dropped: {said}"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while !daemon.log().contains("override dropped") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(daemon.log().contains("override dropped"), "{}", daemon.log());
    let again = cli_output(&daemon, &["map", "del", "api.example.com", "A"]);
    assert!(!again.status.success(), "gone: {}", String::from_utf8_lossy(&again.stdout));
    std::fs::write(&daemon.config, &with_api).unwrap();
    daemon.cli(&["reload"]);
    api.wait_for(&["198.18.12.1"], SECOND, || daemon.log());
    std::fs::write(&daemon.config, &toml).unwrap();
    daemon.cli(&["reload"]);

    let stats = cli_output(&daemon, &["stats"]);
    let stdout = String::from_utf8_lossy(&stats.stdout);
    assert!(stats.status.success(), "no XDP counters to read with XDP off: {stdout}");
    assert!(stdout.contains("XDP: off (userspace answers every query)") && stdout.contains("userspace"), "{stdout}");
    let status = daemon.cli(&["status"]);
    assert!(status.contains("xdp        off: userspace answers every query"), "{status}");
    let log = daemon.log();
    assert!(log.contains(" ready ") && !log.contains('\u{1b}'), "plain text, no colour codes, on a pipe:\n{log}");
}

#[test]
fn drain_takes_effect_within_a_second_and_survives_restart() {
    if !have_root("drain_takes_effect_within_a_second_and_survives_restart") {
        return;
    }
    let pair = Pair::new(63);
    let run_dir = tempfile::tempdir().unwrap();
    let toml = config(&pair, &unique("op"), run_dir.path(), "native", "");
    let daemon = Daemon::start(&pair.server, &toml);
    let a = question(&pair, "A");
    a.wait_for(&[A, B], SECOND, || daemon.log());

    daemon.cli(&["site", "drain", "a"]);
    a.wait_for(&[B], SECOND, || daemon.log());
    let status: serde_json::Value = serde_json::from_str(&daemon.cli(&["status", "--json"])).unwrap();
    assert_eq!(status["site_settings"]["a"]["drained"], true, "{status}");
    let table = daemon.cli(&["status"]);
    let row = table.lines().find(|l| l.starts_with("a ")).unwrap_or_default();
    assert_eq!(row.split_whitespace().nth(1), Some("drained"), "the state answers follow: {table}");
    daemon.cli(&["site", "undrain", "a"]);
    a.wait_for(&[A, B], SECOND, || daemon.log());

    // Weight feeds load ordering: a at weight 0 looks fully loaded, so b goes first.
    daemon.cli(&["site", "weight", "a", "0"]);
    a.wait_for(&[B, A], Duration::from_secs(3), || daemon.log());
    let status: serde_json::Value = serde_json::from_str(&daemon.cli(&["status", "--json"])).unwrap();
    assert_eq!(status["site_settings"]["a"]["weight"], 0, "{status}");
    // Orders change only when one site is clearly less loaded, so equal weights keep [b, a].
    daemon.cli(&["site", "weight", "a", "100"]);
    daemon.cli(&["site", "weight", "b", "0"]);
    a.wait_for(&[A, B], Duration::from_secs(3), || daemon.log());
    daemon.cli(&["site", "weight", "b", "100"]);

    daemon.cli(&["site", "drain", "b"]);
    a.wait_for(&[A], SECOND, || daemon.log());
    daemon.end_keeping_operator_state();
    let daemon = Daemon::start(&pair.server, &toml);
    assert_eq!(a.ask().unwrap(), [A], "the drain survived the restart");
    daemon.cli(&["site", "undrain", "b"]);
    a.wait_for(&[A, B], SECOND, || daemon.log());
    let unknown = cli_output(&daemon, &["site", "drain", "c"]);
    assert!(!unknown.status.success() && String::from_utf8_lossy(&unknown.stderr).contains("no [[site]]"));
}

/// Sends `count` queries one after another from the client namespace, alternating an A query
/// (XDP) and an SOA query (userspace), each with one try; returns the problems.
fn query_loop(pair: &Pair, count: usize) -> Vec<String> {
    let server = SocketAddr::new(pair.server_v4.into(), 53);
    pair.client.enter(move || {
        let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
        socket.set_read_timeout(Some(SECOND)).unwrap();
        let mut problems = Vec::new();
        let mut buf = [0u8; 1500];
        for i in 0..count {
            let rtype = if i % 2 == 0 { RecordType::A } else { RecordType::SOA };
            let name = if rtype == RecordType::A { "www.example.com." } else { "example.com." };
            let query = client::query_message(name, rtype, false);
            socket.send_to(&query.to_vec().unwrap(), server).unwrap();
            let response = loop {
                match socket.recv(&mut buf) {
                    Ok(len) => match Message::from_vec(&buf[..len]) {
                        Ok(m) if m.metadata.id == query.metadata.id => break Some(m),
                        _ => continue, // a late answer to an earlier query
                    },
                    Err(_) => break None,
                }
            };
            let Some(response) = response else {
                problems.push(format!("query {i} ({rtype}) not answered"));
                continue;
            };
            let addrs: Vec<String> = response.answers.iter().map(|r| r.data.to_string()).collect();
            let ok = response.metadata.response_code == ResponseCode::NoError
                && match rtype {
                    RecordType::A => addrs == [A, B] || addrs == [B, A],
                    _ => response.answers.iter().any(|r| matches!(r.data, RData::SOA(_))),
                };
            if !ok {
                problems.push(format!("query {i} ({rtype}): {:?} {addrs:?}", response.metadata.response_code));
            }
        }
        problems
    })
}

#[test]
fn reload_under_load_loses_no_query_and_a_bad_config_is_refused() {
    if !have_root("reload_under_load_loses_no_query_and_a_bad_config_is_refused") {
        return;
    }
    let pair = Pair::new(64);
    // Site a is probed, so a reload that rebuilds the health monitor must not flap it.
    pair.server.ip(&["addr", "add", "198.18.64.11/32", "dev", "lo"]);
    let web_a = HttpServer::start(&pair.server, "198.18.64.11:8080".parse().unwrap());
    web_a.set("/health", Behavior::Ok("ok".into()));
    let probed = format!(
        "aaaa = [\"fd00:10::1\"]\n[[site.server]]\nname = \"web-a1\"\ncheck = \"http\"\nurl = \"{}\"\n",
        web_a.url("/health")
    );
    let run_dir = tempfile::tempdir().unwrap();
    let instance = unique("op");
    let ab = config(&pair, &instance, run_dir.path(), "native", "").replacen("aaaa = [\"fd00:10::1\"]\n", &probed, 1);
    // The second one also changes [probe], so the health monitor is rebuilt as well.
    let ba = ab.replace(r#"sites = ["a", "b"]"#, r#"sites = ["b", "a"]"#) + "\n[probe]\ninterval_ms = 150\n";
    let daemon = Daemon::start(&pair.server, &ab);
    let a = question(&pair, "A");
    a.wait_for(&[A, B], Duration::from_secs(3), || daemon.log());
    // An override lives through every reload.
    daemon.cli(&["map", "set", "www.example.com", "AAAA", "fd00::99"]);

    let (problems, reloads) = std::thread::scope(|s| {
        let load = s.spawn(|| query_loop(&pair, 2000));
        // Reload back and forth for as long as the queries run.
        let mut reloads = 0;
        while !load.is_finished() {
            let toml = if reloads % 2 == 0 { &ba } else { &ab };
            std::fs::write(&daemon.config, toml).unwrap();
            let out = daemon.cli(&["reload"]);
            assert!(out.contains("services"), "{out}");
            reloads += 1;
        }
        (load.join().unwrap(), reloads)
    });
    assert!(reloads >= 2, "only {reloads} reloads happened during the queries");
    std::fs::write(&daemon.config, &ba).unwrap();
    daemon.cli(&["reload"]);
    assert!(
        problems.is_empty(),
        "{} of 2000 queries lost or wrong: {:?}\n{}",
        problems.len(),
        &problems[..problems.len().min(10)],
        daemon.log()
    );
    a.wait_for(&[B, A], SECOND, || daemon.log());
    assert_eq!(question(&pair, "AAAA").ask().unwrap(), ["fd00::99"], "the override outlived the reloads");

    // A config that does not parse: refused, the old one keeps serving.
    std::fs::write(&daemon.config, ba.replace("[[zone]]", "[[zone]]\nbogus = 1")).unwrap();
    let out = cli_output(&daemon, &["reload"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("reload refused") && stderr.contains("bogus"), "{stderr}");
    let logged = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        daemon.log().contains("config reload refused")
    });
    assert!(logged, "the refusal is logged:\n{}", daemon.log());
    assert_eq!(a.ask().unwrap(), [B, A]);

    // Where the daemon keeps its pins is the daemon's own: refused with the way to change it.
    std::fs::write(&daemon.config, ba.replacen("[server]\n", "[server]\npin_root = \"/sys/fs/bpf/elsewhere\"\n", 1))
        .unwrap();
    let out = cli_output(&daemon, &["reload"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("server.pin_root") && stderr.contains("start one"), "{stderr}");
    assert_eq!(a.ask().unwrap(), [B, A]);

    // SIGHUP reloads too.
    std::fs::write(&daemon.config, &ab).unwrap();
    // SAFETY: signalling the daemon we started, by PID.
    unsafe { libc::kill(daemon.pid() as i32, libc::SIGHUP) };
    a.wait_for(&[A, B], Duration::from_secs(2), || daemon.log());
}

/// `GET /metrics` from the client namespace.
fn scrape(pair: &Pair, address: SocketAddr) -> String {
    pair.client.enter(move || {
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).expect("metrics connect");
        stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n").unwrap();
        let mut body = String::new();
        stream.read_to_string(&mut body).unwrap();
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
        body
    })
}

fn sample(body: &str, series: &str) -> f64 {
    let line = body.lines().find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '));
    line.unwrap_or_else(|| panic!("no {series} in\n{body}")).rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn metrics_and_stats_watch_show_counters_that_move() {
    if !have_root("metrics_and_stats_watch_show_counters_that_move") {
        return;
    }
    let pair = Pair::new(65);
    let run_dir = tempfile::tempdir().unwrap();
    let address: SocketAddr = format!("{}:9153", pair.server_v4).parse().unwrap();
    let extra = format!("metrics = \"{address}\"\nlog_format = \"json\"");
    let instance = unique("op");
    let daemon = Daemon::start(&pair.server, &config(&pair, &instance, run_dir.path(), "native", &extra));
    let a = question(&pair, "A");
    a.wait_for(&[A, B], SECOND, || daemon.log());

    let before = scrape(&pair, address);
    let xdp = r#"switchyard_xdp_packets_total{outcome="answered_v4"}"#;
    let answered = r#"switchyard_userspace_responses_total{outcome="answered"}"#;
    assert_eq!(sample(&before, r#"switchyard_site_available{site="a"}"#), 1.0);
    assert!(sample(&before, "switchyard_map_rewrites_total") >= 1.0);
    assert!(before.contains("# TYPE switchyard_xdp_packets_total counter"));
    let www = r#"service="www.example.com.",family="A""#;
    let first =
        |view: &str, site: &str| format!(r#"switchyard_answer_first_site{{{www},view="{view}",site="{site}"}}"#);
    let changes = |view: &str| format!(r#"switchyard_answer_changes_total{{{www},view="{view}"}}"#);
    assert_eq!(sample(&before, &first("default", "a")), 1.0);
    assert_eq!(sample(&before, &first("near-b", "b")), 1.0);
    assert_eq!(sample(&before, &format!(r#"switchyard_answer_addresses{{{www},view="default"}}"#)), 2.0);
    assert_eq!(sample(&before, &changes("near-b")), 0.0);
    a.ask().unwrap();
    client::dig(
        &pair.client,
        &[&format!("@{}", pair.server_v4), "example.com", "SOA", "+short", "+tries=1", "+time=1"],
    );
    daemon.cli(&["site", "drain", "b"]);
    let after = scrape(&pair, address);
    assert!(sample(&after, xdp) > sample(&before, xdp), "XDP answers counted");
    assert!(sample(&after, answered) > sample(&before, answered), "userspace answers counted");
    assert_eq!(sample(&after, r#"switchyard_site_drained{site="b"}"#), 1.0);
    assert_eq!(sample(&after, &first("near-b", "a")), 1.0, "b drained: near-b clients get a first");
    assert!(!after.contains(&first("near-b", "b")), "one first site per answer");
    assert_eq!(sample(&after, &changes("near-b")), 1.0);
    assert_eq!(sample(&after, &changes("default")), 1.0, "[a, b] became [a]");
    assert!(sample(&after, "switchyard_map_rewrites_total") > sample(&before, "switchyard_map_rewrites_total"));
    // An answer set by hand: the addresses clients get, and which answer it replaces.
    let overridden = |view: &str| format!(r#"switchyard_answer_overridden{{{www},view="{view}"}}"#);
    let addresses = format!(r#"switchyard_answer_addresses{{{www},view="default"}}"#);
    assert_eq!(sample(&after, &overridden("default")), 0.0);
    daemon.cli(&["map", "set", "www.example.com", "A", "192.0.2.7", "192.0.2.8", "192.0.2.9"]);
    let by_hand = scrape(&pair, address);
    assert_eq!(sample(&by_hand, &overridden("default")), 1.0);
    assert_eq!(sample(&by_hand, &overridden("near-b")), 0.0, "the override is for the default view only");
    assert_eq!(sample(&by_hand, &addresses), 3.0, "the override's addresses, not the policy's one");
    assert_eq!(sample(&by_hand, &first("default", "a")), 1.0, "the policy's first site is still shown");
    daemon.cli(&["map", "del", "www.example.com", "A"]);
    let policy_again = scrape(&pair, address);
    assert_eq!(sample(&policy_again, &overridden("default")), 0.0);
    assert_eq!(sample(&policy_again, &addresses), 1.0, "b drained: a alone");

    // Rates per interval while queries arrive.
    let out = std::thread::scope(|s| {
        let watch = s.spawn(|| daemon.cli(&["stats", "--watch", "--interval", "0.3", "--count", "2", "--json"]));
        for _ in 0..5 {
            a.ask();
        }
        watch.join().unwrap()
    });
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{out}");
    let rate = |l: &serde_json::Value| l["rates"]["xdp.answered_v4"].as_f64().unwrap();
    assert!(lines.iter().any(|l| rate(l) > 0.0), "{out}");

    // Watched through a pipe whose reader leaves after one line (`| head -1`): it ends quietly.
    let mut watching = Command::new(daemon::binary())
        .args(["stats", "--watch", "--interval", "0.1", "--json", "--config"])
        .arg(&daemon.config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first_byte = [0u8; 1];
    watching.stdout.take().unwrap().read_exact(&mut first_byte).unwrap();
    let ended = watching.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&ended.stderr);
    assert!(ended.status.success() && !stderr.contains("panicked"), "{}: {stderr}", ended.status);

    // Counters pinned somewhere else than the config says: what can be read is printed, and
    // the exit status says the XDP counters were not.
    let elsewhere = config(&pair, &instance, run_dir.path(), "native", r#"pin_root = "/sys/fs/bpf/nowhere""#);
    let path = run_dir.path().join("elsewhere.toml");
    std::fs::write(&path, elsewhere).unwrap();
    let stats = Command::new(daemon::binary()).args(["stats", "--config"]).arg(&path).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&stats.stdout), String::from_utf8_lossy(&stats.stderr));
    assert_eq!(stats.status.code(), Some(1), "stats fails without XDP counters: {stdout}{stderr}");
    assert!(stderr.contains("XDP counters unreadable") && stdout.contains("userspace"), "{stdout}{stderr}");
    let stats = Command::new(daemon::binary()).args(["stats", "--json", "--config"]).arg(&path).output().unwrap();
    let partial: serde_json::Value = serde_json::from_slice(&stats.stdout).expect("one JSON document");
    assert_eq!(stats.status.code(), Some(1));
    assert!(partial.get("userspace").is_some() && partial.get("ok").is_none(), "the report, not an error: {partial}");

    // log_format = "json": one object per line, the message and fields as keys.
    let log = daemon.log();
    let events: Vec<serde_json::Value> =
        log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let ready = events.iter().find(|e| e["fields"]["message"] == "ready").expect("a ready event");
    assert_eq!(ready["level"], "INFO");
    assert_eq!(ready["fields"]["instance"], instance.as_str());

    // Moved by a reload: served on the new address, no longer on the old one.
    let moved: SocketAddr = format!("{}:9154", pair.server_v4).parse().unwrap();
    let text = std::fs::read_to_string(&daemon.config).unwrap();
    std::fs::write(&daemon.config, text.replace(&address.to_string(), &moved.to_string())).unwrap();
    let out = cli_output(&daemon, &["reload"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(sample(&scrape(&pair, moved), xdp) > 0.0);
    // The old listener closes as its task ends, just after the reload returned.
    let closed = pair.client.enter(move || {
        (0..50).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_err()
        })
    });
    assert!(closed, "the old metrics address is closed");
}
