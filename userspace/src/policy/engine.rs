//! The `Policy`: turns site states into decisions.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::policy::config::{PolicyConfig, PolicyConfigError, WhenAllDown};
use crate::policy::decisions::{Decision, DecisionKey, Decisions, Family, FirstGroup, diff};
use crate::policy::ordering::{Criteria, OrderState, SiteIndex};
use crate::site::{SiteAddresses, SiteState};

/// Decides, per service and view, which sites answer and in which order.
#[derive(Clone, Debug)]
pub struct Policy {
    site_names: Vec<String>,
    /// The same names, shared by every decision that answers with the site.
    shared_names: Vec<Arc<str>>,
    addresses: Vec<SiteAddresses>,
    services: Vec<ServiceRules>,
}

#[derive(Clone, Debug)]
struct ServiceRules {
    name: Arc<str>,
    ttl: u32,
    when_all_down: WhenAllDown,
    criteria: Option<Criteria>,
    /// Weight of each site (by index) for coming first; empty without `first_weights`.
    first_weights: Vec<u32>,
    views: Vec<ViewSlot>,
}

/// One (service, view) pair and the little state it carries between evaluations.
#[derive(Clone, Debug)]
struct ViewSlot {
    view: Option<Arc<str>>,
    preference: Vec<SiteIndex>,
    order: Option<OrderState>,
    last_answered: Option<Vec<SiteIndex>>,
}

impl Policy {
    /// Validates `config` against the known sites and builds the policy.
    pub fn new(config: &PolicyConfig, sites: &BTreeMap<String, SiteAddresses>) -> Result<Policy, PolicyConfigError> {
        config.validate(sites.keys().map(String::as_str))?;
        let site_names: Vec<String> = sites.keys().cloned().collect();
        let addresses: Vec<SiteAddresses> = sites.values().cloned().collect();
        let index_of = |name: &str| -> SiteIndex {
            let index = site_names.binary_search_by(|n| n.as_str().cmp(name)).expect("validated site name");
            SiteIndex::try_from(index).expect("site count fits u16")
        };
        let services = config
            .services
            .iter()
            .map(|service| {
                let criteria = Criteria::new(service.by_load, service.by_rtt, service.reorder_hold);
                let slot = |view: Option<&str>, names: &[String]| {
                    let preference: Vec<SiteIndex> = names.iter().map(|n| index_of(n)).collect();
                    ViewSlot {
                        view: view.map(Arc::from),
                        order: criteria.map(|_| OrderState::new(&preference)),
                        preference,
                        last_answered: None,
                    }
                };
                let mut views = vec![slot(None, &service.sites)];
                views.extend(service.views.iter().map(|(view, names)| slot(Some(view), names)));
                let mut first_weights = Vec::new();
                if !service.first_weights.is_empty() {
                    first_weights = vec![0; site_names.len()];
                    for (site, weight) in &service.first_weights {
                        first_weights[usize::from(index_of(site))] = *weight;
                    }
                }
                ServiceRules {
                    name: Arc::from(service.name.as_str()),
                    ttl: service.ttl,
                    when_all_down: service.when_all_down,
                    criteria,
                    first_weights,
                    views,
                }
            })
            .collect();
        let shared_names = site_names.iter().map(|name| Arc::from(name.as_str())).collect();
        Ok(Policy { site_names, shared_names, addresses, services })
    }

    /// Computes every answer for the given site states and advances the
    /// hysteresis and `keep_last` state. Sites missing from `sites` count as
    /// unavailable.
    pub fn evaluate(&mut self, sites: &BTreeMap<String, SiteState>) -> Decisions {
        let states: Vec<Option<SiteState>> = self.site_names.iter().map(|n| sites.get(n).copied()).collect();
        let slot_count: usize = self.services.iter().map(|s| s.views.len()).sum();
        let mut entries = Vec::with_capacity(slot_count * 2);
        for service in &mut self.services {
            for slot in &mut service.views {
                let chosen = slot.decide(&states, service.criteria.as_ref(), service.when_all_down);
                let (v4, v6) = collect_addresses(&self.addresses, &chosen);
                let key = |family| DecisionKey { service: service.name.clone(), family, view: slot.view.clone() };
                let answered = Answered { chosen: &chosen, addresses: &self.addresses, names: &self.shared_names };
                let weights = &service.first_weights;
                let a = Decision {
                    ttl: service.ttl,
                    addrs: v4,
                    sites: answered.sites(|s| s.a.len()),
                    first: answered.first_groups(weights, |s| s.a.len()),
                };
                let aaaa = Decision {
                    ttl: service.ttl,
                    addrs: v6,
                    sites: answered.sites(|s| s.aaaa.len()),
                    first: answered.first_groups(weights, |s| s.aaaa.len()),
                };
                entries.push((key(Family::A), a));
                entries.push((key(Family::Aaaa), aaaa));
            }
        }
        entries.into_iter().collect()
    }

    /// What `evaluate` would answer, without advancing any state.
    pub fn preview(&self, sites: &BTreeMap<String, SiteState>) -> Decisions {
        self.clone().evaluate(sites)
    }

    /// Keys whose answer would change if `site` failed now (state untouched).
    pub fn affected_by_failure(&self, sites: &BTreeMap<String, SiteState>, site: &str) -> Vec<DecisionKey> {
        let before = self.preview(sites);
        let mut failed = sites.clone();
        failed.insert(site.to_string(), SiteState::UNAVAILABLE);
        let after = self.preview(&failed);
        diff(&before, &after).into_iter().map(|change| change.key).collect()
    }

    /// Site names the policy knows, sorted.
    pub fn site_names(&self) -> &[String] {
        &self.site_names
    }
}

impl ViewSlot {
    /// Sites to answer with, in order.
    fn decide(
        &mut self,
        states: &[Option<SiteState>],
        criteria: Option<&Criteria>,
        when_all_down: WhenAllDown,
    ) -> Vec<SiteIndex> {
        let order: &[SiteIndex] = match (&mut self.order, criteria) {
            (Some(order), Some(criteria)) => order.step(states, criteria),
            _ => &self.preference,
        };
        let chosen: Vec<SiteIndex> =
            order.iter().copied().filter(|&site| states[usize::from(site)].is_some_and(|s| s.available)).collect();
        if !chosen.is_empty() {
            if when_all_down == WhenAllDown::KeepLast && self.last_answered.as_ref() != Some(&chosen) {
                self.last_answered = Some(chosen.clone());
            }
            return chosen;
        }
        match when_all_down {
            WhenAllDown::AnswerAll => self.preference.clone(),
            WhenAllDown::AnswerNone => Vec::new(),
            WhenAllDown::KeepLast => self.last_answered.clone().unwrap_or_else(|| self.preference.clone()),
        }
    }
}

fn collect_addresses(
    addresses: &[SiteAddresses],
    sites: &[SiteIndex],
) -> (Vec<std::net::IpAddr>, Vec<std::net::IpAddr>) {
    let site_addrs = || sites.iter().map(|&site| &addresses[usize::from(site)]);
    let v4 = site_addrs().flat_map(SiteAddresses::v4).collect();
    let v6 = site_addrs().flat_map(SiteAddresses::v6).collect();
    (v4, v6)
}

/// The sites one decision answers with, in order, and what the decision says about them.
struct Answered<'a> {
    chosen: &'a [SiteIndex],
    addresses: &'a [SiteAddresses],
    names: &'a [Arc<str>],
}

/// Addresses of one family at a site.
type FamilyCount = fn(&SiteAddresses) -> usize;

impl Answered<'_> {
    /// The sites with addresses of the family `count` counts, in answer order.
    fn sites(&self, count: FamilyCount) -> Vec<Arc<str>> {
        let with_addresses = self.chosen.iter().filter(|&&site| count(&self.addresses[usize::from(site)]) > 0);
        with_addresses.map(|&site| self.names[usize::from(site)].clone()).collect()
    }

    /// Each answered site's address group (as laid out by `collect_addresses`) with its
    /// weight, for the sites with a weight above 0 and addresses of the family `count` counts.
    fn first_groups(&self, weights: &[u32], count: FamilyCount) -> Vec<FirstGroup> {
        if weights.is_empty() {
            return Vec::new();
        }
        let mut groups = Vec::new();
        let mut start = 0;
        for &site in self.chosen {
            let len = count(&self.addresses[usize::from(site)]);
            let weight = weights[usize::from(site)];
            if weight > 0 && len > 0 {
                groups.push(FirstGroup { start, len, weight });
            }
            start += len;
        }
        groups
    }
}
