//! What changed and when, for the status page's timeline: each site's condition (up, down,
//! drained) and each answer (service, family, view), over the last hours.
//!
//! Events older than the window are dropped, except the newest one of each subject: it says
//! what the subject was when the window starts, so a site that never changed still has a bar.

use std::{
    collections::{BTreeMap, VecDeque},
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde::Serialize;

use crate::policy::{Decision, DecisionKey};

/// How far back the timeline reaches.
pub const WINDOW: Duration = Duration::from_secs(6 * 3600);
/// Events kept within the window at most: a flapping site cannot take memory without bound.
const MAX_EVENTS: usize = 10_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SiteCondition {
    Up,
    Down,
    Drained,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Site {
        site: String,
        condition: SiteCondition,
    },
    /// An answer as served from now on; no sites when the service is no longer answered.
    Answer {
        service: Arc<str>,
        family: &'static str,
        view: String,
        sites: Vec<Arc<str>>,
        addresses: Vec<IpAddr>,
    },
}

impl Change {
    pub fn answer(key: &DecisionKey, decision: Option<&Decision>) -> Change {
        Change::Answer {
            service: key.service.clone(),
            family: key.family.record_type(),
            view: key.view.as_deref().unwrap_or("default").to_string(),
            sites: decision.map(|d| d.sites.clone()).unwrap_or_default(),
            addresses: decision.map(|d| d.addrs.clone()).unwrap_or_default(),
        }
    }

    /// The row of the timeline the change belongs to: "site a", "www.example.com. A default".
    pub fn subject(&self) -> String {
        match self {
            Change::Site { site, .. } => format!("site {site}"),
            Change::Answer { service, family, view, .. } => format!("{service} {family} {view}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// Wall-clock milliseconds since the Unix epoch.
    pub at_ms: u64,
    #[serde(flatten)]
    pub change: Change,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimelineSnapshot {
    /// The window's start: events before it only say what held then.
    pub since_ms: u64,
    pub until_ms: u64,
    /// Oldest first.
    pub events: Vec<Event>,
}

#[derive(Default)]
pub struct Timeline {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    events: VecDeque<Event>,
    /// Per subject, the newest event that left the window.
    before_window: BTreeMap<String, Event>,
    /// Each site's condition as last recorded.
    sites: BTreeMap<String, SiteCondition>,
}

impl Timeline {
    pub fn record(&self, at_ms: u64, change: Change) {
        self.inner.lock().expect("timeline lock").push(at_ms, change);
    }

    /// Records the site's condition when it differs from the last one recorded.
    pub fn note_site(&self, at_ms: u64, site: &str, condition: SiteCondition) {
        let mut inner = self.inner.lock().expect("timeline lock");
        if inner.sites.insert(site.to_string(), condition) != Some(condition) {
            inner.push(at_ms, Change::Site { site: site.to_string(), condition });
        }
    }

    pub fn snapshot(&self, now_ms: u64) -> TimelineSnapshot {
        let mut inner = self.inner.lock().expect("timeline lock");
        let since_ms = now_ms.saturating_sub(WINDOW.as_millis() as u64);
        inner.prune(since_ms);
        let mut events: Vec<Event> = inner.before_window.values().cloned().collect();
        events.sort_by_key(|e| e.at_ms);
        events.extend(inner.events.iter().cloned());
        TimelineSnapshot { since_ms, until_ms: now_ms, events }
    }
}

impl Inner {
    fn push(&mut self, at_ms: u64, change: Change) {
        self.events.push_back(Event { at_ms, change });
        self.prune(at_ms.saturating_sub(WINDOW.as_millis() as u64));
    }

    fn prune(&mut self, since_ms: u64) {
        while let Some(oldest) = self.events.front()
            && (oldest.at_ms < since_ms || self.events.len() > MAX_EVENTS)
        {
            let event = self.events.pop_front().expect("front exists");
            self.before_window.insert(event.change.subject(), event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(name: &str, condition: SiteCondition) -> Change {
        Change::Site { site: name.into(), condition }
    }

    #[test]
    fn events_leaving_the_window_keep_what_held_when_it_starts() {
        let timeline = Timeline::default();
        let hour = 3_600_000;
        timeline.record(0, site("a", SiteCondition::Up));
        timeline.record(1, site("b", SiteCondition::Up));
        timeline.record(hour / 2, site("a", SiteCondition::Down));
        timeline.record(3 * hour, site("a", SiteCondition::Up));
        let now = 7 * hour;
        let snapshot = timeline.snapshot(now);
        assert_eq!(snapshot.since_ms, hour);
        let seen: Vec<(u64, String)> = snapshot.events.iter().map(|e| (e.at_ms, e.change.subject())).collect();
        // Before the window, a's change at 0.5 h supersedes its first event; b's only event stays.
        assert_eq!(seen, [(1, "site b".into()), (hour / 2, "site a".into()), (3 * hour, "site a".into())]);
    }

    #[test]
    fn a_site_is_noted_only_when_its_condition_changes() {
        let timeline = Timeline::default();
        timeline.note_site(10, "a", SiteCondition::Up);
        timeline.note_site(20, "a", SiteCondition::Up);
        timeline.note_site(30, "a", SiteCondition::Drained);
        timeline.note_site(40, "a", SiteCondition::Drained);
        let at: Vec<u64> = timeline.snapshot(50).events.iter().map(|e| e.at_ms).collect();
        assert_eq!(at, [10, 30]);
    }

    #[test]
    fn a_flapping_site_is_bounded() {
        let timeline = Timeline::default();
        for i in 0..(MAX_EVENTS as u64 + 500) {
            let condition = if i % 2 == 0 { SiteCondition::Up } else { SiteCondition::Down };
            timeline.record(1_000_000 + i, site("a", condition));
        }
        let snapshot = timeline.snapshot(2_000_000);
        assert_eq!(snapshot.events.len(), MAX_EVENTS + 1, "the window's cap plus what held before it");
        assert_eq!(snapshot.events.last().unwrap().at_ms, 1_000_000 + MAX_EVENTS as u64 + 499);
    }
}
