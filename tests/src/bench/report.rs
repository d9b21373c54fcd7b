//! Where bench results go, and the markdown table printed with them.

use std::path::PathBuf;

use serde_json::Value;

use super::stats::{Summary, round};

pub fn out_dir() -> PathBuf {
    std::env::var_os("SWITCHYARD_BENCH_DIR").map(PathBuf::from).unwrap_or_else(|| "target/bench".into())
}

/// Writes `document` as `<out_dir>/<file>` and returns the path.
pub fn write_json(file: &str, document: &Value) -> Result<PathBuf, String> {
    let dir = out_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(file);
    let text = serde_json::to_string_pretty(document).expect("report serialises");
    std::fs::write(&path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// One row per case: what was timed and its median / p99.
pub fn print_table(rows: &[(String, &str, &Summary)]) {
    println!("| case | from → to | trials | median ms | p99 ms | min ms | max ms |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for (case, what, s) in rows {
        println!(
            "| {case} | {what} | {} | {} | {} | {} | {} |",
            s.trials,
            round(s.median_ms),
            round(s.p99_ms),
            round(s.min_ms),
            round(s.max_ms)
        );
    }
}

/// An environment number, or `default` when unset.
pub fn env_number(name: &str, default: u64) -> Result<u64, String> {
    match std::env::var(name) {
        Ok(v) => v.parse().map_err(|_| format!("{name}: not a number: {v}")),
        Err(_) => Ok(default),
    }
}
