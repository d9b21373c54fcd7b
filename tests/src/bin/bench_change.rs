//! `cargo xtask bench change`: changing a running server under load. Site a's DNS server (XDP
//! on) takes a steady UDP load (A and AAAA from XDP, NXDOMAIN from userspace) and a sequential
//! client that also asks over TCP; site b's DNS server, which knows site a from its
//! heartbeats, is asked for www all along. Steps: a reload that adds 1,000 services and
//! removes 1,000; a restart with the same binary (the new daemon takes over); an upgrade whose
//! program differs (swapped in place); SIGKILL, then a start 5 s later. Per step: queries
//! sent, lost, wrong, time until the new answers were served, and how long site b's server
//! answered without site a. SWITCHYARD_BENCH_QPS sets the load (default 20,000). Writes
//! change.json under SWITCHYARD_BENCH_DIR (default target/bench).

use std::{
    net::SocketAddr,
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use hickory_proto::{
    op::{Message, ResponseCode},
    rr::RecordType,
};
use serde_json::{Value, json};
use switchyard_tests::{
    bench::{interrupt, load::Load, report, watch::Watcher},
    daemon::Daemon,
    link,
    netns::Netns,
    peer_sites::{A, B, config},
    privileges::have_root,
    query_loop::{self, QueryLoop},
    topology::Pair,
};

const SUBNET: u8 = 44;
const LINK_SUBNET: u8 = 45;
const STALE_AFTER_MS: u64 = 1500;
const SERVICES: usize = 1000;

fn main() -> ExitCode {
    interrupt::install();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench change: {e}");
            ExitCode::FAILURE
        }
    }
}

/// n % 3: www A, www AAAA... (site a has no AAAA: NODATA), a missing name.
fn check(n: usize, message: &Message) -> bool {
    let addrs: Vec<String> = message.answers.iter().map(|r| r.data.to_string()).collect();
    match n % 3 {
        0 => addrs == [A, B],
        1 => message.metadata.response_code == ResponseCode::NoError && addrs.is_empty(),
        _ => message.metadata.response_code == ResponseCode::NXDomain,
    }
}

fn tcp_check(kind: query_loop::Kind, message: &Message) -> Result<(), String> {
    let addrs: Vec<String> = message.answers.iter().map(|r| r.data.to_string()).collect();
    let ok = match kind {
        query_loop::Kind::A | query_loop::Kind::Tcp => addrs == [A, B],
        query_loop::Kind::Aaaa => addrs.is_empty(),
        query_loop::Kind::Missing => message.metadata.response_code == ResponseCode::NXDomain,
    };
    if ok { Ok(()) } else { Err(format!("{addrs:?}")) }
}

/// Services s0..s999 (or t0..t999) with fixed addresses.
fn services(prefix: &str) -> String {
    (0..SERVICES)
        .map(|i| {
            format!(
                "\n[[service]]\nname = \"{prefix}{i}.example.com.\"\na = [\"198.19.{}.{}\"]\n",
                i / 250,
                i % 250 + 1
            )
        })
        .collect()
}

/// Polls site b's server for www; total time it answered without site a.
struct WithoutA {
    stop: Arc<AtomicBool>,
    without_ms: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WithoutA {
    fn start(ns: &Netns) -> WithoutA {
        let (stop, without_ms) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let mut watcher = Watcher::new(ns, SocketAddr::new([127, 0, 0, 1].into(), 53), "www.example.com.");
        let (flag, total) = (stop.clone(), without_ms.clone());
        let thread = std::thread::spawn(move || {
            let mut last = Instant::now();
            while !flag.load(Ordering::SeqCst) {
                let answer = watcher.ask();
                let now = Instant::now();
                if answer.is_some_and(|a| !a.contains(&A.to_string())) {
                    total.fetch_add(now.duration_since(last).as_millis() as u64, Ordering::Relaxed);
                }
                last = now;
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        WithoutA { stop, without_ms, thread: Some(thread) }
    }

    /// Milliseconds without site a since the last call.
    fn take(&self) -> u64 {
        self.without_ms.swap(0, Ordering::Relaxed)
    }
}

impl Drop for WithoutA {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run() -> Result<(), String> {
    if !have_root("bench change") {
        return Err("needs root (namespaces, XDP)".into());
    }
    let qps = report::env_number("SWITCHYARD_BENCH_QPS", 20_000)?;
    let keys = tempfile::tempdir().map_err(|e| e.to_string())?;
    let key = switchyard_tests::key_file::write(keys.path(), "peer.key", "shared-peer-key-0123456789abcdef")?;
    let pair = Pair::new(SUBNET);
    let site_b = Netns::new("syb");
    link::join(&pair.server, &site_b, LINK_SUBNET);
    let base_a = config("a", &[("b", format!("198.18.{LINK_SUBNET}.2"))], &key, Some(&pair.server_if))
        .replace("mode = \"native\"", &format!("mode = \"native\"\nstale_after_ms = {STALE_AFTER_MS}"));
    let config_a = base_a.clone() + &services("s");
    let config_b = config("b", &[("a", format!("198.18.{LINK_SUBNET}.1"))], &key, None);
    let mut daemon_a = Daemon::start(&pair.server, &config_a);
    let _daemon_b = Daemon::start(&site_b, &config_b);
    let server = SocketAddr::new(pair.server_v4.into(), 53);
    let mut www = Watcher::new(&pair.client, server, "www.example.com.");
    www.wait(Instant::now(), Duration::from_secs(10), |a| a == [A, B])?;
    let mut at_b = Watcher::new(&site_b, SocketAddr::new([127, 0, 0, 1].into(), 53), "www.example.com.");
    at_b.wait(Instant::now(), Duration::from_secs(10), |a| a == [A, B])?;

    let questions = vec![
        ("www.example.com.".to_string(), RecordType::A),
        ("www.example.com.".to_string(), RecordType::AAAA),
        ("missing.example.com.".to_string(), RecordType::A),
    ];
    let mut measures = Measures {
        load: Load::start(&pair.client, server, qps, questions, check),
        tcp: Some(tcp_loop(&pair, server)),
        without_a: WithoutA::start(&site_b),
        pair: &pair,
        server,
    };
    std::thread::sleep(Duration::from_secs(1));
    measures.step("warm-up", Duration::ZERO, json!({}));
    let mut steps: Vec<Value> = Vec::new();

    // 1. Reload: 1,000 services added, 1,000 removed.
    println!("== reload: +{SERVICES} -{SERVICES} services at {qps} qps");
    std::fs::write(&daemon_a.config, base_a.clone() + &services("t")).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let said = daemon_a.cli(&["reload"]);
    let mut added = Watcher::new(&pair.client, server, &format!("t{}.example.com.", SERVICES - 1));
    let served = added.wait(started, Duration::from_secs(10), |a| !a.is_empty())?;
    std::thread::sleep(Duration::from_secs(2));
    steps.push(measures.step("reload +1000 -1000 services", served, json!({ "reload": said.trim() })));

    // 2. Restart with the same binary: a new daemon takes over.
    println!("== restart (takeover)");
    let started = Instant::now();
    let successor = Daemon::start(&pair.server, &std::fs::read_to_string(&daemon_a.config).map_err(|e| e.to_string())?);
    let ready = started.elapsed();
    let old = std::mem::replace(&mut daemon_a, successor);
    old.replaced();
    std::thread::sleep(Duration::from_secs(2));
    steps.push(measures.step("restart, same binary", ready, json!({})));

    // 3. Upgrade: a successor whose answer map has another size, so that its program is new and
    //    swapped in place with BPF_LINK_UPDATE, as when a rebuilt object differs.
    println!("== upgrade (program replaced in place)");
    let upgraded = std::fs::read_to_string(&daemon_a.config)
        .map_err(|e| e.to_string())?
        .replace("mode = \"native\"", "mode = \"native\"\nmax_entries = 70000");
    let started = Instant::now();
    let successor = Daemon::start(&pair.server, &upgraded);
    let ready = started.elapsed();
    let old = std::mem::replace(&mut daemon_a, successor);
    old.replaced();
    // The log is coloured: "how", "=" and "Replaced" are apart.
    let replaced = daemon_a.log().lines().any(|l| l.contains("taken over") && l.contains("Replaced"));
    std::thread::sleep(Duration::from_secs(2));
    let how = "answer map resized (max_entries), so the program differs";
    steps.push(measures.step("upgrade, program replaced", ready, json!({ "program_replaced": replaced, "how": how })));

    // 4. SIGKILL, a start 5 s later.
    println!("== SIGKILL, start 5 s later");
    // SAFETY: signalling the daemon we started, by PID.
    unsafe { libc::kill(daemon_a.pid() as i32, libc::SIGKILL) };
    let killed = Instant::now();
    let mut probe = Watcher::new(&pair.client, server, "www.example.com.");
    let stopped_answering = first_silence(&mut probe, killed)?;
    std::thread::sleep(Duration::from_secs(5).saturating_sub(killed.elapsed()));
    let config_now = std::fs::read_to_string(&daemon_a.config).map_err(|e| e.to_string())?;
    let _ = daemon_a.stop();
    let started = Instant::now();
    daemon_a = Daemon::start(&pair.server, &config_now);
    let back = probe.wait(started, Duration::from_secs(10), |a| a == [A, B])?;
    let b_back = at_b.wait(started, Duration::from_secs(10), |a| a == [A, B])?;
    std::thread::sleep(Duration::from_secs(1));
    let extra = json!({
        "xdp_stopped_answering_ms": ms(stopped_answering),
        "stale_after_ms": STALE_AFTER_MS,
        "site_b_answers_a_again_ms": ms(b_back),
        "note": "queries during the 5 s without a daemon are lost by design",
    });
    steps.push(measures.step("SIGKILL, start 5 s later", back, extra));
    // Under the load still running.
    let sigterm = daemon_a.time_sigterm();
    measures.finish();
    println!("SIGTERM to exit: {:.1} ms", ms(sigterm));
    let document = json!({ "bench": "change", "qps": qps, "steps": steps, "sigterm_to_exit_ms": ms(sigterm) });
    let path = report::write_json("change.json", &document)?;
    print_table(&steps);
    println!("\nwritten to {}", path.display());
    Ok(())
}

fn tcp_loop(pair: &Pair, server: SocketAddr) -> QueryLoop {
    QueryLoop::start(&pair.client, server, "www.example.com.", "missing.example.com.", tcp_check)
}

/// What every step measures: the UDP load, the sequential client (UDP and TCP), and site b.
struct Measures<'a> {
    load: Load,
    tcp: Option<QueryLoop>,
    without_a: WithoutA,
    pair: &'a Pair,
    server: SocketAddr,
}

impl Measures<'_> {
    fn finish(self) {
        let _ = self.load.finish();
        if let Some(tcp) = self.tcp {
            tcp.finish();
        }
    }

    /// Ends a step: the counts since the last one, each query's fate settled (a query
    /// unanswered for a second is lost).
    fn step(&mut self, name: &str, served: Duration, extra: Value) -> Value {
        let tally = self.tcp.take().map(QueryLoop::finish).unwrap_or_default();
        self.tcp = Some(tcp_loop(self.pair, self.server));
        let w = self.load.take();
        let without_a_ms = self.without_a.take();
        println!(
            "{name}: sent {} lost {} wrong {}; sequential {} lost {} wrong {}; served after {:.1} ms; \
             b without a {without_a_ms} ms",
            w.sent,
            w.lost,
            w.wrong,
            tally.sent,
            tally.lost,
            tally.wrong,
            ms(served)
        );
        json!({
            "step": name,
            "sent": w.sent,
            "answered": w.answered,
            "lost": w.lost,
            "wrong": w.wrong,
            "sequential": { "sent": tally.sent, "lost": tally.lost, "wrong": tally.wrong, "problems": tally.problems },
            "served_after_ms": ms(served),
            "site_b_without_a_ms": without_a_ms,
            "detail": extra,
        })
    }
}

fn print_table(steps: &[Value]) {
    println!(
        "\n| step | sent | lost | wrong | sequential UDP+TCP sent / lost | new answers served after (ms) | site b without site a (ms) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for s in steps {
        println!(
            "| {} | {} | {} | {} | {} / {} | {} | {} |",
            s["step"].as_str().unwrap_or(""),
            s["sent"],
            s["lost"],
            s["wrong"],
            s["sequential"]["sent"],
            s["sequential"]["lost"],
            s["served_after_ms"],
            s["site_b_without_a_ms"]
        );
    }
}

/// Asks until a query goes unanswered; the time since `since`.
fn first_silence(probe: &mut Watcher, since: Instant) -> Result<Duration, String> {
    while since.elapsed() < Duration::from_secs(10) {
        interrupt::check()?;
        if probe.ask().is_none() {
            return Ok(since.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Err("XDP still answered 10 s after SIGKILL".into())
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0
}
