//! `cargo xtask bench sync`: database synchronisation between two sites on loopback.
//! Sustained replicated changes/s, then the lag of each change at a fixed write rate; then
//! two daemons in namespaces, one of them under unauthenticated uploads (needs root), with
//! its RSS and the rows that kept arriving. Writes target/bench/sync.json
//! (SWITCHYARD_BENCH_DIR) and prints a markdown table.
//!
//! Options (all optional): --rows N, --rate N, --seconds N, --interval-ms N, --batch N,
//! --writer-waits sqlite|short (how the writer waits for the write lock: SQLite's busy
//! timeout, the default, or the daemon's short steps), --attack-clients N (0 skips the
//! attack), --attack-mib N, --attack-seconds N.

use std::{path::PathBuf, process::ExitCode};

use serde_json::json;
use switchyard_tests::{
    sync_attack::{AttackOptions, AttackReport, attack},
    sync_bench::{BenchOptions, BenchReport, bench},
    sync_lab::SyncLab,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench sync: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let (options, attack_options) = options_from(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let report = runtime.block_on(bench(&options))?;
    drop(runtime);
    let attacked = (attack_options.clients > 0).then(|| run_attack(&attack_options));

    let out = out_dir();
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let path = out.join("sync.json");
    let document = json!({
        "bench": "sync",
        "machine": machine(),
        "settings": options,
        "results": report,
        "attack_settings": attack_options,
        "attack": attacked,
    });
    let text = serde_json::to_string_pretty(&document).expect("report serialises");
    std::fs::write(&path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
    print_table(&options, &report, attacked.as_ref().map(|a| (&attack_options, a)));
    println!("\nwritten to {}", path.display());
    Ok(())
}

fn out_dir() -> PathBuf {
    std::env::var_os("SWITCHYARD_BENCH_DIR").map(PathBuf::from).unwrap_or_else(|| "target/bench".into())
}

/// Two daemons in namespaces; the attack aims at site b while a's rows ship to it.
fn run_attack(options: &AttackOptions) -> AttackReport {
    let lab = SyncLab::new(45);
    let (_daemon_a, daemon_b) = (lab.start(&lab.a), lab.start(&lab.b));
    attack(&lab, &daemon_b, options)
}

fn options_from(args: &[String]) -> Result<(BenchOptions, AttackOptions), String> {
    let mut options = BenchOptions::default();
    let mut attack = AttackOptions { clients: 100, body_mib: 200, seconds: 10, rows: 100 };
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| v.parse::<u64>().map_err(|_| format!("{flag}: not a number: {v}"));
        match flag.as_str() {
            "--rows" => options.throughput_rows = number(value)? as usize,
            "--rate" => options.rate_per_s = number(value)? as u32,
            "--seconds" => options.rate_seconds = number(value)? as u32,
            "--interval-ms" => options.interval_ms = number(value)?,
            "--batch" => options.max_changes_per_batch = number(value)? as usize,
            "--writer-waits" => options.writer_short_waits = short_waits(value)?,
            "--attack-clients" => attack.clients = number(value)? as usize,
            "--attack-mib" => attack.body_mib = number(value)?,
            "--attack-seconds" => attack.seconds = number(value)?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok((options, attack))
}

fn short_waits(value: &str) -> Result<bool, String> {
    match value {
        "short" => Ok(true),
        "sqlite" => Ok(false),
        other => Err(format!("--writer-waits: `short` or `sqlite`, not `{other}`")),
    }
}

/// What the numbers were measured on, so results from different hosts are not compared blindly.
fn machine() -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| "unknown".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
    let memory_kib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().trim_end_matches("kB").trim().to_string()))
        .and_then(|v| v.parse::<u64>().ok());
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "memory_mib": memory_kib.map(|k| k / 1024),
        "kernel": kernel,
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
    })
}

fn print_table(options: &BenchOptions, report: &BenchReport, attacked: Option<(&AttackOptions, &AttackReport)>) {
    println!("| measurement | value |");
    println!("| --- | --- |");
    println!(
        "| throughput ({} rows, two sites, loopback) | {:.0} changes/s ({:.2} s) |",
        report.throughput_rows, report.throughput_changes_per_s, report.throughput_seconds
    );
    println!(
        "| CPU per replicated change (writer and both nodes, throughput phase) | {:.1} µs |",
        report.throughput_cpu_us_per_change
    );
    println!("| lag p50 at {} changes/s | {:.1} ms |", report.rate_per_s, report.lag_p50_ms);
    println!("| lag p99 at {} changes/s | {:.1} ms |", report.rate_per_s, report.lag_p99_ms);
    println!("| lag max at {} changes/s | {:.1} ms |", report.rate_per_s, report.lag_max_ms);
    println!(
        "| an application's insert, synced table / table not synced (median of rounds) | {:.2} / {:.2} µs ({:.2}x) |",
        report.captured_write_us,
        report.plain_write_us,
        report.captured_write_us / report.plain_write_us
    );
    println!(
        "| settings | interval {} ms, batches of up to {} changes, {} s at fixed rate, the writer waiting {} |",
        options.interval_ms,
        options.max_changes_per_batch,
        options.rate_seconds,
        if options.writer_short_waits { "in short steps" } else { "with SQLite's busy timeout" }
    );
    if let Some((settings, a)) = attacked {
        println!(
            "| daemon RSS under {} unauthenticated {} MB uploads for {} s: before / peak / after | {} / {} / {} MiB |",
            settings.clients,
            settings.body_mib,
            settings.seconds,
            a.rss_before_kib / 1024,
            a.rss_peak_kib / 1024,
            a.rss_after_kib / 1024
        );
        println!(
            "| meanwhile: upload attempts refused, rows arrived | {} of {}, {} of {} |",
            a.refused_unauthenticated, a.uploads, a.rows_arrived, a.rows_written
        );
    }
}
