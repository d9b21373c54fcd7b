//! The `[peers]` part of a reload that the running service cannot take in place: the section
//! added or removed, its `listen`, `period_ms` or `live_periods`, or this server's `site` or
//! `node`. A new service starts from what the running one knows of its peers (so a new period
//! starts with their current liveness, as after a restart), and only then is the old one
//! stopped; to the other sites it looks like a restart, which they ride through.

use std::{
    io::ErrorKind,
    net::{SocketAddr, UdpSocket},
    sync::Arc,
};

use tokio::sync::watch;
use tracing::{info, warn};

use super::{
    reload::ReloadError,
    reloadable::Reloadable,
    sockets::{Registry, bind_when_free},
};
use crate::{
    config::Config,
    health::HealthMonitor,
    operator::Versioned,
    peers::{HealthBridge, PeerHandle, PeerService, SavedPeer},
    site::SiteState,
};

/// The running peer service and the bridge between it and the health monitor.
pub struct PeerParts<'a> {
    pub handle: &'a mut Option<Arc<PeerHandle>>,
    pub bridge: &'a mut Option<HealthBridge>,
    /// The operator's changes, which the bridge sends out with our site's state.
    pub operator: &'a watch::Receiver<Versioned>,
}

impl PeerParts<'_> {
    /// The same parts for one call, usable again after it.
    pub fn reborrow(&mut self) -> PeerParts<'_> {
        PeerParts { handle: &mut *self.handle, bridge: &mut *self.bridge, operator: self.operator }
    }
}

/// Whether the peer service must be started again rather than reconfigured.
pub fn restart_needed(old: &Config, new: &Config) -> bool {
    let socket_and_period =
        |c: &Config| c.peers.as_ref().map(|p| (p.listen, p.period_ms, p.live_periods, c.server.site.clone()));
    socket_and_period(old) != socket_and_period(new) || old.server.node != new.server.node
}

/// The new service's socket.
pub enum NewSocket {
    Ready(UdpSocket),
    /// The running socket holds this port (one of the two addresses is a wildcard): bound
    /// once the running service stopped.
    AfterStop(SocketAddr),
}

/// The new service's socket, taken before anything changes: the running one's when the
/// address stays (heartbeats wait in it meanwhile), else bound here. `None` without `[peers]`.
pub fn prepare(old: &Config, new: &Config, registry: &Registry) -> Result<Option<NewSocket>, ReloadError> {
    let Some(peers) = &new.peers else { return Ok(None) };
    let listen = peers.listen;
    let running = old.peers.as_ref().map(|p| p.listen);
    if running == Some(listen)
        && let Some(socket) = registry.copy_udp(listen)
    {
        return Ok(Some(NewSocket::Ready(socket)));
    }
    match UdpSocket::bind(listen) {
        Ok(socket) => Ok(Some(NewSocket::Ready(socket))),
        Err(e) if e.kind() == ErrorKind::AddrInUse && running.is_some_and(|r| r.port() == listen.port()) => {
            Ok(Some(NewSocket::AfterStop(listen)))
        }
        Err(e) => Err(bind_error(listen, e)),
    }
}

fn bind_error(listen: SocketAddr, e: std::io::Error) -> ReloadError {
    ReloadError::Peers(format!("binding the peer socket {listen}: {e}"))
}

/// A started peer service, its bridge and a copy of its socket for the registry.
pub(super) struct Started {
    pub(super) handle: Arc<PeerHandle>,
    pub(super) bridge: HealthBridge,
    socket: UdpSocket,
}

/// Starts the new service and a bridge to `monitor`, then stops the old ones; a service that
/// cannot start leaves the old one running (started again on its socket when the new one
/// had to wait for its port).
pub async fn restart(
    parts: PeerParts<'_>,
    socket: Option<NewSocket>,
    (old, new, monitor): (&Config, &Config, &Arc<HealthMonitor>),
    (registry, reloadable): (&Registry, &Reloadable),
) -> Result<(), ReloadError> {
    let PeerParts { handle, bridge, operator } = parts;
    let saved = handle.as_ref().map(|h| h.saved()).unwrap_or_default();
    let (old_listen, new_listen) = (old.peers.as_ref().map(|p| p.listen), new.peers.as_ref().map(|p| p.listen));
    let next = match socket {
        None => None,
        Some(NewSocket::Ready(socket)) => Some(start(new, socket, &saved, monitor, operator).await?),
        Some(NewSocket::AfterStop(listen)) => {
            stop(handle, bridge);
            let old_listen = old_listen.expect("the running service holds the port");
            registry.remove_udp(old_listen);
            match bind_and_start(new, listen, &saved, monitor, operator).await {
                Ok(started) => Some(started),
                Err(e) => {
                    match bind_and_start(old, old_listen, &saved, monitor, operator).await {
                        Ok(started) => {
                            let _ = registry.add(&started.socket);
                            keep(started, handle, bridge, reloadable);
                        }
                        Err(e) => warn!(error = %e, "peer heartbeats not started again: restart the daemon"),
                    }
                    return Err(e);
                }
            }
        }
    };
    stop(handle, bridge);
    reloadable.peers.store(None);
    if old_listen != new_listen
        && let Some(listen) = old_listen
    {
        registry.remove_udp(listen);
    }
    let Some(started) = next else {
        info!("peer heartbeats stopped");
        return Ok(());
    };
    // The running service matters more than a later hand-off of its socket: it is kept either way.
    if old_listen != new_listen
        && let Err(e) = registry.add(&started.socket)
    {
        warn!(error = %e, "the new peer socket is not kept for a hand-off: a new daemon cannot take over from this one until it is stopped");
    }
    info!(listen = ?new_listen, "peer heartbeats started again with the new settings");
    keep(started, handle, bridge, reloadable);
    Ok(())
}

/// The peer service of `config` on a socket bound to `listen` once it is free.
async fn bind_and_start(
    config: &Config,
    listen: SocketAddr,
    saved: &[SavedPeer],
    monitor: &Arc<HealthMonitor>,
    operator: &watch::Receiver<Versioned>,
) -> Result<Started, ReloadError> {
    let socket = bind_when_free(|| UdpSocket::bind(listen)).await.map_err(|e| bind_error(listen, e))?;
    start(config, socket, saved, monitor, operator).await
}

/// The peer service of `config` on `socket`, going on from `saved`, and its bridge.
/// Starts heartbeats on `socket` from what `saved` knew of the peers, and the bridge that
/// sends our site's state out and sets the remote sites from theirs (at start and by reload).
pub(super) async fn start(
    config: &Config,
    socket: UdpSocket,
    saved: &[SavedPeer],
    monitor: &Arc<HealthMonitor>,
    operator: &watch::Receiver<Versioned>,
) -> Result<Started, ReloadError> {
    let peers = config.peers.clone().expect("called with [peers]");
    let site = config.server.site.as_deref().expect("validated: [peers] needs server.site");
    let node = config.server.node.as_deref().expect("validated: [peers] needs server.node");
    let copy = socket.try_clone().map_err(|e| ReloadError::Peers(e.to_string()))?;
    let own = monitor.sites().get(site).copied().unwrap_or(SiteState::UNAVAILABLE);
    let (own_tx, own_rx) = watch::channel(own);
    let handle = PeerService::start_restored(peers, site, node, own_rx, socket, saved)
        .await
        .map_err(|e| ReloadError::Peers(e.to_string()))?;
    let mut bridge = HealthBridge::new(site, own_tx, operator.clone(), handle.views());
    bridge.start(monitor, config.remote_sites());
    Ok(Started { handle: Arc::new(handle), bridge, socket: copy })
}

fn stop(handle: &mut Option<Arc<PeerHandle>>, bridge: &mut Option<HealthBridge>) {
    if let Some(mut running) = bridge.take() {
        running.stop();
    }
    if let Some(running) = handle.take() {
        running.stop();
    }
}

fn keep(
    started: Started,
    handle: &mut Option<Arc<PeerHandle>>,
    bridge: &mut Option<HealthBridge>,
    reloadable: &Reloadable,
) {
    reloadable.peers.store(Some(started.handle.clone()));
    *handle = Some(started.handle);
    *bridge = Some(started.bridge);
}
