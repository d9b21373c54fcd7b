//! `cargo xtask bench sync`: database synchronisation between two sites on loopback.
//! Sustained replicated changes/s, then the lag of each change at a fixed write rate.
//! Writes target/bench/sync.json (SWITCHYARD_BENCH_DIR) and prints a markdown table.
//!
//! Options (all optional): --rows N, --rate N, --seconds N, --interval-ms N, --batch N.

use std::{path::PathBuf, process::ExitCode};

use serde_json::json;
use switchyard_tests::sync_bench::{BenchOptions, BenchReport, bench};

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
    let options = options_from(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let report = runtime.block_on(bench(&options))?;

    let out = out_dir();
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let path = out.join("sync.json");
    let document = json!({
        "bench": "sync",
        "machine": machine(),
        "settings": options,
        "results": report,
    });
    let text = serde_json::to_string_pretty(&document).expect("report serialises");
    std::fs::write(&path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
    print_table(&options, &report);
    println!("\nwritten to {}", path.display());
    Ok(())
}

fn out_dir() -> PathBuf {
    std::env::var_os("SWITCHYARD_BENCH_DIR").map(PathBuf::from).unwrap_or_else(|| "target/bench".into())
}

fn options_from(args: &[String]) -> Result<BenchOptions, String> {
    let mut options = BenchOptions::default();
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
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(options)
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

fn print_table(options: &BenchOptions, report: &BenchReport) {
    println!("| measurement | value |");
    println!("| --- | --- |");
    println!(
        "| throughput ({} rows, two sites, loopback) | {:.0} changes/s ({:.2} s) |",
        report.throughput_rows, report.throughput_changes_per_s, report.throughput_seconds
    );
    println!("| lag p50 at {} changes/s | {:.1} ms |", report.rate_per_s, report.lag_p50_ms);
    println!("| lag p99 at {} changes/s | {:.1} ms |", report.rate_per_s, report.lag_p99_ms);
    println!("| lag max at {} changes/s | {:.1} ms |", report.rate_per_s, report.lag_max_ms);
    println!(
        "| settings | interval {} ms, batches of up to {} changes, {} s at fixed rate |",
        options.interval_ms, options.max_changes_per_batch, options.rate_seconds
    );
}
