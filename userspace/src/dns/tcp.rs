//! DNS over TCP (RFC 7766): length-prefixed messages, several per connection, until the client
//! is idle or closes. Connections are bounded in number, over every listen address and per
//! client (an IPv4 address, an IPv6 /64), and to a quarter of the open-files limit, so that
//! idle or slow clients cannot take every file descriptor (section 6.2.3). Beyond the bounds a
//! new connection is closed at once and counted; a wait for a client that begins while more
//! than three quarters of the places are taken is shorter. A reply the client does not take in
//! time (once the socket's send buffer is full) closes the connection as an idle one does.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
};
use tracing::warn;

use super::{authority::Authority, counters::ServerCounters};
use crate::client_places::{ClientPlace, ClientPlaces};
use crate::sync::log_limit::LogLimit;

/// How long a connection may wait for the client, to read a message or take a reply (RFC 7766
/// suggests seconds, not minutes).
const TCP_IDLE: Duration = Duration::from_secs(10);
/// The same while more than three quarters of the bound are taken.
const BUSY_IDLE: Duration = Duration::from_secs(2);
/// Connections served at once over every listen address, at most (see `connection_limit`).
pub const MAX_CONNECTIONS: usize = 256;
/// The bound in all however low the open-files limit.
const MIN_CONNECTIONS: usize = 8;
/// Connections served at once from one client (see `client_places::client_key`), at most (see
/// `per_client_limit`).
pub const MAX_PER_CLIENT: usize = 64;
/// Pause after a failed accept (out of file descriptors, say), so that the loop does not spin.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// The connections being served, in all and per client address.
pub struct TcpSlots {
    limit: usize,
    total: Arc<Semaphore>,
    per_client: ClientPlaces,
}

impl Default for TcpSlots {
    fn default() -> TcpSlots {
        TcpSlots::with_limit(connection_limit())
    }
}

/// `MAX_CONNECTIONS`, or a quarter of the process's open-files limit when that is lower: the
/// other descriptors stay for the health checks, the sockets and the maps.
fn connection_limit() -> usize {
    let soft =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).map_or(u64::MAX, |(soft, _)| soft);
    MAX_CONNECTIONS.min(usize::try_from(soft / 4).unwrap_or(usize::MAX)).max(MIN_CONNECTIONS)
}

/// One connection's place, given back when it ends.
struct Slot {
    slots: Arc<TcpSlots>,
    _client: ClientPlace,
    _permit: OwnedSemaphorePermit,
}

impl TcpSlots {
    fn with_limit(limit: usize) -> TcpSlots {
        TcpSlots {
            limit,
            total: Arc::new(Semaphore::new(limit)),
            per_client: ClientPlaces::new(per_client_limit(limit)),
        }
    }

    /// A place for a connection from `client`, unless one of the bounds is reached.
    fn take(self: &Arc<TcpSlots>, address: IpAddr) -> Option<Slot> {
        let permit = self.total.clone().try_acquire_owned().ok()?;
        let client = self.per_client.take(address)?;
        Some(Slot { slots: self.clone(), _client: client, _permit: permit })
    }

    /// How long a connection may wait for its client now.
    fn idle(&self) -> Duration {
        if self.total.available_permits() < self.limit / 4 { BUSY_IDLE } else { TCP_IDLE }
    }
}

/// Connections one client may hold: `MAX_PER_CLIENT`, or a quarter of the bound in all when
/// that is lower, so that it takes four clients at their full share to fill it.
fn per_client_limit(limit: usize) -> usize {
    MAX_PER_CLIENT.min(limit / 4).max(1)
}

/// Accepts connections on `listener` until dropped, each served on a task of its own.
pub async fn serve(
    listener: TcpListener,
    authority: Arc<Authority>,
    counters: Arc<ServerCounters>,
    slots: Arc<TcpSlots>,
) {
    static LOG: LogLimit = LogLimit::new();
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => match slots.take(peer.ip()) {
                Some(slot) => {
                    tokio::spawn(serve_connection(stream, peer, authority.clone(), counters.clone(), slot));
                }
                None => {
                    counters.tcp_refused.fetch_add(1, Ordering::Relaxed);
                    drop(stream);
                }
            },
            Err(e) => {
                if let Some(held_back) = LOG.allow() {
                    warn!(error = %e, held_back, "tcp accept failed");
                }
                tokio::time::sleep(ACCEPT_PAUSE).await;
            }
        }
    }
}

/// Length-prefixed messages (RFC 1035 4.2.2), several per connection, until idle or closed.
async fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    authority: Arc<Authority>,
    counters: Arc<ServerCounters>,
    slot: Slot,
) {
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(slot.slots.idle(), stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let mut message = vec![0u8; u16::from_be_bytes(len) as usize];
        if !matches!(tokio::time::timeout(slot.slots.idle(), stream.read_exact(&mut message)).await, Ok(Ok(_))) {
            return;
        }
        counters.tcp.fetch_add(1, Ordering::Relaxed);
        let reply = authority.respond(&message, peer.ip(), true);
        counters.record_reply(&reply);
        // A message that gets no reply (a response, or too short to have a header) is skipped:
        // its frame was read whole, so the next one starts where it ended, and the queries
        // pipelined behind it are still answered rather than lost with the connection.
        let Some(bytes) = reply.bytes else { continue };
        let mut framed = Vec::with_capacity(bytes.len() + 2);
        framed.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        framed.extend_from_slice(&bytes);
        if !matches!(tokio::time::timeout(slot.slots.idle(), stream.write_all(&framed)).await, Ok(Ok(()))) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::authority_tests;
    use hickory_proto::{op::Message, rr::RecordType};

    #[tokio::test]
    async fn a_message_without_reply_does_not_cost_the_queries_pipelined_behind_it() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let authority = Arc::new(authority_tests::authority_for(&authority_tests::config().build()));
        let server = tokio::spawn(serve(listener, authority, Arc::default(), Arc::new(TcpSlots::with_limit(8))));

        let mut first = authority_tests::query("www.example.com.", RecordType::A);
        first.metadata.id = 1;
        let mut response = first.clone();
        response.metadata.id = 2;
        response.metadata.message_type = hickory_proto::op::MessageType::Response;
        let mut last = authority_tests::query("www.example.com.", RecordType::AAAA);
        last.metadata.id = 3;
        // A query, a response (never answered), an empty message, a query: all in one write.
        let mut stream = TcpStream::connect(address).await.unwrap();
        let mut sent = Vec::new();
        for message in [first.to_vec().unwrap(), response.to_vec().unwrap(), Vec::new(), last.to_vec().unwrap()] {
            sent.extend_from_slice(&(message.len() as u16).to_be_bytes());
            sent.extend_from_slice(&message);
        }
        stream.write_all(&sent).await.unwrap();

        let mut ids = Vec::new();
        for _ in 0..2 {
            let mut len = [0u8; 2];
            tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut len)).await.unwrap().unwrap();
            let mut reply = vec![0u8; u16::from_be_bytes(len) as usize];
            stream.read_exact(&mut reply).await.unwrap();
            ids.push(Message::from_vec(&reply).unwrap().metadata.id);
        }
        assert_eq!(ids, [1, 3], "the query after the response and the empty message is answered");
        server.abort();
    }

    #[test]
    fn connections_are_bounded_per_client_and_in_all() {
        let slots = Arc::new(TcpSlots::with_limit(MAX_CONNECTIONS));
        let one: IpAddr = "198.18.0.2".parse().unwrap();
        let mut held: Vec<Slot> = (0..MAX_PER_CLIENT).map(|_| slots.take(one).expect("a place")).collect();
        assert!(slots.take(one).is_none(), "one client holds at most {MAX_PER_CLIENT}");
        held.pop();
        assert!(slots.take(one).is_some(), "a place comes back when a connection ends");
        held.clear();
        let others: Vec<Slot> = (0..MAX_CONNECTIONS)
            .map(|i| slots.take(IpAddr::from([198, 18, (i / 200) as u8, (i % 200) as u8])).unwrap())
            .collect();
        assert!(slots.take(one).is_none(), "at most {MAX_CONNECTIONS} in all");
        drop(others);
        assert!(slots.take(one).is_some());
        assert!(slots.per_client.clients() <= 1, "clients without connections are forgotten");
    }

    #[test]
    fn with_a_low_bound_one_client_gets_a_quarter_and_a_mapped_ipv4_client_is_itself() {
        let slots = Arc::new(TcpSlots::with_limit(32));
        let one: IpAddr = "198.18.0.2".parse().unwrap();
        let held: Vec<Slot> = (0..8).map(|_| slots.take(one).expect("a place")).collect();
        assert!(slots.take(one).is_none(), "a quarter of 32");
        assert!(slots.take("::ffff:198.18.0.2".parse().unwrap()).is_none(), "the same client");
        assert!(slots.take("::ffff:198.18.0.3".parse().unwrap()).is_some(), "another one");
        drop(held);
    }

    #[test]
    fn an_ipv6_client_is_its_64_and_a_full_pool_waits_less() {
        let slots = Arc::new(TcpSlots::with_limit(MAX_CONNECTIONS));
        let held: Vec<Slot> = (0..MAX_PER_CLIENT as u16)
            .map(|i| slots.take(IpAddr::from([0xfd00, 0, 0, 1, 0, 0, 0, i + 1])).expect("a place"))
            .collect();
        assert!(slots.take("fd00:0:0:1::ffff".parse().unwrap()).is_none(), "the same /64");
        assert!(slots.take("fd00:0:0:2::1".parse().unwrap()).is_some(), "another /64");
        // Up to three quarters of the places taken, the full idle time; one more, the short one.
        let mut more: Vec<Slot> = (0..MAX_CONNECTIONS * 3 / 4 - MAX_PER_CLIENT)
            .map(|i| slots.take(IpAddr::from([198, 18, (i / 200) as u8, (i % 200) as u8])).unwrap())
            .collect();
        assert_eq!(slots.idle(), TCP_IDLE);
        more.push(slots.take("198.18.250.1".parse().unwrap()).unwrap());
        assert_eq!(slots.idle(), BUSY_IDLE, "over three quarters taken");
        drop((held, more));
    }
}
