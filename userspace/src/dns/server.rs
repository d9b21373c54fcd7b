//! UDP and TCP listeners for the userspace path.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use serde::Serialize;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream, UdpSocket},
    task::JoinSet,
};
use tracing::{debug, warn};

use super::authority::{Authority, Outcome};

/// How long an idle TCP connection is kept (RFC 7766 suggests seconds, not minutes).
const TCP_IDLE: Duration = Duration::from_secs(10);

/// Queries seen by the userspace server, by transport and outcome.
#[derive(Default)]
pub struct ServerCounters {
    pub udp: AtomicU64,
    pub tcp: AtomicU64,
    pub answered: AtomicU64,
    pub nodata: AtomicU64,
    pub nxdomain: AtomicU64,
    pub refused: AtomicU64,
    pub formerr: AtomicU64,
    pub notimp: AtomicU64,
    pub badvers: AtomicU64,
    pub dropped: AtomicU64,
}

#[derive(Serialize, serde::Deserialize, Debug, Clone, Default, PartialEq)]
pub struct ServerCountersSnapshot {
    pub udp: u64,
    pub tcp: u64,
    pub answered: u64,
    pub nodata: u64,
    pub nxdomain: u64,
    pub refused: u64,
    pub formerr: u64,
    pub notimp: u64,
    pub badvers: u64,
    pub dropped: u64,
}

impl ServerCounters {
    fn record(&self, outcome: Outcome) {
        let counter = match outcome {
            Outcome::Answered => &self.answered,
            Outcome::NoData => &self.nodata,
            Outcome::NxDomain => &self.nxdomain,
            Outcome::Refused => &self.refused,
            Outcome::FormErr => &self.formerr,
            Outcome::NotImp => &self.notimp,
            Outcome::BadVers => &self.badvers,
            Outcome::Dropped => &self.dropped,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> ServerCountersSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ServerCountersSnapshot {
            udp: get(&self.udp),
            tcp: get(&self.tcp),
            answered: get(&self.answered),
            nodata: get(&self.nodata),
            nxdomain: get(&self.nxdomain),
            refused: get(&self.refused),
            formerr: get(&self.formerr),
            notimp: get(&self.notimp),
            badvers: get(&self.badvers),
            dropped: get(&self.dropped),
        }
    }
}

/// Binds UDP and TCP on every address and serves until the task set is dropped.
pub async fn start(
    listen: &[IpAddr],
    port: u16,
    authority: Arc<Authority>,
    counters: Arc<ServerCounters>,
) -> std::io::Result<JoinSet<()>> {
    let mut tasks = JoinSet::new();
    for ip in listen {
        let addr = SocketAddr::new(*ip, port);
        let udp = bind_udp(addr)?;
        let tcp = bind_tcp(addr)?;
        tasks.spawn(serve_udp(udp, authority.clone(), counters.clone()));
        tasks.spawn(serve_tcp(tcp, authority.clone(), counters.clone()));
    }
    Ok(tasks)
}

/// IPv6 sockets are v6-only so that "0.0.0.0" and "::" can both be bound.
fn socket_for(addr: SocketAddr, kind: socket2::Type) -> std::io::Result<socket2::Socket> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(addr), kind, None)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    // TCP only: on UDP it would let a second server bind the same port without an error.
    if kind == socket2::Type::STREAM {
        socket.set_reuse_address(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    UdpSocket::from_std(socket_for(addr, socket2::Type::DGRAM)?.into())
}

fn bind_tcp(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = socket_for(addr, socket2::Type::STREAM)?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

async fn serve_udp(socket: UdpSocket, authority: Arc<Authority>, counters: Arc<ServerCounters>) {
    let mut buf = vec![0u8; 65535];
    loop {
        let (len, peer) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "udp receive failed");
                continue;
            }
        };
        counters.udp.fetch_add(1, Ordering::Relaxed);
        let reply = authority.respond(&buf[..len], peer.ip(), false);
        counters.record(reply.outcome);
        if let Some(bytes) = reply.bytes
            && let Err(e) = socket.send_to(&bytes, peer).await
        {
            debug!(%peer, error = %e, "udp send failed");
        }
    }
}

async fn serve_tcp(listener: TcpListener, authority: Arc<Authority>, counters: Arc<ServerCounters>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                tokio::spawn(serve_connection(stream, peer, authority.clone(), counters.clone()));
            }
            Err(e) => warn!(error = %e, "tcp accept failed"),
        }
    }
}

/// Length-prefixed messages (RFC 1035 4.2.2), several per connection, until idle or closed.
async fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    authority: Arc<Authority>,
    counters: Arc<ServerCounters>,
) {
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let mut message = vec![0u8; u16::from_be_bytes(len) as usize];
        if !matches!(tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut message)).await, Ok(Ok(_))) {
            return;
        }
        counters.tcp.fetch_add(1, Ordering::Relaxed);
        let reply = authority.respond(&message, peer.ip(), true);
        counters.record(reply.outcome);
        let Some(bytes) = reply.bytes else { return };
        let mut framed = Vec::with_capacity(bytes.len() + 2);
        framed.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        framed.extend_from_slice(&bytes);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}
