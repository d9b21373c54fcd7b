//! `cargo xtask`: how Switchyard is set up, built, run, tested and measured.

mod packages;
mod toolchain;

use std::{
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

const USAGE: &str = "\
usage: cargo xtask <command>
  setup              install what the eBPF build needs (nightly rust-src, bpf-linker)
  build [--release]  build the XDP object and the daemon (embeds the object)
  run [ARGS...]      build, then `switchyard ARGS`; with no ARGS, run the demo lab
  demo [--keep]      build, then bring up the lab in namespaces and show it working
  test               build, install test clients, run every test (needs root)
  bench xdp [case..] nanoseconds per packet of the XDP program (BPF_PROG_TEST_RUN)
  bench sync         database sync between two sites: changes/s, lag at 1,000 changes/s, RSS under attack
  bench sync-faults  three sites through kills, cuts, pauses, a restore and a lossy proxy; then a verdict
  bench dnsperf      dnsperf against Switchyard (XDP on/off), Knot, NSD, BIND, PowerDNS, gdnsd; signed (DO=1) rows
  bench failover     ms from a site's web server or database failing (and back) to the answer
  bench peers        ms from a peer DNS server's death to the answer without its site
  bench soak         steady queries while a site flaps: wrong answers, timeouts, crashes, RSS
  bench change       reload, restart and SIGKILL under 20,000 qps: lost and wrong queries, site b's view
  bench rrl          kxdpgun flood from one /24 beside dnsperf from another: rate limiting on both paths";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => toolchain::setup(),
        Some("build") => build(args.iter().any(|a| a == "--release")),
        Some("run") if args.len() > 1 => build(false).and_then(|()| run_switchyard(&args[1..])),
        Some("run") | Some("demo") => build(false).and_then(|()| demo(&args[1..])),
        Some("test") => test(),
        Some("bench") => bench(&args[1..]),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

pub type Result<T = ()> = std::result::Result<T, String>;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask sits in the workspace").to_path_buf()
}

/// Runs a command, failing with its command line when it fails.
pub fn run(cmd: &mut Command) -> Result {
    let status = cmd.status().map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{cmd:?} failed: {status}")) }
}

/// Path of the XDP object the daemon embeds.
fn xdp_object() -> PathBuf {
    workspace_root().join("target/bpf/bpfel-unknown-none/release/switchyard-xdp")
}

fn build(release: bool) -> Result {
    toolchain::ensure()?;
    let root = workspace_root();
    let mut ebpf = toolchain::nightly_cargo();
    ebpf.current_dir(root.join("ebpf/switchyard-xdp")).args([
        "build",
        "--release",
        "-Z",
        "build-std=core",
        "--target",
        "bpfel-unknown-none",
        "--target-dir",
    ]);
    ebpf.arg(root.join("target/bpf"));
    run(&mut ebpf)?;
    let mut cargo = Command::new(env!("CARGO"));
    cargo.current_dir(&root).args(["build", "--workspace", "--bins"]).env("SWITCHYARD_XDP_OBJECT", xdp_object());
    if release {
        cargo.arg("--release");
    }
    run(&mut cargo)
}

fn binary(name: &str, release: bool) -> PathBuf {
    workspace_root().join("target").join(if release { "release" } else { "debug" }).join(name)
}

fn run_switchyard(args: &[String]) -> Result {
    run(Command::new(binary("switchyard", false)).args(args))
}

fn demo(args: &[String]) -> Result {
    packages::ensure(&packages::LAB)?;
    packages::ensure_lab_servers()?;
    let mut lab = Command::new(binary("switchyard-lab", false));
    lab.arg("demo").args(args);
    let mut child = lab.spawn().map_err(|e| format!("cannot start {lab:?}: {e}"))?;
    // Ctrl-C reaches the lab too, which tears itself down: wait for that rather than return
    // to the shell while it still prints.
    ignore_interrupt();
    let status = child.wait().map_err(|e| format!("{lab:?}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{lab:?} failed: {status}")) }
}

fn ignore_interrupt() {
    const SIGINT: i32 = 2;
    const SIG_IGN: usize = 1;
    unsafe extern "C" {
        fn signal(signum: i32, handler: usize) -> usize;
    }
    // SAFETY: libc's signal(2) with SIG_IGN; no handler code runs.
    unsafe { signal(SIGINT, SIG_IGN) };
}

fn test() -> Result {
    build(false)?;
    packages::ensure(&packages::TESTS)?;
    packages::ensure_lean(&packages::BROWSER)?;
    packages::ensure_lab_servers()?;
    packages::ensure_test_servers()?;
    let root = workspace_root();
    run(Command::new(env!("CARGO"))
        .current_dir(&root)
        .args(["test", "--workspace"])
        .env("SWITCHYARD_XDP_OBJECT", xdp_object())
        .env("SWITCHYARD_BIN", binary("switchyard", false)))
}

fn bench(args: &[String]) -> Result {
    let Some(which) = args.first() else {
        return Err(
            "bench needs a name: xdp, sync, sync-faults, dnsperf, failover, peers, soak, change, dnssec, rrl, geo"
                .into(),
        );
    };
    build(true)?;
    packages::ensure(&packages::LAB)?;
    let out = workspace_root().join("target/bench");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    // Each bench that is not about the XDP program has a binary of its own; dnsperf brings
    // its own servers.
    let mut command = match which.as_str() {
        "sync" => Command::new(binary("switchyard-bench-sync", true)),
        "sync-faults" => Command::new(binary("switchyard-bench-sync-faults", true)),
        "failover" => {
            // One of its cases reads the database from a real HAProxy.
            packages::ensure_lab_servers()?;
            Command::new(binary("switchyard-bench-failover", true))
        }
        "peers" => Command::new(binary("switchyard-bench-peers", true)),
        "soak" => Command::new(binary("switchyard-bench-soak", true)),
        "change" => Command::new(binary("switchyard-bench-change", true)),
        "dnssec" => Command::new(binary("switchyard-bench-dnssec", true)),
        "rrl" => {
            packages::ensure(&packages::RRL_BENCH)?;
            Command::new(binary("switchyard-bench-rrl", true))
        }
        "geo" => Command::new(binary("switchyard-bench-geo", true)),
        "dnsperf" => {
            packages::ensure_servers(&packages::DNSPERF)?;
            Command::new(binary("switchyard-bench-dnsperf", true))
        }
        _ => {
            let mut command = Command::new(binary("switchyard-bench", true));
            command.arg(which);
            command
        }
    };
    run(command.args(&args[1..]).env("SWITCHYARD_BIN", binary("switchyard", true)).env("SWITCHYARD_BENCH_DIR", &out))
}
