//! `switchyard run`: everything between reading the config and shutting down cleanly.

use std::sync::Arc;

use anyhow::Context;
use arc_swap::ArcSwap;
use switchyard_common::XdpConfig;
use tracing::info;

use crate::{
    admin::{self, AdminState, Status},
    answers::{AnswerTable, Views},
    bpf::{datapath::Datapath, writer::MapWriter},
    config::{Config, XdpMode},
    dns::{authority::Authority, server},
};

/// Runs until SIGTERM or SIGINT. The config must already be validated.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let views = Views::from_config(&config);
    let table = Arc::new(ArcSwap::from_pointee(AnswerTable::from_config(&config, &views)));
    let authority = Arc::new(Authority::new(&config, views.clone(), table.clone()));
    let counters = Arc::new(server::ServerCounters::default());

    // Bind first: a port in use stops us before anything is attached.
    let listeners = server::start(&config.server.listen, config.server.dns_port, authority, counters.clone())
        .await
        .with_context(|| format!("binding DNS port {}", config.server.dns_port))?;

    let mut datapath = None;
    let mut map_entries = 0;
    if config.xdp.mode != XdpMode::Off {
        let mut dp = Datapath::load(Some(&config.server.pin_dir()), config.xdp.max_entries)?;
        dp.set_views(&views)?;
        let stats = MapWriter::default().write(&mut dp.answers()?, &table.load())?;
        map_entries = stats.written;
        info!(written = stats.written, userspace_only = stats.userspace_only, elapsed_us = stats.elapsed.as_micros() as u64, "answer map written");
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

    let socket = config.server.admin_socket();
    let state = Arc::new(AdminState {
        counters,
        status: Status {
            instance: config.server.instance.clone(),
            xdp_mode: format!("{:?}", config.xdp.mode).to_lowercase(),
            xdp_interfaces: if datapath.is_some() { config.xdp.interfaces.clone() } else { vec![] },
            services: config.service.len(),
            map_entries,
        },
    });
    let admin = admin::serve(&socket, state).with_context(|| format!("admin socket {}", socket.display()))?;
    info!(instance = %config.server.instance, port = config.server.dns_port, "ready");

    wait_for_shutdown().await;
    info!("shutting down");
    admin.abort();
    let _ = std::fs::remove_file(&socket);
    drop(listeners);
    // Dropping the datapath detaches XDP and removes the pinned maps.
    drop(datapath);
    Ok(())
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
