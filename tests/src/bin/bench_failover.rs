//! `cargo xtask bench failover`: how fast answers follow health checks with the shipped probe
//! defaults. Two sites' web servers are tiny HTTP servers in the DNS server's namespace; a UDP
//! query loop in the client namespace (through XDP) sees the answer change.
//!
//! Also: a run with healthy sites counting answer changes (SWITCHYARD_FLAP_SECONDS, default 60),
//! and the cost of rewriting the answer map for 100,000 services when one site fails.
//! SWITCHYARD_BENCH_TRIALS sets the trials per case (default 20).
//! Writes failover.json under SWITCHYARD_BENCH_DIR (default target/bench).

use std::{
    net::SocketAddr,
    process::ExitCode,
    time::{Duration, Instant},
};

use serde_json::json;
use switchyard::health::{DEFAULT_FALL, DEFAULT_INTERVAL_MS, DEFAULT_RISE, DEFAULT_TIMEOUT_MS};
use switchyard_tests::{
    bench::{flap, interrupt, map_rewrite, report, stats, watch},
    daemon::Daemon,
    http_server::{Behavior, HttpServer},
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
    let (web_a_addr, web_b_addr) = (format!("198.18.{SUBNET}.11"), format!("198.18.{SUBNET}.12"));
    pair.server.ip(&["addr", "add", &format!("{web_a_addr}/32"), "dev", "lo"]);
    pair.server.ip(&["addr", "add", &format!("{web_b_addr}/32"), "dev", "lo"]);
    let web_a = HttpServer::start(&pair.server, format!("{web_a_addr}:8080").parse::<SocketAddr>().unwrap());
    let web_b = HttpServer::start(&pair.server, format!("{web_b_addr}:8080").parse::<SocketAddr>().unwrap());
    web_a.set("/db", Behavior::Ok(DB_OK.into()));
    let daemon = Daemon::start(
        &pair.server,
        // No [probe] table: the shipped defaults are what is measured.
        &TwoSites {
            pair: &pair,
            site_a: A,
            site_b: B,
            health_a: web_a.url("/health"),
            health_b: web_b.url("/health"),
            database_a: Some(web_a.url("/db")),
            fast_probes: false,
        }
        .toml(),
    );
    let mut watcher = Watcher::new(&pair.client, SocketAddr::new(pair.server_v4.into(), 53), "www.example.com");
    let both = |answer: &[String]| answer == [A, B];
    let without_a = |answer: &[String]| !answer.is_empty() && !answer.iter().any(|a| a == A);
    watcher.wait(Instant::now(), DEADLINE, both).map_err(|e| format!("initial answer: {e}\n{}", daemon.log()))?;

    let cases = [
        Case { name: "web", path: "/health", broken: Behavior::Status(503), healthy: Behavior::Ok("ok".into()) },
        Case {
            name: "database",
            path: "/db",
            broken: Behavior::Ok("database unreachable".into()),
            healthy: Behavior::Ok(DB_OK.into()),
        },
    ];
    let mut results = Vec::new();
    for case in &cases {
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
        results.push((case, stats::summarize(&down), stats::summarize(&up)));
    }

    println!("== no flapping: {flap_seconds} s with both sites healthy");
    let flaps = flap::count_changes(&mut watcher, Duration::from_secs(flap_seconds))?;
    let daemon_log = daemon.log();
    drop(daemon);

    let probe = json!({
        "interval_ms": DEFAULT_INTERVAL_MS,
        "timeout_ms": DEFAULT_TIMEOUT_MS,
        "rise": DEFAULT_RISE,
        "fall": DEFAULT_FALL,
        "source": "shipped defaults: the config has no [probe] table",
    });
    let cases_json: Vec<_> = results
        .iter()
        .flat_map(|(case, down, up)| {
            let what = describe(case);
            [
                json!({ "case": format!("{}_down", case.name), "change": what.0, "until": "first answer without site a", "result": down.to_json() }),
                json!({ "case": format!("{}_up", case.name), "change": what.1, "until": "first answer with sites a and b", "result": up.to_json() }),
            ]
        })
        .collect();
    let document = json!({
        "bench": "failover",
        "probe": probe,
        "trials": trials,
        "client": { "poll_ms": watch::POLL.as_millis() as u64, "query_timeout_ms": watch::QUERY_TIMEOUT.as_millis() as u64, "path": "UDP through XDP (native) on a veth" },
        "cases": cases_json,
        "no_flapping": { "seconds": flap_seconds, "queries": flaps.queries, "timeouts": flaps.timeouts, "answer_changes": flaps.changes },
        "map_rewrite": rewrite.to_json(),
    });
    let path = report::write_json("failover.json", &document)?;

    println!(
        "\nprobe settings (shipped defaults): interval {DEFAULT_INTERVAL_MS} ms, timeout {DEFAULT_TIMEOUT_MS} ms, rise {DEFAULT_RISE}, fall {DEFAULT_FALL}\n"
    );
    let mut rows = Vec::new();
    for (case, down, up) in &results {
        let (d, u) = describe(case);
        rows.push((format!("{} down", case.name), d, down));
        rows.push((format!("{} up", case.name), u, up));
    }
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

fn describe(case: &Case) -> (&'static str, &'static str) {
    match case.name {
        "web" => ("web server a answers 503 → answer without a", "web server a answers 200 → a back"),
        _ => ("database page 200 without keyword → answer without a", "keyword back → a back"),
    }
}
