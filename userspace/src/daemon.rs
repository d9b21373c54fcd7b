//! `switchyard run`: everything between reading the config and shutting down cleanly.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use anyhow::Context;
use switchyard_common::XdpConfig;
use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
};
use tracing::{info, warn};

use crate::{
    admin::{self, AdminState, Status},
    answers::Views,
    bpf::datapath::Datapath,
    config::{Config, XdpMode},
    control::Control,
    dns::{authority::Authority, server},
    health::{HealthMonitor, ProbeSettings},
    live::Live,
    metrics,
    operator::{self, OperatorState, Versioned},
    peers::{PeerService, PeerViews},
    policy::SiteState,
    reload::{self, ReloadRequest},
    site_feeds,
    sync::SyncService,
};

/// Longest a reload waits for the first result of every new health check before it swaps the
/// new monitor in (until then the old monitor keeps deciding).
const WARM_UP: Duration = Duration::from_secs(5);

/// Runs until SIGTERM or SIGINT; SIGHUP re-reads `path`. The config must already be validated.
pub async fn run(config: Config, path: PathBuf) -> anyhow::Result<()> {
    // Installed first: SIGHUP's default action would end the process.
    let mut hangup =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).context("SIGHUP handler")?;
    let views = Views::from_config(&config);
    // Probing starts at once; the first result of a check decides its state.
    let monitor = Arc::new(HealthMonitor::start(&config.health_config()).context("starting health checks")?);
    let mut control = Control::new(&config, views.clone(), &monitor.sites()).context("building the answer policy")?;
    let live = Arc::new(Live::new(config.clone(), monitor.clone()));

    let state_file = operator::state_path(&config.server);
    let saved = saved_operator_state(&state_file, &config);
    let (operator_tx, operator_rx) = watch::channel(Versioned { generation: 0, state: saved });
    let operator_feed = operator_rx.clone();
    let (applied_tx, applied_rx) = watch::channel(0);
    control.follow_operator(operator_rx, applied_tx);
    let operator = Arc::new(operator::Handle::new(operator_tx, applied_rx, state_file, live.config.clone()));

    let authority = Arc::new(Authority::new(&config, views.clone(), control.table()));
    let counters = Arc::new(server::ServerCounters::default());

    // Bind first: a port in use stops us before anything is attached.
    let (listen, threads) = (&config.server.listen, config.server.udp_threads());
    let listeners = server::start(listen, config.server.dns_port, threads, authority, counters.clone())
        .await
        .with_context(|| format!("binding DNS port {}", config.server.dns_port))?;

    let mut datapath = None;
    if config.xdp.mode != XdpMode::Off {
        let mut dp = Datapath::load(Some(&config.server.pin_dir()), config.xdp.max_entries)?;
        dp.set_views(&views)?;
        control.write_map(&mut dp)?;
        dp.set_config(XdpConfig {
            dns_port: config.server.dns_port,
            edns_udp_payload: config.server.edns_udp_payload,
            enabled: 1,
        })?;
        for iface in &config.xdp.interfaces {
            dp.attach(iface, config.xdp.mode)?;
        }
        datapath = Some(dp);
    }

    let mut feeds = None;
    let mut peers = None;
    if let Some(peers_config) = config.peers.clone() {
        let site = config.server.site.as_deref().expect("validated: [peers] needs server.site");
        let node = config.server.node.as_deref().expect("validated: [peers] needs server.node");
        let own = monitor.sites().get(site).copied().unwrap_or(SiteState::UNAVAILABLE);
        let (own_tx, own_rx) = watch::channel(own);
        let handle = PeerService::start(peers_config, site, node, own_rx).await.context("starting peer heartbeats")?;
        let mut peer_feeds = PeerFeeds {
            own_site: site.to_string(),
            own_tx: Arc::new(own_tx),
            operator: operator_feed.clone(),
            views: handle.views(),
            tasks: vec![],
        };
        peer_feeds.start(&monitor, config.remote_sites());
        feeds = Some(peer_feeds);
        peers = Some(Arc::new(handle));
    }

    let sync = match &config.sync {
        Some(section) => {
            // Checked when the config was loaded; read again here for the key's bytes.
            let sync_config = config
                .sync_config(std::path::Path::new(""))
                .map_err(|e| anyhow::anyhow!("{}: {}", e.key, e.problem))?
                .expect("[sync] is configured");
            Some(SyncService::start(sync_config, section.listen).await.context("starting database sync")?)
        }
        None => None,
    };

    let metrics_task = match config.server.metrics {
        Some(address) => {
            let sources = metrics::Sources {
                live: live.clone(),
                counters: counters.clone(),
                peers: peers.clone(),
                sync: sync.as_ref().map(SyncService::node),
                xdp_pin_dir: datapath.as_ref().map(|_| config.server.pin_dir()),
                rewrites: control.rewrites(),
                map_entries: control.map_entries(),
                operator: operator.clone(),
            };
            let task =
                metrics::serve(address, Arc::new(sources)).await.with_context(|| format!("metrics on {address}"))?;
            info!(%address, "metrics served at /metrics");
            Some(task)
        }
        None => None,
    };

    let socket = config.server.admin_socket();
    let base = Status {
        instance: config.server.instance.clone(),
        xdp_mode: format!("{:?}", config.xdp.mode).to_lowercase(),
        xdp_interfaces: if datapath.is_some() { config.xdp.interfaces.clone() } else { vec![] },
        services: config.service.len(),
        map_entries: 0,
        sites: vec![],
        peers: None,
        site_settings: Default::default(),
    };
    let (status_live, status_peers, map_entries, status_operator) =
        (live.clone(), peers.clone(), control.map_entries(), operator.clone());
    let (reload_tx, mut reload_rx) = mpsc::channel(4);
    let state = Arc::new(AdminState {
        counters,
        status: Box::new(move || Status {
            services: status_live.config.load().service.len(),
            map_entries: map_entries.load(Ordering::Relaxed),
            sites: status_live.monitor.load().status().sites,
            peers: status_peers.as_ref().map(|p| p.status()),
            site_settings: status_operator.current().sites,
            ..base.clone()
        }),
        sync: sync.as_ref().map(SyncService::node),
        operator,
        reload: reload_tx,
    });
    let admin = admin::serve(&socket, state).with_context(|| format!("admin socket {}", socket.display()))?;
    info!(instance = %config.server.instance, port = config.server.dns_port, "ready");

    // Re-evaluating once per probe interval lets load/RTT ordering holds run out.
    let tick = ProbeSettings::default().with(config.probe).interval;
    let shutdown = wait_for_shutdown();
    tokio::pin!(shutdown);
    let result = loop {
        // The control loop is dropped between evaluations for a reload, then started again
        // on the (possibly new) monitor: answers stay in place meanwhile.
        let request = tokio::select! {
            () = &mut shutdown => break Ok(()),
            r = control.run(live.monitor.load().subscribe(), datapath.as_mut(), tick) => break r.context("control loop stopped"),
            Some(request) = reload_rx.recv() => request,
            _ = hangup.recv() => ReloadRequest { reply: None },
        };
        let outcome = reload_config(&path, &live, &mut control, datapath.as_mut(), feeds.as_mut()).await;
        match &outcome {
            Ok(summary) => info!(%summary, "config reloaded"),
            Err(e) => warn!(error = %e, "config reload refused; the running config keeps serving"),
        }
        if let Some(reply) = request.reply {
            let _ = reply.send(outcome);
        }
    };
    info!("shutting down");
    admin.abort();
    if let Some(task) = metrics_task {
        task.abort();
    }
    let _ = std::fs::remove_file(&socket);
    if let Some(mut feeds) = feeds {
        feeds.stop();
    }
    drop(peers);
    if let Some(sync) = sync {
        sync.stop().await;
    }
    drop(listeners);
    // Dropping the datapath detaches XDP and removes the pinned maps.
    drop(datapath);
    result
}

/// The operator state saved by an earlier run, without what the config no longer allows.
fn saved_operator_state(file: &Path, config: &Config) -> OperatorState {
    let mut state = match operator::load_state(file) {
        Ok(state) => state,
        Err(e) => {
            warn!(error = %e, "operator state not read: starting without overrides, drains or weights");
            return OperatorState::default();
        }
    };
    state.overrides.retain(|o| match o.clone().checked(config, true) {
        Ok(_) => true,
        Err(e) => {
            warn!(name = %o.name, qtype = %o.qtype, error = %e, "saved override dropped");
            false
        }
    });
    if !state.overrides.is_empty() || !state.sites.is_empty() {
        info!(overrides = state.overrides.len(), sites = ?state.sites, file = %file.display(), "operator state restored");
    }
    state
}

/// Applies a new config if it can be applied live; on any error nothing changes.
async fn reload_config(
    path: &Path,
    live: &Live,
    control: &mut Control,
    datapath: Option<&mut Datapath>,
    feeds: Option<&mut PeerFeeds>,
) -> Result<String, String> {
    let new = reload::load(path)?;
    let old = live.config.load_full();
    if let Some(why) = reload::restart_needed(&old, &new) {
        return Err(why);
    }
    let monitor = if reload::health_changed(&old, &new) {
        let monitor = Arc::new(HealthMonitor::start(&new.health_config()).map_err(|e| e.to_string())?);
        let before = live.monitor.load().sites();
        for site in new.remote_sites() {
            if let Some(state) = before.get(&site) {
                let _ = monitor.set_remote(&site, *state);
            }
        }
        warm_up(&monitor).await;
        Some(monitor)
    } else {
        None
    };
    let states = monitor.as_ref().map_or_else(|| live.monitor.load().sites(), |m| m.sites());
    control.reload(&new, &states).map_err(|e| format!("answer policy: {e}"))?;
    if let Some(dp) = datapath
        && let Err(e) = control.write_map(dp)
    {
        warn!(error = %e, "answer map not written; userspace answers are current");
    }
    if let Some(monitor) = monitor {
        live.monitor.store(monitor.clone());
        if let Some(feeds) = feeds {
            feeds.start(&monitor, new.remote_sites());
        }
    }
    let message = format!("{}: {} services, {} sites", path.display(), new.service.len(), new.site.len());
    live.config.store(Arc::new(new));
    Ok(message)
}

/// Waits until every check of a new monitor has its first result, or `WARM_UP` passed.
async fn warm_up(monitor: &HealthMonitor) {
    let deadline = Instant::now() + WARM_UP;
    while Instant::now() < deadline {
        let status = monitor.status();
        let pending = status
            .sites
            .iter()
            .flat_map(|s| s.servers.iter().chain(&s.database).chain(&s.haproxy))
            .any(|c| c.up.is_none());
        if !pending {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    warn!("new health checks without a first result after {} s; using them anyway", WARM_UP.as_secs());
}

/// The tasks between the health monitor and the peer service, restarted when a reload
/// replaces the monitor.
struct PeerFeeds {
    own_site: String,
    own_tx: Arc<watch::Sender<SiteState>>,
    /// Our site's drain and weight go out in the heartbeats too.
    operator: watch::Receiver<Versioned>,
    views: watch::Receiver<PeerViews>,
    tasks: Vec<JoinHandle<()>>,
}

impl PeerFeeds {
    fn start(&mut self, monitor: &Arc<HealthMonitor>, remote: Vec<String>) {
        self.stop();
        let (site, tx, operator) = (&self.own_site, self.own_tx.clone(), self.operator.clone());
        self.tasks.push(site_feeds::follow_own_state_as_operated(monitor, site, tx, operator));
        self.tasks.push(site_feeds::remote_sites(monitor.clone(), remote, self.views.clone()));
    }

    fn stop(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

async fn wait_for_shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("signal handler");
    let mut int = signal(SignalKind::interrupt()).expect("signal handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
