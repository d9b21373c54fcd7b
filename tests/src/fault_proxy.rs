//! An HTTP/1.1 proxy between two sync sites that misbehaves on purpose: it
//! drops requests, drops replies after forwarding, sends requests twice,
//! delays them, replays old ones later, and refuses everything while its link
//! is cut. It reads whole requests (they carry Content-Length) and forwards each
//! on a fresh connection.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use serde::Serialize;

/// Chances in percent of each misdeed, per request.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Chaos {
    pub drop_request: u32,
    pub drop_reply: u32,
    pub duplicate: u32,
    pub delay: u32,
    pub replay: u32,
}

#[derive(Debug, Default, Serialize)]
pub struct ProxyCounts {
    pub forwarded: AtomicU64,
    pub dropped_requests: AtomicU64,
    pub dropped_replies: AtomicU64,
    pub duplicated: AtomicU64,
    pub delayed: AtomicU64,
    pub replayed: AtomicU64,
    pub refused_while_cut: AtomicU64,
}

pub struct FaultProxy {
    pub listen: SocketAddr,
    target: SocketAddr,
    chaos: Chaos,
    pub cut: AtomicBool,
    stop: AtomicBool,
    pub counts: ProxyCounts,
    /// Requests kept for replaying later.
    kept: Mutex<Vec<Vec<u8>>>,
    seed: AtomicU64,
}

/// One HTTP message: head (with the blank line) and body.
struct Message {
    head: Vec<u8>,
    body: Vec<u8>,
}

impl Message {
    fn bytes(&self) -> Vec<u8> {
        [self.head.as_slice(), self.body.as_slice()].concat()
    }
}

fn read_message(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Message>> {
    let mut head = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
        head.extend_from_slice(line.as_bytes());
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    Ok(Some(Message { head, body }))
}

impl FaultProxy {
    /// Binds `listen` (in the calling thread's network namespace) for traffic to `target`.
    pub fn bind(listen: SocketAddr, target: SocketAddr, chaos: Chaos, seed: u64) -> (Arc<FaultProxy>, TcpListener) {
        let listener = TcpListener::bind(listen).unwrap_or_else(|e| panic!("proxy {listen}: {e}"));
        listener.set_nonblocking(true).unwrap();
        let proxy = FaultProxy {
            listen,
            target,
            chaos,
            cut: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            counts: ProxyCounts::default(),
            kept: Mutex::new(Vec::new()),
            seed: AtomicU64::new(seed),
        };
        (Arc::new(proxy), listener)
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// A number in 0..100 from a small xorshift generator (reproducible per seed).
    fn roll(&self) -> u32 {
        let mut x = self.seed.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed.store(x, Ordering::Relaxed);
        (x % 100) as u32
    }

    /// Accepts until stopped; one thread per client connection.
    pub fn serve(self: &Arc<Self>, listener: TcpListener) {
        while !self.stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((client, _)) => {
                    let proxy = self.clone();
                    std::thread::spawn(move || proxy.relay(client));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }

    fn relay(&self, client: TcpStream) {
        let _ = client.set_nonblocking(false);
        let _ = client.set_read_timeout(Some(Duration::from_secs(30)));
        let Ok(mut writer) = client.try_clone() else { return };
        let mut reader = BufReader::new(client);
        while let Ok(Some(request)) = read_message(&mut reader) {
            if self.cut.load(Ordering::Relaxed) {
                self.counts.refused_while_cut.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let Some(reply) = self.misbehave(&request) else { return };
            if writer.write_all(&reply).is_err() {
                return;
            }
        }
    }

    /// Decides the request's fate; `None` closes the client's connection without a reply.
    fn misbehave(&self, request: &Message) -> Option<Vec<u8>> {
        let chaos = self.chaos;
        if self.roll() < chaos.drop_request {
            self.counts.dropped_requests.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if self.roll() < chaos.delay {
            self.counts.delayed.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(50 + u64::from(self.roll()) * 5));
        }
        if self.roll() < chaos.replay {
            self.replay_one();
        }
        let bytes = request.bytes();
        let reply = self.forward(&bytes)?;
        self.counts.forwarded.fetch_add(1, Ordering::Relaxed);
        if self.roll() < chaos.duplicate {
            self.counts.duplicated.fetch_add(1, Ordering::Relaxed);
            let _ = self.forward(&bytes);
        }
        self.keep(bytes);
        if self.roll() < chaos.drop_reply {
            self.counts.dropped_replies.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(reply)
    }

    fn keep(&self, bytes: Vec<u8>) {
        let mut kept = self.kept.lock().unwrap();
        if kept.len() >= 64 {
            kept.remove(0);
        }
        kept.push(bytes);
    }

    /// Sends one of the kept (older) requests again; its reply goes nowhere.
    fn replay_one(&self) {
        let old = {
            let kept = self.kept.lock().unwrap();
            if kept.is_empty() {
                return;
            }
            kept[self.roll() as usize % kept.len()].clone()
        };
        self.counts.replayed.fetch_add(1, Ordering::Relaxed);
        let _ = self.forward(&old);
    }

    /// Sends one request on a fresh connection and returns the whole reply.
    fn forward(&self, request: &[u8]) -> Option<Vec<u8>> {
        let mut upstream = TcpStream::connect_timeout(&self.target, Duration::from_secs(2)).ok()?;
        upstream.set_read_timeout(Some(Duration::from_secs(15))).ok()?;
        upstream.write_all(request).ok()?;
        let mut reader = BufReader::new(upstream);
        let reply = read_message(&mut reader).ok()??;
        Some(reply.bytes())
    }
}
