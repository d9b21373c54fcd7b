//! Unauthenticated uploads against a daemon's sync endpoint while real sync
//! goes on: many clients each announce a large body without a valid signature
//! and stream it as fast as the daemon takes it. Reports the daemon's peak
//! RSS and whether rows written at the other site kept arriving.

use std::{
    io::{Read, Write},
    net::TcpStream,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use serde::Serialize;

use crate::{
    daemon::Daemon,
    sync_lab::{SYNC_PORT, Site, SyncLab, insert_rows},
};

#[derive(Debug, Clone, Serialize)]
pub struct AttackOptions {
    pub clients: usize,
    pub body_mib: u64,
    pub seconds: u64,
    /// Rows written at site a, one shell call each, while the attack runs.
    pub rows: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttackReport {
    pub rss_before_kib: u64,
    pub rss_peak_kib: u64,
    pub rss_after_kib: u64,
    /// Upload attempts made and bytes the daemon let the attackers send.
    pub uploads: u64,
    pub bytes_sent: u64,
    pub rows_written: u32,
    pub rows_arrived: usize,
    pub refused_unauthenticated: u64,
}

/// A `VmRSS`/`VmHWM`-style field of /proc/PID/status, in KiB.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()))
        .unwrap_or(0)
}

/// One client: upload attempts until `until`; returns (attempts, bytes written).
fn upload_until(target: &str, body: u64, until: Instant) -> (u64, u64) {
    let chunk = vec![0x5au8; 64 * 1024];
    let (mut attempts, mut bytes) = (0, 0);
    while Instant::now() < until {
        attempts += 1;
        let Ok(mut stream) = TcpStream::connect_timeout(&target.parse().unwrap(), Duration::from_secs(1)) else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
        let headers = format!(
            "POST /sync/v2 HTTP/1.1\r\nHost: {target}\r\nContent-Length: {body}\r\nx-switchyard-site: a\r\n\
             x-switchyard-digest: {zero}\r\nx-switchyard-signature: {zero}\r\n\r\n",
            zero = "0".repeat(64)
        );
        if stream.write_all(headers.as_bytes()).is_err() {
            continue;
        }
        let mut sent = 0;
        while sent < body && Instant::now() < until {
            match stream.write(&chunk) {
                Ok(n) => sent += n as u64,
                Err(_) => break,
            }
        }
        bytes += sent;
    }
    (attempts, bytes)
}

/// One unsigned request on a fresh connection to `target`: the answer's head, and whether the
/// server closed the connection right after it (within a second, far below its 5 s header
/// timeout) rather than keeping it for a next request.
pub fn refused_and_closed(target: &str) -> (String, bool) {
    let mut stream = TcpStream::connect_timeout(&target.parse().unwrap(), Duration::from_secs(1)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let request = format!("POST /sync/v2 HTTP/1.1\r\nHost: {target}\r\nContent-Length: 0\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = Vec::new();
    let closed = stream.read_to_end(&mut answer).is_ok();
    let text = String::from_utf8_lossy(&answer);
    (text.split("\r\n\r\n").next().unwrap_or_default().to_string(), closed)
}

/// Requests refused as unauthenticated, from `sync status --json`.
fn refused_unauthenticated(daemon: &Daemon) -> u64 {
    let status: serde_json::Value = serde_json::from_str(&daemon.cli(&["sync", "status", "--json"])).unwrap();
    let rejected = status["rejected"].as_array().cloned().unwrap_or_default();
    rejected.iter().find(|r| r[0] == "unauthenticated").and_then(|r| r[1].as_u64()).unwrap_or(0)
}

/// Runs the attack against site b of `lab` (its daemon `daemon_b`) from site a's namespace,
/// while a's daemon ships rows written at a.
pub fn attack(lab: &SyncLab, daemon_b: &Daemon, options: &AttackOptions) -> AttackReport {
    let b_pid = daemon_b.pid();
    let target = format!("{}:{SYNC_PORT}", lab.b.address);
    let rss_before_kib = status_kib(b_pid, "VmRSS:");
    let until = Instant::now() + Duration::from_secs(options.seconds);
    let (uploads, bytes_sent) = (AtomicU64::new(0), AtomicU64::new(0));
    let peak = AtomicU64::new(rss_before_kib);
    let before = lab.b.count();
    std::thread::scope(|s| {
        for _ in 0..options.clients {
            s.spawn(|| {
                let (attempts, bytes) = lab.a.ns.enter(|| upload_until(&target, options.body_mib << 20, until));
                uploads.fetch_add(attempts, Ordering::Relaxed);
                bytes_sent.fetch_add(bytes, Ordering::Relaxed);
            });
        }
        s.spawn(|| {
            while Instant::now() < until {
                peak.fetch_max(status_kib(b_pid, "VmRSS:"), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        write_during(&lab.a, options.rows, until);
    });
    std::thread::sleep(Duration::from_millis(500));
    AttackReport {
        rss_before_kib,
        rss_peak_kib: peak.load(Ordering::Relaxed).max(status_kib(b_pid, "VmRSS:")),
        rss_after_kib: status_kib(b_pid, "VmRSS:"),
        uploads: uploads.load(Ordering::Relaxed),
        bytes_sent: bytes_sent.load(Ordering::Relaxed),
        rows_written: options.rows,
        rows_arrived: lab.b.count() - before,
        refused_unauthenticated: refused_unauthenticated(daemon_b),
    }
}

/// Writes `rows` rows at `site`, spread over the time left.
fn write_during(site: &Site, rows: u32, until: Instant) {
    let first = 1_000_000;
    let pause = until.saturating_duration_since(Instant::now()) / rows.max(1);
    for id in first..first + rows {
        insert_rows(site, id..id + 1, 1);
        std::thread::sleep(pause);
    }
}
