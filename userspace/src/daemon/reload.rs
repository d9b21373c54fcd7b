//! `switchyard reload` and SIGHUP: a new config taken live, all or nothing.
//!
//! Everything but what names this daemon's files (instance, run_dir, pin_root) changes live:
//! the userspace server's zones, views and answers are swapped in one step, then the XDP
//! answer map and view tries are rewritten in one pass (see `reload_xdp`, which also changes
//! the mode and the map size); sockets a new config needs are taken before anything changes;
//! the peer service and sync are reconfigured or started again (`reload_peers`,
//! `reload_sync`). A config that cannot be applied changes nothing: what can be checked is
//! checked first, and when a later step fails the ones taken before it are undone
//! (`reload_undo`).

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::oneshot;
use tracing::warn;

use super::{
    reload_peers::{self, PeerParts},
    reload_sync,
    reloadable::Reloadable,
    zone_serials,
};
use crate::{
    answers::{AnswerController, SavedAnswers, Views, Zones},
    bpf::datapath::{Datapath, DatapathError},
    config::{Config, ConfigError, rrl::RrlSection},
    dns::authority::Authority,
    health::{HealthError, HealthMonitor},
    policy::PolicyConfigError,
};

/// Longest a reload waits for the first result of every new health check before it swaps the
/// new monitor in (until then the old monitor keeps deciding).
const WARM_UP: Duration = Duration::from_secs(5);

/// One reload, asked for by the admin socket (which waits for the outcome) or by SIGHUP.
pub struct ReloadRequest {
    pub reply: Option<oneshot::Sender<Result<String, ReloadError>>>,
}

/// Why a reload was refused; the running config keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    RestartNeeded(#[from] RestartNeeded),
    #[error(transparent)]
    Health(#[from] HealthError),
    #[error("answer policy: {0}")]
    Policy(#[from] PolicyConfigError),
    #[error("XDP: {0}")]
    Datapath(#[from] DatapathError),
    #[error("rate limiting: {0}")]
    Rrl(#[from] crate::rrl::RrlError),
    #[error("XDP: {0:#}")]
    XdpStart(anyhow::Error),
    #[error("sync: {0}")]
    Sync(String),
    #[error("peers: {0}")]
    Peers(String),
    #[error("listening on DNS port {port}: {source}")]
    Listen { port: u16, source: std::io::Error },
    #[error("serving metrics on {address}: {source}")]
    Metrics { address: std::net::SocketAddr, source: std::io::Error },
    #[error("the daemon is shutting down")]
    ShuttingDown,
}

/// A change only a new daemon can apply.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RestartNeeded {
    #[error("{0} names this daemon's admin socket, state files or pins: stop it and start one with the new value")]
    Identity(&'static str),
    #[error("{0} is read once, when the daemon starts: restart it (a hand-off loses no query) to change it")]
    ReadAtStart(&'static str),
}

/// What a reload changes besides the answers.
pub struct Parts<'a> {
    pub reloadable: &'a Reloadable,
    pub answers: &'a mut AnswerController,
    /// `None` while `[xdp] mode` is "off"; a reload may turn it on or off.
    pub datapath: &'a mut Option<Datapath>,
    /// `None` without `[sync]`; a reload may start, stop or replace it.
    pub sync: &'a mut Option<crate::sync::SyncService>,
    pub peers: PeerParts<'a>,
    pub authority: &'a Authority,
    pub cookies: &'a crate::cookie_secrets::CookieKeeper,
    pub listeners: &'a mut crate::dns::server::Listeners,
    /// The metrics endpoint's task and what it reads.
    pub metrics: (&'a mut Option<tokio::task::JoinHandle<()>>, &'a Arc<super::metrics::Sources>),
    pub registry: &'a super::sockets::Registry,
}

/// Sockets and settings taken before anything changes, so that an address in use or a bad
/// key refuses the reload whole.
struct Taken {
    /// Served once the DNS sockets moved too.
    metrics: Option<std::net::TcpListener>,
    sync: Option<reload_sync::Prepared>,
    /// Set when the peer service starts again; its socket (`None`: `[peers]` removed).
    peers: Option<Option<reload_peers::NewSocket>>,
}

fn take(old: &Config, new: &Config, registry: &super::sockets::Registry) -> Result<Taken, ReloadError> {
    let metrics = match new.server.metrics {
        Some(address) if old.server.metrics != new.server.metrics => {
            Some(std::net::TcpListener::bind(address).map_err(|source| ReloadError::Metrics { address, source })?)
        }
        _ => None,
    };
    let sync = if reload_sync::changed(old, new) { Some(reload_sync::prepare(old, new, registry)?) } else { None };
    let peers =
        if reload_peers::restart_needed(old, new) { Some(reload_peers::prepare(old, new, registry)?) } else { None };
    Ok(Taken { metrics, sync, peers })
}

/// Applies the config in `path` if it can be applied live; on any error nothing changes.
/// Returns what changed, for the log and the CLI.
pub async fn apply(path: &Path, mut parts: Parts<'_>) -> Result<String, ReloadError> {
    let new = Config::load_for_host(path)?;
    let old = parts.reloadable.config.load_full();
    if let Some(why) = restart_needed(&old, &new) {
        return Err(why.into());
    }
    let monitor = if health_changed(&old, &new) { Some(new_monitor(&new, parts.reloadable).await?) } else { None };
    let (rrl, cookies) = (parts.authority.rrl().settings(), parts.cookies.saved());
    // Limits changed by `switchyard rrl` since the last start or reload give way to the file's.
    let live_rrl_replaced = rrl != old.rrl && rrl != new.rrl;
    let serials = zone_serials::load(&zone_serials::path(&new.server));
    let served = zone_serials::next(&new, &serials);
    let before = Before { views: parts.answers.views(), answers: parts.answers.saved(), rrl, cookies, serials };
    let mut done = Done { new_monitor: monitor.is_some(), ..Done::default() };
    let views = match change(&mut parts, (&old, &new), &served, monitor.as_ref(), &mut done).await {
        Ok(views) => views,
        Err(e) => {
            // A step late in the list failed: the ones before it go back to the running config.
            super::reload_undo::undo(&mut parts, (&old, &new), before, &served, &done).await;
            return Err(e);
        }
    };
    // Kept only now: a reload taken back keeps the running config's serials, raised where
    // the refused one's may have been served (`reload_undo`).
    zone_serials::save(&zone_serials::path(&new.server), &served);
    if let Some(monitor) = monitor {
        parts.reloadable.monitor.store(monitor);
    }
    let mut message = format!("{}: {}", path.display(), super::reload_summary::describe(&old, &new));
    for line in views.describe() {
        tracing::info!("{line}");
    }
    if new.geo.is_some() {
        message.push_str(&format!(" ({})", views.describe().join(", ")));
    }
    if live_rrl_replaced {
        message
            .push_str(&format!("; what `switchyard rrl` set gave way to the file: {}", crate::rrl::describe(&new.rrl)));
    }
    parts.reloadable.config.store(Arc::new(new));
    Ok(message)
}

/// What answered before the reload, for its undoing.
pub(super) struct Before {
    pub(super) views: Arc<Views>,
    pub(super) answers: SavedAnswers,
    /// The rate limits in force, live changes (`switchyard rrl set|exempt`) included.
    pub(super) rrl: RrlSection,
    /// The cookie secrets in force (a generated one cannot be made again from the config).
    pub(super) cookies: crate::cookie_secrets::Secrets,
    /// The zone serials kept for the running config.
    pub(super) serials: zone_serials::Serials,
}

/// The steps of a reload taken so far (each one that is set may have changed something).
#[derive(Default)]
pub(super) struct Done {
    pub(super) listeners: bool,
    pub(super) metrics: bool,
    pub(super) answers: bool,
    /// The peer service started again (`Some(true)`) or reconfigured in place (`Some(false)`).
    pub(super) peers: Option<bool>,
    pub(super) server_settings: bool,
    /// The XDP step was reached; whether it went through. The rate limits come after it, and a
    /// failed XDP step may have written them too (see `reload_undo`).
    pub(super) xdp: Option<bool>,
    /// A new health monitor was made for the reload (the peer bridge followed it).
    pub(super) new_monitor: bool,
}

impl Done {
    /// Whether any step may have changed something.
    pub(super) fn any(&self) -> bool {
        self.listeners
            || self.metrics
            || self.answers
            || self.peers.is_some()
            || self.server_settings
            || self.xdp.is_some()
    }
}

/// The steps of a reload in order, each noted in `done` once it may have changed something.
/// A step that fails leaves what it manages as it was, except XDP and rate limiting, whose
/// undoing covers them.
async fn change(
    parts: &mut Parts<'_>,
    (old, new): (&Config, &Config),
    serials: &zone_serials::Serials,
    monitor: Option<&Arc<HealthMonitor>>,
    done: &mut Done,
) -> Result<Views, ReloadError> {
    let states = monitor.map_or_else(|| parts.reloadable.monitor.load().sites(), |m| m.sites());
    let views = Views::from_config_keeping(new, &parts.answers.views());
    let taken = take(old, new, parts.registry)?;
    let (o, n) = (&old.server, &new.server);
    if (&o.listen, o.dns_port, o.udp_threads) != (&n.listen, n.dns_port, n.udp_threads) {
        parts
            .listeners
            .reconfigure(&n.listen, n.dns_port, n.udp_threads(), parts.registry)
            .await
            .map_err(|source| ReloadError::Listen { port: n.dns_port, source })?;
        done.listeners = true;
    }
    if o.metrics != n.metrics {
        move_metrics((&mut *parts.metrics.0, parts.metrics.1), taken.metrics, o.metrics, parts.registry);
        done.metrics = true;
    }
    parts.answers.reload(new, views.clone(), Zones::from_config(new, &serials.by_zone()), &states)?;
    done.answers = true;
    let current = monitor.cloned().unwrap_or_else(|| parts.reloadable.monitor.load_full());
    match taken.peers {
        Some(socket) => {
            let configs = (old, new, &current);
            reload_peers::restart(parts.peers.reborrow(), socket, configs, (parts.registry, parts.reloadable)).await?;
            done.peers = Some(true);
        }
        None => {
            reconfigure_peers(parts.peers.reborrow(), old, new, monitor)?;
            done.peers = Some(false);
        }
    }
    set_server_settings(parts, new);
    if let Err(e) = parts.cookies.reload(&new.cookies) {
        // Read a moment ago by `load_for_host`: changed since, it keeps the running secrets.
        warn!(error = %e, "cookie secret file not read again; the running secrets stay");
    }
    done.server_settings = true;
    done.xdp = Some(false);
    super::reload_xdp::apply(parts.datapath, parts.answers, &views, (old, new), parts.cookies.published()).await?;
    done.xdp = Some(true);
    parts.cookies.follow_datapath(parts.datapath.as_mut());
    // The file wins over live changes (`switchyard rrl set|exempt`).
    put_rrl(parts, new, &new.rrl)?;
    if let Some(prepared) = taken.sync {
        reload_sync::switch(parts.sync, prepared, (old, parts.registry, parts.reloadable)).await?;
    }
    Ok(views)
}

/// The EDNS payload and the server's identity of `config` (the cookie secrets are the caller's).
pub(super) fn set_server_settings(parts: &Parts<'_>, config: &Config) {
    parts.authority.set_edns_payload(config.server.edns_udp_payload);
    parts.authority.set_identity(crate::dns::identity::Identity::from_config(&config.server));
}

/// Rate limiting by `settings`, in the XDP program's maps under `config`'s pin directory.
pub(super) fn put_rrl(parts: &Parts<'_>, config: &Config, settings: &RrlSection) -> Result<(), ReloadError> {
    let program = parts.datapath.as_ref().map(|dp| (config.server.pin_dir(), dp.ingress()));
    Ok(parts.authority.rrl().apply(settings, program)?)
}

/// Peers added or removed and keys rotated, in the running service; the bridge follows a new
/// health monitor.
pub(super) fn reconfigure_peers(
    peers: PeerParts<'_>,
    old: &Config,
    new: &Config,
    monitor: Option<&Arc<HealthMonitor>>,
) -> Result<(), ReloadError> {
    if let (Some(handle), Some(config)) = (peers.handle.as_ref(), &new.peers)
        && old.peers != new.peers
    {
        handle.reconfigure(config).map_err(|e| ReloadError::Peers(e.to_string()))?;
    }
    if let (Some(bridge), Some(monitor)) = (peers.bridge.as_mut(), monitor) {
        bridge.start(monitor, new.remote_sites());
    }
    Ok(())
}

/// Serves metrics on `listener` (none: metrics off) instead of the old address.
pub(super) fn move_metrics(
    (task, sources): (&mut Option<tokio::task::JoinHandle<()>>, &Arc<super::metrics::Sources>),
    listener: Option<std::net::TcpListener>,
    old: Option<std::net::SocketAddr>,
    registry: &super::sockets::Registry,
) {
    if let Some(old) = old {
        registry.remove_tcp(old);
    }
    if let Some(previous) = task.take() {
        previous.abort();
    }
    let Some(listener) = listener else { return };
    let served = registry
        .add(&listener)
        .and_then(|()| listener.set_nonblocking(true))
        .and_then(|()| super::metrics::serve(listener, sources.clone()));
    match served {
        Ok(serving) => *task = Some(serving),
        Err(e) => warn!(error = %e, "metrics not served after the reload"),
    }
}

/// A monitor for the new config's checks, starting from the old one's verdicts and site
/// states, once every new check has its first result (or `WARM_UP` passed).
async fn new_monitor(new: &Config, reloadable: &Reloadable) -> Result<Arc<HealthMonitor>, HealthError> {
    let known = reloadable.monitor.load().snapshot();
    let monitor = Arc::new(HealthMonitor::start_restored(&new.health_config(), &known)?);
    let before = reloadable.monitor.load().sites();
    for site in new.remote_sites() {
        if let Some(state) = before.get(&site) {
            let _ = monitor.set_remote(&site, *state);
        }
    }
    warm_up(&monitor).await;
    Ok(monitor)
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

/// The first setting that names this daemon's files and differs.
pub fn restart_needed(old: &Config, new: &Config) -> Option<RestartNeeded> {
    let (o, n) = (&old.server, &new.server);
    let identity = [
        ("server.instance", o.instance == n.instance),
        ("server.run_dir", o.run_dir == n.run_dir),
        ("server.pin_root", o.pin_root == n.pin_root),
    ];
    if let Some((key, _)) = identity.iter().find(|(_, same)| !same) {
        return Some(RestartNeeded::Identity(key));
    }
    // The log format is the subscriber's, set up once for the process.
    (o.log_format != n.log_format).then_some(RestartNeeded::ReadAtStart("server.log_format"))
}

/// Whether the health monitor must be rebuilt (probes or sites changed).
pub fn health_changed(old: &Config, new: &Config) -> bool {
    format!("{:?}{:?}", old.probe, old.site) != format!("{:?}{:?}", new.probe, new.site)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::fixture::ConfigText;

    fn base() -> String {
        ConfigText::new().zone().site("a", &["192.0.2.1"], &[]).service("www.example.com.", 30, &["a"]).build()
    }

    #[test]
    fn an_unset_udp_threads_does_not_follow_the_cpus_into_a_reload() {
        // Parsed on all CPUs, then again with this thread pinned to one: the file is the same,
        // so a reload must not ask for a restart.
        let old = Config::parse(&base(), "old").unwrap();
        let cpus = old.server.udp_threads();
        assert!(cpus >= 1);
        let pinned = unsafe {
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(0, &mut one);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one)
        };
        assert_eq!(pinned, 0, "pin the test thread to CPU 0");
        let new = Config::parse(&base(), "new").unwrap();
        assert_eq!(new.server.udp_threads(), 1, "one CPU left, one thread");
        assert_eq!(restart_needed(&old, &new), None);
    }

    #[test]
    fn the_xdp_mode_map_size_and_site_change_live() {
        let old = Config::parse(&format!("{}\n[xdp]\nmode = \"off\"\n", base()), "old").unwrap();
        let xdp = format!("{}\n[xdp]\nmode = \"skb\"\nmax_entries = 100\ninterfaces = [\"eth9\"]\n", base());
        assert_eq!(restart_needed(&old, &Config::parse(&xdp, "new").unwrap()), None);
        let site = format!("[server]\nsite = \"a\"\nnode = \"n1\"\n{}", base());
        assert_eq!(restart_needed(&old, &Config::parse(&site, "new").unwrap()), None);
    }

    #[test]
    fn services_zones_and_sites_change_live_but_the_instance_does_not() {
        let old = Config::parse(&base(), "old").unwrap();
        let ttl = Config::parse(&base().replace("ttl = 30", "ttl = 7"), "new").unwrap();
        assert_eq!(restart_needed(&old, &ttl), None);
        let address = Config::parse(&base().replace("192.0.2.1", "192.0.2.2"), "new").unwrap();
        assert_eq!(restart_needed(&old, &address), None);
        assert!(health_changed(&old, &address));
        let zone = Config::parse(&base().replace("hostmaster", "admin"), "new").unwrap();
        assert_eq!(restart_needed(&old, &zone), None);
        let renamed = Config::parse(&base().replace("www.example", "web.example"), "new").unwrap();
        assert_eq!(restart_needed(&old, &renamed), None);
        let instance = Config::parse(&format!("[server]\ninstance = \"other\"\n{}", base()), "new").unwrap();
        let message = restart_needed(&old, &instance).unwrap().to_string();
        assert!(message.starts_with("server.instance names this daemon's"), "{message}");
    }

    #[test]
    fn a_new_log_format_is_refused_rather_than_ignored() {
        let old = Config::parse(&base(), "old").unwrap();
        let json = Config::parse(&format!("[server]\nlog_format = \"json\"\n{}", base()), "new").unwrap();
        let message = restart_needed(&old, &json).unwrap().to_string();
        assert!(message.starts_with("server.log_format is read once, when the daemon starts"), "{message}");
    }
}
