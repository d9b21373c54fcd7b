//! Rate limiting seen from clients: one source floods (a bounded count of queries as fast as
//! its socket takes them) while another, in another prefix, asks one query at a time and waits
//! for each answer. Replies are told apart by what a client sees: an answer, or an empty
//! truncated reply (a slipped one).

use std::{
    net::{IpAddr, SocketAddr, UdpSocket},
    os::fd::AsRawFd,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use hickory_proto::{op::Message, rr::RecordType};

use crate::{client::query_message, netns::Netns};

/// What one source got back.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub sent: u64,
    /// Replies that are not empty truncated ones: answers, and NXDOMAIN or other errors.
    pub answered: u64,
    /// Empty truncated replies (TC=1).
    pub truncated: u64,
}

/// A UDP socket bound to `source` inside `ns` (the address must be one of the namespace's).
pub fn socket_from(ns: &Netns, source: IpAddr) -> UdpSocket {
    let socket = ns.enter(move || UdpSocket::bind(SocketAddr::new(source, 0)).expect("bind the client socket"));
    // Room for every reply of a flood while the sender still sends.
    let size: libc::c_int = 8 << 20;
    // SAFETY: a valid socket and a c_int option value of the size given.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&size as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    socket
}

fn classify(bytes: &[u8], into: &mut Received) {
    let Ok(message) = Message::from_vec(bytes) else { return };
    if message.metadata.truncation && message.answers.is_empty() {
        into.truncated += 1;
    } else {
        into.answered += 1;
    }
}

/// Sends `count` queries for `names` in turn as fast as the socket takes them (none more after
/// `max_time`), and counts the replies that arrive until `linger` after the last one sent.
/// Returns what came back and how long from the first query to the last reply.
pub fn flood(
    socket: UdpSocket,
    server: SocketAddr,
    names: &[&str],
    count: u64,
    max_time: Duration,
) -> (Received, Duration) {
    let linger = Duration::from_millis(500);
    let rtype = if server.is_ipv6() { RecordType::AAAA } else { RecordType::A };
    let socket = Arc::new(socket);
    socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let receiver = {
        let (socket, done) = (socket.clone(), done.clone());
        std::thread::spawn(move || {
            let mut got = Received::default();
            let mut buf = [0u8; 4096];
            let mut quiet_since: Option<Instant> = None;
            let mut last_reply = Instant::now();
            loop {
                match socket.recv(&mut buf) {
                    Ok(len) => {
                        classify(&buf[..len], &mut got);
                        last_reply = Instant::now();
                        quiet_since = None;
                    }
                    Err(_) if done.load(Ordering::Relaxed) => {
                        let since = *quiet_since.get_or_insert_with(Instant::now);
                        if since.elapsed() >= linger {
                            return (got, last_reply);
                        }
                    }
                    Err(_) => {}
                }
            }
        })
    };
    let start = Instant::now();
    let mut sent = 0;
    let messages: Vec<_> = names.iter().map(|name| query_message(name, rtype, false)).collect();
    while sent < count && start.elapsed() < max_time {
        let mut message = messages[sent as usize % messages.len()].clone();
        message.metadata.id = sent as u16;
        if socket.send_to(&message.to_vec().unwrap(), server).is_ok() {
            sent += 1;
        }
    }
    done.store(true, Ordering::Relaxed);
    let (mut got, last_reply) = receiver.join().expect("receiver");
    got.sent = sent;
    (got, last_reply.saturating_duration_since(start))
}

/// Asks one query at a time for `name` until `stop` is set or `max` were asked, each tried up
/// to three times `wait` apart, as a resolver retries a datagram lost on the way.
pub fn paced(
    socket: UdpSocket,
    server: SocketAddr,
    name: &str,
    max: u64,
    wait: Duration,
    stop: &AtomicBool,
) -> Received {
    let rtype = if server.is_ipv6() { RecordType::AAAA } else { RecordType::A };
    socket.set_read_timeout(Some(wait)).unwrap();
    let mut got = Received::default();
    let mut message = query_message(name, rtype, false);
    while got.sent < max && !stop.load(Ordering::Relaxed) {
        message.metadata.id = got.sent as u16;
        got.sent += 1;
        for _ in 0..3 {
            socket.send_to(&message.to_vec().unwrap(), server).expect("send");
            if let Some(reply) = reply_to(&socket, message.metadata.id, wait) {
                classify(&reply, &mut got);
                break;
            }
        }
    }
    got
}

/// The reply with this ID, skipping late replies to earlier queries; `None` after `wait`.
fn reply_to(socket: &UdpSocket, id: u16, wait: Duration) -> Option<Vec<u8>> {
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        let len = socket.recv(&mut buf).ok()?;
        if Message::from_vec(&buf[..len]).is_ok_and(|m| m.metadata.id == id) {
            return Some(buf[..len].to_vec());
        }
    }
    None
}
