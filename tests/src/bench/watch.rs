//! A fast UDP query loop from the client namespace: the moment an answer changes is seen
//! within one poll interval plus a round trip.

use std::{
    net::{SocketAddr, UdpSocket},
    time::{Duration, Instant},
};

use super::interrupt;
use crate::{client::query_message, netns::Netns};
use hickory_proto::{op::Message, rr::RecordType};

pub const POLL: Duration = Duration::from_millis(5);
pub const QUERY_TIMEOUT: Duration = Duration::from_millis(50);

pub struct Watcher {
    socket: UdpSocket,
    query: Vec<u8>,
    id: u16,
    buf: Vec<u8>,
}

impl Watcher {
    /// A socket opened in `client` (it stays there) asking `server` for `name` A.
    pub fn new(client: &Netns, server: SocketAddr, name: &str) -> Watcher {
        let socket = client.enter(|| UdpSocket::bind("0.0.0.0:0")).expect("bind in the client namespace");
        socket.connect(server).expect("connect");
        socket.set_read_timeout(Some(QUERY_TIMEOUT)).unwrap();
        let query = query_message(name, RecordType::A, false).to_vec().expect("encode");
        Watcher { socket, query, id: 0, buf: vec![0u8; 4096] }
    }

    /// One query: the A addresses in answer order, `None` on timeout or error.
    pub fn ask(&mut self) -> Option<Vec<String>> {
        self.id = self.id.wrapping_add(1);
        self.query[..2].copy_from_slice(&self.id.to_be_bytes());
        self.socket.send(&self.query).ok()?;
        // A late reply to an earlier query must not count as this one's; bounded reads.
        for _ in 0..8 {
            let len = self.socket.recv(&mut self.buf).ok()?;
            if len >= 2 && self.buf[..2] == self.id.to_be_bytes() {
                let message = Message::from_vec(&self.buf[..len]).ok()?;
                return Some(message.answers.iter().map(|r| r.data.to_string()).collect());
            }
        }
        None
    }

    /// Polls until an answer satisfies `done`; returns the time since `since`. Fails after
    /// `within`, with the last answer seen.
    pub fn wait(
        &mut self,
        since: Instant,
        within: Duration,
        done: impl Fn(&[String]) -> bool,
    ) -> Result<Duration, String> {
        let mut last = None;
        while since.elapsed() < within {
            interrupt::check()?;
            if let Some(answer) = self.ask() {
                if done(&answer) {
                    return Ok(since.elapsed());
                }
                last = Some(answer);
            }
            std::thread::sleep(POLL);
        }
        Err(format!("no matching answer within {within:?}; last answer {last:?}"))
    }
}
