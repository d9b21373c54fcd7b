//! The site's database check: its sources (the page fetched here, HAProxy's check of it read
//! from the stats) and the one state they make, with the sources that decided it.

use serde::{Deserialize, Serialize};

use crate::health::config::Combine;
use crate::health::site_runtime::CheckRuntime;

/// Where a database state came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatabaseSource {
    /// The database page, fetched by this daemon.
    Page,
    /// The site's HAProxy, checking the page itself; read from its stats.
    Haproxy,
}

impl DatabaseSource {
    pub fn name(self) -> &'static str {
        match self {
            DatabaseSource::Page => "page",
            DatabaseSource::Haproxy => "haproxy",
        }
    }
}

/// The database's state from its sources.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseStatus {
    pub name: String,
    pub up: bool,
    /// How two sources combine; `None` with one source.
    pub combine: Option<Combine>,
    /// The sources whose results decided `up` (both when both did).
    pub decided_by: Vec<DatabaseSource>,
    /// Why, e.g. "haproxy backend dbcheck: no server UP (web1 DOWN, L7RSP (…))".
    pub cause: String,
}

pub(crate) struct DatabaseRuntime {
    pub name: String,
    pub combine: Option<Combine>,
    pub page: Option<CheckRuntime>,
    /// HAProxy's check of the page; its target is the backend.
    pub haproxy: Option<CheckRuntime>,
}

impl DatabaseRuntime {
    fn sources(&self) -> impl Iterator<Item = (DatabaseSource, &CheckRuntime)> {
        let page = self.page.as_ref().map(|check| (DatabaseSource::Page, check));
        let haproxy = self.haproxy.as_ref().map(|check| (DatabaseSource::Haproxy, check));
        page.into_iter().chain(haproxy)
    }

    pub fn is_up(&self) -> bool {
        let mut states = self.sources().map(|(_, check)| check.tracker.is_up());
        match self.combine {
            Some(Combine::Any) => states.any(|up| up),
            // One source, or all of them.
            _ => states.all(|up| up),
        }
    }

    /// The sources that decided the state: those whose own state is the database's. With
    /// `all` a failing source decides alone, with `any` a passing one.
    pub fn deciding(&self) -> Vec<(DatabaseSource, &CheckRuntime)> {
        let up = self.is_up();
        self.sources().filter(|(_, check)| check.tracker.is_up() == up).collect()
    }

    /// "page: keyword 'db-a' missing; haproxy backend dbcheck: ok".
    fn cause(&self) -> String {
        let parts: Vec<String> = self.deciding().iter().map(|(source, check)| describe(*source, check)).collect();
        parts.join("; ")
    }

    pub fn status(&self) -> DatabaseStatus {
        DatabaseStatus {
            name: self.name.clone(),
            up: self.is_up(),
            combine: self.combine,
            decided_by: self.deciding().iter().map(|(source, _)| *source).collect(),
            cause: self.cause(),
        }
    }

    /// For the site's log line: "database db-b down, decided by haproxy backend dbcheck: …".
    pub fn describe_state(&self) -> String {
        let state = if self.is_up() { "ok" } else { "down" };
        let combine = self.combine.map(|c| format!(" (combine = {})", c.name())).unwrap_or_default();
        format!("database {} {state}{combine}, decided by {}", self.name, self.cause())
    }
}

fn describe(source: DatabaseSource, check: &CheckRuntime) -> String {
    let last = check.last_cause();
    match source {
        DatabaseSource::Page => format!("page {}: {last}", check.target),
        DatabaseSource::Haproxy => format!("haproxy backend {}: {last}", check.target),
    }
}
