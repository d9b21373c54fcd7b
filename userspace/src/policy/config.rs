//! Service policy configuration as read from the `[[service]]` tables.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// All services. Deserialises from a document holding `[[service]]` tables.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    #[serde(default, rename = "service")]
    pub services: Vec<ServiceConfig>,
}

/// One DNS name served from several sites.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub name: String,
    /// TTL of the answers in seconds; short so that clients follow failover.
    #[serde(default = "default_ttl")]
    pub ttl: u32,
    /// Preferred site order for clients without a matching view.
    pub sites: Vec<String>,
    #[serde(default)]
    pub when_all_down: WhenAllDown,
    /// Move a site ahead when its load is clearly lower.
    #[serde(default)]
    pub by_load: Option<LoadOrdering>,
    /// Move a site ahead when its round-trip time is clearly lower.
    #[serde(default)]
    pub by_rtt: Option<RttOrdering>,
    /// Evaluations a new order must persist before it is used.
    #[serde(default = "default_reorder_hold")]
    pub reorder_hold: u32,
    /// Preferred site order per client view, e.g. `views = { eu = ["b", "a"] }`.
    #[serde(default)]
    pub views: BTreeMap<String, Vec<String>>,
    /// Weighted first answer: each client subnet gets one available site first, chosen by
    /// these weights, the others following in order, e.g. `first_weights = { a = 3, b = 1 }`.
    #[serde(default)]
    pub first_weights: BTreeMap<String, u32>,
}

/// What to answer when none of a service's sites is available.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenAllDown {
    /// Decision every site in preference order: better a guess than nothing.
    #[default]
    AnswerAll,
    /// Decision with no addresses.
    AnswerNone,
    /// Repeat the sites of the last answer that had an available site
    /// (all sites if there never was one).
    KeepLast,
}

/// Load ordering margins: a site overtakes only if its load is lower by more
/// than `margin_abs` per-mille AND by more than `margin_percent` of the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoadOrdering {
    #[serde(default = "default_margin_percent")]
    pub margin_percent: u32,
    #[serde(default = "default_load_margin_abs")]
    pub margin_abs: u32,
}

/// RTT ordering margins: a site overtakes only if its RTT is lower by more
/// than `margin_abs_us` AND by more than `margin_percent` of the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RttOrdering {
    #[serde(default = "default_margin_percent")]
    pub margin_percent: u32,
    #[serde(default = "default_rtt_margin_abs_us")]
    pub margin_abs_us: u32,
}

impl Default for LoadOrdering {
    fn default() -> Self {
        LoadOrdering { margin_percent: default_margin_percent(), margin_abs: default_load_margin_abs() }
    }
}

impl Default for RttOrdering {
    fn default() -> Self {
        RttOrdering { margin_percent: default_margin_percent(), margin_abs_us: default_rtt_margin_abs_us() }
    }
}

impl ServiceConfig {
    /// A service with defaults for everything but its name and sites.
    pub fn new(name: impl Into<String>, sites: &[&str]) -> Self {
        ServiceConfig {
            name: name.into(),
            ttl: default_ttl(),
            sites: sites.iter().map(|s| s.to_string()).collect(),
            when_all_down: WhenAllDown::default(),
            by_load: None,
            by_rtt: None,
            reorder_hold: default_reorder_hold(),
            views: BTreeMap::new(),
            first_weights: BTreeMap::new(),
        }
    }
}

fn default_ttl() -> u32 {
    20
}
fn default_reorder_hold() -> u32 {
    3
}
fn default_margin_percent() -> u32 {
    20
}
fn default_load_margin_abs() -> u32 {
    100
}
fn default_rtt_margin_abs_us() -> u32 {
    5_000
}

/// A configuration mistake, naming the offending field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct PolicyConfigError {
    pub field: String,
    pub reason: String,
}

fn invalid(field: String, reason: impl Into<String>) -> PolicyConfigError {
    PolicyConfigError { field, reason: reason.into() }
}

impl PolicyConfig {
    /// Checks every service against the set of configured site names.
    pub fn validate<'a>(&self, known_sites: impl IntoIterator<Item = &'a str>) -> Result<(), PolicyConfigError> {
        let known: BTreeSet<&str> = known_sites.into_iter().collect();
        let mut names = BTreeSet::new();
        for (index, service) in self.services.iter().enumerate() {
            let at = format!("service[{index}]");
            service.validate(&at, &known)?;
            if !names.insert(service.name.as_str()) {
                return Err(invalid(format!("{at}.name"), format!("duplicate service '{}'", service.name)));
            }
        }
        Ok(())
    }
}

impl ServiceConfig {
    fn validate(&self, at: &str, known: &BTreeSet<&str>) -> Result<(), PolicyConfigError> {
        if self.name.trim().is_empty() {
            return Err(invalid(format!("{at}.name"), "must not be empty"));
        }
        let at = format!("{at} ('{}')", self.name);
        if let Some(problem) = crate::config::ttl_problem(self.ttl) {
            return Err(invalid(format!("{at}.ttl"), problem));
        }
        if self.reorder_hold == 0 {
            return Err(invalid(format!("{at}.reorder_hold"), "must be at least 1"));
        }
        check_site_list(&format!("{at}.sites"), &self.sites, known)?;
        for (view, sites) in &self.views {
            if view.trim().is_empty() {
                return Err(invalid(format!("{at}.views"), "view names must not be empty"));
            }
            check_site_list(&format!("{at}.views.{view}"), sites, known)?;
        }
        self.validate_first_weights(&format!("{at}.first_weights"))
    }

    /// Weights of sites the service answers with; some above 0, at most `MAX_ADDRS` of them
    /// (what one XDP answer entry holds).
    fn validate_first_weights(&self, field: &str) -> Result<(), PolicyConfigError> {
        if self.first_weights.is_empty() {
            return Ok(());
        }
        let listed = |site: &String| self.sites.contains(site) || self.views.values().any(|v| v.contains(site));
        if let Some(site) = self.first_weights.keys().find(|site| !listed(site)) {
            return Err(invalid(format!("{field}.{site}"), "not among the service's sites"));
        }
        if let Some((site, weight)) = self.first_weights.iter().find(|(_, w)| **w > MAX_FIRST_WEIGHT) {
            return Err(invalid(format!("{field}.{site}"), format!("{weight} is over {MAX_FIRST_WEIGHT}")));
        }
        let weighted = self.first_weights.values().filter(|w| **w > 0).count();
        if weighted == 0 {
            return Err(invalid(field.to_string(), "every weight is 0: no site could come first"));
        }
        if weighted > switchyard_common::MAX_ADDRS {
            return Err(invalid(
                field.to_string(),
                format!("at most {} sites can have a weight above 0", switchyard_common::MAX_ADDRS),
            ));
        }
        Ok(())
    }
}

/// Largest weight of `first_weights`; only ratios matter.
const MAX_FIRST_WEIGHT: u32 = 1_000_000;

fn check_site_list(field: &str, sites: &[String], known: &BTreeSet<&str>) -> Result<(), PolicyConfigError> {
    if sites.is_empty() {
        return Err(invalid(field.to_string(), "needs at least one site"));
    }
    if sites.len() > usize::from(u16::MAX) {
        return Err(invalid(field.to_string(), "too many sites"));
    }
    let mut seen = BTreeSet::new();
    for site in sites {
        if !known.contains(site.as_str()) {
            return Err(invalid(field.to_string(), format!("unknown site '{site}'")));
        }
        if !seen.insert(site.as_str()) {
            return Err(invalid(field.to_string(), format!("site '{site}' listed twice")));
        }
    }
    Ok(())
}
