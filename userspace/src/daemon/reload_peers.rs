//! The `[peers]` part of a reload that the running service cannot take in place: the section
//! added or removed, its `listen`, `period_ms` or `live_periods`, or this server's `site` or
//! `node`. A new service starts from what the running one knows of its peers (so a new period
//! starts with their current liveness, as after a restart), and only then is the old one
//! stopped; to the other sites it looks like a restart, which they ride through.

use std::{net::UdpSocket, sync::Arc};

use tokio::sync::watch;
use tracing::info;

use super::{reload::ReloadError, reloadable::Reloadable, sockets::Registry};
use crate::{
    config::Config,
    health::HealthMonitor,
    operator::Versioned,
    peers::{HealthBridge, PeerHandle, PeerService},
    site::SiteState,
};

/// The running peer service and the bridge between it and the health monitor.
pub struct PeerParts<'a> {
    pub handle: &'a mut Option<Arc<PeerHandle>>,
    pub bridge: &'a mut Option<HealthBridge>,
    /// The operator's changes, which the bridge sends out with our site's state.
    pub operator: &'a watch::Receiver<Versioned>,
}

/// Whether the peer service must be started again rather than reconfigured.
pub fn restart_needed(old: &Config, new: &Config) -> bool {
    let socket_and_period =
        |c: &Config| c.peers.as_ref().map(|p| (p.listen, p.period_ms, p.live_periods, c.server.site.clone()));
    socket_and_period(old) != socket_and_period(new) || old.server.node != new.server.node
}

/// The new service's socket, taken before anything changes: the running one's when the
/// address stays (heartbeats wait in it meanwhile), else bound here. `None` without `[peers]`.
pub fn prepare(old: &Config, new: &Config, registry: &Registry) -> Result<Option<UdpSocket>, ReloadError> {
    let Some(peers) = &new.peers else { return Ok(None) };
    let listen = peers.listen;
    if old.peers.as_ref().is_some_and(|p| p.listen == listen)
        && let Some(socket) = registry.copy_udp(listen)
    {
        return Ok(Some(socket));
    }
    UdpSocket::bind(listen).map(Some).map_err(|e| ReloadError::Peers(format!("binding the peer socket {listen}: {e}")))
}

/// Starts the new service on `socket` and a bridge to `monitor`, then stops the old ones; a
/// service that cannot start changes nothing.
pub async fn restart(
    parts: PeerParts<'_>,
    socket: Option<UdpSocket>,
    (old, new, monitor): (&Config, &Config, &Arc<HealthMonitor>),
    (registry, reloadable): (&Registry, &Reloadable),
) -> Result<(), ReloadError> {
    let PeerParts { handle, bridge, operator } = parts;
    let next = match (&new.peers, socket) {
        (Some(config), Some(socket)) => {
            let site = new.server.site.as_deref().expect("validated: [peers] needs server.site");
            let node = new.server.node.as_deref().expect("validated: [peers] needs server.node");
            let saved = handle.as_ref().map(|h| h.saved()).unwrap_or_default();
            let copy = socket.try_clone().map_err(|e| ReloadError::Peers(e.to_string()))?;
            let own = monitor.sites().get(site).copied().unwrap_or(SiteState::UNAVAILABLE);
            let (own_tx, own_rx) = watch::channel(own);
            let started = PeerService::start_restored(config.clone(), site, node, own_rx, socket, &saved).await;
            let started = started.map_err(|e| ReloadError::Peers(e.to_string()))?;
            let mut next_bridge = HealthBridge::new(site, own_tx, operator.clone(), started.views());
            next_bridge.start(monitor, new.remote_sites());
            Some((Arc::new(started), next_bridge, copy))
        }
        _ => None,
    };
    if let Some(mut running) = bridge.take() {
        running.stop();
    }
    if let Some(running) = handle.take() {
        running.stop();
    }
    let (old_listen, new_listen) = (old.peers.as_ref().map(|p| p.listen), new.peers.as_ref().map(|p| p.listen));
    if old_listen != new_listen
        && let Some(listen) = old_listen
    {
        registry.remove_udp(listen);
    }
    reloadable.peers.store(next.as_ref().map(|(h, _, _)| h.clone()));
    if let Some((next_handle, next_bridge, copy)) = next {
        if old_listen != new_listen {
            registry.add(&copy).map_err(|e| ReloadError::Peers(e.to_string()))?;
        }
        info!(listen = ?new_listen, "peer heartbeats started again with the new settings");
        *handle = Some(next_handle);
        *bridge = Some(next_bridge);
    } else {
        info!("peer heartbeats stopped");
    }
    Ok(())
}
