//! UDP on plain threads: each blocks on the shared socket until datagrams arrive, takes up to a
//! batch of them in one system call (recvmmsg), answers them and sends the answers in one more
//! (sendmmsg). Under load a thread goes straight from one batch to the next; on an async runtime
//! every datagram that found the socket empty meant a park, a wakeup and a switch of threads.
//! An idle thread waits in poll(2) on its socket and on a stop pipe, so stopping takes no
//! longer than the batch in hand (the socket itself may live on in a successor process).

use std::{
    io::{IoSlice, IoSliceMut},
    net::{SocketAddr, UdpSocket},
    os::fd::{AsFd, AsRawFd, OwnedFd},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use nix::{
    errno::Errno,
    poll::{PollFd, PollFlags, PollTimeout, poll},
    sys::socket::{ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg},
};
use tracing::{debug, warn};

use super::{authority::Authority, counters::ServerCounters};

/// Pause after an unexpected receive error, so that one that persists cannot spin the thread.
const ERROR_PAUSE: Duration = Duration::from_millis(10);
/// Datagrams taken per system call.
const BATCH: usize = 32;
/// Room per datagram. Queries are far smaller; a longer one arrives cut short, fails to parse
/// and gets FORMERR, as any malformed query does.
const SLOT: usize = 4096;

/// Threads serving UDP sockets; dropping this stops and joins them.
pub struct UdpWorkers {
    stop: Arc<AtomicBool>,
    /// Closed to stop: every thread polls the read end, which then reads end-of-file.
    wake: Option<OwnedFd>,
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
        let (woken, wake) = nix::unistd::pipe()?;
        let woken = Arc::new(woken);
        let mut workers = UdpWorkers { stop: Arc::new(AtomicBool::new(false)), wake: Some(wake), threads: Vec::new() };
        for socket in sockets {
            // Blocking sends (an answer waits for room rather than being lost); receives never block.
            socket.set_nonblocking(false)?;
            let local = socket.local_addr()?;
            for i in 0..per_socket.max(1) {
                let socket = socket.try_clone()?;
                let (authority, counters, stop) = (authority.clone(), counters.clone(), workers.stop.clone());
                let woken = woken.clone();
                let family = if local.is_ipv4() { 4 } else { 6 };
                let thread = std::thread::Builder::new()
                    .name(format!("udp{family}-{i}"))
                    .spawn(move || serve(&socket, &authority, &counters, &stop, &woken))?;
                workers.threads.push(thread);
            }
        }
        Ok(workers)
    }
}

impl Drop for UdpWorkers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        drop(self.wake.take());
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn serve(socket: &UdpSocket, authority: &Authority, counters: &ServerCounters, stop: &AtomicBool, woken: &OwnedFd) {
    let fd = socket.as_raw_fd();
    let mut slots = vec![[0u8; SLOT]; BATCH];
    let mut received_headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let mut sent_headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let mut replies = Vec::with_capacity(BATCH);
    while !stop.load(Ordering::Relaxed) {
        // (slot, length, sender) of each datagram of the batch.
        let batch: Vec<(usize, usize, SockaddrStorage)> = {
            let mut buffers: Vec<[IoSliceMut; 1]> = slots.iter_mut().map(|s| [IoSliceMut::new(s)]).collect();
            match recvmmsg(fd, &mut received_headers, buffers.iter_mut(), MsgFlags::MSG_DONTWAIT, None) {
                Ok(results) => results.enumerate().filter_map(|(i, m)| Some((i, m.bytes, m.address?))).collect(),
                Err(Errno::EAGAIN) => {
                    wait_readable(socket, woken);
                    continue;
                }
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    warn!(error = %e, "udp receive failed");
                    std::thread::sleep(ERROR_PAUSE);
                    continue;
                }
            }
        };
        replies.clear();
        for (slot, len, sender) in batch {
            let Some(peer) = socket_addr(&sender) else { continue };
            counters.udp.fetch_add(1, Ordering::Relaxed);
            let reply = authority.respond(&slots[slot][..len], peer.ip(), false);
            counters.record(reply.outcome);
            if let Some(bytes) = reply.bytes {
                replies.push((bytes, sender));
            }
        }
        send_all(fd, &mut sent_headers, &replies);
    }
}

/// Waits until the socket has a datagram or the stop pipe was closed.
fn wait_readable(socket: &UdpSocket, woken: &OwnedFd) {
    let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLIN), PollFd::new(woken.as_fd(), PollFlags::POLLIN)];
    if let Err(e) = poll(&mut fds, PollTimeout::NONE)
        && e != Errno::EINTR
    {
        warn!(error = %e, "udp poll failed");
        std::thread::sleep(ERROR_PAUSE);
    }
}

/// Sends every reply, a batch per call; a reply the kernel refuses is logged and skipped.
fn send_all(fd: i32, headers: &mut MultiHeaders<SockaddrStorage>, replies: &[(Vec<u8>, SockaddrStorage)]) {
    let no_control: [ControlMessage; 0] = [];
    let mut next = 0;
    while next < replies.len() {
        let rest = &replies[next..];
        let buffers: Vec<[IoSlice; 1]> = rest.iter().map(|(bytes, _)| [IoSlice::new(bytes)]).collect();
        let addresses: Vec<Option<SockaddrStorage>> = rest.iter().map(|(_, to)| Some(*to)).collect();
        match sendmmsg(fd, headers, buffers.iter(), &addresses, no_control, MsgFlags::empty()) {
            Ok(results) => next += results.count().max(1),
            Err(Errno::EINTR) => {}
            Err(e) => {
                debug!(peer = ?socket_addr(&rest[0].1), error = %e, "udp send failed");
                next += 1;
            }
        }
    }
}

fn socket_addr(address: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    address.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
}
