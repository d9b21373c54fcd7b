//! `cargo xtask bench dnsperf`: Switchyard with XDP on and off, Knot DNS, NSD, BIND 9, PowerDNS
//! and gdnsd serving the same zone on the same veth pair, the signed rows (Switchyard's XDP
//! answers with the zone signed, Knot and PowerDNS signing, all asked with DO=1, see
//! `dnsperf::signed`), and the two floors they are held to
//! (an XDP reflector and a userspace echo, see `dnsperf::floors`), measured in turn with
//! dnsperf, then flooded in turn with kxdpgun, from the client namespace. Writes dnsperf.json under SWITCHYARD_BENCH_DIR, a table on stdout and
//! docs/dnsperf.svg.
//!
//! Environment: SWITCHYARD_DNSPERF_SECONDS (default 10), SWITCHYARD_DNSPERF_CLIENTS (4),
//! SWITCHYARD_DNSPERF_OUTSTANDING (100), SWITCHYARD_DNSPERF_MAX_QPS (unlimited),
//! SWITCHYARD_DNSPERF_EDNS=1 (queries with EDNS), SWITCHYARD_DNSPERF_NXDOMAIN=1 (every other
//! query for a different name that does not exist), SWITCHYARD_DNSPERF_NAMES (names in the
//! zone, default 10,000, at most 100,000), SWITCHYARD_DNSPERF_MAX_ENTRIES (the XDP answer
//! map's size; default room for every name's entries, at least 65,536),
//! SWITCHYARD_DNSPERF_SERVERS (comma-separated subset of the server names),
//! SWITCHYARD_DNSPERF_LATENCY_QPS (rate of the 3 s latency run that gives p50/p99, default
//! 50,000), SWITCHYARD_DNSPERF_ROUNDS (full-load runs per server, default 3; the run with the
//! median server-core CPU is reported, every run's CPU and qps are in the JSON),
//! SWITCHYARD_KXDPGUN_SECONDS (5), SWITCHYARD_KXDPGUN_QPS (2,000,000).

use std::{
    fs::File,
    net::Ipv4Addr,
    panic::{AssertUnwindSafe, catch_unwind},
    path::{Path, PathBuf},
    process::ExitCode,
    time::{Duration, Instant},
};

use switchyard::bpf::datapath::Datapath;
use switchyard_common::program_names;
use switchyard_tests::dnsperf::{
    chart, cores, floors, kernel,
    loadgen::{Load, Summary},
    process::{Running, tree_cpu_seconds},
    report::{GunRow, Row, gun_markdown, markdown},
    servers, signed,
    xdpgun::Gun,
    zone,
};
use switchyard_tests::{
    daemon::Daemon, netns::Netns, netns::unique, privileges::have_root, signed_zone, topology::Pair,
};

const SUBNET: u8 = 53;
const SERVER_CPU: usize = 0;
const CLIENT_CPU: usize = 1;
/// A client core busy at or above this share is what limits the number, not the server.
const CLIENT_BOUND_PERCENT: f64 = 90.0;
/// The name the readiness checks ask for: one in the middle of the default zone, the last one
/// of a smaller zone.
fn sample() -> usize {
    4242.min(zone::names() - 1)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench dnsperf: {e}");
            ExitCode::FAILURE
        }
    }
}

/// SWITCHYARD_DNSPERF_NXDOMAIN=1: every other query is for a name that does not exist.
fn nxdomain_mix() -> bool {
    std::env::var("SWITCHYARD_DNSPERF_NXDOMAIN").is_ok_and(|v| v == "1")
}

fn queries_described() -> &'static str {
    if nxdomain_mix() {
        "every name once as A and once as AAAA, shuffled, then every other query replaced by one for a different name that does not exist; dnsperf loops over the file"
    } else {
        "every name once as A and once as AAAA, shuffled; dnsperf loops over the file"
    }
}

/// Offered rate of the latency run: below what every server here sustains.
fn latency_qps() -> u32 {
    env_u32("SWITCHYARD_DNSPERF_LATENCY_QPS").unwrap_or(50_000)
}

fn env_u32(name: &str) -> Option<u32> {
    std::env::var(name).ok()?.parse().ok()
}

fn run() -> Result<(), String> {
    if !have_root("bench dnsperf") {
        return Err("needs root".into());
    }
    let load = Load {
        seconds: env_u32("SWITCHYARD_DNSPERF_SECONDS").unwrap_or(10).clamp(1, 60),
        clients: env_u32("SWITCHYARD_DNSPERF_CLIENTS").unwrap_or(4),
        outstanding: env_u32("SWITCHYARD_DNSPERF_OUTSTANDING").unwrap_or(100),
        max_qps: env_u32("SWITCHYARD_DNSPERF_MAX_QPS"),
        edns: env_u32("SWITCHYARD_DNSPERF_EDNS") == Some(1),
        dnssec: false,
        cpu: CLIENT_CPU,
    };
    // The signed rows' queries ask for signatures: the same file, with DO=1.
    let signed_load = Load { dnssec: true, ..load.clone() };
    let load_for = |name: &str| if signed::is_signed(name) { &signed_load } else { &load };
    let wanted: Option<Vec<String>> =
        std::env::var("SWITCHYARD_DNSPERF_SERVERS").ok().map(|s| s.split(',').map(|n| n.trim().to_string()).collect());
    let all: Vec<&str> =
        [floors::XDP, floors::XDP_TABLE, "switchyard-xdp", signed::SWITCHYARD, floors::ECHO, "switchyard-userspace"]
            .into_iter()
            .chain(servers::NAMES)
            .chain(signed::PEERS)
            .collect();
    let chosen: Vec<&str> =
        all.into_iter().filter(|n| wanted.as_ref().is_none_or(|w| w.iter().any(|x| x == n))).collect();

    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let queries = work.path().join("queries.txt");
    let mix = if nxdomain_mix() { zone::query_file_nxdomain() } else { zone::query_file() };
    std::fs::write(&queries, mix).map_err(|e| e.to_string())?;
    let queries_do = work.path().join("queries-do.txt");
    std::fs::write(&queries_do, zone::query_file_do()).map_err(|e| e.to_string())?;
    let gun_queries_for = |name: &str| if signed::is_signed(name) { &queries_do } else { &queries };

    let pair = Pair::new(SUBNET);
    cores::prepare(&pair)?;
    eprintln!("bench dnsperf: {} per server, servers pinned to CPU {SERVER_CPU}", load.describe());
    let mut rows = for_each_server(&chosen, work.path(), "", |name, dir| {
        with_server(name, &pair, dir, |s| measure(s, &pair, load_for(name), &queries))
    });
    floors::annotate(&mut rows);
    let gun = Gun {
        seconds: env_u32("SWITCHYARD_KXDPGUN_SECONDS").unwrap_or(5).clamp(1, 60),
        qps: env_u32("SWITCHYARD_KXDPGUN_QPS").unwrap_or(2_000_000),
        cpu: CLIENT_CPU,
    };
    eprintln!("bench dnsperf: now {}", gun.describe());
    let mut gun_rows = for_each_server(&chosen, work.path(), "-kxdpgun", |name, dir| {
        with_server(name, &pair, dir, |s| measure_gun(s, &pair, &gun, gun_queries_for(name)))
    });
    floors::annotate_gun(&mut gun_rows);
    drop(pair);
    write_results(&rows, &load, &gun_rows, &gun)
}

/// Runs `measure` for each server in a directory of its own; an error or a panic becomes that
/// server's row, marked as not measured, rather than the end of the bench.
fn for_each_server<R: HasFailure>(
    names: &[&str],
    work: &Path,
    suffix: &str,
    measure: impl Fn(&str, &Path) -> Result<R, String>,
) -> Vec<R> {
    names
        .iter()
        .map(|name| {
            eprintln!("bench dnsperf: {name}{suffix}");
            let dir = work.join(format!("{name}{suffix}"));
            let result = std::fs::create_dir_all(&dir).map_err(|e| e.to_string()).and_then(|()| {
                catch_unwind(AssertUnwindSafe(|| measure(name, &dir))).unwrap_or_else(|panic| Err(panic_text(&panic)))
            });
            let row = result.unwrap_or_else(|why| R::not_measured(name, why));
            if let Some(why) = row.failure() {
                eprintln!("bench dnsperf: {name}{suffix} failed: {why}");
            }
            row
        })
        .collect()
}

/// A result row that can also say why a server was not measured.
trait HasFailure {
    fn not_measured(name: &str, why: String) -> Self;
    fn failure(&self) -> Option<&str>;
}

impl HasFailure for Row {
    fn not_measured(name: &str, why: String) -> Row {
        Row::failed(name, "", why)
    }
    fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }
}

impl HasFailure for GunRow {
    fn not_measured(name: &str, why: String) -> GunRow {
        GunRow::failed(name, why)
    }
    fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panicked".into())
}

/// Starts `name` in the server namespace, checks an answer, runs `measure` on it, stops it.
fn with_server<T>(
    name: &str,
    pair: &Pair,
    dir: &Path,
    measure: impl FnOnce(&UnderTest) -> Result<T, String>,
) -> Result<T, String> {
    match name {
        "switchyard-xdp" | "switchyard-userspace" | signed::SWITCHYARD => {
            let xdp = name != "switchyard-userspace";
            let is_signed = name == signed::SWITCHYARD;
            let key = if is_signed { Some(signed_zone::try_keygen(dir, "zone.key", "ecdsap256sha256")?) } else { None };
            let mode = if xdp { "native" } else { "off" };
            let toml = zone::switchyard_config_signed(&unique("db"), &pair.server_if, mode, key.as_deref());
            let daemon = Daemon::start(&pair.server, &toml);
            pin_all_threads(daemon.pid(), SERVER_CPU);
            let settings = format!(
                "Switchyard {}: [xdp] mode = \"{mode}\" on the server veth, max_entries = {}, {} static [[service]] entries, udp_threads = 1 (one UDP thread per listen address; queries go to the IPv4 one){}",
                if xdp { "XDP" } else { "userspace only" },
                zone::max_entries(),
                zone::names(),
                if is_signed {
                    "; the zone signed online ([zone.dnssec] ecdsap256sha256, key from switchyard dnssec keygen), DO=1 queries answered with their RRSIG from the SIGNATURES map; XDP answered % counts answered_signed"
                } else {
                    ""
                }
            );
            if xdp && !pair.server_has_xdp() {
                return Err("no XDP program on the server interface".into());
            }
            verify(&pair.client, pair.server_v4, || Ok(()))?;
            if is_signed {
                let before = daemon.xdp_counter("answered_signed");
                verify_signed(&pair.client, pair.server_v4, || Ok(()))?;
                if daemon.xdp_counter("answered_signed") == before {
                    return Err("the signed answers did not come from XDP (answered_signed did not rise)".into());
                }
            }
            // The signed row counts the answers XDP signed; the others every answer it sent.
            let answers = || match is_signed {
                true => daemon.xdp_counter("answered_signed"),
                false => daemon.xdp_counter("answered_v4") + daemon.xdp_counter("answered_v6"),
            };
            let probe = match (xdp, xdp_program_id(pair)) {
                (true, Some(program)) => Some(XdpProbe { program, answers: Some(&answers) }),
                (true, None) => return Err("cannot find the attached XDP program".into()),
                (false, _) => None,
            };
            let result = measure(&UnderTest { name, settings, pid: Some(daemon.pid()), xdp: probe });
            if xdp {
                eprintln!("bench dnsperf: {name}: XDP counters after all runs {}", daemon.stats()["xdp"]);
            }
            result
        }
        floors::XDP => {
            let _reflector = attach_floor(pair, program_names::REFLECT, None)?;
            verify_reflects(&pair.client, pair.server_v4, || Ok(()))?;
            let program = xdp_program_id(pair).ok_or("cannot find the attached reflector")?;
            let settings = "XDP reflector (switchyard_reflect) in native mode on the server veth".to_string();
            measure(&UnderTest { name, settings, pid: None, xdp: Some(XdpProbe { program, answers: None }) })
        }
        floors::XDP_TABLE => {
            let _floor = attach_floor(pair, program_names::TABLE_FLOOR, Some(zone::max_entries()))?;
            verify_reflects(&pair.client, pair.server_v4, || Ok(()))?;
            let program = xdp_program_id(pair).ok_or("cannot find the attached table floor")?;
            let settings = format!(
                "XDP table floor (switchyard_table_floor: the reflector and one slot head read, the slot picked by the name's first 8 bytes) in native mode on the server veth, a table for max_entries = {} as Switchyard's",
                zone::max_entries()
            );
            measure(&UnderTest { name, settings, pid: None, xdp: Some(XdpProbe { program, answers: None }) })
        }
        floors::ECHO => {
            let echo =
                std::env::current_exe().map_err(|e| e.to_string())?.with_file_name("switchyard-bench-echo-floor");
            let argv = vec![echo.display().to_string(), format!("{}:53", pair.server_v4)];
            let log_path = dir.join("server.log");
            let log = File::create(&log_path).map_err(|e| e.to_string())?;
            let mut server =
                Running::start(&pair.server, &argv, SERVER_CPU, log).map_err(|e| format!("{}: {e}", argv[0]))?;
            let check = || match server.exited() {
                Some(status) => Err(format!("exited with {status}")),
                None => Ok(()),
            };
            verify_reflects(&pair.client, pair.server_v4, check)
                .map_err(|e| format!("{e} (log: {})", tail(&log_path)))?;
            let settings = "userspace echo: one thread, recvmmsg/sendmmsg batches of 64, QR set".to_string();
            measure(&UnderTest { name, settings, pid: Some(server.pid()), xdp: None })
        }
        _ => {
            let spec = servers::prepare(name, dir, pair.server_v4).map_err(|e| format!("config: {e}"))?;
            let log_path = dir.join("server.log");
            let log = File::create(&log_path).map_err(|e| e.to_string())?;
            let mut server = Running::start(&pair.server, &spec.argv, SERVER_CPU, log)
                .map_err(|e| format!("{}: {e}", spec.argv[0]))?;
            let mut check = || match server.exited() {
                Some(status) => Err(format!("exited with {status}")),
                None => Ok(()),
            };
            verify(&pair.client, pair.server_v4, &mut check).map_err(|e| format!("{e} (log: {})", tail(&log_path)))?;
            if signed::is_signed(name) {
                verify_signed(&pair.client, pair.server_v4, &mut check)
                    .map_err(|e| format!("{e} (log: {})", tail(&log_path)))?;
            }
            pin_all_threads(server.pid(), SERVER_CPU);
            measure(&UnderTest { name, settings: spec.settings, pid: Some(server.pid()), xdp: None })
        }
    }
}

/// A server that is up and answering.
struct UnderTest<'a> {
    name: &'a str,
    settings: String,
    /// The server's process; none for the XDP reflector, which is only a program.
    pid: Option<u32>,
    xdp: Option<XdpProbe<'a>>,
}

/// Answered rate and server-core CPU under kxdpgun, which brings its own XDP program for the
/// client end in place of the pass program.
fn measure_gun(s: &UnderTest, pair: &Pair, gun: &Gun, queries: &Path) -> Result<GunRow, String> {
    pair.detach_client_program();
    let result = (|| {
        cores::pin_napi_threads(pair, SERVER_CPU, CLIENT_CPU)?;
        let cpu0 = s.pid.map(tree_cpu_seconds);
        let (server0, client0) = (cores::busy_seconds(SERVER_CPU)?, cores::busy_seconds(CLIENT_CPU)?);
        let g = gun.run(&pair.client, &pair.client_if, pair.server_v4, queries)?;
        let cpu1 = s.pid.map(tree_cpu_seconds);
        let (server1, client1) = (cores::busy_seconds(SERVER_CPU)?, cores::busy_seconds(CLIENT_CPU)?);
        if g.replies == 0 {
            return Err("no reply to kxdpgun".into());
        }
        let per_reply = |seconds: f64| seconds * 1e6 / g.replies as f64;
        Ok(GunRow {
            name: s.name.into(),
            offered_qps: gun.qps,
            sent: g.sent,
            replies: g.replies,
            noerror: g.noerror,
            answered_qps: g.replies as f64 / gun.seconds as f64,
            server_core_us_per_query: per_reply(server1 - server0),
            process_cpu_us_per_query: cpu1.zip(cpu0).map_or(0.0, |(c1, c0)| per_reply(c1 - c0)),
            // Over the sending time; kxdpgun's own start and stop add a little idle time around it.
            server_core_percent: (server1 - server0) / gun.seconds as f64 * 100.0,
            client_core_percent: (client1 - client0) / gun.seconds as f64 * 100.0,
            failed: None,
            floor: None,
            x_floor: None,
        })
    })();
    // kxdpgun leaves its program attached when it exits (for reuse); ours goes back in its place.
    pair.client.ip(&["link", "set", "dev", &pair.client_if, "xdp", "off"]);
    pair.attach_client_program();
    result
}

/// What the XDP rows measure besides CPU: the program's id (for its run-time statistics) and
/// how many answers it has sent so far, where it counts them.
struct XdpProbe<'a> {
    program: u32,
    answers: Option<&'a dyn Fn() -> u64>,
}

/// One dnsperf run with CPU accounting around it.
fn measure(s: &UnderTest, pair: &Pair, load: &Load, queries: &Path) -> Result<Row, String> {
    let mut runs = (0..rounds()).map(|_| measure_round(s, pair, load, queries)).collect::<Result<Vec<_>, _>>()?;
    let round_cpu_us_per_query: Vec<f64> = runs.iter().filter_map(|r| r.cpu_us_per_query).collect();
    let round_qps: Vec<f64> = runs.iter().map(|r| r.qps).collect();
    // The run with the median server-core CPU stands for the server, all its figures together.
    runs.sort_by(|a, b| a.cpu_us_per_query.unwrap_or(f64::MAX).total_cmp(&b.cpu_us_per_query.unwrap_or(f64::MAX)));
    let mut row = runs.swap_remove(runs.len() / 2);
    row.round_cpu_us_per_query = round_cpu_us_per_query;
    row.round_qps = round_qps;
    // Extra runs after the CPU runs: the program's own run time in another full-load run (BPF
    // statistics cost two clock reads per run, kept out of the CPU figures), then latency.
    row.bpf_ns_per_query = match &s.xdp {
        Some(x) => bpf_run_time(x.program, load, pair, queries)?,
        None => None,
    };
    row.fixed_rate_latency = Some(load.latency(&pair.client, pair.server_v4, queries, latency_qps())?);
    Ok(row)
}

/// Full-load runs per server (SWITCHYARD_DNSPERF_ROUNDS, default 3).
fn rounds() -> usize {
    env_u32("SWITCHYARD_DNSPERF_ROUNDS").unwrap_or(3).clamp(1, 9) as usize
}

/// One full-load dnsperf run with CPU accounting around it.
fn measure_round(s: &UnderTest, pair: &Pair, load: &Load, queries: &Path) -> Result<Row, String> {
    let (name, pid, xdp, settings) = (s.name, s.pid, s.xdp.as_ref(), s.settings.clone());
    // Pinned before every run, so a NAPI thread the kernel recreated is pinned too.
    cores::pin_napi_threads(pair, SERVER_CPU, CLIENT_CPU)?;
    let xdp_answers0 = xdp.and_then(|x| x.answers).map(|answers| answers());
    let cpu0 = pid.map(tree_cpu_seconds);
    let (server0, client0) = (cores::busy_seconds(SERVER_CPU)?, cores::busy_seconds(CLIENT_CPU)?);
    let kernel0 = kernel::machine_kernel_seconds();
    let s: Summary = load.run(&pair.client, pair.server_v4, queries)?;
    let cpu1 = pid.map(tree_cpu_seconds);
    let (server1, client1) = (cores::busy_seconds(SERVER_CPU)?, cores::busy_seconds(CLIENT_CPU)?);
    let kernel1 = kernel::machine_kernel_seconds();
    let xdp_answers1 = xdp.and_then(|x| x.answers).map(|answers| answers());
    if s.completed == 0 {
        return Err(format!("no query answered: {}", s.output.trim()));
    }
    let per_query = |seconds: f64| Some(seconds * 1e6 / s.completed as f64);
    let xdp_answered_percent = match (xdp_answers0, xdp_answers1) {
        (Some(a0), Some(a1)) => Some((a1 - a0) as f64 * 100.0 / s.completed as f64),
        _ => None,
    };
    let client_cpu_percent = s.client_cpu_s / s.wall_s * 100.0;
    // dnsperf plus the client end's packet work: the whole client core.
    let client_core_percent = (client1 - client0) / s.wall_s * 100.0;
    Ok(Row {
        name: name.into(),
        settings,
        failed: None,
        qps: s.qps,
        avg_latency_ms: s.avg_latency_s.map(|v| v * 1e3),
        latency_stddev_ms: s.latency_stddev_s.map(|v| v * 1e3),
        fixed_rate_latency: None,
        sent: s.sent,
        completed: s.completed,
        lost: s.lost,
        noerror: s.noerror,
        response_bytes: s.response_bytes,
        cpu_us_per_query: per_query(server1 - server0),
        cpu_basis: format!(
            "busy time of CPU {SERVER_CPU}, the server core: the server's threads and the server end's packet work (threaded NAPI pinned there, XDP included)"
        ),
        process_cpu_us_per_query: cpu1.zip(cpu0).and_then(|(c1, c0)| per_query(c1 - c0)),
        client_core_us_per_query: per_query(client1 - client0),
        machine_kernel_us_per_query: per_query(kernel1 - kernel0),
        bpf_ns_per_query: None,
        xdp_answered_percent,
        client_cpu_percent,
        client_core_percent,
        client_bound: client_core_percent >= CLIENT_BOUND_PERCENT,
        round_cpu_us_per_query: Vec::new(),
        round_qps: Vec::new(),
        floor: None,
        x_floor: None,
    })
}

/// Nanoseconds per run of the XDP program `id` over a full-load run with BPF statistics on.
fn bpf_run_time(id: u32, load: &Load, pair: &Pair, queries: &Path) -> Result<Option<f64>, String> {
    let _stats = kernel::BpfStats::enable();
    let before = kernel::program_runtime(id);
    load.run(&pair.client, pair.server_v4, queries)?;
    Ok(match (before, kernel::program_runtime(id)) {
        (Some((t0, n0)), Some((t1, n1))) if n1 > n0 => Some((t1 - t0) as f64 / (n1 - n0) as f64),
        _ => None,
    })
}

/// Asks `check` every 300 ms until it is satisfied, for at most 30 s, failing at once when the
/// server is gone (`alive`); `check` says what it saw while it is not.
fn wait_until(
    mut alive: impl FnMut() -> Result<(), String>,
    mut check: impl FnMut() -> Result<(), String>,
) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        alive()?;
        match check() {
            Ok(()) => return Ok(()),
            Err(last) if Instant::now() >= deadline => return Err(format!("{last}, for 30 s")),
            Err(_) => std::thread::sleep(Duration::from_millis(300)),
        }
    }
}

/// Waits until the server answers the sample A and AAAA queries with exactly the zone's records.
fn verify(client: &Netns, server: Ipv4Addr, alive: impl FnMut() -> Result<(), String>) -> Result<(), String> {
    let name = zone::name(sample());
    let want_a: Vec<String> = sorted(zone::a(sample()).iter().map(|a| a.to_string()));
    let want_aaaa: Vec<String> = sorted(zone::aaaa(sample()).iter().map(|a| a.to_string()));
    wait_until(alive, || {
        let a = dig_short(client, server, &name, "A");
        let aaaa = dig_short(client, server, &name, "AAAA");
        if a == want_a && aaaa == want_aaaa {
            return Ok(());
        }
        Err(format!(
            "no correct answer for {name} (last: A {a:?}, AAAA {aaaa:?}; want A {want_a:?}, AAAA {want_aaaa:?})"
        ))
    })
}

/// Waits until the sample name's A and AAAA answers to DO=1 queries carry their RRSIG.
fn verify_signed(client: &Netns, server: Ipv4Addr, alive: impl FnMut() -> Result<(), String>) -> Result<(), String> {
    let name = zone::name(sample());
    wait_until(alive, || {
        signed::check_signed(client, server, &name, "A")
            .and_then(|()| signed::check_signed(client, server, &name, "AAAA"))
    })
}

/// Waits until a floor sends the sample query back as its reply: NOERROR, QR set, no answer.
fn verify_reflects(client: &Netns, server: Ipv4Addr, alive: impl FnMut() -> Result<(), String>) -> Result<(), String> {
    let name = zone::name(sample());
    wait_until(alive, || {
        let out = client.output("dig", &[&format!("@{server}"), &name, "A", "+time=1", "+tries=1", "+noedns"]);
        let last = String::from_utf8_lossy(&out.stdout).into_owned();
        if last.contains("status: NOERROR") && last.contains("flags: qr") && last.contains("ANSWER: 0") {
            return Ok(());
        }
        Err(format!("the query for {name} did not come back as a reply (last: {last})"))
    })
}

/// Attaches a floor program of the XDP object (the reflector or the table floor) to the server
/// end, loaded as the daemon loads the object, with an answer table for `max_entries` sets (the
/// table floor reads it; for the reflector, which does not, the smallest); detached when the
/// returned handle is dropped.
fn attach_floor(pair: &Pair, name: &'static str, max_entries: Option<u64>) -> Result<Datapath, String> {
    let iface = pair.server_if.clone();
    let max_entries = u32::try_from(max_entries.unwrap_or(1)).map_err(|_| "max_entries over u32")?;
    pair.server.enter(move || {
        let mut datapath = Datapath::load(None, max_entries).map_err(|e| format!("load the XDP object: {e}"))?;
        let program = datapath.program(name).map_err(|e| e.to_string())?;
        program.attach(&iface, aya::programs::XdpMode::Driver).map_err(|e| format!("attach {name}: {e}"))?;
        Ok(datapath)
    })
}

fn sorted(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = items.collect();
    v.sort();
    v
}

fn dig_short(client: &Netns, server: Ipv4Addr, name: &str, rtype: &str) -> Vec<String> {
    let out = client.output("dig", &[&format!("@{server}"), name, rtype, "+short", "+time=1", "+tries=1"]);
    sorted(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with(';'))
            .map(String::from),
    )
}

/// Keeps every thread of the server on its own core, away from dnsperf.
fn pin_all_threads(pid: u32, cpu: usize) {
    let _ = std::process::Command::new("taskset").args(["-a", "-p", "-c", &cpu.to_string(), &pid.to_string()]).output();
}

fn xdp_program_id(pair: &Pair) -> Option<u32> {
    let out = pair.server.output("ip", &["-d", "link", "show", "dev", &pair.server_if]);
    kernel::attached_xdp_id(&String::from_utf8_lossy(&out.stdout))
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(3).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" / ")
}

fn out_dir() -> PathBuf {
    std::env::var_os("SWITCHYARD_BENCH_DIR").map(PathBuf::from).unwrap_or_else(|| "target/bench".into())
}

fn first_line_of(path: &str, prefix: &str) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(prefix).map(|m| m.trim_start_matches([' ', '\t', ':']).to_string()))
        .unwrap_or_default()
}

fn write_results(rows: &[Row], load: &Load, gun_rows: &[GunRow], gun: &Gun) -> Result<(), String> {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
    let cpu = first_line_of("/proc/cpuinfo", "model name");
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let json = serde_json::json!({
        "date": date,
        "kernel": kernel,
        "cpu": cpu,
        // Other work on the machine shifts every number; the 1/5/15-minute load says how much there was.
        "loadavg_at_end": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "load": load.describe(),
        "rounds": rounds(),
        "zone": format!("{} names under {}, 2 A + 2 AAAA each", zone::names(), zone::ZONE),
        "queries": queries_described(),
        "topology": "server and client namespaces joined by one veth pair; pass-through XDP program on the client end; \
                     threaded NAPI on both ends, the server end's thread pinned to the server core and the client end's to the client core; \
                     GRO on the server end (so it polls without XDP too), TSO off on the client end",
        "latency_note": format!(
            "avg_latency_ms is dnsperf's average at full load (mostly the -q queue); p50/p99 come from a separate {} s run at a fixed {} qps with dnsperf -v (one latency per response)",
            3,
            latency_qps()
        ),
        "client_bound_note": "client-bound when the client core (dnsperf and the client end's NAPI thread) was at least 90% busy",
        "servers": rows.iter().map(Row::to_json).collect::<Vec<_>>(),
        "kxdpgun": {
            "load": gun.describe(),
            "note": "kxdpgun sends and receives through AF_XDP on the client end (its own XDP program replaces the pass program there); \
                     answered_qps is replies over the run; CPU on the same server-core basis as above",
            "servers": gun_rows.iter().map(GunRow::to_json).collect::<Vec<_>>(),
        },
    });
    let dir = out_dir();
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let names = if zone::names() == zone::DEFAULT_NAMES { String::new() } else { format!("-{}names", zone::names()) };
    let mix = if nxdomain_mix() { "-nxdomain" } else { "" };
    let path = dir.join(format!("dnsperf{mix}{names}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap())
        .map_err(|e| format!("{}: {e}", path.display()))?;

    println!("dnsperf, {} names, {}; {}; kernel {kernel}, {cpu}", zone::names(), queries_described(), load.describe());
    print!("{}", markdown(rows));
    println!("\nkxdpgun: {}", gun.describe());
    print!("{}", gun_markdown(gun_rows));
    for r in rows.iter().filter(|r| r.failed.is_none()) {
        println!("- {}: {}; CPU basis: {}", r.name, r.settings, r.cpu_basis);
    }
    println!("written to {}", path.display());
    // A partial run (SWITCHYARD_DNSPERF_SERVERS), another mix or another zone size must not
    // replace the published chart.
    let partial = std::env::var_os("SWITCHYARD_DNSPERF_SERVERS").is_some() || !mix.is_empty() || !names.is_empty();
    let chart_dir = if partial { dir.clone() } else { docs_dir() };
    let svg = chart_dir.join("dnsperf.svg");
    std::fs::create_dir_all(&chart_dir).map_err(|e| e.to_string())?;
    chart::draw(rows, &svg, &format!("{} s per server, {cpu}", load.seconds))?;
    println!("chart: {}", svg.display());
    Ok(())
}

/// docs/ at the workspace root (the bench runs from there under xtask, but need not).
fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(|p| p.join("docs")).unwrap_or_else(|| "docs".into())
}
