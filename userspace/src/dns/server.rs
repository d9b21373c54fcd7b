//! UDP and TCP listeners for the userspace path: UDP on threads of its own (`udp.rs`), TCP on
//! the runtime.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinSet,
};
use tracing::warn;

use super::{authority::Authority, counters::ServerCounters, udp::UdpWorkers};
use crate::daemon::sockets::{Inherited, Registry};

/// Where listening sockets come from (passed in, else bound) and where they are recorded.
pub struct Sockets<'a> {
    pub inherited: &'a mut Inherited,
    pub registry: &'a Registry,
}

/// How long an idle TCP connection is kept (RFC 7766 suggests seconds, not minutes).
const TCP_IDLE: Duration = Duration::from_secs(10);

/// What serves DNS until dropped.
pub struct Listeners {
    _tcp: JoinSet<()>,
    _udp: UdpWorkers,
}

/// Takes (or binds) UDP and TCP on every address, then serves UDP with `udp_threads` threads
/// per address.
pub async fn start(
    listen: &[IpAddr],
    port: u16,
    udp_threads: usize,
    authority: Arc<Authority>,
    counters: Arc<ServerCounters>,
    sockets: Sockets<'_>,
) -> std::io::Result<Listeners> {
    let mut tcp = JoinSet::new();
    let mut udp = Vec::new();
    for ip in listen {
        let addr = SocketAddr::new(*ip, port);
        let socket = match sockets.inherited.take_udp(addr) {
            Some(socket) => socket,
            None => socket_for(addr, socket2::Type::DGRAM)?.into(),
        };
        sockets.registry.add(&socket)?;
        udp.push(socket);
        let listener = match sockets.inherited.take_tcp(addr) {
            Some(listener) => listener,
            None => bind_tcp(addr)?,
        };
        sockets.registry.add(&listener)?;
        listener.set_nonblocking(true)?;
        tcp.spawn(serve_tcp(TcpListener::from_std(listener)?, authority.clone(), counters.clone()));
    }
    let udp = UdpWorkers::start(udp, udp_threads, authority, counters)?;
    Ok(Listeners { _tcp: tcp, _udp: udp })
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

fn bind_tcp(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = socket_for(addr, socket2::Type::STREAM)?;
    socket.listen(1024)?;
    Ok(socket.into())
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
