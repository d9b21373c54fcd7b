//! `switchyard run`: everything between reading the config and shutting down cleanly.

use std::sync::{Arc, atomic::Ordering};

use anyhow::Context;
use switchyard_common::XdpConfig;
use tracing::info;

use crate::{
    admin::{self, AdminState, Status},
    answers::Views,
    bpf::datapath::Datapath,
    config::{Config, XdpMode},
    control::Control,
    dns::{authority::Authority, server},
    health::{HealthMonitor, ProbeSettings},
    peers::PeerService,
    site_feeds,
    sync_service::SyncService,
};

/// Runs until SIGTERM or SIGINT. The config must already be validated.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let views = Views::from_config(&config);
    // Probing starts at once; the first result of a check decides its state.
    let monitor = Arc::new(HealthMonitor::start(&config.health_config()).context("starting health checks")?);
    let mut control = Control::new(&config, views.clone(), &monitor.sites()).context("building the answer policy")?;
    let authority = Arc::new(Authority::new(&config, views.clone(), control.table()));
    let counters = Arc::new(server::ServerCounters::default());

    // Bind first: a port in use stops us before anything is attached.
    let listeners = server::start(&config.server.listen, config.server.dns_port, authority, counters.clone())
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

    let mut feeds = Vec::new();
    let mut peers = None;
    if let Some(peers_config) = config.peers.clone() {
        let site = config.server.site.as_deref().expect("validated: [peers] needs server.site");
        let node = config.server.node.as_deref().expect("validated: [peers] needs server.node");
        let (own_state, own_feed) = site_feeds::own_state(&monitor, site);
        let handle = PeerService::start(peers_config, site, node, own_state).await.context("starting peer heartbeats")?;
        feeds.push(own_feed);
        feeds.push(site_feeds::remote_sites(monitor.clone(), config.remote_sites(), handle.views()));
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

    let socket = config.server.admin_socket();
    let base = Status {
        instance: config.server.instance.clone(),
        xdp_mode: format!("{:?}", config.xdp.mode).to_lowercase(),
        xdp_interfaces: if datapath.is_some() { config.xdp.interfaces.clone() } else { vec![] },
        services: config.service.len(),
        map_entries: 0,
        sites: vec![],
        peers: None,
    };
    let (status_monitor, status_peers, map_entries) = (monitor.clone(), peers.clone(), control.map_entries());
    let state = Arc::new(AdminState {
        counters,
        status: Box::new(move || Status {
            map_entries: map_entries.load(Ordering::Relaxed),
            sites: status_monitor.status().sites,
            peers: status_peers.as_ref().map(|p| p.status()),
            ..base.clone()
        }),
        sync: sync.as_ref().map(SyncService::node),
    });
    let admin = admin::serve(&socket, state).with_context(|| format!("admin socket {}", socket.display()))?;
    info!(instance = %config.server.instance, port = config.server.dns_port, "ready");

    // Re-evaluating once per probe interval lets load/RTT ordering holds run out.
    let tick = ProbeSettings::default().with(config.probe).interval;
    let result = tokio::select! {
        () = wait_for_shutdown() => Ok(()),
        r = control.run(monitor.subscribe(), datapath.as_mut(), tick) => r.context("control loop stopped"),
    };
    info!("shutting down");
    admin.abort();
    let _ = std::fs::remove_file(&socket);
    for feed in feeds {
        feed.abort();
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

async fn wait_for_shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("signal handler");
    let mut int = signal(SignalKind::interrupt()).expect("signal handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
