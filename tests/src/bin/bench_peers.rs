//! `cargo xtask bench peers`: how long a dead peer's site stays in the answers. Site a's DNS
//! server (XDP on) serves www from a and from remote site b, known only from b's heartbeats;
//! b's daemon is killed (SIGKILL, no chance to say goodbye) and a UDP query loop in the client
//! namespace times the first answer without b. SWITCHYARD_BENCH_TRIALS sets the trials
//! (default 20). Writes peers.json under SWITCHYARD_BENCH_DIR (default target/bench).

use std::{
    net::SocketAddr,
    process::ExitCode,
    time::{Duration, Instant},
};

use serde_json::json;
use switchyard_tests::{
    bench::{interrupt, report, stats, watch},
    daemon::Daemon,
    link,
    netns::Netns,
    peer_sites::{A, B, LIVE_PERIODS, PERIOD_MS, config},
    privileges::have_root,
    topology::Pair,
};
use watch::Watcher;

const SUBNET: u8 = 42;
/// Heartbeat link between the two DNS servers: a is .1, b is .2.
const LINK_SUBNET: u8 = 43;
const DEADLINE: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    interrupt::install();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench peers: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    if !have_root("bench peers") {
        return Err("needs root (namespaces, XDP)".into());
    }
    let trials = report::env_number("SWITCHYARD_BENCH_TRIALS", 20)? as usize;
    let keys = tempfile::tempdir().map_err(|e| e.to_string())?;
    let key = switchyard_tests::key_file::write(keys.path(), "peer.key", "shared-peer-key-0123456789abcdef")?;

    let pair = Pair::new(SUBNET);
    let site_b = Netns::new("syb");
    link::join(&pair.server, &site_b, LINK_SUBNET);
    let config_a = config("a", &[("b", format!("198.18.{LINK_SUBNET}.2"))], &key, Some(&pair.server_if));
    let config_b = config("b", &[("a", format!("198.18.{LINK_SUBNET}.1"))], &key, None);
    let daemon_a = Daemon::start(&pair.server, &config_a);
    let mut watcher = Watcher::new(&pair.client, SocketAddr::new(pair.server_v4.into(), 53), "www.example.com");

    println!("== peer death: {trials} trials, period {PERIOD_MS} ms, N = {LIVE_PERIODS}");
    let mut samples = Vec::new();
    for trial in 0..trials {
        let daemon_b = Daemon::start(&site_b, &config_b);
        watcher
            .wait(Instant::now(), DEADLINE, |answer| answer == [A, B])
            .map_err(|e| format!("b joining, trial {trial}: {e}\n{}", daemon_a.log()))?;
        // Spread the death over the heartbeat period instead of always hitting the same phase.
        std::thread::sleep(Duration::from_millis(50 + (trial as u64 * 37) % PERIOD_MS));
        // SAFETY: signalling our own child by PID; drop then reaps it.
        unsafe { libc::kill(daemon_b.pid() as i32, libc::SIGKILL) };
        let killed = Instant::now();
        let took = watcher
            .wait(killed, DEADLINE, |answer| answer == [A])
            .map_err(|e| format!("b leaving, trial {trial}: {e}\n{}", daemon_a.log()))?;
        drop(daemon_b);
        samples.push(took.as_secs_f64() * 1000.0);
    }
    drop(daemon_a);

    let summary = stats::summarize(&samples);
    let goal_ms = (LIVE_PERIODS + 1) * PERIOD_MS;
    let document = json!({
        "bench": "peers",
        "period_ms": PERIOD_MS,
        "live_periods": LIVE_PERIODS,
        "goal_p99_ms": goal_ms,
        "death": "SIGKILL of the peer's daemon",
        "until": "first answer without the peer's site",
        "client": { "poll_ms": watch::POLL.as_millis() as u64, "query_timeout_ms": watch::QUERY_TIMEOUT.as_millis() as u64, "path": "UDP through XDP (native) on a veth" },
        "result": summary.to_json(),
    });
    let path = report::write_json("peers.json", &document)?;
    println!("\nperiod {PERIOD_MS} ms, N = {LIVE_PERIODS}; goal p99 ≤ (N+1) periods = {goal_ms} ms\n");
    report::print_table(&[("peer death".to_string(), "SIGKILL of b's daemon → answer without b", &summary)]);
    println!("\nwritten to {}", path.display());
    Ok(())
}
