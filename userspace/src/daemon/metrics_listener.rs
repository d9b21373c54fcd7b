//! The metrics and status page's listener, bounded: at most `MAX_CONNECTIONS` served at once
//! (one beyond waits in the kernel's backlog until another ends), of them at most
//! `MAX_PER_CLIENT` from one client (beyond, closed at once, so that one address cannot take
//! every place and blind the monitoring), and a connection that sends
//! nothing, or takes nothing of its response, for `IDLE` is closed, as is one waiting on its
//! client after `LIFETIME`. So idle or slow clients cannot take the daemon's file
//! descriptors, which its health checks and DNS sockets need.

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use crate::client_places::{ClientPlace, ClientPlaces};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
    time::{Instant, Sleep},
};

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// Connections of one client (an IPv4 address or an IPv6 /64) served at once.
pub const MAX_PER_CLIENT: usize = MAX_CONNECTIONS / 4;
/// How long a connection may send nothing, within a request or between two.
pub const IDLE: Duration = Duration::from_secs(30);
/// How long a connection is kept at most, so that one that trickles a byte now and then cannot
/// hold its place for ever; a scraper connects again.
pub const LIFETIME: Duration = Duration::from_secs(120);

/// A TCP listener that hands out at most `MAX_CONNECTIONS` connections at once.
pub struct BoundedListener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
    per_client: ClientPlaces,
}

impl BoundedListener {
    pub fn new(inner: TcpListener) -> BoundedListener {
        BoundedListener {
            inner,
            slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            per_client: ClientPlaces::new(MAX_PER_CLIENT),
        }
    }
}

impl axum::serve::Listener for BoundedListener {
    type Io = Bounded;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Bounded, SocketAddr) {
        loop {
            let slot = self.slots.clone().acquire_owned().await.expect("the semaphore is never closed");
            let (io, addr) = axum::serve::Listener::accept(&mut self.inner).await;
            // Over its share: closed at once (dropped with its slot), and the next one taken.
            let Some(client) = self.per_client.take(addr.ip()) else { continue };
            let (idle, lifetime) = (Box::pin(tokio::time::sleep(IDLE)), Box::pin(tokio::time::sleep(LIFETIME)));
            return (Bounded { io, _slot: slot, _client: client, idle, lifetime }, addr);
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// One connection: its place among the bounded ones, the deadline for the client's next byte
/// and the end of its lifetime.
pub struct Bounded {
    io: TcpStream,
    _slot: OwnedSemaphorePermit,
    _client: ClientPlace,
    idle: Pin<Box<Sleep>>,
    lifetime: Pin<Box<Sleep>>,
}

impl Bounded {
    /// `progress` as the socket gave it: made, the deadline moves on; none, the connection ends
    /// once the deadline or its lifetime passed.
    fn within_deadline<T>(&mut self, cx: &mut Context<'_>, progress: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match progress {
            Poll::Ready(done) => {
                self.idle.as_mut().reset(Instant::now() + IDLE);
                Poll::Ready(done)
            }
            Poll::Pending => {
                if self.idle.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "client idle")));
                }
                if self.lifetime.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "connection kept long enough")));
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncRead for Bounded {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let progress = Pin::new(&mut self.io).poll_read(cx, buf);
        self.within_deadline(cx, progress)
    }
}

impl AsyncWrite for Bounded {
    /// A client that does not take its response is idle too.
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let progress = Pin::new(&mut self.io).poll_write(cx, buf);
        self.within_deadline(cx, progress)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let progress = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.within_deadline(cx, progress)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A bounded listener on a loopback port, a client connected to it and the connection as
    /// the listener handed it out.
    async fn connected() -> (BoundedListener, TcpStream, Bounded) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut bounded = BoundedListener::new(listener);
        let client = TcpStream::connect(addr).await.unwrap();
        let (conn, _) = axum::serve::Listener::accept(&mut bounded).await;
        (bounded, client, conn)
    }

    #[tokio::test]
    async fn one_client_gets_its_share_of_the_places_and_another_still_gets_in() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut bounded = BoundedListener::new(listener);
        let mut held = Vec::new();
        for _ in 0..MAX_PER_CLIENT {
            let client = TcpStream::connect(addr).await.unwrap();
            held.push((client, axum::serve::Listener::accept(&mut bounded).await.0));
        }
        // One more from the same address: closed at once, never handed out.
        let mut over = TcpStream::connect(addr).await.unwrap();
        let accepted = tokio::time::timeout(Duration::from_millis(300), axum::serve::Listener::accept(&mut bounded));
        assert!(accepted.await.is_err(), "nothing handed out beyond the client's share");
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(2), over.read(&mut byte)).await.expect("closed at once");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        // Another client (127.0.0.2) still gets in.
        let other = tokio::net::TcpSocket::new_v4().unwrap();
        other.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let _other = other.connect(addr).await.unwrap();
        let (_, from) = axum::serve::Listener::accept(&mut bounded).await;
        assert_eq!(from.ip(), "127.0.0.2".parse::<std::net::IpAddr>().unwrap());
        // One of the first client's connections ends: it gets a place again.
        held.pop();
        let _again = TcpStream::connect(addr).await.unwrap();
        let (_, from) = axum::serve::Listener::accept(&mut bounded).await;
        assert_eq!(from.ip(), "127.0.0.1".parse::<std::net::IpAddr>().unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_client_is_closed_and_a_place_comes_back() {
        let (bounded, client, mut conn) = connected().await;
        assert_eq!(bounded.slots.available_permits(), MAX_CONNECTIONS - 1);
        let mut byte = [0u8; 1];
        let read = conn.read(&mut byte).await;
        assert_eq!(read.unwrap_err().kind(), io::ErrorKind::TimedOut, "closed after {IDLE:?} of silence");
        drop(conn);
        assert_eq!(bounded.slots.available_permits(), MAX_CONNECTIONS);
        drop(client);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_trickles_is_closed_after_the_lifetime() {
        let (_bounded, mut client, mut conn) = connected().await;
        let started = Instant::now();
        let mut byte = [0u8; 1];
        let mut rounds = 0;
        let closed = loop {
            rounds += 1;
            assert!(rounds < 20, "still open after {:?}", started.elapsed());
            tokio::time::sleep(IDLE / 2).await;
            let _ = client.write_all(b"x").await;
            if let Err(e) = conn.read(&mut byte).await {
                break e;
            }
            // Between bytes the connection waits on the client, where the lifetime is checked.
            let waiting = tokio::time::timeout(IDLE / 4, conn.read(&mut byte)).await;
            if let Ok(Err(e)) = waiting {
                break e;
            }
        };
        assert_eq!(closed.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= LIFETIME && started.elapsed() < LIFETIME + IDLE, "{:?}", started.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_sends_keeps_its_connection() {
        let (_bounded, mut client, mut conn) = connected().await;
        for _ in 0..3 {
            tokio::time::sleep(IDLE / 2).await;
            client.write_all(b"x").await.unwrap();
            let mut byte = [0u8; 1];
            assert_eq!(conn.read(&mut byte).await.unwrap(), 1, "each byte resets the deadline");
        }
    }
}
