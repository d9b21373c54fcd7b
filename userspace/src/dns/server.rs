//! UDP and TCP listeners for the userspace path: UDP on threads of its own (`udp.rs`), TCP on
//! the runtime (`tcp.rs`).

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use std::collections::BTreeMap;

use tokio::net::TcpListener;
use tracing::{info, warn};

use super::{
    authority::Authority,
    counters::ServerCounters,
    tcp::{self, TcpSlots},
    udp::UdpWorkers,
};
use crate::daemon::sockets::{Inherited, Registry, bind_when_free};

/// Where listening sockets come from (passed in, else bound) and where they are recorded.
pub struct Sockets<'a> {
    pub inherited: &'a mut Inherited,
    pub registry: &'a Registry,
}

/// What serves DNS until dropped: per listen address a UDP socket served by threads of its
/// own and a TCP listener served on the runtime.
pub struct Listeners {
    groups: BTreeMap<SocketAddr, Group>,
    udp_threads: usize,
    authority: Arc<Authority>,
    counters: Arc<ServerCounters>,
    /// TCP connections served, over every address.
    tcp_slots: Arc<TcpSlots>,
}

struct Group {
    udp: std::net::UdpSocket,
    workers: UdpWorkers,
    tcp: std::net::TcpListener,
    accepting: tokio::task::JoinHandle<()>,
}

impl Drop for Group {
    fn drop(&mut self) {
        self.accepting.abort();
    }
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
    let tcp_slots = Arc::new(TcpSlots::default());
    let mut listeners = Listeners { groups: BTreeMap::new(), udp_threads, authority, counters, tcp_slots };
    for ip in listen {
        let addr = SocketAddr::new(*ip, port);
        let udp = match sockets.inherited.take_udp(addr) {
            Some(socket) => socket,
            None => socket_for(addr, socket2::Type::DGRAM)?.into(),
        };
        let tcp = match sockets.inherited.take_tcp(addr) {
            Some(listener) => listener,
            None => bind_tcp(addr)?,
        };
        sockets.registry.add(&udp)?;
        sockets.registry.add(&tcp)?;
        let group = listeners.serve(udp, tcp)?;
        listeners.groups.insert(addr, group);
    }
    Ok(listeners)
}

impl Listeners {
    fn serve(&self, udp: std::net::UdpSocket, tcp: std::net::TcpListener) -> std::io::Result<Group> {
        let workers =
            UdpWorkers::start(vec![udp.try_clone()?], self.udp_threads, self.authority.clone(), self.counters.clone())?;
        tcp.set_nonblocking(true)?;
        let listener = TcpListener::from_std(tcp.try_clone()?)?;
        let accepting =
            tokio::spawn(tcp::serve(listener, self.authority.clone(), self.counters.clone(), self.tcp_slots.clone()));
        Ok(Group { udp, workers, tcp, accepting })
    }

    /// Serves these addresses with this many UDP threads each: new ones are bound first (an
    /// address in use changes nothing), then the ones no longer listed are closed. A new
    /// address that overlaps one of ours being dropped (the same port, one of the two a
    /// wildcard: 127.0.0.1 to 0.0.0.0, say) can only be bound once that one is closed: it is,
    /// in that order, and queries to it in between are refused by the kernel; if the new one
    /// still cannot be bound, the addresses served before are served again.
    pub async fn reconfigure(
        &mut self,
        listen: &[IpAddr],
        port: u16,
        udp_threads: usize,
        registry: &Registry,
    ) -> std::io::Result<()> {
        let wanted: Vec<SocketAddr> = listen.iter().map(|ip| SocketAddr::new(*ip, port)).collect();
        let previous: Vec<SocketAddr> = self.groups.keys().copied().collect();
        let dropped = |addr: &SocketAddr| previous.iter().any(|held| !wanted.contains(held) && overlaps(*held, *addr));
        let mut bound = Vec::new();
        let mut after_close = Vec::new();
        for addr in wanted.iter().filter(|a| !self.groups.contains_key(a)) {
            match bind_both(*addr) {
                Ok((udp, tcp)) => bound.push((*addr, udp, tcp)),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && dropped(addr) => after_close.push(*addr),
                Err(e) => return Err(e),
            }
        }
        // Nothing changed so far; from here a failure goes back to the addresses served before.
        let old_threads = std::mem::replace(&mut self.udp_threads, udp_threads);
        let switched = self.switch(&wanted, bound, after_close, old_threads, registry).await;
        if switched.is_err() {
            self.udp_threads = old_threads;
            self.serve_again(&previous, registry).await;
        }
        switched
    }

    /// Serves `bound`, closes what is not `wanted`, then binds and serves `after_close`; UDP
    /// threads started again when their number changed from `old_threads`.
    async fn switch(
        &mut self,
        wanted: &[SocketAddr],
        bound: Vec<(SocketAddr, std::net::UdpSocket, std::net::TcpListener)>,
        after_close: Vec<SocketAddr>,
        old_threads: usize,
        registry: &Registry,
    ) -> std::io::Result<()> {
        for (addr, udp, tcp) in bound {
            self.add(addr, udp, tcp, registry)?;
        }
        self.close_all_but(wanted, registry);
        for addr in after_close {
            let (udp, tcp) = bind_when_free(|| bind_both(addr)).await?;
            self.add(addr, udp, tcp, registry)?;
        }
        if self.udp_threads != old_threads {
            for group in self.groups.values_mut() {
                // The socket stays open throughout: datagrams wait for the new threads.
                let workers = UdpWorkers::start(
                    vec![group.udp.try_clone()?],
                    self.udp_threads,
                    self.authority.clone(),
                    self.counters.clone(),
                )?;
                group.workers = workers;
            }
        }
        Ok(())
    }

    fn add(
        &mut self,
        addr: SocketAddr,
        udp: std::net::UdpSocket,
        tcp: std::net::TcpListener,
        registry: &Registry,
    ) -> std::io::Result<()> {
        registry.add(&udp)?;
        registry.add(&tcp)?;
        let group = self.serve(udp, tcp)?;
        self.groups.insert(addr, group);
        info!(%addr, "listening");
        Ok(())
    }

    /// Closes every address but `kept`.
    fn close_all_but(&mut self, kept: &[SocketAddr], registry: &Registry) {
        let gone: Vec<SocketAddr> = self.groups.keys().filter(|a| !kept.contains(a)).copied().collect();
        for addr in gone {
            if let Some(group) = self.groups.remove(&addr) {
                registry.remove(&group.udp);
                registry.remove(&group.tcp);
                info!(%addr, "no longer listening");
            }
        }
    }

    /// Back to serving `previous` after a change that failed half way.
    async fn serve_again(&mut self, previous: &[SocketAddr], registry: &Registry) {
        self.close_all_but(previous, registry);
        let missing: Vec<SocketAddr> = previous.iter().filter(|a| !self.groups.contains_key(a)).copied().collect();
        for addr in &missing {
            let served = match bind_when_free(|| bind_both(*addr)).await {
                Ok((udp, tcp)) => self.add(*addr, udp, tcp, registry),
                Err(e) => Err(e),
            };
            if let Err(e) = served {
                warn!(%addr, error = %e, "not listening again after the failed change");
            }
        }
    }
}

/// Whether sockets on the two addresses cannot both be bound.
fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && crate::config::listen_overlap(a.ip(), b.ip())
}

/// A UDP socket and a TCP listener on `addr`.
fn bind_both(addr: SocketAddr) -> std::io::Result<(std::net::UdpSocket, std::net::TcpListener)> {
    Ok((socket_for(addr, socket2::Type::DGRAM)?.into(), bind_tcp(addr)?))
}

/// IPv6 sockets are v6-only so that "0.0.0.0" and "::" can both be bound.
fn socket_for(addr: SocketAddr, kind: socket2::Type) -> std::io::Result<socket2::Socket> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(addr), kind, None)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    if kind == socket2::Type::DGRAM {
        enlarge_receive_buffer(&socket);
    }
    // TCP only: on UDP it would let a second server bind the same port without an error.
    if kind == socket2::Type::STREAM {
        socket.set_reuse_address(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// Room for a few thousand queries, so that a burst that comes while the UDP threads are
/// short of CPU (or being restarted by a reload) waits in the socket instead of being dropped.
const UDP_RECEIVE_BUFFER: usize = 4 << 20;

fn enlarge_receive_buffer(socket: &socket2::Socket) {
    // Past net.core.rmem_max with CAP_NET_ADMIN (which XDP needs anyway), else up to it.
    use nix::sys::socket::{setsockopt, sockopt::RcvBufForce};
    if setsockopt(socket, RcvBufForce, &UDP_RECEIVE_BUFFER).is_err() {
        let _ = socket.set_recv_buffer_size(UDP_RECEIVE_BUFFER);
    }
}

fn bind_tcp(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = socket_for(addr, socket2::Type::STREAM)?;
    socket.listen(1024)?;
    Ok(socket.into())
}
