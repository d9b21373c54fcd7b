//! Loopback benchmark: two nodes on 127.0.0.1 with temporary databases.
//! Measures sustained replicated changes/s and, at a fixed write rate,
//! how long each change takes to appear at the other site.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use super::config::{PeerConfig, SyncConfig, TableConfig};
use super::error::{Result, SyncError};
use super::node::SyncNode;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchOptions {
    /// Rows written as fast as possible for the throughput phase.
    pub throughput_rows: usize,
    /// Fixed write rate for the lag phase.
    pub rate_per_s: u32,
    pub rate_seconds: u32,
    pub interval_ms: u64,
    pub max_changes_per_batch: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            throughput_rows: 20_000,
            rate_per_s: 1000,
            rate_seconds: 5,
            interval_ms: 100,
            max_changes_per_batch: 2000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchReport {
    pub throughput_rows: usize,
    pub throughput_seconds: f64,
    pub throughput_changes_per_s: f64,
    pub rate_per_s: u32,
    pub rate_changes: usize,
    pub lag_p50_ms: f64,
    pub lag_p99_ms: f64,
    pub lag_max_ms: f64,
    pub interval_ms: u64,
    pub max_changes_per_batch: usize,
}

const WALL_MS: &str = "((julianday('now') - 2440587.5) * 86400000.0)";
const TABLE: &str =
    "CREATE TABLE IF NOT EXISTS bench_rows(id INTEGER PRIMARY KEY, payload TEXT NOT NULL, written_ms REAL NOT NULL);";

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| SyncError::Task(e.to_string()))?
}

fn open_db(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn)
}

fn prepare_databases(a: &Path, b: &Path) -> Result<()> {
    open_db(a)?.execute_batch(TABLE)?;
    // The receiver stamps each row's arrival time with a plain user trigger.
    open_db(b)?.execute_batch(&format!(
        "{TABLE}
         CREATE TABLE IF NOT EXISTS bench_arrivals(id INTEGER PRIMARY KEY, arrived_ms REAL NOT NULL);
         CREATE TRIGGER IF NOT EXISTS bench_arrival AFTER INSERT ON bench_rows BEGIN
             INSERT OR REPLACE INTO bench_arrivals(id, arrived_ms) VALUES (NEW.id, {WALL_MS});
         END;"
    ))?;
    Ok(())
}

fn write_rows(path: &Path, ids: std::ops::Range<usize>) -> Result<()> {
    let mut conn = open_db(path)?;
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare(&format!(
            "INSERT INTO bench_rows(id, payload, written_ms) VALUES (?1, 'payload-' || ?1, {WALL_MS})"
        ))?;
        for id in ids {
            insert.execute([id as i64])?;
        }
    }
    tx.commit()?;
    Ok(())
}

async fn wait_for_arrivals(path: PathBuf, count: usize, timeout: Duration) -> Result<()> {
    blocking(move || {
        let conn = open_db(&path)?;
        let deadline = Instant::now() + timeout;
        loop {
            let arrived: i64 = conn.query_row("SELECT count(*) FROM bench_arrivals", [], |r| r.get(0))?;
            if arrived as usize >= count {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(SyncError::Task(format!("only {arrived} of {count} rows replicated in time")));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    })
    .await
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Runs both phases and returns the numbers; needs a multi-threaded tokio runtime.
pub async fn bench(options: BenchOptions) -> Result<BenchReport> {
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let dir = std::env::temp_dir().join(format!("switchyard-sync-bench-{}-{stamp}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| SyncError::Task(e.to_string()))?;
    let result = run(&dir, &options).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run(dir: &Path, options: &BenchOptions) -> Result<BenchReport> {
    let (path_a, path_b) = (dir.join("a.db"), dir.join("b.db"));
    prepare_databases(&path_a, &path_b)?;
    let io = |e: std::io::Error| SyncError::Task(e.to_string());
    let listener_a = TcpListener::bind("127.0.0.1:0").await.map_err(io)?;
    let listener_b = TcpListener::bind("127.0.0.1:0").await.map_err(io)?;
    let url = |l: &TcpListener| l.local_addr().map(|a| format!("http://{a}"));
    let (url_a, url_b) = (url(&listener_a).map_err(io)?, url(&listener_b).map_err(io)?);

    let config = |site: &str, path: &Path, peer: &str, peer_url: &str| {
        let mut config = SyncConfig::new(site, path, b"bench-key".to_vec())
            .table(TableConfig::new("bench_rows"))
            .peer(PeerConfig::new(peer, peer_url));
        config.interval = Duration::from_millis(options.interval_ms);
        config.max_changes_per_batch = options.max_changes_per_batch;
        config
    };
    let node_a = SyncNode::open(config("bench-a", &path_a, "bench-b", &url_b))?;
    let node_b = SyncNode::open(config("bench-b", &path_b, "bench-a", &url_a))?;
    let servers = [
        tokio::spawn({
            let n = node_a.clone();
            async move { n.serve(listener_a).await }
        }),
        tokio::spawn({
            let n = node_b.clone();
            async move { n.serve(listener_b).await }
        }),
    ];
    let shipping = (node_a.start(), node_b.start());

    // Throughput: write as fast as possible, in transactions of 500 rows.
    let total = options.throughput_rows;
    let started = Instant::now();
    let writer_path = path_a.clone();
    blocking(move || {
        let mut next = 0;
        while next < total {
            let end = (next + 500).min(total);
            write_rows(&writer_path, next + 1..end + 1)?;
            next = end;
        }
        Ok(())
    })
    .await?;
    wait_for_arrivals(path_b.clone(), total, Duration::from_secs(120)).await?;
    let throughput_seconds = started.elapsed().as_secs_f64();

    // Lag: a steady rate, written in 10 ms slices.
    let rate_changes = (options.rate_per_s * options.rate_seconds) as usize;
    let rate = options.rate_per_s as f64;
    let writer_path = path_a.clone();
    blocking(move || {
        let begin = Instant::now();
        let mut written = 0;
        while written < rate_changes {
            let due = ((begin.elapsed().as_secs_f64() * rate) as usize).min(rate_changes);
            if due > written {
                write_rows(&writer_path, total + written + 1..total + due + 1)?;
                written = due;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    })
    .await?;
    wait_for_arrivals(path_b.clone(), total + rate_changes, Duration::from_secs(120)).await?;

    let mut lags: Vec<f64> = open_db(&path_b)?
        .prepare("SELECT a.arrived_ms - r.written_ms FROM bench_arrivals a JOIN bench_rows r USING (id) WHERE id > ?1")?
        .query_map([total as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    lags.sort_by(|a, b| a.total_cmp(b));

    drop(shipping);
    for server in servers {
        server.abort();
    }
    Ok(BenchReport {
        throughput_rows: total,
        throughput_seconds,
        throughput_changes_per_s: total as f64 / throughput_seconds,
        rate_per_s: options.rate_per_s,
        rate_changes,
        lag_p50_ms: percentile(&lags, 0.50),
        lag_p99_ms: percentile(&lags, 0.99),
        lag_max_ms: lags.last().copied().unwrap_or(0.0),
        interval_ms: options.interval_ms,
        max_changes_per_batch: options.max_changes_per_batch,
    })
}
