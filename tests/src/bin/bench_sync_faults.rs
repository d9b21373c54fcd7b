//! `cargo xtask bench sync-faults`: three sites syncing through misbehaving proxies (drops,
//! duplicates, delays, replays) while writers log every acknowledged write and the harness
//! SIGKILLs and restarts a daemon, cuts and heals a link, pauses a daemon, restores a site from
//! a backup and writes bytes that are not UTF-8. Then: every site identical, no acknowledged
//! write lost, every discarded write explained. Needs root (a network namespace).
//! Writes target/bench/sync-faults.json (SWITCHYARD_BENCH_DIR) and prints a markdown table.
//!
//! Options: --trials N (default 3), --seconds N per trial (default 60), --seed N.

use std::{path::PathBuf, process::ExitCode};

use serde_json::json;
use switchyard_tests::{
    fault_proxy::Chaos,
    sync_faults::{FaultOptions, TrialReport, run_trial},
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (trials, mut options) = match options_from(&args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("bench sync-faults: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut reports = Vec::new();
    for trial in 0..trials {
        options.seed = options.seed.wrapping_add(trial as u64);
        eprintln!("trial {} of {trials} (seed {}, {} s)", trial + 1, options.seed, options.seconds);
        reports.push(run_trial(&options));
    }
    let out = std::env::var_os("SWITCHYARD_BENCH_DIR").map(PathBuf::from).unwrap_or_else(|| "target/bench".into());
    let _ = std::fs::create_dir_all(&out);
    let path = out.join("sync-faults.json");
    let passed = reports.iter().all(|r| r.verdict.passed() && r.converged_after_s.is_some());
    let document = json!({ "bench": "sync-faults", "settings": options, "passed": passed, "trials": reports });
    std::fs::write(&path, serde_json::to_string_pretty(&document).unwrap() + "\n").expect("write the report");
    print_table(&reports);
    println!("\nwritten to {}", path.display());
    if passed { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn options_from(args: &[String]) -> Result<(usize, FaultOptions), String> {
    let chaos = Chaos { drop_request: 5, drop_reply: 5, duplicate: 10, delay: 10, replay: 5 };
    let mut options = FaultOptions { seconds: 60, chaos, seed: 1 };
    let mut trials = 3;
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = value.parse::<u64>().map_err(|_| format!("{flag}: not a number: {value}"))?;
        match flag.as_str() {
            "--trials" => trials = number as usize,
            "--seconds" => options.seconds = number,
            "--seed" => options.seed = number,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok((trials, options))
}

fn print_table(reports: &[TrialReport]) {
    println!(
        "| trial | seed | acknowledged writes | discarded (all explained) | conflicts logged | settled after | identical | lost | unexplained | against rule | quarantined |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|");
    for (i, r) in reports.iter().enumerate() {
        let v = &r.verdict;
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            i + 1,
            r.seed,
            v.acknowledged_writes,
            v.discarded_writes,
            v.conflicts_logged,
            r.converged_after_s.map_or("never".into(), |s| format!("{s:.1} s")),
            if v.sites_identical { "yes" } else { "NO" },
            v.lost_writes.len(),
            v.discarded_unexplained.len(),
            v.conflicts_against_rule.len(),
            v.quarantined
        );
    }
    for r in reports {
        for event in &r.events {
            println!("    seed {}: {event}", r.seed);
        }
    }
}
