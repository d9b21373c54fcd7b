//! Listening sockets that outlive a daemon process. A daemon starts with the sockets systemd
//! passed (socket activation) or those of the daemon it takes over from (see `handoff`), and
//! binds only what it did not get; every socket it listens on is kept in a `Registry` so that
//! it can hand them all to its successor. Queries that arrive meanwhile wait in the sockets.

use std::{
    net::SocketAddr,
    os::fd::{AsFd, FromRawFd, OwnedFd},
    path::{Path, PathBuf},
    sync::Mutex,
};

use socket2::{SockAddr, Socket, Type};
use tracing::{info, warn};

/// What a passed socket is, told from the socket itself.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Udp(SocketAddr),
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// Sockets another process gave this one, taken by address as the daemon binds.
#[derive(Default)]
pub struct Inherited {
    sockets: Vec<(Kind, Socket)>,
}

impl Inherited {
    /// The sockets systemd passed (`LISTEN_FDS`), if any.
    pub fn from_systemd() -> Inherited {
        match sd_notify::listen_fds() {
            // SAFETY: systemd passed these descriptors to this process, which owns them now.
            Ok(fds) => Inherited::from_fds(fds.map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }).collect()),
            Err(e) => {
                warn!(error = %e, "LISTEN_FDS unreadable; binding every socket");
                Inherited::default()
            }
        }
    }

    pub fn from_fds(fds: Vec<OwnedFd>) -> Inherited {
        let mut sockets = Vec::new();
        for fd in fds {
            let socket = Socket::from(fd);
            match kind(&socket) {
                Some(kind) => sockets.push((kind, socket)),
                None => warn!("a passed descriptor is no socket this daemon listens on; closed"),
            }
        }
        if !sockets.is_empty() {
            let kinds: Vec<&Kind> = sockets.iter().map(|(k, _)| k).collect();
            info!(sockets = ?kinds, "listening sockets passed in");
        }
        Inherited { sockets }
    }

    pub fn take_udp(&mut self, address: SocketAddr) -> Option<std::net::UdpSocket> {
        self.take(&Kind::Udp(address)).map(Into::into)
    }

    pub fn take_tcp(&mut self, address: SocketAddr) -> Option<std::net::TcpListener> {
        self.take(&Kind::Tcp(address)).map(Into::into)
    }

    pub fn take_unix(&mut self, path: &Path) -> Option<std::os::unix::net::UnixListener> {
        self.take(&Kind::Unix(path.to_path_buf())).map(Into::into)
    }

    fn take(&mut self, kind: &Kind) -> Option<Socket> {
        let at = self.sockets.iter().position(|(k, _)| k == kind)?;
        Some(self.sockets.swap_remove(at).1)
    }

    /// Closes what this daemon did not take (its config no longer listens there).
    pub fn close_rest(&mut self) {
        for (kind, _) in self.sockets.drain(..) {
            info!(socket = ?kind, "passed socket not in the config; closed");
        }
    }
}

fn kind(socket: &Socket) -> Option<Kind> {
    let local: SockAddr = socket.local_addr().ok()?;
    if let Some(path) = local.as_pathname() {
        return Some(Kind::Unix(path.to_path_buf()));
    }
    let address = local.as_socket()?;
    match socket.r#type().ok()? {
        Type::DGRAM => Some(Kind::Udp(address)),
        Type::STREAM => Some(Kind::Tcp(address)),
        _ => None,
    }
}

/// Copies of every socket the daemon listens on, for its successor.
#[derive(Default)]
pub struct Registry {
    fds: Mutex<Vec<OwnedFd>>,
}

impl Registry {
    /// Keeps a copy of `socket` (the same socket, another descriptor).
    pub fn add(&self, socket: &impl AsFd) -> std::io::Result<()> {
        let copy = socket.as_fd().try_clone_to_owned()?;
        self.fds.lock().unwrap_or_else(|p| p.into_inner()).push(copy);
        Ok(())
    }

    /// Forgets `socket` (the daemon no longer listens there), closing the copy.
    pub fn remove(&self, socket: &impl AsFd) {
        let Ok(copy) = socket.as_fd().try_clone_to_owned() else { return };
        if let Some(gone) = kind(&Socket::from(copy)) {
            self.forget(&gone);
        }
    }

    /// Forgets the TCP listener on `address`, closing the copy.
    pub fn remove_tcp(&self, address: SocketAddr) {
        self.forget(&Kind::Tcp(address));
    }

    /// Forgets the UDP socket on `address`, closing the copy.
    pub fn remove_udp(&self, address: SocketAddr) {
        self.forget(&Kind::Udp(address));
    }

    fn forget(&self, gone: &Kind) {
        let mut fds = self.fds.lock().unwrap_or_else(|p| p.into_inner());
        fds.retain(|fd| {
            let Ok(copy) = fd.try_clone() else { return true };
            kind(&Socket::from(copy)).as_ref() != Some(gone)
        });
    }

    /// Another descriptor of the TCP listener on `address`, if one is registered.
    pub fn copy_tcp(&self, address: SocketAddr) -> Option<std::net::TcpListener> {
        self.copy(&Kind::Tcp(address)).map(Into::into)
    }

    /// Another descriptor of the UDP socket on `address`, if one is registered.
    pub fn copy_udp(&self, address: SocketAddr) -> Option<std::net::UdpSocket> {
        self.copy(&Kind::Udp(address)).map(Into::into)
    }

    fn copy(&self, wanted: &Kind) -> Option<Socket> {
        let fds = self.fds.lock().unwrap_or_else(|p| p.into_inner());
        fds.iter().find_map(|fd| {
            let socket = Socket::from(fd.try_clone().ok()?);
            (kind(&socket).as_ref() == Some(wanted)).then_some(socket)
        })
    }

    /// Copies of every registered socket.
    pub fn copies(&self) -> std::io::Result<Vec<OwnedFd>> {
        let fds = self.fds.lock().unwrap_or_else(|p| p.into_inner());
        fds.iter().map(|fd| fd.try_clone()).collect()
    }
}

/// Binds with `bind` once the address is free: a socket another task just closed may take a
/// moment to go (its task is dropped on its worker thread). Gives up after a second.
pub async fn bind_when_free<T>(bind: impl Fn() -> std::io::Result<T>) -> std::io::Result<T> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        match bind() {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            result => return result,
        }
    }
}
