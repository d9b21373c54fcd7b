//! `switchyard run` in three steps, the way long-running tokio daemons such as linkerd2-proxy
//! are built (build, spawn, drain): `Daemon::start` binds and starts every part, `serve`
//! answers signals and reloads until asked to stop, `shutdown` takes the parts down in order.

pub mod admin;
pub mod metrics;
pub mod reload;
pub mod reloadable;
mod start;

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use tokio::{
    signal::unix::{Signal, SignalKind, signal},
    sync::mpsc,
    task::JoinHandle,
};
use tracing::{info, warn};

use self::{reload::ReloadRequest, reloadable::Reloadable};
use crate::{
    answers::{AnswerController, Views},
    bpf::datapath::Datapath,
    config::Config,
    dns::{authority::Authority, counters::ServerCounters, server},
    health::{HealthMonitor, ProbeSettings},
    peers::{HealthBridge, PeerHandle},
    sync::SyncService,
};

/// Runs until SIGTERM or SIGINT; SIGHUP re-reads `path`. The config must already be validated.
pub async fn run(config: Config, path: PathBuf) -> anyhow::Result<()> {
    let mut daemon = Daemon::start(config, path).await?;
    let result = daemon.serve().await;
    daemon.shutdown().await;
    result
}

/// Every running part of the daemon.
pub struct Daemon {
    /// The config file, read again on every reload.
    path: PathBuf,
    reloadable: Arc<Reloadable>,
    answers: AnswerController,
    listeners: server::Listeners,
    /// `None` with `[xdp] mode = "off"`.
    datapath: Option<Datapath>,
    peers: Option<Arc<PeerHandle>>,
    bridge: Option<HealthBridge>,
    sync: Option<SyncService>,
    metrics: Option<JoinHandle<()>>,
    admin: JoinHandle<()>,
    admin_socket: PathBuf,
    reloads: mpsc::Receiver<ReloadRequest>,
    hangup: Signal,
    /// Re-evaluating once per probe interval lets load/RTT ordering holds run out.
    tick: Duration,
}

impl Daemon {
    /// Starts the health checks and the answer controller, binds the DNS listeners (a port in
    /// use stops us before anything is attached), then loads and attaches XDP and starts
    /// peers, sync, metrics and the admin socket.
    pub async fn start(config: Config, path: PathBuf) -> anyhow::Result<Daemon> {
        // Installed first: SIGHUP's default action would end the process.
        let hangup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
        let views = Views::from_config(&config);
        // Probing starts at once; the first result of a check decides its state.
        let monitor = Arc::new(HealthMonitor::start(&config.health_config()).context("starting health checks")?);
        let mut answers =
            AnswerController::new(&config, views.clone(), &monitor.sites()).context("building the answer policy")?;
        let reloadable = Arc::new(Reloadable::new(config.clone(), monitor.clone()));
        let (operator, operator_feed) = start::operator(&config, &mut answers, &reloadable);

        let authority = Arc::new(Authority::new(&config, views.clone(), answers.table()));
        let counters = Arc::new(ServerCounters::default());
        let (listen, threads) = (&config.server.listen, config.server.udp_threads());
        let listeners = server::start(listen, config.server.dns_port, threads, authority, counters.clone())
            .await
            .with_context(|| format!("binding DNS port {}", config.server.dns_port))?;

        let datapath = start::datapath(&config, &views, &mut answers)?;
        let (peers, bridge) = start::peers(&config, &monitor, operator_feed).await?;
        let sync = start::sync(&config).await?;
        let sources = Arc::new(metrics::Sources {
            reloadable: reloadable.clone(),
            counters,
            peers: peers.clone(),
            sync: sync.as_ref().map(SyncService::node),
            xdp_pin_dir: datapath.as_ref().map(|_| config.server.pin_dir()),
            rewrites: answers.rewrites(),
            answers: answers.answer_stats(),
            map_entries: answers.map_entries(),
            operator,
        });
        let metrics = start::metrics(config.server.metrics, sources.clone()).await?;
        let (admin, reloads) = start::admin(&config, &sources)?;
        info!(instance = %config.server.instance, port = config.server.dns_port, "ready");

        let tick = ProbeSettings::default().with(config.probe).interval;
        let admin_socket = config.server.admin_socket();
        Ok(Daemon {
            path,
            reloadable,
            answers,
            listeners,
            datapath,
            peers,
            bridge,
            sync,
            metrics,
            admin,
            admin_socket,
            reloads,
            hangup,
            tick,
        })
    }

    /// Runs the control loop until SIGTERM or SIGINT (`Ok`) or until the loop fails; between
    /// two of its evaluations applies the reloads asked for by SIGHUP or the admin socket.
    pub async fn serve(&mut self) -> anyhow::Result<()> {
        let shutdown = wait_for_shutdown();
        tokio::pin!(shutdown);
        loop {
            // The control loop is dropped between evaluations for a reload, then started again
            // on the (possibly new) monitor: answers stay in place meanwhile.
            let monitor = self.reloadable.monitor.load_full();
            let explain = |site: &str| monitor.explain(site);
            let request = tokio::select! {
                () = &mut shutdown => return Ok(()),
                r = self.answers.run(monitor.subscribe(), &explain, self.datapath.as_mut(), self.tick) => return r.context("control loop stopped"),
                Some(request) = self.reloads.recv() => request,
                _ = self.hangup.recv() => ReloadRequest { reply: None },
            };
            let outcome = reload::apply(
                &self.path,
                &self.reloadable,
                &mut self.answers,
                self.datapath.as_mut(),
                self.bridge.as_mut(),
            )
            .await;
            match &outcome {
                Ok(summary) => info!(%summary, "config reloaded"),
                Err(e) => warn!(error = %e, "config reload refused; the running config keeps serving"),
            }
            if let Some(reply) = request.reply {
                let _ = reply.send(outcome);
            }
        }
    }

    /// Stops taking requests (admin socket, metrics), stops the peers and sync (a batch being
    /// applied may finish), closes the DNS listeners, and last detaches XDP.
    pub async fn shutdown(self) {
        info!("shutting down");
        self.admin.abort();
        if let Some(task) = self.metrics {
            task.abort();
        }
        let _ = std::fs::remove_file(&self.admin_socket);
        if let Some(mut bridge) = self.bridge {
            bridge.stop();
        }
        drop(self.peers);
        if let Some(sync) = self.sync {
            sync.stop().await;
        }
        drop(self.listeners);
        // Dropping the datapath detaches XDP and removes the pinned maps.
        drop(self.datapath);
    }
}

async fn wait_for_shutdown() {
    let mut term = signal(SignalKind::terminate()).expect("signal handler");
    let mut int = signal(SignalKind::interrupt()).expect("signal handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
