//! A minimal HTTP/1.1 client for the lab's own checks: one request per connection, with
//! timeouts, no name lookups.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    time::{Duration, Instant},
};

use crate::netns::Netns;

/// Status and body. Runs in the calling thread's namespace.
pub fn request(method: &str, addr: SocketAddr, target: &str, timeout: Duration) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let host = match addr {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    };
    let head = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).map_err(|e| format!("send to {addr}: {e}"))?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(|e| format!("read from {addr}: {e}"))?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| format!("{addr}: no complete response"))?;
    let status =
        head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| format!("{addr}: no status line"))?;
    Ok((status, body.to_string()))
}

/// `request` from inside `ns`.
pub fn request_in(ns: &Netns, method: &str, addr: SocketAddr, target: &str) -> Result<(u16, String), String> {
    let (method, target) = (method.to_string(), target.to_string());
    ns.enter(move || request(&method, addr, &target, Duration::from_secs(2)))
}

/// Waits up to 5 s until something accepts connections on `addr` in `ns`; `alive` reports
/// the process behind it dying meanwhile.
pub fn wait_listening(
    ns: &Netns,
    addr: SocketAddr,
    mut alive: impl FnMut() -> Result<(), String>,
) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if ns.enter(move || TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()) {
            return Ok(());
        }
        alive()?;
        if Instant::now() > deadline {
            return Err(format!("nothing listens on {addr} in {} after 5 s", ns.name));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
