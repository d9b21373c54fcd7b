//! The database's state as the site's load balancer sees it: a real HAProxy (Debian's package,
//! its own service stopped) checks the database page with `http-check expect string`, and the
//! daemon reads that backend from HAProxy's CSV stats. The keyword disappears and comes back;
//! answers, `status`, `/metrics` and the answer-change log follow and name HAProxy's check.
//! Needs root and HAProxy (`cargo xtask test` installs it).

use std::{net::SocketAddr, time::Duration};

use switchyard::config::fixture::ConfigText;
use switchyard_tests::{
    answers::Question,
    daemon::Daemon,
    haproxy::{self, CheckTiming},
    http_server::{Behavior, HttpServer},
    lab::http::request_in,
    netns::unique,
    privileges::have_root,
    topology::Pair,
};

const SUBNET: u8 = 38;
const DEADLINE: Duration = Duration::from_secs(5);
const A: &str = "198.18.10.1";
const B: &str = "198.18.20.1";
const PAGE_OK: &str = "database server: db-a\n";
/// HAProxy's last check of web1 once the keyword is gone (its details after this vary with
/// how the response ended: "…: HTTP content check did not match" or nothing more).
const NO_MATCH: &str = "L7RSP (Layer7 invalid response";

/// HAProxy in front of the one web server: `web` checks `/health`, `dbcheck` the database page.
fn haproxy_config(web: SocketAddr, stats: SocketAddr) -> String {
    let timing = CheckTiming { inter_ms: 100, rise: 2, fall: 2 };
    let servers = [("web1".to_string(), web)];
    format!(
        "{}\nbackend web\n    option httpchk GET /health\n    server web1 {web} check inter 100 rise 2 fall 2\n\n{}\n{}",
        haproxy::DEFAULTS,
        haproxy::database_backend("dbcheck", "/dbcheck", "db-a", &servers, timing),
        haproxy::stats_section(stats)
    )
}

/// Site a: its web server and its database both read from HAProxy's stats; site b static.
fn daemon_config(pair: &Pair, stats: SocketAddr, metrics: SocketAddr) -> String {
    ConfigText::new()
        .server(&unique("hd"), &[r#"listen = ["0.0.0.0", "::"]"#, &format!("metrics = \"{metrics}\"")])
        .xdp(&pair.server_if, "native")
        .zone()
        .fast_probes()
        .site("a", &[A], &[])
        .table("[[site.server]]", &["name = \"web1\"", "check = \"haproxy\""])
        .haproxy(&format!("http://{stats}/stats;csv"), "web")
        .database_from_haproxy("dbcheck", "db-a")
        .site("b", &[B], &[])
        .service("www.example.com.", 5, &["a", "b"])
        .build()
}

/// Site a's part of `switchyard status --json`.
fn site_a(daemon: &Daemon) -> serde_json::Value {
    let status: serde_json::Value = serde_json::from_str(&daemon.cli(&["status", "--json"])).unwrap();
    status["sites"].as_array().unwrap().iter().find(|s| s["name"] == "a").cloned().unwrap()
}

/// HAProxy's own last check of web1 in the database backend, as the daemon reports it.
fn haproxy_check(site: &serde_json::Value) -> (String, String) {
    let server = &site["database_haproxy"]["haproxy_servers"][0];
    (server["status"].as_str().unwrap_or_default().into(), server["check_status"].as_str().unwrap_or_default().into())
}

#[test]
fn answers_follow_haproxys_check_of_the_database_page() {
    if !have_root("answers_follow_haproxys_check_of_the_database_page") {
        return;
    }
    let pair = Pair::new(SUBNET);
    pair.server.ip(&["addr", "add", &format!("198.18.{SUBNET}.11/32"), "dev", "lo"]);
    let web_addr: SocketAddr = format!("198.18.{SUBNET}.11:8080").parse().unwrap();
    let web = HttpServer::start(&pair.server, web_addr);
    web.set("/dbcheck", Behavior::Ok(PAGE_OK.into()));
    let dir = tempfile::tempdir().unwrap();
    let stats: SocketAddr = "127.0.0.1:8404".parse().unwrap();
    let _haproxy = haproxy::start(&pair.server, &unique("hd"), &haproxy_config(web_addr, stats), dir.path(), stats)
        .unwrap_or_else(|e| panic!("HAProxy did not start: {e}"));
    let metrics: SocketAddr = format!("{}:9153", pair.server_v4).parse().unwrap();
    let daemon = Daemon::start(&pair.server, &daemon_config(&pair, stats, metrics));
    let log = || daemon.log();
    let a = Question::www(&pair, "A");

    a.wait_for(&[A, B], DEADLINE, log);
    let up = site_a(&daemon);
    assert_eq!(up["database_state"]["decided_by"], serde_json::json!(["haproxy"]), "{up}");
    assert_eq!(up["database_haproxy"]["target"], "dbcheck", "{up}");
    assert!(up["database"].is_null(), "no page fetched by the daemon: {up}");

    // The page loses its keyword: HAProxy marks web1 DOWN in `dbcheck` (and keeps it UP in
    // `web`); the daemon reads that and drops site a.
    web.set("/dbcheck", Behavior::Ok("database error: no such table: dbinfo\n".into()));
    a.wait_for(&[B], DEADLINE, log);
    let down = site_a(&daemon);
    let database = &down["database_state"];
    assert_eq!((database["up"].as_bool(), &database["decided_by"]), (Some(false), &serde_json::json!(["haproxy"])));
    let cause = format!("haproxy backend dbcheck: no server UP (web1 DOWN, {NO_MATCH}");
    assert!(database["cause"].as_str().unwrap().starts_with(&cause), "{down}");
    assert_eq!(haproxy_check(&down), ("DOWN".into(), "L7RSP".into()));
    assert_eq!(down["servers"][0]["up"], true, "the web server itself is fine: {down}");
    let table = daemon.cli(&["status"]);
    assert!(table.contains(&format!("database db-a down, decided by haproxy: {cause}")), "{table}");
    assert!(table.contains(&format!("haproxy: web1 DOWN, {NO_MATCH}")), "{table}");

    let scraped = request_in(&pair.client, "GET", metrics, "/metrics").unwrap().1;
    for line in [
        "switchyard_database_up{site=\"a\",database=\"db-a\"} 0",
        "switchyard_database_decided_by{site=\"a\",database=\"db-a\",source=\"haproxy\"} 1",
        "switchyard_check_up{site=\"a\",check=\"db-a\",kind=\"database_haproxy\"} 0",
        "switchyard_check_haproxy_last_check_info{site=\"a\",check=\"db-a\",kind=\"database_haproxy\",server=\"web1\",status=\"DOWN\",check_status=\"L7RSP\",check_code=\"\"} 1",
    ] {
        assert!(scraped.lines().any(|l| l == line), "no {line} in\n{scraped}");
    }
    let changed: Vec<String> = log().lines().filter(|l| l.contains("answer changed")).map(String::from).collect();
    let moved = format!("site a unavailable (database db-a down, decided by {cause}");
    assert!(changed.iter().any(|l| l.contains(&moved)), "no answer change naming HAProxy's check: {changed:#?}");

    // The keyword is back: HAProxy's check passes `rise` times, the daemon brings site a back.
    web.set("/dbcheck", Behavior::Ok(PAGE_OK.into()));
    a.wait_for(&[A, B], DEADLINE, log);
    let back = site_a(&daemon);
    assert_eq!(back["database_state"]["up"], true, "{back}");
    assert_eq!(haproxy_check(&back), ("UP".into(), "L7OK".into()));
    let changed: Vec<String> = log().lines().filter(|l| l.contains("answer changed")).map(String::from).collect();
    let back_line = "site a available (web servers up: web1; database db-a ok, decided by haproxy backend dbcheck: ok)";
    assert!(changed.iter().any(|l| l.contains(back_line)), "{changed:#?}");
}
