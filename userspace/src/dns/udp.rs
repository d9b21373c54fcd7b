//! UDP on plain threads: each blocks on the shared socket until datagrams arrive, takes up to a
//! batch of them in one system call (recvmmsg), answers them and sends the answers in one more
//! (sendmmsg). Under load a thread goes straight from one batch to the next; on an async runtime
//! every datagram that found the socket empty meant a park, a wakeup and a switch of threads.
//! An idle thread waits in poll(2) on its socket and on a stop pipe, so stopping takes no
//! longer than the batch in hand (the socket itself may live on in a successor process).
//!
//! A socket bound to the unspecified address hears every address of the host; each answer goes
//! out from the address its query was sent to (IP_PKTINFO / IPV6_RECVPKTINFO, `reply_from`), as
//! resolvers discard answers from any other.
//!
//! Each query is charged to its client prefix's rate limit (`crate::rrl`) before it is answered,
//! unless it came in on an interface where the XDP program charged it already. Only the COOKIE
//! option is looked at before the charge (a valid server cookie exempts): a limited query costs
//! one parse and no answer.

use std::{
    io::{IoSlice, IoSliceMut},
    net::{IpAddr, SocketAddr, UdpSocket},
    os::fd::{AsFd, AsRawFd, OwnedFd},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use nix::{
    cmsg_space,
    errno::Errno,
    poll::{PollFd, PollFlags, PollTimeout, poll},
    sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg, setsockopt, sockopt},
};
use switchyard_common::RrlVerdict;
use tracing::{debug, warn};

use super::{
    authority::Authority,
    cookies::CookieReply,
    counters::ServerCounters,
    reply_from::{self, ReplySource},
};

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
            if local.is_ipv4() {
                setsockopt(&socket, sockopt::Ipv4PacketInfo, &true)?;
            } else {
                setsockopt(&socket, sockopt::Ipv6RecvPacketInfo, &true)?;
            }
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

/// (slot, length, sender, where the reply goes out from and the interface it came in on) of a
/// datagram of a batch.
type Datagram = (usize, usize, SockaddrStorage, Option<(ReplySource, u32)>);

fn serve(socket: &UdpSocket, authority: &Authority, counters: &ServerCounters, stop: &AtomicBool, woken: &OwnedFd) {
    let fd = socket.as_raw_fd();
    let ipv4 = socket.local_addr().is_ok_and(|a| a.is_ipv4());
    let control_space = || if ipv4 { cmsg_space!(libc::in_pktinfo) } else { cmsg_space!(libc::in6_pktinfo) };
    let mut slots = vec![[0u8; SLOT]; BATCH];
    let mut sent_headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, Some(control_space()));
    let mut replies = Vec::with_capacity(BATCH);
    while !stop.load(Ordering::Relaxed) {
        // The kernel shortens each header's control length to what it wrote: fresh ones per batch.
        let mut received_headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, Some(control_space()));
        let batch: Vec<Datagram> = {
            let mut buffers: Vec<[IoSliceMut; 1]> = slots.iter_mut().map(|s| [IoSliceMut::new(s)]).collect();
            match recvmmsg(fd, &mut received_headers, buffers.iter_mut(), MsgFlags::MSG_DONTWAIT, None) {
                Ok(results) => results
                    .enumerate()
                    .filter_map(|(i, m)| Some((i, m.bytes, m.address?, reply_from::of_received(m.cmsgs().ok()?))))
                    .collect(),
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
        for (slot, len, sender, arrival) in batch {
            let Some(peer) = socket_addr(&sender) else { continue };
            counters.udp.fetch_add(1, Ordering::Relaxed);
            // Sent to a broadcast or multicast address, or from an address no reply can go to.
            let Some((source, ifindex)) = arrival.filter(|_| reply_from::plausible_client(peer)) else {
                counters.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            if let Some(bytes) = reply(authority, &slots[slot][..len], peer.ip(), ifindex, counters) {
                replies.push((bytes, sender, source));
            }
        }
        send_all(fd, &mut sent_headers, &mut replies);
    }
}

/// The reply to one datagram from `client` that came in on `ifindex`: charged first (with the
/// cookie verdict, the one thing decided before), then answered, or slipped or dropped.
fn reply(
    authority: &Authority,
    request: &[u8],
    client: IpAddr,
    ifindex: u32,
    counters: &ServerCounters,
) -> Option<Vec<u8>> {
    let rrl = authority.rrl();
    // What the program charged already is answered here without a second charge.
    let charged = rrl.charged_by_program(ifindex);
    let charge = |exempt: bool| if charged { RrlVerdict::Answer } else { rrl.verdict(client, exempt, counters) };
    // The common query has no COOKIE option, so no valid server cookie to exempt it; its answer
    // costs about what a parse would.
    if let Some((bytes, outcome)) = authority.fast_answer(request, client) {
        return match charge(false) {
            RrlVerdict::Answer => {
                counters.record(outcome);
                Some(bytes)
            }
            RrlVerdict::Slip => authority.parse(request).ok().and_then(|query| authority.truncated_reply(&query)),
            RrlVerdict::Drop => None,
        };
    }
    let query = authority.parse(request);
    let cookie = match &query {
        Ok(query) => authority.cookie_reply(query, client),
        Err(_) => CookieReply::Absent,
    };
    match (charge(cookie.valid_server_cookie()), query) {
        (RrlVerdict::Answer, Ok(query)) => {
            let reply = authority.respond_to(&query, request, client, &cookie, false);
            counters.record_reply(&reply);
            reply.bytes
        }
        (RrlVerdict::Answer, Err(reply)) => {
            counters.record_reply(&reply);
            reply.bytes
        }
        (RrlVerdict::Slip, Ok(query)) => authority.truncated_reply(&query),
        (RrlVerdict::Drop, _) | (RrlVerdict::Slip, Err(_)) => None,
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

/// Sends every reply, a batch per call and per source address (the control message that names
/// the source is shared by a call's messages); a reply the kernel refuses is logged and skipped.
fn send_all(
    fd: i32,
    headers: &mut MultiHeaders<SockaddrStorage>,
    replies: &mut [(Vec<u8>, SockaddrStorage, ReplySource)],
) {
    replies.sort_unstable_by_key(|(_, _, source)| *source);
    for group in replies.chunk_by(|a, b| a.2 == b.2) {
        send_from(fd, headers, group);
    }
}

/// Sends replies that all go out from the same address.
fn send_from(
    fd: i32,
    headers: &mut MultiHeaders<SockaddrStorage>,
    replies: &[(Vec<u8>, SockaddrStorage, ReplySource)],
) {
    let source = replies[0].2;
    let (v4, v6) = (source.pktinfo_v4(), source.pktinfo_v6());
    let control = [source.control_message(&v4, &v6)];
    let mut next = 0;
    while next < replies.len() {
        let rest = &replies[next..];
        let buffers: Vec<[IoSlice; 1]> = rest.iter().map(|(bytes, _, _)| [IoSlice::new(bytes)]).collect();
        let addresses: Vec<Option<SockaddrStorage>> = rest.iter().map(|(_, to, _)| Some(*to)).collect();
        match sendmmsg(fd, headers, buffers.iter(), &addresses, control, MsgFlags::empty()) {
            Ok(results) => next += results.count().max(1),
            Err(Errno::EINTR) => {}
            Err(e) => {
                debug!(peer = ?socket_addr(&rest[0].1), from = ?source, error = %e, "udp send failed");
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
