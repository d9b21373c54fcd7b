//! The site runtimes the monitor and its probe tasks share: each probe result is recorded
//! here, and a site whose state moved is published.

use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

use crate::health::config::CheckKind;
use crate::health::haproxy::{BackendView, status_is_up};
use crate::health::outcome::ProbeOutcome;
use crate::health::site_runtime::{CheckRole, SiteRuntime};
use crate::health::tracker::Transition;
use crate::site::SiteMap;

/// Where a probe result belongs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum CheckSlot {
    Server { site: usize, server: usize },
    Database { site: usize },
}

pub(crate) struct Shared {
    sites: Mutex<Vec<SiteRuntime>>,
    pub publisher: watch::Sender<SiteMap>,
}

impl Shared {
    pub fn new(sites: Vec<SiteRuntime>, publisher: watch::Sender<SiteMap>) -> Shared {
        Shared { sites: Mutex::new(sites), publisher }
    }

    pub fn lock(&self) -> MutexGuard<'_, Vec<SiteRuntime>> {
        // A panic elsewhere must not stop health checking.
        self.sites.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn record(&self, slot: CheckSlot, outcome: ProbeOutcome) {
        let mut sites = self.lock();
        match slot {
            CheckSlot::Server { site, server } => {
                let runtime = &mut sites[site];
                let check = &mut runtime.servers[server];
                let cause = outcome.describe();
                if let Some(change) = check.tracker.record(outcome) {
                    log_change(&runtime.name, "web server", &check.name, change, &cause);
                }
                self.refresh(runtime);
            }
            CheckSlot::Database { site } => {
                let runtime = &mut sites[site];
                let Some(check) = runtime.database.as_mut() else {
                    return;
                };
                let cause = outcome.describe();
                if let Some(change) = check.tracker.record(outcome) {
                    log_change(&runtime.name, "database", &check.name, change, &cause);
                }
                self.refresh(runtime);
            }
        }
    }

    /// Applies one HAProxy stats fetch to the fetch check and to every
    /// server of the site checked through HAProxy.
    pub fn record_haproxy(&self, site: usize, fetched: Result<(BackendView, std::time::Duration), String>) {
        let mut sites = self.lock();
        let runtime = &mut sites[site];
        let fetch_outcome = match &fetched {
            Ok((_, latency)) => ProbeOutcome::Ok { latency: *latency },
            Err(cause) => ProbeOutcome::failed(cause.clone()),
        };
        if let Some(check) = runtime.haproxy.as_mut() {
            let cause = fetch_outcome.describe();
            if let Some(change) = check.tracker.record(fetch_outcome) {
                log_change(&runtime.name, "haproxy stats", &check.name, change, &cause);
            }
        }
        runtime.haproxy_load = fetched.as_ref().ok().and_then(|(view, _)| view.load);
        for check in runtime.servers.iter_mut().filter(|s| s.kind == CheckRole::Server(CheckKind::Haproxy)) {
            let outcome = match &fetched {
                Err(cause) => ProbeOutcome::failed(format!("haproxy stats: {cause}")),
                Ok((view, latency)) => match view.servers.get(&check.target) {
                    None => ProbeOutcome::failed(format!("'{}' not in haproxy backend", check.target)),
                    Some(status) if status_is_up(status) => ProbeOutcome::Ok { latency: *latency },
                    Some(status) => ProbeOutcome::failed(format!("haproxy status {status}")),
                },
            };
            let cause = outcome.describe();
            if let Some(change) = check.tracker.record(outcome) {
                log_change(&runtime.name, "web server", &check.name, change, &cause);
            }
        }
        self.refresh(runtime);
    }

    /// Recomputes a probed site's state and publishes it if it moved enough.
    fn refresh(&self, runtime: &mut SiteRuntime) {
        let next = runtime.computed();
        if !runtime.worth_publishing(&next) {
            return;
        }
        if next.available != runtime.published.available {
            let cause = runtime.availability_cause();
            if next.available {
                tracing::info!(site = %runtime.name, cause = %cause, "site available");
            } else {
                tracing::warn!(site = %runtime.name, cause = %cause, "site unavailable");
            }
        }
        runtime.published = next;
        self.publish(runtime);
    }

    pub fn publish(&self, runtime: &SiteRuntime) {
        let (name, state) = (&runtime.name, runtime.published);
        self.publisher.send_if_modified(|map| match map.get_mut(name) {
            Some(current) if *current == state => false,
            Some(current) => {
                *current = state;
                true
            }
            None => {
                map.insert(name.clone(), state);
                true
            }
        });
    }
}

fn log_change(site: &str, what: &str, check: &str, change: Transition, cause: &str) {
    match change {
        Transition::Up => tracing::info!(site, check, cause, "{what} up"),
        Transition::Down => tracing::warn!(site, check, cause, "{what} down"),
    }
}
