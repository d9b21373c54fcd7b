//! Live state of one site: its checks, and the site state they add up to.

use crate::health::config::{CheckKind, ProbeSettings, SiteConfig};
use crate::health::database::DatabaseRuntime;
use crate::health::haproxy::ServerView;
use crate::health::outcome::ProbeOutcome;
use crate::health::status::{CheckStatus, SiteStatus};
use crate::health::tracker::{CheckTracker, Transition};
use crate::site::SiteState;

/// Load changes smaller than this (per-mille) are not published.
const LOAD_STEP: u32 = 25;
/// RTT changes are published only beyond max(1 ms, 10 %), so subscribers
/// are woken by real changes, not by jitter of every probe.
const RTT_MIN_STEP_US: u32 = 1_000;
const RTT_STEP_PERCENT: u32 = 10;

/// What a check looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CheckRole {
    /// A web server, checked as configured.
    Server(CheckKind),
    /// The site's database page, fetched here.
    Database,
    /// The site's database as its HAProxy's check of the page sees it.
    DatabaseHaproxy,
    /// The fetch of the site's HAProxy stats page.
    HaproxyStats,
}

impl CheckRole {
    /// The check's kind in the status and the metrics.
    pub fn name(self) -> &'static str {
        match self {
            CheckRole::Server(kind) => kind.name(),
            CheckRole::Database => "database",
            CheckRole::DatabaseHaproxy => "database_haproxy",
            CheckRole::HaproxyStats => "haproxy_stats",
        }
    }
}

pub(crate) struct CheckRuntime {
    pub name: String,
    pub kind: CheckRole,
    pub target: String,
    pub settings: ProbeSettings,
    pub tracker: CheckTracker,
    /// What HAProxy's stats said about the servers behind this check at the last fetch.
    pub haproxy_servers: Vec<ServerView>,
    /// The load an external check reported with its last result (`load=N`).
    pub reported_load: Option<u32>,
    /// Up while the probe fails (`invert = true`).
    pub inverted: bool,
}

impl CheckRuntime {
    pub fn new(name: &str, kind: CheckRole, target: String, settings: ProbeSettings) -> Self {
        CheckRuntime {
            name: name.to_string(),
            kind,
            target,
            settings,
            tracker: CheckTracker::new(settings.rise, settings.fall),
            haproxy_servers: Vec::new(),
            reported_load: None,
            inverted: false,
        }
    }

    /// `site/kind/name`: what identifies the check across restarts and reloads.
    pub fn key(&self, site: &str) -> String {
        format!("{site}/{}/{}", self.kind.name(), self.name)
    }

    /// Feeds one probe result, flipped for an inverted check.
    pub fn record(&mut self, outcome: ProbeOutcome) -> Option<Transition> {
        if !self.inverted {
            return self.tracker.record(outcome);
        }
        let flipped = match outcome {
            ProbeOutcome::Ok { .. } => ProbeOutcome::failed("the check passed, and it is inverted"),
            ProbeOutcome::Failed { .. } => ProbeOutcome::Ok { latency: std::time::Duration::ZERO },
        };
        self.tracker.record(flipped)
    }

    pub fn last_cause(&self) -> String {
        self.tracker.last().map_or_else(|| "not checked yet".to_string(), ProbeOutcome::describe)
    }

    pub fn status(&self) -> CheckStatus {
        let tracker = &self.tracker;
        CheckStatus {
            name: self.name.clone(),
            kind: self.kind.name().to_string(),
            target: self.target.clone(),
            settings: self.settings,
            up: tracker.up(),
            last_result: tracker.last().map(ProbeOutcome::describe),
            last_latency_us: match tracker.last() {
                Some(ProbeOutcome::Ok { latency }) => Some(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX)),
                _ => None,
            },
            rtt_ewma_us: tracker.rtt_ewma_us(),
            consecutive_ok: tracker.consecutive_ok(),
            consecutive_failed: tracker.consecutive_failed(),
            probes: tracker.probes(),
            transitions: tracker.transitions(),
            haproxy_servers: self.haproxy_servers.clone(),
            reported_load: self.reported_load,
            inverted: self.inverted,
        }
    }
}

pub(crate) struct SiteRuntime {
    pub name: String,
    pub remote: bool,
    pub static_load: Option<u32>,
    pub servers: Vec<CheckRuntime>,
    pub database: Option<DatabaseRuntime>,
    pub haproxy: Option<CheckRuntime>,
    pub haproxy_load: Option<u32>,
    pub published: SiteState,
    /// Web servers that must be up (`min_servers_up`).
    pub servers_needed: usize,
}

impl SiteRuntime {
    /// No checks yet. A static site is available from the start; any other is unavailable until
    /// its checks (or its peer) say otherwise.
    pub fn new(site: &SiteConfig) -> SiteRuntime {
        SiteRuntime {
            name: site.name.clone(),
            remote: site.remote,
            static_load: site.load,
            servers: Vec::new(),
            database: None,
            haproxy: None,
            haproxy_load: None,
            servers_needed: site.servers_needed(),
            published: if site.is_static() {
                SiteState { available: true, load: site.load.unwrap_or(0), rtt_us: 0 }
            } else {
                SiteState::UNAVAILABLE
            },
        }
    }

    /// Every check of the site: its web servers, its database's sources, its HAProxy backend.
    pub fn checks(&self) -> impl Iterator<Item = &CheckRuntime> {
        let database = self.database.iter().flat_map(|d| d.page.iter().chain(&d.haproxy));
        self.servers.iter().chain(database).chain(&self.haproxy)
    }

    fn checks_mut(&mut self) -> impl Iterator<Item = &mut CheckRuntime> {
        let database = self.database.iter_mut().flat_map(|d| d.page.iter_mut().chain(&mut d.haproxy));
        self.servers.iter_mut().chain(database).chain(&mut self.haproxy)
    }

    /// Takes the saved verdict of each check, and the saved state of a remote site.
    pub fn restore(&mut self, restored: &crate::health::monitor::Restored) {
        let name = self.name.clone();
        let mut any = false;
        for check in self.checks_mut() {
            if let Some(up) = restored.checks.get(&check.key(&name)) {
                check.tracker.restore(*up);
                any = true;
            }
        }
        if let Some(saved) = restored.sites.get(&name) {
            if self.remote {
                self.published = *saved;
            } else if any {
                self.published = SiteState { available: self.computed().available, ..*saved };
            }
        }
    }

    /// Available while `min_servers_up` web servers (default one) are up and the
    /// database check (if any) passes. RTT is the best smoothed latency among the
    /// servers that are up (inverted checks have none): the path to the site, not
    /// to its slowest machine. Load is the
    /// configured value, else HAProxy's backend `scur/slim`, else the mean of
    /// the loads the external checks of up servers reported, else 0.
    pub fn computed(&self) -> SiteState {
        let up_servers = || self.servers.iter().filter(|s| s.tracker.is_up());
        let enough_up = up_servers().count() >= self.servers_needed;
        let database_ok = self.database.as_ref().is_none_or(DatabaseRuntime::is_up);
        let (sum, count) =
            up_servers().filter_map(|s| s.reported_load).fold((0u64, 0u64), |(s, n), l| (s + u64::from(l), n + 1));
        let reported_load = (count > 0).then(|| (sum / count) as u32);
        SiteState {
            available: enough_up && database_ok,
            load: self.static_load.or(self.haproxy_load).or(reported_load).unwrap_or(0),
            rtt_us: up_servers().filter(|s| !s.inverted).filter_map(|s| s.tracker.rtt_ewma_us()).min().unwrap_or(0),
        }
    }

    /// Whether `next` differs enough from what subscribers last saw.
    pub fn worth_publishing(&self, next: &SiteState) -> bool {
        let old = &self.published;
        let rtt_step = RTT_MIN_STEP_US.max(old.rtt_us / 100 * RTT_STEP_PERCENT);
        old.available != next.available
            || old.load.abs_diff(next.load) >= LOAD_STEP
            || old.rtt_us.abs_diff(next.rtt_us) > rtt_step
    }

    /// Why the site is (un)available, for the log line of a change.
    pub fn availability_cause(&self) -> String {
        let up: Vec<&str> = self.servers.iter().filter(|s| s.tracker.is_up()).map(|s| s.name.as_str()).collect();
        if up.is_empty() {
            let causes: Vec<String> = self.servers.iter().map(|s| format!("{}: {}", s.name, s.last_cause())).collect();
            return format!("no web server up ({})", causes.join("; "));
        }
        if up.len() < self.servers_needed {
            let down: Vec<String> = self
                .servers
                .iter()
                .filter(|s| !s.tracker.is_up())
                .map(|s| format!("{}: {}", s.name, s.last_cause()))
                .collect();
            let (count, needed) = (up.len(), self.servers_needed);
            return format!("{count} of {} web servers up, {needed} needed ({})", self.servers.len(), down.join("; "));
        }
        match &self.database {
            Some(db) if !db.is_up() => db.describe_state(),
            Some(db) => format!("web servers up: {}; {}", up.join(", "), db.describe_state()),
            None => format!("web servers up: {}", up.join(", ")),
        }
    }

    pub fn status(&self) -> SiteStatus {
        SiteStatus {
            name: self.name.clone(),
            remote: self.remote,
            state: self.published,
            servers: self.servers.iter().map(CheckRuntime::status).collect(),
            servers_needed: self.servers_needed,
            database: self.database.as_ref().and_then(|db| db.page.as_ref()).map(CheckRuntime::status),
            database_haproxy: self.database.as_ref().and_then(|db| db.haproxy.as_ref()).map(CheckRuntime::status),
            database_state: self.database.as_ref().map(DatabaseRuntime::status),
            haproxy: self.haproxy.as_ref().map(CheckRuntime::status),
        }
    }
}
