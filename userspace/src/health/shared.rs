//! The site runtimes the monitor and its probe tasks share: each probe result is recorded
//! here, and a site whose state moved is published.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use crate::health::config::CheckKind;
use crate::health::exec_probe::ExecResult;
use crate::health::haproxy::{BackendView, ServerView, StatsPage, check_passes, status_is_up};
use crate::health::outcome::ProbeOutcome;
use crate::health::site_runtime::{CheckRole, CheckRuntime, SiteRuntime};
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
        self.record_with_load(slot, outcome, None);
    }

    /// An external check's result, and the load it reported.
    pub fn record_exec(&self, slot: CheckSlot, result: ExecResult) {
        self.record_with_load(slot, result.outcome, Some(result.load));
    }

    /// One probe's result under one lock; `load` replaces a web server's reported load.
    fn record_with_load(&self, slot: CheckSlot, outcome: ProbeOutcome, load: Option<Option<u32>>) {
        let mut sites = self.lock();
        match slot {
            CheckSlot::Server { site, server } => {
                let runtime = &mut sites[site];
                let check = &mut runtime.servers[server];
                if let Some(load) = load {
                    check.reported_load = load;
                }
                record_logged(&runtime.name, "web server", check, outcome);
                self.refresh(runtime);
            }
            CheckSlot::Database { site } => {
                let runtime = &mut sites[site];
                let Some(check) = runtime.database.as_mut().and_then(|db| db.page.as_mut()) else {
                    return;
                };
                record_logged(&runtime.name, "database page", check, outcome);
                self.refresh(runtime);
            }
        }
    }

    /// Applies one HAProxy stats fetch to the fetch check, to every server of the site checked
    /// through HAProxy and to the database's HAProxy source.
    pub fn record_haproxy(&self, site: usize, fetched: Result<(StatsPage, Duration), String>) {
        let mut sites = self.lock();
        let runtime = &mut sites[site];
        let Some(fetch) = runtime.haproxy.as_mut() else {
            return;
        };
        // The fetch check passes when the page holds the web servers' backend.
        let web = fetched.as_ref().map_err(Clone::clone).and_then(|(page, latency)| {
            page.backend(&fetch.name).map(|view| (view, *latency)).map_err(|e| e.to_string())
        });
        let fetch_outcome = match &web {
            Ok((_, latency)) => ProbeOutcome::Ok { latency: *latency },
            Err(cause) => ProbeOutcome::failed(cause.clone()),
        };
        record_logged(&runtime.name, "haproxy stats", fetch, fetch_outcome);
        runtime.haproxy_load = web.as_ref().ok().and_then(|(view, _)| view.load);
        for check in runtime.servers.iter_mut().filter(|s| s.kind == CheckRole::Server(CheckKind::Haproxy)) {
            let (outcome, seen) = haproxy_server_outcome(&web, &check.target);
            check.haproxy_servers = seen;
            record_logged(&runtime.name, "web server", check, outcome);
        }
        if let Some(check) = runtime.database.as_mut().and_then(|db| db.haproxy.as_mut()) {
            let (outcome, seen) = database_backend_outcome(&fetched, &check.target);
            check.haproxy_servers = seen;
            record_logged(&runtime.name, "database (haproxy)", check, outcome);
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

/// Feeds one result to `check` (inverted if it is) and logs a change of its state.
fn record_logged(site: &str, what: &str, check: &mut CheckRuntime, outcome: ProbeOutcome) {
    let cause = outcome.describe();
    if let Some(change) = check.record(outcome) {
        log_change(site, what, &check.name, change, &cause);
    }
}

fn log_change(site: &str, what: &str, check: &str, change: Transition, cause: &str) {
    match change {
        Transition::Up => tracing::info!(site, check, cause, "{what} up"),
        Transition::Down => tracing::warn!(site, check, cause, "{what} down"),
    }
}

/// A web server checked through HAProxy: up while HAProxy sends it traffic.
fn haproxy_server_outcome(
    web: &Result<(&BackendView, Duration), String>,
    server: &str,
) -> (ProbeOutcome, Vec<ServerView>) {
    match web {
        Err(cause) => (ProbeOutcome::failed(format!("haproxy stats: {cause}")), Vec::new()),
        Ok((view, latency)) => match view.servers.get(server) {
            None => (ProbeOutcome::failed(format!("'{server}' not in haproxy backend")), Vec::new()),
            Some(seen) if status_is_up(&seen.status) => (ProbeOutcome::Ok { latency: *latency }, vec![seen.clone()]),
            Some(seen) => (ProbeOutcome::failed(format!("haproxy status {}", seen.status)), vec![seen.clone()]),
        },
    }
}

/// The database as HAProxy's check of its page sees it: available while a server of `backend`
/// passes that check.
fn database_backend_outcome(
    fetched: &Result<(StatsPage, Duration), String>,
    backend: &str,
) -> (ProbeOutcome, Vec<ServerView>) {
    let (page, latency) = match fetched {
        Ok(fetched) => fetched,
        Err(cause) => return (ProbeOutcome::failed(format!("haproxy stats: {cause}")), Vec::new()),
    };
    let view = match page.backend(backend) {
        Ok(view) => view,
        Err(e) => return (ProbeOutcome::failed(e.to_string()), Vec::new()),
    };
    let servers: Vec<ServerView> = view.servers.values().cloned().collect();
    if servers.iter().any(|server| check_passes(&server.status)) {
        return (ProbeOutcome::Ok { latency: *latency }, servers);
    }
    let seen: Vec<String> = servers.iter().map(ServerView::describe).collect();
    let cause = if seen.is_empty() { "no servers".to_string() } else { format!("no server UP ({})", seen.join("; ")) };
    (ProbeOutcome::failed(cause), servers)
}
