//! `switchyard run` in three steps, the way long-running tokio daemons such as linkerd2-proxy
//! are built (build, spawn, drain): `Daemon::start` binds and starts every part, `serve`
//! answers signals and reloads until asked to stop, `shutdown` takes the parts down in order.

pub mod admin;
pub mod handoff;
pub mod metrics;
mod metrics_listener;
pub mod reload;
mod reload_peers;
mod reload_summary;
mod reload_sync;
mod reload_undo;
mod reload_xdp;
pub mod reloadable;
pub mod runtime_state;
pub mod sockets;
mod start;
mod status;
mod status_page;
pub mod zone_serials;

use std::{path::PathBuf, sync::Arc};

use anyhow::Context;
use tokio::{
    signal::unix::{Signal, SignalKind, signal},
    sync::mpsc,
    task::JoinHandle,
};
use tracing::{info, warn};

use self::{reload::ReloadRequest, reloadable::Reloadable};
use crate::{
    answers::{AnswerController, Views, Zones},
    bpf::datapath::Datapath,
    config::Config,
    cookie_secrets::{CookieKeeper, Secrets},
    dns::{authority::Authority, counters::ServerCounters, identity::Identity, server},
    health::{HealthMonitor, ProbeSettings},
    peers::{HealthBridge, PeerHandle},
    sync::SyncService,
};

/// Raises the soft open-files limit (systemd's default is 1,024) towards the hard one, up to
/// `OPEN_FILES`: the DNS TCP connections' bound follows it (`dns::tcp`), and health checks need
/// descriptors too. Not further: exec checks inherit it, and some programs walk every possible
/// descriptor up to it.
fn raise_open_files_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    const OPEN_FILES: u64 = 65_536;
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard.min(OPEN_FILES)
        && let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard.min(OPEN_FILES), hard)
    {
        tracing::warn!(error = %e, soft, hard, "open-files limit not raised");
    }
}

/// Runs until SIGTERM or SIGINT, or until a successor took over; SIGHUP re-reads `path`. The
/// config must already be validated.
pub async fn run(config: Config, path: PathBuf) -> anyhow::Result<()> {
    raise_open_files_limit();
    let mut daemon = Daemon::start(config, path).await?;
    match daemon.serve().await {
        Ok(stop) => {
            daemon.shutdown(stop).await;
            Ok(())
        }
        Err(e) => {
            daemon.shutdown(Stop::Signal).await;
            Err(e)
        }
    }
}

/// Why the daemon stops.
pub enum Stop {
    /// SIGTERM or SIGINT.
    Signal,
    /// A successor serves the same sockets now; it is told on this stream once we stopped.
    HandedOff(std::os::unix::net::UnixStream),
}

/// Every running part of the daemon.
pub struct Daemon {
    /// The config file, read again on every reload.
    path: PathBuf,
    reloadable: Arc<Reloadable>,
    answers: AnswerController,
    /// The userspace server's answering logic (its EDNS size changes on reload).
    authority: Arc<Authority>,
    listeners: server::Listeners,
    /// `None` with `[xdp] mode = "off"`.
    datapath: Option<Datapath>,
    /// Server cookie secrets, published to `authority` and the XDP program.
    cookies: CookieKeeper,
    peers: Option<Arc<PeerHandle>>,
    bridge: Option<HealthBridge>,
    /// The operator's changes, for a bridge a reload starts.
    operator_feed: tokio::sync::watch::Receiver<crate::operator::Versioned>,
    sync: Option<SyncService>,
    metrics: Option<JoinHandle<()>>,
    /// What the metrics endpoint reads, kept for one a reload moves.
    sources: Arc<metrics::Sources>,
    admin: JoinHandle<()>,
    admin_socket: PathBuf,
    reloads: mpsc::Receiver<ReloadRequest>,
    handoffs: mpsc::Receiver<std::os::unix::net::UnixStream>,
    /// Every socket listened on, for a successor.
    registry: Arc<sockets::Registry>,
    hangup: Signal,
}

impl Daemon {
    /// Starts the health checks and the answer controller, serves DNS on the listening
    /// sockets (passed by systemd or by the daemon this one replaces, else bound here: a port
    /// in use stops us before anything is attached), then loads XDP, taking over the pinned
    /// program and maps, lets the replaced daemon go, and starts peers, sync, metrics and the
    /// admin socket.
    pub async fn start(config: Config, path: PathBuf) -> anyhow::Result<Daemon> {
        // Installed first: SIGHUP's default action would end the process.
        let hangup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
        let admin_socket = config.server.admin_socket();
        let (predecessor, mut inherited) = match handoff::take_over(&admin_socket)? {
            Some((predecessor, fds)) => {
                info!(pid = predecessor.pid, "taking over from the running daemon");
                (Some(predecessor), sockets::Inherited::from_fds(fds))
            }
            None => (None, sockets::Inherited::from_systemd()),
        };
        let registry = Arc::new(sockets::Registry::default());
        // Read after the hand-off request: the replaced daemon saves it then.
        let saved = runtime_state::load(&runtime_state::path(&config.server)).unwrap_or_default();
        let views = Views::from_config(&config);
        for line in views.describe() {
            info!("{line}");
        }
        let serials_file = zone_serials::path(&config.server);
        let serials = zone_serials::next(&config, &zone_serials::load(&serials_file));
        zone_serials::save(&serials_file, &serials);
        let zones = Zones::from_config(&config, &serials.by_zone());
        // Probing starts at once, from the saved verdicts; without, a check's first result decides.
        let monitor = Arc::new(
            HealthMonitor::start_restored(&config.health_config(), &saved.health).context("starting health checks")?,
        );
        let mut answers = AnswerController::new(&config, views.clone(), zones, &monitor.sites())
            .context("building the answer policy")?;
        let reloadable = Arc::new(Reloadable::new(config.clone(), monitor.clone()));
        let (operator, operator_feed, overrides_dropped) = start::operator(&config, &mut answers, &reloadable);

        let authority = Arc::new(Authority::new(config.server.edns_udp_payload, answers.served()));
        authority.set_identity(Identity::from_config(&config.server));
        let secrets = Secrets::from_config(&config.cookies).context("cookie secret")?;
        authority.set_cookies(secrets.published());
        let counters = Arc::new(ServerCounters::default());
        let (listen, threads) = (&config.server.listen, config.server.udp_threads());
        let sockets = server::Sockets { inherited: &mut inherited, registry: &registry };
        let listeners =
            server::start(listen, config.server.dns_port, threads, authority.clone(), counters.clone(), sockets)
                .await
                .with_context(|| format!("binding DNS port {}", config.server.dns_port))?;

        let mut datapath = start::datapath(&config, &views, &mut answers, secrets.published()).await?;
        let cookies = CookieKeeper::start(secrets, authority.clone());
        cookies.follow_datapath(datapath.as_mut());
        authority
            .rrl()
            .apply(&config.rrl, datapath.as_ref().map(|dp| (config.server.pin_dir(), dp.ingress())))
            .context("rate limiting")?;
        // Every socket is ours before the replaced daemon goes: a start that cannot have them
        // stops here, and the replaced daemon carries on.
        let mut late = start::late_sockets(&config, &mut inherited, &registry)?;
        if let Some(predecessor) = predecessor {
            let pid = predecessor.pid;
            predecessor.finish().with_context(|| format!("stopping the replaced daemon (pid {pid})"))?;
            info!(pid, "the replaced daemon stopped");
        }
        // Only now that no other daemon serves (or may go on serving) from the file: the
        // overrides this config has no place for leave it too.
        if overrides_dropped
            && let Err(e) =
                crate::operator::save_state(&crate::operator::state_path(&config.server), &operator.current())
        {
            warn!(error = %e, "operator state not saved without the dropped overrides");
        }
        let (peers, bridge) = start::peers(&config, &monitor, operator_feed.clone(), &mut late, &saved.peers).await?;
        reloadable.peers.store(peers.clone());
        let sync = start::sync(&config, &mut late).await?;
        reloadable.sync.store(sync.as_ref().map(|s| Arc::new(s.node())));
        let sources = Arc::new(metrics::Sources {
            reloadable: reloadable.clone(),
            // Absolute but not resolved: a symlink the operator repoints keeps working.
            config_file: std::path::absolute(&path).unwrap_or_else(|_| path.clone()),
            counters,
            rewrites: answers.rewrites(),
            answers: answers.answer_stats(),
            timeline: answers.timeline(),
            map_entries: answers.map_entries(),
            operator,
            rrl: authority.rrl().clone(),
            served: answers.served(),
        });
        let metrics = start::metrics(config.server.metrics, sources.clone(), &mut late).await?;
        let (admin, reloads, handoffs) = start::admin(&config, &sources, late)?;
        inherited.close_rest();
        info!(instance = %config.server.instance, port = config.server.dns_port, "ready");
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);

        Ok(Daemon {
            path,
            reloadable,
            answers,
            authority,
            listeners,
            datapath,
            cookies,
            peers,
            bridge,
            operator_feed,
            sync,
            metrics,
            sources,
            admin,
            admin_socket,
            reloads,
            handoffs,
            registry,
            hangup,
        })
    }

    /// Runs the control loop until SIGTERM or SIGINT, or until a successor took over (`Ok`),
    /// or until the loop fails; between two of its evaluations applies the reloads asked for
    /// by SIGHUP or the admin socket, and answers a successor's hand-off request.
    pub async fn serve(&mut self) -> anyhow::Result<Stop> {
        let shutdown = wait_for_shutdown();
        tokio::pin!(shutdown);
        loop {
            // The control loop is dropped between evaluations for a reload, then started again
            // on the (possibly new) monitor: answers stay in place meanwhile.
            let monitor = self.reloadable.monitor.load_full();
            let explain = |site: &str| monitor.explain(site);
            // Re-evaluating once per probe interval lets load/RTT ordering holds run out; read
            // from the current config, so a reload's new interval applies.
            let tick = ProbeSettings::default().with(self.reloadable.config.load().probe).interval;
            let request = tokio::select! {
                () = &mut shutdown => return Ok(Stop::Signal),
                r = self.answers.run(monitor.subscribe(), &explain, self.datapath.as_mut(), tick) => return r.context("control loop stopped").map(|()| Stop::Signal),
                Some(request) = self.reloads.recv() => request,
                Some(stream) = self.handoffs.recv() => match self.hand_off(stream).await {
                    Some(stream) => return Ok(Stop::HandedOff(stream)),
                    None => continue,
                },
                _ = self.hangup.recv() => ReloadRequest { reply: None },
            };
            let parts = reload::Parts {
                reloadable: &self.reloadable,
                answers: &mut self.answers,
                datapath: &mut self.datapath,
                sync: &mut self.sync,
                peers: reload_peers::PeerParts {
                    handle: &mut self.peers,
                    bridge: &mut self.bridge,
                    operator: &self.operator_feed,
                },
                authority: &self.authority,
                cookies: &self.cookies,
                listeners: &mut self.listeners,
                metrics: (&mut self.metrics, &self.sources),
                registry: &self.registry,
            };
            // An override the new config has no place for is dropped for good: said in the
            // reload's own answer, not only in the log.
            let outcome = reload::apply(&self.path, parts).await.map(|summary| {
                let dropped = self.sources.operator.unfitting();
                if dropped.is_empty() {
                    summary
                } else {
                    format!("{summary}; overrides dropped (no service or view for them now): {}", dropped.join(", "))
                }
            });
            if outcome.is_ok() {
                let operator = self.sources.operator.clone();
                tokio::spawn(async move { operator.drop_unfitting().await });
            }
            match &outcome {
                Ok(summary) => info!(%summary, "config reloaded"),
                Err(e) => warn!(error = %e, "config reload refused; the running config keeps serving"),
            }
            if let Some(reply) = request.reply {
                let _ = reply.send(outcome);
            }
        }
    }

    /// Gives every socket to a successor and waits until it is ready (this daemon's map writes
    /// pause meanwhile: the successor writes the map). Returns the stream to tell it that we
    /// stopped, or `None` when it went away and we carry on.
    async fn hand_off(&mut self, stream: std::os::unix::net::UnixStream) -> Option<std::os::unix::net::UnixStream> {
        let fds = match self.registry.copies() {
            Ok(fds) => fds,
            Err(e) => {
                warn!(error = %e, "hand-off refused: cannot copy the sockets");
                return None;
            }
        };
        info!(sockets = fds.len(), "handing the sockets to a successor");
        // Operator changes stop here: the successor reads their file once it has the sockets.
        self.sources.operator.hold_for_handoff().await;
        self.save_runtime_state();
        let outcome = tokio::task::spawn_blocking(move || handoff::give(stream, fds)).await;
        match outcome {
            Ok(handoff::Outcome::Replaced(stream)) => Some(stream),
            Ok(handoff::Outcome::Abandoned(why)) => {
                warn!(%why, "hand-off abandoned; serving on");
                self.sources.operator.resume_after_handoff();
                if let Some(dp) = self.datapath.as_mut()
                    && let Err(e) = self.answers.adopt_map(dp)
                {
                    warn!(error = %e, "answer map not re-read after the abandoned hand-off");
                }
                None
            }
            Err(e) => {
                warn!(error = %e, "hand-off failed; serving on");
                self.sources.operator.resume_after_handoff();
                // A successor may have written the answer table meanwhile.
                if let Some(dp) = self.datapath.as_mut()
                    && let Err(e) = self.answers.adopt_map(dp)
                {
                    warn!(error = %e, "answer map not re-read after the failed hand-off");
                }
                None
            }
        }
    }

    /// Saves what a successor needs to go on where this daemon is.
    fn save_runtime_state(&self) {
        let config = self.reloadable.config.load();
        let state = runtime_state::RuntimeState {
            saved_unix_ms: 0,
            health: self.reloadable.monitor.load().snapshot(),
            peers: self.peers.as_ref().map(|p| p.saved()).unwrap_or_default(),
        };
        runtime_state::save(&runtime_state::path(&config.server), state);
    }

    /// Stops taking requests (admin socket, metrics), stops the peers and sync (a batch being
    /// applied may finish), and closes the DNS listeners. XDP stays attached with its maps
    /// pinned, for the next daemon: the liveness stamp stops, so once it is `stale_after` old
    /// the program answers nothing. After a hand-off the admin socket stays (the successor
    /// serves it) and the successor is told that we stopped.
    pub async fn shutdown(self, stop: Stop) {
        info!("shutting down");
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        self.save_runtime_state();
        self.admin.abort();
        if let Some(task) = self.metrics {
            task.abort();
        }
        if matches!(stop, Stop::Signal) {
            let _ = std::fs::remove_file(&self.admin_socket);
        }
        if let Some(mut bridge) = self.bridge {
            bridge.stop();
        }
        if let Some(peers) = &self.peers {
            peers.stop();
        }
        if let Some(sync) = self.sync {
            sync.stop().await;
        }
        drop(self.listeners);
        drop(self.datapath);
        if let Stop::HandedOff(stream) = stop {
            handoff::stopped(stream);
        }
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
