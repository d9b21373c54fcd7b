//! `cargo xtask bench rrl`: response rate limiting under a flood. kxdpgun floods Switchyard from
//! one client /24 while dnsperf queries from another /24 of the same client namespace, for a
//! bounded time, with XDP on (generic mode on the veth) and with XDP off, once with names that
//! have answers and once with names that do not exist (NXDOMAIN, which only the daemon answers).
//! Reports the other prefix's answered fraction, the flooding prefix's answered rate against the
//! configured rate and how many queries reached the daemon; writes rrl.json under
//! SWITCHYARD_BENCH_DIR and a table on stdout.
//!
//! Environment: SWITCHYARD_RRL_SECONDS (default 10), SWITCHYARD_RRL_FLOOD_QPS (offered by
//! kxdpgun, default 200,000), SWITCHYARD_RRL_RATE (responses per second per prefix, 100),
//! SWITCHYARD_RRL_OTHER_QPS (dnsperf's offered rate, 50: one client under the limit).

use std::{net::Ipv4Addr, path::Path, process::ExitCode};

use serde_json::{Value, json};
use switchyard_tests::{
    daemon::Daemon,
    dnsperf::{cores, loadgen, xdpgun, zone},
    netns::unique,
    privileges::have_root,
    topology::Pair,
};

const SUBNET: u8 = 54;
const SERVER_CPU: usize = 0;
const CLIENT_CPU: usize = 1;
/// dnsperf's local port.
const DNSPERF_PORT: u16 = 1053;

struct Settings {
    seconds: u32,
    flood_qps: u32,
    rate: u32,
    other_qps: u32,
}

/// One mode's outcome.
struct Outcome {
    mode: &'static str,
    /// What the flood asks: "answers" or "nxdomain".
    names: &'static str,
    flood: xdpgun::GunSummary,
    other: loadgen::Summary,
    /// The daemon's rate limiting counters after the run (XDP and userspace).
    counters: Value,
}

fn env_u32(name: &str) -> Option<u32> {
    std::env::var(name).ok()?.parse().ok()
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench rrl: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    if !have_root("bench rrl") {
        return Err("needs root".into());
    }
    let settings = Settings {
        seconds: env_u32("SWITCHYARD_RRL_SECONDS").unwrap_or(10).clamp(1, 60),
        flood_qps: env_u32("SWITCHYARD_RRL_FLOOD_QPS").unwrap_or(200_000),
        rate: env_u32("SWITCHYARD_RRL_RATE").unwrap_or(100),
        other_qps: env_u32("SWITCHYARD_RRL_OTHER_QPS").unwrap_or(50),
    };
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let queries = work.path().join("queries.txt");
    std::fs::write(&queries, zone::query_file()).map_err(|e| e.to_string())?;
    let missing = work.path().join("nxdomain.txt");
    let names: String = (0..20_000).map(|i| format!("nx{i:05}.{}\n", zone::ZONE)).collect();
    std::fs::write(&missing, names.replace('\n', " A\n")).map_err(|e| e.to_string())?;
    let mut outcomes = Vec::new();
    for (names, flood_queries) in [("answers", &queries), ("nxdomain", &missing)] {
        for mode in ["skb", "off"] {
            eprintln!("bench rrl: XDP {mode}, {names}, {} s", settings.seconds);
            outcomes.push(measure(mode, names, &settings, (flood_queries, &queries))?);
        }
    }
    report(&settings, &outcomes)
}

/// A fresh pair and daemon per mode; the other client's /24 is routed over the pair's link.
/// `queries`: the flood's query file and the other client's.
fn measure(
    mode: &'static str,
    names: &'static str,
    s: &Settings,
    (flood_queries, queries): (&Path, &Path),
) -> Result<Outcome, String> {
    let pair = Pair::new(SUBNET);
    cores::prepare(&pair)?;
    let other = Ipv4Addr::new(198, 18, SUBNET + 100, 2);
    pair.add_client_address(&format!("{other}/24"));
    pair.server.ip(&["route", "add", &format!("198.18.{}.0/24", SUBNET + 100), "dev", &pair.server_if]);
    let rrl = format!("\n[rrl]\nenabled = true\nresponses_per_second = {}\nburst = {}\nslip = 0\n", s.rate, s.rate);
    let daemon = Daemon::start(&pair.server, &(zone::switchyard_config(&unique("rrl"), &pair.server_if, mode) + &rrl));
    cores::pin_napi_threads(&pair, SERVER_CPU, CLIENT_CPU)?;
    // kxdpgun brings its own XDP program for the client end; frames it does not know it passes.
    pair.detach_client_program();
    let result = std::thread::scope(|scope| {
        let asking = scope.spawn(|| other_client(&pair, other, s, queries));
        let flood = flood(&pair, s, flood_queries);
        let other = asking.join().map_err(|_| "dnsperf thread panicked".to_string())?;
        Ok::<_, String>((flood?, other?))
    });
    pair.client.ip(&["link", "set", "dev", &pair.client_if, "xdp", "off"]);
    let (flood, other) = result?;
    let stats = daemon.stats();
    let pick = |path: &str| -> Value {
        ["rrl_dropped", "rrl_slipped", "rrl_exempt", "answered_v4", "answered", "nxdomain", "udp", "pass_miss"]
            .iter()
            .filter_map(|name| Some((name.to_string(), stats[path].get(*name)?.clone())))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let counters = json!({ "xdp": pick("xdp"), "userspace": pick("userspace") });
    Ok(Outcome { mode, names, flood, other, counters })
}

/// kxdpgun from the pair's own client address, at the offered rate, for the bench's time.
fn flood(pair: &Pair, s: &Settings, queries: &Path) -> Result<xdpgun::GunSummary, String> {
    let out = pair
        .client
        .command("taskset")
        .args(["-c", &CLIENT_CPU.to_string(), "kxdpgun", "-F", &CLIENT_CPU.to_string()])
        .args(["-t", &s.seconds.to_string(), "-Q", &s.flood_qps.to_string(), "-I", &pair.client_if])
        .args(["-l", &pair.client_v4.to_string(), "-i"])
        .arg(queries)
        .arg(pair.server_v4.to_string())
        .output()
        .map_err(|e| format!("kxdpgun: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("kxdpgun failed ({}): {}", out.status, text.trim()));
    }
    Ok(xdpgun::parse(&text))
}

/// dnsperf from the other /24 at a rate under the limit, for the same time. Its local port is
/// below kxdpgun's (2000 and up), whose program on the same interface takes the replies to
/// those ports and passes the others to the stack.
fn other_client(pair: &Pair, other: Ipv4Addr, s: &Settings, queries: &Path) -> Result<loadgen::Summary, String> {
    let out = pair
        .client
        .command("dnsperf")
        .args(["-s", &pair.server_v4.to_string(), "-a", &other.to_string(), "-x", &DNSPERF_PORT.to_string(), "-d"])
        .arg(queries)
        .args(["-l", &s.seconds.to_string(), "-Q", &s.other_qps.to_string(), "-c", "1", "-t", "2"])
        .output()
        .map_err(|e| format!("dnsperf: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        return Err(format!("dnsperf failed: {}{}", String::from_utf8_lossy(&out.stderr).trim(), text.trim()));
    }
    Ok(loadgen::parse(&text))
}

fn report(s: &Settings, outcomes: &[Outcome]) -> Result<(), String> {
    let rows: Vec<Value> = outcomes
        .iter()
        .map(|o| {
            let answered_rate = o.flood.replies as f64 / s.seconds as f64;
            let other_fraction = o.other.completed as f64 / o.other.sent.max(1) as f64;
            json!({
                "mode": o.mode,
                "names": o.names,
                "flood": { "sent": o.flood.sent, "replies": o.flood.replies, "answered_per_second": answered_rate,
                           "offered_per_second": o.flood.sent as f64 / s.seconds as f64 },
                "other_prefix": { "sent": o.other.sent, "answered": o.other.completed, "answered_fraction": other_fraction,
                                  "noerror": o.other.noerror },
                "counters": o.counters,
            })
        })
        .collect();
    let document = json!({
        "seconds": s.seconds,
        "configured": { "responses_per_second": s.rate, "burst": s.rate, "slip": 0 },
        "flood": format!("kxdpgun -t {} -Q {} from 198.18.{SUBNET}.2 (one /24), pinned to CPU {CLIENT_CPU}", s.seconds, s.flood_qps),
        "other": format!("dnsperf -Q {} -c 1 -x {DNSPERF_PORT} from 198.18.{}.2 (another /24)", s.other_qps, SUBNET + 100),
        "rows": rows,
    });
    let dir = std::env::var("SWITCHYARD_BENCH_DIR").unwrap_or_else(|_| "target/bench".into());
    let path = Path::new(&dir).join("rrl.json");
    std::fs::write(&path, serde_json::to_string_pretty(&document).unwrap()).map_err(|e| e.to_string())?;
    println!(
        "| flood of | XDP | flood offered (qps) | flood answered (per s) | configured rate | other prefix answered | queries the daemon saw |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (o, row) in outcomes.iter().zip(&rows) {
        println!(
            "| {} | {} | {:.0} | {:.1} | {} (+{} burst) | {} of {} ({:.2} %) | {} |",
            o.names,
            if o.mode == "off" { "off" } else { "on (skb)" },
            row["flood"]["offered_per_second"].as_f64().unwrap_or(0.0),
            row["flood"]["answered_per_second"].as_f64().unwrap_or(0.0),
            s.rate,
            s.rate,
            o.other.completed,
            o.other.sent,
            row["other_prefix"]["answered_fraction"].as_f64().unwrap_or(0.0) * 100.0,
            o.counters["userspace"]["udp"]
        );
    }
    eprintln!("bench rrl: wrote {}", path.display());
    Ok(())
}
