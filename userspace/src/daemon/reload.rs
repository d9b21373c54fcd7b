//! `switchyard reload` and SIGHUP: which parts of a new config can be taken live.
//!
//! Probes, sites and the contents of services change live. The sockets, the XDP program, the
//! zones and views the userspace server was built with, the set of service names, peers and
//! sync stay as they are until a restart; a new config that changes them is refused whole, so
//! the daemon never runs half of one config and half of another.

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::oneshot;
use tracing::warn;

use super::reloadable::Reloadable;
use crate::{
    answers::AnswerController,
    bpf::datapath::Datapath,
    config::{Config, ConfigError},
    health::{HealthError, HealthMonitor},
    peers::HealthBridge,
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
    #[error("the daemon is shutting down")]
    ShuttingDown,
}

/// A change only a restart can apply.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RestartNeeded {
    #[error("{0} changed: restart the daemon to apply it")]
    Section(&'static str),
    #[error("services were added or removed: restart the daemon to apply it")]
    Services,
}

/// Applies the config in `path` if it can be applied live; on any error nothing changes.
/// Returns what was applied, for the log and the CLI.
pub async fn apply(
    path: &Path,
    reloadable: &Reloadable,
    answers: &mut AnswerController,
    datapath: Option<&mut Datapath>,
    bridge: Option<&mut HealthBridge>,
) -> Result<String, ReloadError> {
    let new = Config::load_for_host(path)?;
    let old = reloadable.config.load_full();
    if let Some(why) = restart_needed(&old, &new) {
        return Err(why.into());
    }
    let monitor = if health_changed(&old, &new) { Some(new_monitor(&new, reloadable).await?) } else { None };
    let states = monitor.as_ref().map_or_else(|| reloadable.monitor.load().sites(), |m| m.sites());
    answers.reload(&new, &states)?;
    if let Some(dp) = datapath
        && let Err(e) = answers.write_map(dp)
    {
        warn!(error = %e, "answer map not written; userspace answers are current");
    }
    if let Some(monitor) = monitor {
        reloadable.monitor.store(monitor.clone());
        if let Some(bridge) = bridge {
            bridge.start(&monitor, new.remote_sites());
        }
    }
    let message = format!("{}: {} services, {} sites", path.display(), new.service.len(), new.site.len());
    reloadable.config.store(Arc::new(new));
    Ok(message)
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

/// The first section that differs in a way only a restart can apply.
pub fn restart_needed(old: &Config, new: &Config) -> Option<RestartNeeded> {
    // Debug output compares every field without asking each config type for PartialEq.
    let same = |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| format!("{a:?}") == format!("{b:?}");
    let sections: [(&'static str, bool); 6] = [
        ("[server]", same(&old.server, &new.server)),
        ("[xdp]", same(&old.xdp, &new.xdp)),
        ("[[zone]]", same(&old.zone, &new.zone)),
        ("[[view]]", same(&old.view, &new.view)),
        ("[peers]", same(&old.peers, &new.peers)),
        ("[sync]", same(&old.sync, &new.sync)),
    ];
    if let Some((section, _)) = sections.iter().find(|(_, same)| !same) {
        return Some(RestartNeeded::Section(section));
    }
    if service_names(old) != service_names(new) {
        return Some(RestartNeeded::Services);
    }
    None
}

/// Whether the health monitor must be rebuilt (probes or sites changed).
pub fn health_changed(old: &Config, new: &Config) -> bool {
    format!("{:?}{:?}", old.probe, old.site) != format!("{:?}{:?}", new.probe, new.site)
}

fn service_names(config: &Config) -> std::collections::BTreeSet<String> {
    config.service.iter().map(|s| s.name.trim_end_matches('.').to_ascii_lowercase()).collect()
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
    fn services_and_sites_change_live_but_zones_and_names_need_a_restart() {
        let old = Config::parse(&base(), "old").unwrap();
        let ttl = Config::parse(&base().replace("ttl = 30", "ttl = 7"), "new").unwrap();
        assert_eq!(restart_needed(&old, &ttl), None);
        let address = Config::parse(&base().replace("192.0.2.1", "192.0.2.2"), "new").unwrap();
        assert_eq!(restart_needed(&old, &address), None);
        assert!(health_changed(&old, &address));
        let zone = Config::parse(&base().replace("hostmaster", "admin"), "new").unwrap();
        assert_eq!(restart_needed(&old, &zone), Some(RestartNeeded::Section("[[zone]]")));
        let renamed = Config::parse(&base().replace("www.example", "web.example"), "new").unwrap();
        let message = restart_needed(&old, &renamed).unwrap().to_string();
        assert_eq!(message, "services were added or removed: restart the daemon to apply it");
    }
}
