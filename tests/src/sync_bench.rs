//! `cargo xtask bench sync` on loopback: two sync nodes with temporary databases.
//! Measures sustained replicated changes/s, at a fixed write rate how long each
//! change takes to appear at the other site, and what capture adds to an application's write.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use rusqlite::Connection;
use serde::Serialize;
use switchyard::sync::{PeerConfig, ShippingHandle, SyncConfig, SyncNode, TableConfig};
use tokio::{net::TcpListener, task::JoinHandle};

pub type Result<T> = std::result::Result<T, String>;

#[derive(Debug, Clone, Serialize)]
pub struct BenchOptions {
    /// Rows written as fast as possible for the throughput phase.
    pub throughput_rows: usize,
    /// Fixed write rate for the lag phase.
    pub rate_per_s: u32,
    pub rate_seconds: u32,
    pub interval_ms: u64,
    pub max_changes_per_batch: usize,
    /// The writer waits for the write lock in the daemon's short steps. Off by default: the
    /// writer then waits as most programs do, with SQLite's busy timeout (pauses of 1 ms
    /// growing to 100 ms).
    pub writer_short_waits: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            throughput_rows: 20_000,
            rate_per_s: 1000,
            rate_seconds: 5,
            interval_ms: 100,
            max_changes_per_batch: 2000,
            writer_short_waits: false,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub throughput_rows: usize,
    pub throughput_seconds: f64,
    pub throughput_changes_per_s: f64,
    /// CPU time of the whole process (writer, both nodes) over the throughput phase, per change.
    pub throughput_cpu_us_per_change: f64,
    pub rate_per_s: u32,
    pub rate_changes: usize,
    pub lag_p50_ms: f64,
    pub lag_p99_ms: f64,
    pub lag_max_ms: f64,
    pub interval_ms: u64,
    pub max_changes_per_batch: usize,
    /// An application's insert, median µs per row: into a synced table (the capture
    /// trigger logs it) and into an identical table that is not synced, in one database.
    pub captured_write_us: f64,
    pub plain_write_us: f64,
}

const WALL_MS: &str = "((julianday('now') - 2440587.5) * 86400000.0)";
const TABLE: &str =
    "CREATE TABLE IF NOT EXISTS bench_rows(id INTEGER PRIMARY KEY, payload TEXT NOT NULL, written_ms REAL NOT NULL);";
const WRITE_CHUNK: usize = 500;

/// Two nodes serving and shipping to each other until dropped.
struct Pair {
    writer: Writer,
    reader_db: PathBuf,
    _shipping: (ShippingHandle, ShippingHandle),
    servers: Vec<JoinHandle<std::io::Result<()>>>,
}

impl Drop for Pair {
    fn drop(&mut self) {
        for server in &self.servers {
            server.abort();
        }
    }
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| e.to_string())?
}

fn open_db(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(|e| e.to_string())?;
    Ok(conn)
}

fn sql(conn: &Connection, text: &str) -> Result<()> {
    conn.execute_batch(text).map_err(|e| format!("{text}: {e}"))
}

/// The table at both sites; the receiver stamps each row's arrival time with a plain user trigger.
fn prepare_databases(a: &Path, b: &Path) -> Result<()> {
    sql(&open_db(a)?, TABLE)?;
    sql(
        &open_db(b)?,
        &format!(
            "{TABLE}
             CREATE TABLE IF NOT EXISTS bench_arrivals(id INTEGER PRIMARY KEY, arrived_ms REAL NOT NULL);
             CREATE TRIGGER IF NOT EXISTS bench_arrival AFTER INSERT ON bench_rows BEGIN
                 INSERT OR REPLACE INTO bench_arrivals(id, arrived_ms) VALUES (NEW.id, {WALL_MS});
             END;"
        ),
    )
}

/// The program writing to site a's database.
#[derive(Clone)]
struct Writer {
    path: PathBuf,
    short_waits: bool,
}

/// Inserts rows `ids` in one transaction.
fn write_rows(writer: &Writer, ids: std::ops::Range<usize>) -> Result<()> {
    let mut conn = open_db(&writer.path)?;
    if writer.short_waits {
        switchyard::sync::wait_in_short_steps(&conn).map_err(|e| e.to_string())?;
    }
    insert_rows(&mut conn, "bench_rows", ids)
}

fn insert_rows(conn: &mut Connection, table: &str, ids: std::ops::Range<usize>) -> Result<()> {
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    {
        let mut insert = tx
            .prepare(&format!("INSERT INTO {table}(id, payload, written_ms) VALUES (?1, 'payload-' || ?1, {WALL_MS})"))
            .map_err(|e| e.to_string())?;
        for id in ids {
            insert.execute([id as i64]).map_err(|e| e.to_string())?;
        }
    }
    tx.commit().map_err(|e| e.to_string())
}

/// Rounds of the capture cost measurement, each writing `CAPTURE_ROWS` rows into each table.
const CAPTURE_ROUNDS: usize = 9;
const CAPTURE_ROWS: usize = 4 * WRITE_CHUNK;

/// What capture adds to an application's insert: median µs per row into a synced table
/// and into a twin that is not, in rounds that alternate between them, in one database
/// with no daemon running (so nothing else takes the lock).
fn capture_cost(dir: &Path) -> Result<(f64, f64)> {
    let path = dir.join("capture.db");
    sql(&open_db(&path)?, &format!("{TABLE} {}", TABLE.replace("bench_rows", "bench_plain")))?;
    let tables = [TableConfig::new("bench_rows")];
    let _replica = switchyard::sync::Replica::open_path(&path, "bench-c", &tables, &[]).map_err(|e| e.to_string())?;
    let mut conn = open_db(&path)?;
    let (mut captured, mut plain) = (Vec::new(), Vec::new());
    for round in 0..CAPTURE_ROUNDS {
        for (table, times) in [("bench_rows", &mut captured), ("bench_plain", &mut plain)] {
            let started = Instant::now();
            for chunk in 0..CAPTURE_ROWS / WRITE_CHUNK {
                let first = round * CAPTURE_ROWS + chunk * WRITE_CHUNK + 1;
                insert_rows(&mut conn, table, first..first + WRITE_CHUNK)?;
            }
            times.push(started.elapsed().as_secs_f64() * 1e6 / CAPTURE_ROWS as f64);
        }
    }
    for times in [&mut captured, &mut plain] {
        times.sort_by(|a, b| a.total_cmp(b));
    }
    Ok((percentile(&captured, 0.5), percentile(&plain, 0.5)))
}

async fn wait_for_arrivals(path: PathBuf, count: usize, timeout: Duration) -> Result<()> {
    blocking(move || {
        let conn = open_db(&path)?;
        let deadline = Instant::now() + timeout;
        loop {
            let arrived: i64 =
                conn.query_row("SELECT count(*) FROM bench_arrivals", [], |r| r.get(0)).map_err(|e| e.to_string())?;
            if arrived as usize >= count {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("only {arrived} of {count} rows replicated in time"));
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

/// Starts sites `bench-a` (written) and `bench-b` (read) on loopback.
async fn start_pair(dir: &Path, options: &BenchOptions) -> Result<Pair> {
    let (path_a, path_b) = (dir.join("a.db"), dir.join("b.db"));
    prepare_databases(&path_a, &path_b)?;
    let listener_a = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let listener_b = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let url = |l: &TcpListener| l.local_addr().map(|a| format!("http://{a}")).map_err(|e| e.to_string());
    let (url_a, url_b) = (url(&listener_a)?, url(&listener_b)?);
    let config = |site: &str, path: &Path, peer: &str, peer_url: &str| {
        let mut config = SyncConfig::new(site, path, b"bench-key".to_vec())
            .table(TableConfig::new("bench_rows"))
            .peer(PeerConfig::new(peer, peer_url));
        config.interval = Duration::from_millis(options.interval_ms);
        config.max_changes_per_batch = options.max_changes_per_batch;
        config
    };
    let node_a = SyncNode::open(config("bench-a", &path_a, "bench-b", &url_b)).map_err(|e| e.to_string())?;
    let node_b = SyncNode::open(config("bench-b", &path_b, "bench-a", &url_a)).map_err(|e| e.to_string())?;
    let servers = vec![
        tokio::spawn({
            let node = node_a.clone();
            async move { node.serve(listener_a).await }
        }),
        tokio::spawn({
            let node = node_b.clone();
            async move { node.serve(listener_b).await }
        }),
    ];
    let shipping = (node_a.start(), node_b.start());
    let writer = Writer { path: path_a, short_waits: options.writer_short_waits };
    Ok(Pair { writer, reader_db: path_b, _shipping: shipping, servers })
}

/// CPU time this process used so far (all threads), in µs.
fn process_cpu_us() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let us = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    us(usage.ru_utime) + us(usage.ru_stime)
}

/// Writes `total` rows as fast as possible; returns the seconds until all arrived.
async fn throughput(pair: &Pair, total: usize) -> Result<f64> {
    let started = Instant::now();
    let writer = pair.writer.clone();
    blocking(move || {
        let mut next = 0;
        while next < total {
            let end = (next + WRITE_CHUNK).min(total);
            write_rows(&writer, next + 1..end + 1)?;
            next = end;
        }
        Ok(())
    })
    .await?;
    wait_for_arrivals(pair.reader_db.clone(), total, Duration::from_secs(120)).await?;
    Ok(started.elapsed().as_secs_f64())
}

/// Writes `count` rows after id `first` at a steady rate, in 10 ms slices; returns each
/// row's lag in ms, sorted.
async fn lag_at_rate(pair: &Pair, first: usize, count: usize, rate: f64) -> Result<Vec<f64>> {
    let writer = pair.writer.clone();
    blocking(move || {
        let begin = Instant::now();
        let mut written = 0;
        while written < count {
            let due = ((begin.elapsed().as_secs_f64() * rate) as usize).min(count);
            if due > written {
                write_rows(&writer, first + written + 1..first + due + 1)?;
                written = due;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    })
    .await?;
    wait_for_arrivals(pair.reader_db.clone(), first + count, Duration::from_secs(120)).await?;
    let mut lags: Vec<f64> = open_db(&pair.reader_db)?
        .prepare("SELECT a.arrived_ms - r.written_ms FROM bench_arrivals a JOIN bench_rows r USING (id) WHERE id > ?1")
        .and_then(|mut stmt| stmt.query_map([first as i64], |r| r.get(0))?.collect::<rusqlite::Result<_>>())
        .map_err(|e| e.to_string())?;
    lags.sort_by(|a, b| a.total_cmp(b));
    Ok(lags)
}

/// Runs both phases in a temporary directory; needs a multi-threaded tokio runtime.
pub async fn bench(options: &BenchOptions) -> Result<BenchReport> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (captured_write_us, plain_write_us) = capture_cost(dir.path())?;
    let pair = start_pair(dir.path(), options).await?;
    let total = options.throughput_rows;
    let cpu_before = process_cpu_us();
    let throughput_seconds = throughput(&pair, total).await?;
    let throughput_cpu_us_per_change = (process_cpu_us() - cpu_before) / total as f64;
    let rate_changes = (options.rate_per_s * options.rate_seconds) as usize;
    let lags = lag_at_rate(&pair, total, rate_changes, options.rate_per_s as f64).await?;
    Ok(BenchReport {
        throughput_rows: total,
        throughput_seconds,
        throughput_changes_per_s: total as f64 / throughput_seconds,
        throughput_cpu_us_per_change,
        rate_per_s: options.rate_per_s,
        rate_changes,
        lag_p50_ms: percentile(&lags, 0.50),
        lag_p99_ms: percentile(&lags, 0.99),
        lag_max_ms: lags.last().copied().unwrap_or(0.0),
        interval_ms: options.interval_ms,
        max_changes_per_batch: options.max_changes_per_batch,
        captured_write_us,
        plain_write_us,
    })
}
