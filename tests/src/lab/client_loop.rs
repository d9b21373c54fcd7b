//! A client that keeps using the service throughout the story, from the client namespace:
//! resolve the name at the first DNS server that answers, then GET from the first address that
//! works, in the order the DNS server gave. A round where nothing worked is an error.

use std::{
    fs::File,
    net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket},
    os::fd::AsRawFd,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use hickory_proto::{
    op::Message,
    rr::{RData, RecordType},
};

use super::{addresses::SERVICE, http};
use crate::{client::query_message, netns::Netns};

const DNS_TIMEOUT: Duration = Duration::from_millis(300);
const HTTP_TIMEOUT: Duration = Duration::from_millis(1000);
const PAUSE: Duration = Duration::from_millis(50);

#[derive(Clone, Debug, Default)]
pub struct Counts {
    pub rounds: u64,
    pub ok: u64,
    pub errors: u64,
    /// Rounds answered per address, in first-seen order.
    pub served: Vec<(Ipv4Addr, u64)>,
    pub last_error: Option<String>,
}

pub struct ClientLoop {
    counts: Arc<Mutex<Counts>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ClientLoop {
    /// Starts the loop in `ns`, asking `dns` servers in this order.
    pub fn start(ns: &Netns, dns: Vec<Ipv4Addr>) -> Result<ClientLoop, String> {
        let file = File::open(ns.path()).map_err(|e| format!("{}: {e}", ns.path()))?;
        let counts = Arc::new(Mutex::new(Counts::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (counts.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            // SAFETY: a namespace fd we own; affects only this thread, which lives in it.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            while !s.load(Ordering::SeqCst) {
                let result = round(&dns);
                let mut counts = c.lock().unwrap();
                counts.rounds += 1;
                match result {
                    Ok(addr) => {
                        counts.ok += 1;
                        match counts.served.iter_mut().find(|(a, _)| *a == addr) {
                            Some((_, n)) => *n += 1,
                            None => counts.served.push((addr, 1)),
                        }
                    }
                    Err(e) => {
                        counts.errors += 1;
                        counts.last_error = Some(e);
                    }
                }
                drop(counts);
                std::thread::sleep(PAUSE);
            }
        });
        Ok(ClientLoop { counts, stop, thread: Some(thread) })
    }

    pub fn counts(&self) -> Counts {
        self.counts.lock().unwrap().clone()
    }
}

impl Drop for ClientLoop {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One use of the service; the address that served it.
fn round(dns: &[Ipv4Addr]) -> Result<Ipv4Addr, String> {
    let addresses = dns.iter().find_map(|server| resolve(*server).ok()).ok_or("no DNS server answered")?;
    let mut failures = Vec::new();
    for addr in &addresses {
        match http::request("GET", SocketAddr::new(IpAddr::V4(*addr), 80), "/items", HTTP_TIMEOUT) {
            Ok((200, _)) => return Ok(*addr),
            Ok((status, _)) => failures.push(format!("{addr}: status {status}")),
            Err(e) => failures.push(e),
        }
    }
    Err(format!("no address worked: {}", failures.join("; ")))
}

/// The A records of the service at `server`, in its order.
fn resolve(server: Ipv4Addr) -> Result<Vec<Ipv4Addr>, String> {
    let query = query_message(SERVICE, RecordType::A, false);
    let bytes = query.to_vec().map_err(|e| e.to_string())?;
    let socket = UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
    socket.set_read_timeout(Some(DNS_TIMEOUT)).map_err(|e| e.to_string())?;
    socket.send_to(&bytes, (server, 53)).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 4096];
    let len = socket.recv(&mut buf).map_err(|e| format!("{server}: {e}"))?;
    let answer = Message::from_vec(&buf[..len]).map_err(|e| e.to_string())?;
    let addrs: Vec<Ipv4Addr> = answer
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    if addrs.is_empty() { Err(format!("{server}: no addresses")) } else { Ok(addrs) }
}
