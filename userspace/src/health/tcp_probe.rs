//! TCP connect probe.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::health::outcome::{ProbeOutcome, timeout_cause};

/// Succeeds when a TCP connection to `address` opens within `timeout`.
pub async fn probe_tcp(address: SocketAddr, timeout: Duration) -> ProbeOutcome {
    let started = Instant::now();
    match tokio::time::timeout(timeout, TcpStream::connect(address)).await {
        Err(_) => ProbeOutcome::failed(timeout_cause(timeout)),
        Ok(Err(error)) => ProbeOutcome::failed(format!("connect failed: {error}")),
        Ok(Ok(_stream)) => ProbeOutcome::Ok { latency: started.elapsed() },
    }
}
