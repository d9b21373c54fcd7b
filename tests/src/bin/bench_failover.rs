//! `cargo xtask bench failover`: how fast answers follow health checks with the shipped probe
//! defaults. Two sites' web servers are tiny HTTP servers in the DNS server's namespace; a UDP
//! query loop in the client namespace (through XDP) sees the answer change.
//!
//! Cases: site a's web server failing, its database page losing its keyword (fetched by the
//! daemon), and the same page checked by a real HAProxy (`http-check expect string`, as often
//! and with the same rise and fall as the daemon's defaults), whose backend the daemon reads
//! from HAProxy's stats.
//! Also: a run with healthy sites counting answer changes (SWITCHYARD_FLAP_SECONDS, default 60),
//! and the cost of rewriting the answer map for 100,000 services when one site fails.
//! SWITCHYARD_BENCH_TRIALS sets the trials per case (default 20).
//! Writes failover.json under SWITCHYARD_BENCH_DIR (default target/bench).

use std::{
    net::SocketAddr,
    path::Path,
    process::ExitCode,
    time::{Duration, Instant},
};

use serde_json::json;
use switchyard::{
    config::fixture::ConfigText,
    health::{DEFAULT_FALL, DEFAULT_INTERVAL_MS, DEFAULT_RISE, DEFAULT_TIMEOUT_MS},
};
use switchyard_tests::{
    bench::{
        flap, interrupt, map_rewrite, report,
        stats::{self, Summary},
        watch,
    },
    daemon::Daemon,
    haproxy::{self, CheckTiming},
    http_server::{Behavior, HttpServer},
    lab::process::Process,
    netns::unique,
    privileges::have_root,
    topology::Pair,
    two_sites::TwoSites,
};
use watch::Watcher;

const SUBNET: u8 = 41;
const A: &str = "198.18.10.1";
const B: &str = "198.18.20.1";
const DB_OK: &str = "connected to db-a";
const SERVICES: usize = 100_000;
/// Far above any expected detection time; a trial that takes longer is a failure.
const DEADLINE: Duration = Duration::from_secs(10);
/// HAProxy's checks of the database page: as often as this daemon probes by default.
const HAPROXY: CheckTiming = CheckTiming { inter_ms: DEFAULT_INTERVAL_MS, rise: DEFAULT_RISE, fall: DEFAULT_FALL };
const STATS: &str = "127.0.0.1:8404";

fn main() -> ExitCode {
    interrupt::install();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench failover: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A failure and its repair, switched on site a's web server.
struct Case {
    name: &'static str,
    path: &'static str,
    broken: Behavior,
    healthy: Behavior,
    /// What the down and up timings measure.
    down: &'static str,
    up: &'static str,
}

/// The web servers of both sites, in the DNS server's namespace.
struct Web {
    a: HttpServer,
    b: HttpServer,
}

fn run() -> Result<(), String> {
    if !have_root("bench failover") {
        return Err("needs root (namespaces, XDP)".into());
    }
    let trials = report::env_number("SWITCHYARD_BENCH_TRIALS", 20)? as usize;
    let flap_seconds = report::env_number("SWITCHYARD_FLAP_SECONDS", 60)?;

    println!("== answer map rewrite for {SERVICES} services after one site fails");
    let rewrite = map_rewrite::measure(SERVICES)?;
    rewrite.print();

    let pair = Pair::new(SUBNET);
    let web = start_web(&pair);
    let mut watcher = Watcher::new(&pair.client, SocketAddr::new(pair.server_v4.into(), 53), "www.example.com");
    let [web_case, page_case, haproxy_case] = cases();

    // No [probe] table: the shipped defaults are what is measured.
    let daemon = Daemon::start(&pair.server, &direct_config(&pair, &web));
    let mut results = Vec::new();
    for case in [web_case, page_case] {
        results.push(measure(case, &web.a, &mut watcher, trials, &daemon)?);
    }
    println!("== no flapping: {flap_seconds} s with both sites healthy");
    let flaps = flap::count_changes(&mut watcher, Duration::from_secs(flap_seconds))?;
    let daemon_log = daemon.log();
    drop(daemon);

    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let balancer = start_haproxy(&pair, &web, dir.path())?;
    let daemon = Daemon::start(&pair.server, &haproxy_config(&pair, &web));
    results.push(measure(haproxy_case, &web.a, &mut watcher, trials, &daemon)?);
    drop(daemon);
    drop(balancer);

    let document = json!({
        "bench": "failover",
        "probe": {
            "interval_ms": DEFAULT_INTERVAL_MS,
            "timeout_ms": DEFAULT_TIMEOUT_MS,
            "rise": DEFAULT_RISE,
            "fall": DEFAULT_FALL,
            "source": "shipped defaults: the config has no [probe] table",
        },
        "haproxy_check": { "inter_ms": HAPROXY.inter_ms, "rise": HAPROXY.rise, "fall": HAPROXY.fall },
        "trials": trials,
        "client": { "poll_ms": watch::POLL.as_millis() as u64, "query_timeout_ms": watch::QUERY_TIMEOUT.as_millis() as u64, "path": "UDP through XDP (native) on a veth" },
        "cases": results.iter().flat_map(case_json).collect::<Vec<_>>(),
        "no_flapping": { "seconds": flap_seconds, "queries": flaps.queries, "timeouts": flaps.timeouts, "answer_changes": flaps.changes },
        "map_rewrite": rewrite.to_json(),
    });
    let path = report::write_json("failover.json", &document)?;

    println!(
        "\nprobe settings (shipped defaults): interval {DEFAULT_INTERVAL_MS} ms, timeout {DEFAULT_TIMEOUT_MS} ms, \
         rise {DEFAULT_RISE}, fall {DEFAULT_FALL}; HAProxy's check: inter {} ms, rise {}, fall {}\n",
        HAPROXY.inter_ms, HAPROXY.rise, HAPROXY.fall
    );
    let rows: Vec<_> = results
        .iter()
        .flat_map(|(case, down, up)| {
            [(format!("{} down", case.name), case.down, down), (format!("{} up", case.name), case.up, up)]
        })
        .collect();
    report::print_table(&rows);
    println!(
        "\nno flapping: {} answer changes in {flap_seconds} s ({} queries, {} timeouts)",
        flaps.changes, flaps.queries, flaps.timeouts
    );
    if flaps.changes > 0 {
        eprintln!("{daemon_log}");
    }
    println!("\nwritten to {}", path.display());
    Ok(())
}

fn cases() -> [Case; 3] {
    let page = |name, down| Case {
        name,
        path: "/db",
        broken: Behavior::Ok("database unreachable".into()),
        healthy: Behavior::Ok(DB_OK.into()),
        down,
        up: "keyword back → a back",
    };
    [
        Case {
            name: "web",
            path: "/health",
            broken: Behavior::Status(503),
            healthy: Behavior::Ok("ok".into()),
            down: "web server a answers 503 → answer without a",
            up: "web server a answers 200 → a back",
        },
        page("database", "database page 200 without keyword → answer without a"),
        page("database_haproxy", "database page without keyword, checked by HAProxy → answer without a"),
    ]
}

/// Breaks and repairs `case` on site a's web server `trials` times; how long the answers took.
fn measure(
    case: Case,
    web_a: &HttpServer,
    watcher: &mut Watcher,
    trials: usize,
    daemon: &Daemon,
) -> Result<(Case, Summary, Summary), String> {
    let both = |answer: &[String]| answer == [A, B];
    let without_a = |answer: &[String]| !answer.is_empty() && !answer.iter().any(|a| a == A);
    watcher.wait(Instant::now(), DEADLINE, both).map_err(|e| format!("initial answer: {e}\n{}", daemon.log()))?;
    println!("== {}: {trials} trials", case.name);
    let (mut down, mut up) = (Vec::new(), Vec::new());
    for trial in 0..trials {
        // Spread the failure over the probe cycle instead of always hitting the same phase.
        let offset = Duration::from_millis(20 + (trial as u64 * 73) % DEFAULT_INTERVAL_MS);
        std::thread::sleep(offset);
        web_a.set(case.path, case.broken.clone());
        let took = watcher
            .wait(Instant::now(), DEADLINE, without_a)
            .map_err(|e| format!("{} down, trial {trial}: {e}\n{}", case.name, daemon.log()))?;
        down.push(took.as_secs_f64() * 1000.0);
        std::thread::sleep(offset);
        web_a.set(case.path, case.healthy.clone());
        let took = watcher
            .wait(Instant::now(), DEADLINE, both)
            .map_err(|e| format!("{} up, trial {trial}: {e}\n{}", case.name, daemon.log()))?;
        up.push(took.as_secs_f64() * 1000.0);
    }
    Ok((case, stats::summarize(&down), stats::summarize(&up)))
}

fn case_json((case, down, up): &(Case, Summary, Summary)) -> [serde_json::Value; 2] {
    [
        json!({ "case": format!("{}_down", case.name), "change": case.down, "until": "first answer without site a", "result": down.to_json() }),
        json!({ "case": format!("{}_up", case.name), "change": case.up, "until": "first answer with sites a and b", "result": up.to_json() }),
    ]
}

fn start_web(pair: &Pair) -> Web {
    let (a, b) = (web_address(11), web_address(12));
    for addr in [a, b] {
        pair.server.ip(&["addr", "add", &format!("{}/32", addr.ip()), "dev", "lo"]);
    }
    let web = Web { a: HttpServer::start(&pair.server, a), b: HttpServer::start(&pair.server, b) };
    web.a.set("/db", Behavior::Ok(DB_OK.into()));
    web
}

fn web_address(host: u8) -> SocketAddr {
    format!("198.18.{SUBNET}.{host}:8080").parse().unwrap()
}

/// Site a's database page fetched by the daemon.
fn direct_config(pair: &Pair, web: &Web) -> String {
    TwoSites {
        pair,
        site_a: A,
        site_b: B,
        health_a: web.a.url("/health"),
        health_b: web.b.url("/health"),
        database_a: Some(web.a.url("/db")),
        fast_probes: false,
    }
    .toml()
}

/// HAProxy in the DNS server's namespace: `dbcheck` checks site a's database page.
fn start_haproxy(pair: &Pair, web: &Web, dir: &Path) -> Result<Process, String> {
    let stats: SocketAddr = STATS.parse().unwrap();
    let servers = [("web1".to_string(), web.a.addr)];
    let config = format!(
        "{}\n{}\n{}",
        haproxy::DEFAULTS,
        haproxy::database_backend("dbcheck", "/db", "db-a", &servers, HAPROXY),
        haproxy::stats_section(stats)
    );
    haproxy::start(&pair.server, &unique("bf"), &config, dir, stats)
}

/// Site a's database from HAProxy's `dbcheck` backend; its web server still probed directly.
/// `[site.haproxy]` needs a backend for the fetch check: `dbcheck` serves.
fn haproxy_config(pair: &Pair, web: &Web) -> String {
    ConfigText::new()
        .server(&unique("ts"), &[r#"listen = ["0.0.0.0", "::"]"#])
        .xdp(&pair.server_if, "native")
        .zone()
        .site("a", &[A], &[])
        .http_server("web-a1", &web.a.url("/health"))
        .haproxy(&format!("http://{STATS}/stats;csv"), "dbcheck")
        .database_from_haproxy("dbcheck", "db-a")
        .site("b", &[B], &[])
        .http_server("web-b1", &web.b.url("/health"))
        .service("www.example.com.", 5, &["a", "b"])
        .build()
}
