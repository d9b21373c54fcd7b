//! `cargo xtask bench soak`: correctness under a steady query load while site a's web server
//! flaps. For SWITCHYARD_SOAK_SECONDS (default 60) a UDP query loop in the client namespace
//! (through XDP) asks every 2 ms while site a's web server alternates 3 s answering 503 and
//! 3 s answering 200. With the shipped probe defaults the daemon must have noticed a change
//! after a bound (see `detection_bound`); an answer that still shows the old state after it
//! is a wrong answer. Also counts timeouts, checks the daemon is still running at the end and
//! records its RSS at start and end. Writes soak.json under SWITCHYARD_BENCH_DIR (default
//! target/bench).

use std::{
    net::SocketAddr,
    process::ExitCode,
    time::{Duration, Instant},
};

use serde_json::json;
use stats::round;
use switchyard::health::{DEFAULT_FALL, DEFAULT_INTERVAL_MS, DEFAULT_RISE, DEFAULT_TIMEOUT_MS};
use switchyard_tests::{
    bench::{interrupt, report, stats, watch},
    daemon::Daemon,
    http_server::{Behavior, HttpServer},
    privileges::have_root,
    topology::Pair,
    two_sites::TwoSites,
};
use watch::Watcher;

const SUBNET: u8 = 43;
const A: &str = "198.18.10.1";
const B: &str = "198.18.20.1";
/// Time between the starts of two queries.
const QUERY_EVERY: Duration = Duration::from_millis(2);
/// How long site a's web server stays broken, then healthy, in each cycle.
const DOWN_FOR: Duration = Duration::from_secs(3);
const UP_FOR: Duration = Duration::from_secs(3);
const MARGIN_MS: u64 = 200;
const DEADLINE: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    interrupt::install();
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench soak: {e}");
            ExitCode::FAILURE
        }
    }
}

/// How long after site a's web server changes an answer may still show the old state:
/// max(fall, rise) probes one interval apart, the last one allowed to take its whole timeout,
/// one more interval for the phase of the probe cycle at the change, and a margin for the
/// answer map update and the query round trip.
fn detection_bound() -> Duration {
    let probes = u64::from(DEFAULT_FALL.max(DEFAULT_RISE));
    Duration::from_millis(probes * DEFAULT_INTERVAL_MS + DEFAULT_TIMEOUT_MS + DEFAULT_INTERVAL_MS + MARGIN_MS)
}

/// VmRSS of `pid` in KiB, from /proc/<pid>/status.
fn rss_kib(pid: u32) -> Result<u64, String> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status"))
}

/// Running means /proc/<pid> exists and is not a zombie (our child is not reaped before stop).
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|s| s != "Z" && s != "X"),
        Err(_) => false,
    }
}

#[derive(Default)]
struct Counts {
    queries: u64,
    answers: u64,
    timeouts: u64,
    /// Answers contained a while a had been down longer than the bound.
    wrong_with_a: u64,
    /// Answers lacked a while a had been up longer than the bound.
    wrong_without_a: u64,
    /// Answers without site b (always healthy), or with addresses of neither site.
    malformed: u64,
    /// Answers inside the bound after a change: either state is allowed.
    in_transition: u64,
}

fn run() -> Result<bool, String> {
    if !have_root("bench soak") {
        return Err("needs root (namespaces, XDP)".into());
    }
    let seconds = report::env_number("SWITCHYARD_SOAK_SECONDS", 60)?;
    let length = Duration::from_secs(seconds);
    let bound = detection_bound();

    let pair = Pair::new(SUBNET);
    let (web_a_addr, web_b_addr) = (format!("198.18.{SUBNET}.11"), format!("198.18.{SUBNET}.12"));
    pair.server.ip(&["addr", "add", &format!("{web_a_addr}/32"), "dev", "lo"]);
    pair.server.ip(&["addr", "add", &format!("{web_b_addr}/32"), "dev", "lo"]);
    let web_a = HttpServer::start(&pair.server, format!("{web_a_addr}:8080").parse::<SocketAddr>().unwrap());
    let web_b = HttpServer::start(&pair.server, format!("{web_b_addr}:8080").parse::<SocketAddr>().unwrap());
    let daemon = Daemon::start(
        &pair.server,
        // No [probe] table: the shipped defaults are what is exercised.
        &TwoSites {
            pair: &pair,
            site_a: A,
            site_b: B,
            health_a: web_a.url("/health"),
            health_b: web_b.url("/health"),
            database_a: None,
            fast_probes: false,
        }
        .toml(),
    );
    let pid = daemon.pid();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim().to_string();
    let mut watcher = Watcher::new(&pair.client, SocketAddr::new(pair.server_v4.into(), 53), "www.example.com");
    watcher
        .wait(Instant::now(), DEADLINE, |answer| answer == [A, B])
        .map_err(|e| format!("initial answer: {e}\n{}", daemon.log()))?;
    let rss_start = rss_kib(pid)?;

    println!(
        "== soak: {seconds} s, a query every {} ms ({} ms timeout), site a 503 for {} s / 200 for {} s, bound {} ms",
        QUERY_EVERY.as_millis(),
        watch::QUERY_TIMEOUT.as_millis(),
        DOWN_FOR.as_secs(),
        UP_FOR.as_secs(),
        bound.as_millis()
    );
    let mut counts = Counts::default();
    let mut a_up = true;
    let started = Instant::now();
    let mut changed = started; // a has been up since before the soak began (checked above)
    let mut next_flip = started; // first thing: a goes down
    let mut flips = 0u64;
    // Time from each change to the first answer showing it; None until seen.
    let (mut down_ms, mut up_ms) = (Vec::new(), Vec::new());
    let mut pending: Option<Instant> = None;
    let mut first_wrong: Vec<String> = Vec::new();
    while started.elapsed() < length {
        interrupt::check()?;
        let now = Instant::now();
        if now >= next_flip {
            a_up = !a_up;
            web_a.set("/health", if a_up { Behavior::Ok("ok".into()) } else { Behavior::Status(503) });
            changed = Instant::now();
            next_flip = changed + if a_up { UP_FOR } else { DOWN_FOR };
            flips += 1;
            pending = Some(changed);
        }
        let sent = Instant::now();
        counts.queries += 1;
        match watcher.ask() {
            None => counts.timeouts += 1,
            Some(answer) => {
                counts.answers += 1;
                let has_a = answer.iter().any(|a| a == A);
                let has_b = answer.iter().any(|a| a == B);
                // Order is not judged here: only which sites are in the answer.
                let as_expected = has_b && has_a == a_up;
                let settled = sent.duration_since(changed) > bound;
                if !has_b || answer.iter().any(|a| a != A && a != B) {
                    counts.malformed += 1;
                } else if as_expected {
                    if let Some(at) = pending.take() {
                        let ms = at.elapsed().as_secs_f64() * 1000.0;
                        if a_up { up_ms.push(ms) } else { down_ms.push(ms) }
                    }
                    if !settled {
                        counts.in_transition += 1;
                    }
                } else if !settled {
                    counts.in_transition += 1;
                } else if has_a {
                    counts.wrong_with_a += 1;
                } else {
                    counts.wrong_without_a += 1;
                }
                if settled && !as_expected && first_wrong.len() < 5 {
                    first_wrong.push(format!(
                        "{:.3} s: a {} for {} ms, answer {answer:?}",
                        started.elapsed().as_secs_f64(),
                        if a_up { "up" } else { "down" },
                        sent.duration_since(changed).as_millis()
                    ));
                }
            }
        }
        let spent = sent.elapsed();
        if spent < QUERY_EVERY {
            std::thread::sleep(QUERY_EVERY - spent);
        }
    }
    let elapsed = started.elapsed();
    let alive = running(pid);
    let rss_end = if alive { Some(rss_kib(pid)?) } else { None };
    let daemon_log = daemon.log();
    let exit = daemon.stop();
    // Leave a healthy before the servers go away (they are dropped next anyway).
    web_a.set("/health", Behavior::Ok("ok".into()));

    let wrong = counts.wrong_with_a + counts.wrong_without_a + counts.malformed;
    let down_summary = (!down_ms.is_empty()).then(|| stats::summarize(&down_ms));
    let up_summary = (!up_ms.is_empty()).then(|| stats::summarize(&up_ms));
    let document = json!({
        "bench": "soak",
        "seconds": seconds,
        "elapsed_s": round(elapsed.as_secs_f64() * 1000.0) / 1000.0,
        "probe": {
            "interval_ms": DEFAULT_INTERVAL_MS,
            "timeout_ms": DEFAULT_TIMEOUT_MS,
            "rise": DEFAULT_RISE,
            "fall": DEFAULT_FALL,
            "source": "shipped defaults: the config has no [probe] table",
        },
        "bound_ms": bound.as_millis() as u64,
        "bound_rule": format!("max(fall, rise) × interval + timeout + interval + {MARGIN_MS} ms margin, judged from when the query was sent"),
        "client": {
            "query_every_ms": QUERY_EVERY.as_millis() as u64,
            "query_timeout_ms": watch::QUERY_TIMEOUT.as_millis() as u64,
            "path": "UDP through XDP (native) on a veth",
        },
        "flapping": { "down_s": DOWN_FOR.as_secs(), "up_s": UP_FOR.as_secs(), "changes": flips, "how": "site a's /health: 503 ↔ 200" },
        "queries": counts.queries,
        "answers": counts.answers,
        "timeouts": counts.timeouts,
        "wrong_answers": wrong,
        "wrong_with_a_while_down": counts.wrong_with_a,
        "wrong_without_a_while_up": counts.wrong_without_a,
        "malformed_answers": counts.malformed,
        "answers_in_transition": counts.in_transition,
        "first_wrong": first_wrong,
        "detect_down": down_summary.as_ref().map(|s| s.to_json()),
        "detect_up": up_summary.as_ref().map(|s| s.to_json()),
        "daemon": {
            "pid": pid,
            "comm": comm,
            "running_at_end": alive,
            "crashes": u64::from(!alive),
            "exit_after_sigterm": exit.to_string(),
            "rss_kib_start": rss_start,
            "rss_kib_end": rss_end,
        },
    });
    let path = report::write_json("soak.json", &document)?;

    println!(
        "\nprobe settings (shipped defaults): interval {DEFAULT_INTERVAL_MS} ms, timeout {DEFAULT_TIMEOUT_MS} ms, rise {DEFAULT_RISE}, fall {DEFAULT_FALL}"
    );
    println!(
        "bound: max(fall, rise) × interval + timeout + interval + {MARGIN_MS} ms = {} ms after a change, from the query's send time\n",
        bound.as_millis()
    );
    let detect = |s: &Option<stats::Summary>| match s {
        Some(s) => format!("{} changes, median {} ms, max {} ms", s.trials, round(s.median_ms), round(s.max_ms)),
        None => "none seen".into(),
    };
    println!("| measure | value |");
    println!("|---|---:|");
    println!("| duration | {:.1} s |", elapsed.as_secs_f64());
    println!("| site a changes (503 ↔ 200) | {flips} |");
    println!("| queries | {} |", counts.queries);
    println!("| answers | {} |", counts.answers);
    println!("| timeouts | {} |", counts.timeouts);
    println!("| answers within the bound after a change (either state allowed) | {} |", counts.in_transition);
    println!("| wrong: a in answer while down > bound | {} |", counts.wrong_with_a);
    println!("| wrong: a missing while up > bound | {} |", counts.wrong_without_a);
    println!("| malformed (empty or unexpected addresses) | {} |", counts.malformed);
    println!("| a down → answer without a | {} |", detect(&down_summary));
    println!("| a up → answer with a and b | {} |", detect(&up_summary));
    println!("| daemon running at end (crashes) | {} ({}) |", if alive { "yes" } else { "no" }, u64::from(!alive));
    println!("| daemon exit after SIGTERM | {exit} |");
    println!("| daemon RSS start | {rss_start} KiB |");
    println!(
        "| daemon RSS end | {} |",
        rss_end
            .map(|r| format!("{r} KiB ({:+} KiB)", r as i64 - rss_start as i64))
            .unwrap_or_else(|| "daemon gone".into())
    );
    for line in &first_wrong {
        println!("wrong: {line}");
    }
    println!("\nwritten to {}", path.display());
    if wrong > 0 || !alive {
        eprintln!("{daemon_log}");
    }
    Ok(wrong == 0 && alive)
}
