//! UDP on plain threads: each blocks in `recv_from` on the shared socket and answers in place.
//! Under load a thread goes straight from one datagram to the next; on an async runtime every
//! datagram that found the socket empty meant a park, a wakeup and a switch between threads.

use std::{
    io::ErrorKind,
    net::UdpSocket,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use tracing::{debug, warn};

use super::{authority::Authority, server::ServerCounters};

/// How often an idle thread looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(200);

/// Threads serving UDP sockets; dropping this stops and joins them.
pub struct UdpWorkers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl UdpWorkers {
    /// Starts `per_socket` threads on each socket.
    pub fn start(
        sockets: Vec<UdpSocket>,
        per_socket: usize,
        authority: Arc<Authority>,
        counters: Arc<ServerCounters>,
    ) -> std::io::Result<UdpWorkers> {
        let mut workers = UdpWorkers { stop: Arc::new(AtomicBool::new(false)), threads: Vec::new() };
        for socket in sockets {
            socket.set_nonblocking(false)?;
            socket.set_read_timeout(Some(STOP_POLL))?;
            let local = socket.local_addr()?;
            for i in 0..per_socket.max(1) {
                let socket = socket.try_clone()?;
                let (authority, counters, stop) = (authority.clone(), counters.clone(), workers.stop.clone());
                let thread = std::thread::Builder::new()
                    .name(format!("udp{i}-{}", local.port()))
                    .spawn(move || serve(&socket, &authority, &counters, &stop))?;
                workers.threads.push(thread);
            }
        }
        Ok(workers)
    }
}

impl Drop for UdpWorkers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn serve(socket: &UdpSocket, authority: &Authority, counters: &ServerCounters, stop: &AtomicBool) {
    let mut buf = vec![0u8; 65535];
    while !stop.load(Ordering::Relaxed) {
        let (len, peer) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                continue;
            }
            Err(e) => {
                warn!(error = %e, "udp receive failed");
                continue;
            }
        };
        counters.udp.fetch_add(1, Ordering::Relaxed);
        let reply = authority.respond(&buf[..len], peer.ip(), false);
        counters.record(reply.outcome);
        if let Some(bytes) = reply.bytes
            && let Err(e) = socket.send_to(&bytes, peer)
        {
            debug!(%peer, error = %e, "udp send failed");
        }
    }
}
