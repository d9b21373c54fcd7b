//! The parts `Daemon::start` starts, one function each, in the order it starts them.

use std::{net::SocketAddr, path::Path, sync::Arc};

use anyhow::Context;
use switchyard_common::XdpConfig;
use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
};
use tracing::{info, warn};

use super::{
    admin::{self, AdminState},
    metrics::{self, Sources},
    reload::ReloadRequest,
    reloadable::Reloadable,
    sockets::{Inherited, Registry},
};
use crate::{
    answers::{AnswerController, Views},
    bpf::{datapath::Datapath, veth},
    config::{Config, XdpMode},
    health::HealthMonitor,
    operator::{self, OperatorState, Versioned},
    peers::{HealthBridge, PeerHandle, SavedPeer},
    sync::SyncService,
};

/// The operator's handle and the feed of its changes; the controller follows the same feed,
/// starting from the state an earlier run saved. The flag says that saved overrides were
/// dropped (see `saved_operator_state`), so that the file is to be written again.
pub fn operator(
    config: &Config,
    answers: &mut AnswerController,
    reloadable: &Reloadable,
) -> (Arc<operator::Handle>, watch::Receiver<Versioned>, bool) {
    let state_file = operator::state_path(&config.server);
    let (saved, dropped) = saved_operator_state(&state_file, config);
    let (operator_tx, operator_rx) = watch::channel(Versioned { generation: 0, state: saved });
    let operator_feed = operator_rx.clone();
    let (applied_tx, applied_rx) = watch::channel(0);
    answers.follow_operator(operator_rx, applied_tx);
    let handle = operator::Handle::new(operator_tx, applied_rx, state_file, reloadable.config.clone());
    (Arc::new(handle), operator_feed, dropped)
}

/// The operator state saved by an earlier run, without what the config no longer allows, and
/// whether anything was left out.
fn saved_operator_state(file: &Path, config: &Config) -> (OperatorState, bool) {
    let mut state = match operator::load_state(file) {
        Ok(state) => state,
        Err(e) => {
            warn!(error = %e, "operator state not read: starting without overrides, drains or weights");
            return (OperatorState::default(), false);
        }
    };
    let dropped = state.drop_unfitting(config);
    if !state.overrides.is_empty() || !state.sites.is_empty() {
        info!(overrides = state.overrides.len(), sites = ?state.sites, file = %file.display(), "operator state restored");
    }
    (state, dropped)
}

/// Loads the XDP program (adopting the maps an earlier daemon pinned), writes the current
/// answers, this host's MACs and addresses, starts the liveness stamp and attaches it, taking
/// over an earlier daemon's links; `None` with `mode = "off"`.
pub async fn datapath(
    config: &Config,
    views: &Views,
    answers: &mut AnswerController,
    cookies: switchyard_common::CookieConfig,
) -> anyhow::Result<Option<Datapath>> {
    if config.xdp.mode == XdpMode::Off {
        return Ok(None);
    }
    let mut dp = Datapath::load(Some(&config.server.pin_dir()), config.xdp.max_entries)?;
    // An earlier daemon's entries, or none in a new map: the writer starts from what it holds.
    answers.adopt_map(&mut dp)?;
    // Signed on the blocking pool, so that this runtime's other tasks run meanwhile.
    answers.write_map(&mut dp).await?;
    dp.set_views(views)?;
    dp.follow_local_addresses(&config.server.listen, &config.xdp.interfaces).await?;
    dp.start_stamping(config.xdp.stale_after())?;
    dp.set_config(xdp_config(config))?;
    dp.set_cookies(cookies)?;
    dp.set_rrl(config.rrl.limits(), &config.rrl.exempt)?;
    for iface in &config.xdp.interfaces {
        let (mode, warning) = veth::attach_mode(iface, config.xdp.mode).await;
        if let Some(warning) = warning {
            warn!("{warning}");
        }
        dp.attach(iface, mode)?;
    }
    Ok(Some(dp))
}

/// The settings the XDP program reads, from the config.
pub fn xdp_config(config: &Config) -> XdpConfig {
    XdpConfig {
        dns_port: config.server.dns_port,
        edns_udp_payload: config.server.edns_udp_payload,
        flags: switchyard_common::FLAG_ENABLED,
        stale_after_ns: config.xdp.stale_after_ms * 1_000_000,
    }
}

/// The sockets the parts started after the replaced daemon stops listen on, each passed in
/// or bound here: taken before it stops, so that an address this host cannot bind refuses
/// the start while the replaced daemon still serves.
pub struct LateSockets {
    peers: Option<std::net::UdpSocket>,
    sync: Option<std::net::TcpListener>,
    metrics: Option<std::net::TcpListener>,
    admin: std::os::unix::net::UnixListener,
}

pub fn late_sockets(config: &Config, inherited: &mut Inherited, registry: &Registry) -> anyhow::Result<LateSockets> {
    let peers = match &config.peers {
        Some(peers) => Some(udp_socket(peers.listen, inherited, registry).context("the peer socket")?),
        None => None,
    };
    let sync = match &config.sync {
        Some(sync) => Some(listener(sync.listen, inherited, registry).context("the sync endpoint")?),
        None => None,
    };
    let metrics = match config.server.metrics {
        Some(address) => Some(listener(address, inherited, registry).context("the metrics endpoint")?),
        None => None,
    };
    let socket = config.server.admin_socket();
    let admin = match inherited.take_unix(&socket) {
        Some(listener) => listener,
        None => admin::bind(&socket).with_context(|| format!("admin socket {}", socket.display()))?,
    };
    registry.add(&admin)?;
    Ok(LateSockets { peers, sync, metrics, admin })
}

/// A UDP socket on `address`: passed in, else bound here.
fn udp_socket(
    address: SocketAddr,
    inherited: &mut Inherited,
    registry: &Registry,
) -> anyhow::Result<std::net::UdpSocket> {
    let socket = match inherited.take_udp(address) {
        Some(socket) => socket,
        None => std::net::UdpSocket::bind(address).with_context(|| format!("binding {address}"))?,
    };
    registry.add(&socket)?;
    Ok(socket)
}

/// Heartbeats with the other sites' DNS servers, and the bridge that sends our site's state
/// out and sets the remote sites from theirs; neither without `[peers]`.
pub async fn peers(
    config: &Config,
    monitor: &Arc<HealthMonitor>,
    operator: watch::Receiver<Versioned>,
    sockets: &mut LateSockets,
    saved: &[SavedPeer],
) -> anyhow::Result<(Option<Arc<PeerHandle>>, Option<HealthBridge>)> {
    let Some(socket) = sockets.peers.take() else {
        return Ok((None, None));
    };
    let started = super::reload_peers::start(config, socket, saved, monitor, &operator)
        .await
        .context("starting peer heartbeats")?;
    Ok((Some(started.handle), Some(started.bridge)))
}

/// Database sync with the other sites, with `[sync]`.
pub async fn sync(config: &Config, sockets: &mut LateSockets) -> anyhow::Result<Option<SyncService>> {
    let sync = match (&config.sync, sockets.sync.take()) {
        (Some(_), Some(listener)) => {
            // Checked when the config was loaded; read again here for the key's bytes.
            let sync_config = config
                .sync_config(std::path::Path::new(""))
                .map_err(|e| anyhow::anyhow!("{}: {}", e.key, e.problem))?
                .expect("[sync] is configured");
            Some(SyncService::start(sync_config, listener).await.context("starting database sync")?)
        }
        _ => None,
    };
    Ok(sync)
}

/// Prometheus metrics on `[server] metrics`, when set.
pub async fn metrics(
    address: Option<SocketAddr>,
    sources: Arc<Sources>,
    sockets: &mut LateSockets,
) -> anyhow::Result<Option<JoinHandle<()>>> {
    let (Some(address), Some(listener)) = (address, sockets.metrics.take()) else {
        return Ok(None);
    };
    let task = metrics::serve(listener, sources).with_context(|| format!("metrics on {address}"))?;
    info!(%address, "metrics served at /metrics, the status page at /");
    Ok(Some(task))
}

/// A TCP listener on `address`: passed in, else bound here.
fn listener(
    address: SocketAddr,
    inherited: &mut Inherited,
    registry: &Registry,
) -> anyhow::Result<std::net::TcpListener> {
    let listener = match inherited.take_tcp(address) {
        Some(listener) => listener,
        None => std::net::TcpListener::bind(address).with_context(|| format!("binding {address}"))?,
    };
    registry.add(&listener)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serves the admin socket; returns its task and where the reloads and hand-off requests it
/// receives arrive.
pub fn admin(
    config: &Config,
    sources: &Arc<Sources>,
    sockets: LateSockets,
) -> anyhow::Result<(JoinHandle<()>, mpsc::Receiver<ReloadRequest>, mpsc::Receiver<std::os::unix::net::UnixStream>)> {
    let socket = config.server.admin_socket();
    let (reload_tx, reload_rx) = mpsc::channel(4);
    let (handoff_tx, handoff_rx) = mpsc::channel(1);
    let status_sources = sources.clone();
    let state = Arc::new(AdminState {
        counters: sources.counters.clone(),
        status: Box::new(move || super::status::current(&status_sources)),
        reloadable: sources.reloadable.clone(),
        operator: sources.operator.clone(),
        rrl: sources.rrl.clone(),
        reload: reload_tx,
        handoff: handoff_tx,
    });
    let admin = admin::serve(sockets.admin, state).with_context(|| format!("admin socket {}", socket.display()))?;
    Ok((admin, reload_rx, handoff_rx))
}
