//! The ordered answer table: the one in-memory source of truth for A/AAAA answers, read by the
//! userspace server and mirrored into the XDP answer map.

use std::{collections::HashMap, net::IpAddr};

use hickory_proto::{rr::Name, serialize::binary::BinEncodable};
use switchyard_common::{
    CLIENT_PREFIX_V4, CLIENT_PREFIX_V6, DEFAULT_VIEW, FirstChoice, MAX_ADDRS, QTYPE_A, QTYPE_AAAA, STORED_ORDER,
    client_bucket_v4, client_bucket_v6,
};

use super::Views;
use crate::{config::Config, policy};

/// Lowercase, uncompressed wire form of a name: the key both paths match on.
pub fn wire_name(name: &Name) -> Vec<u8> {
    let mut name = name.to_lowercase();
    name.set_fqdn(true);
    name.to_bytes().expect("a parsed name always encodes")
}

/// An address as the XDP map and the rendered answers hold it: its bytes at the front of 16, and how many there are.
pub fn address_slot(addr: &IpAddr) -> ([u8; 16], usize) {
    match addr {
        IpAddr::V4(v4) => {
            let mut slot = [0u8; 16];
            slot[..4].copy_from_slice(&v4.octets());
            (slot, 4)
        }
        IpAddr::V6(v6) => (v6.octets(), 16),
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AnswerKey {
    pub view: u32,
    pub qtype: u16,
    pub name: Vec<u8>,
}

/// Addresses in the order clients should try them, and their TTL. With a weighted first
/// answer, `first` says which group of them each client subnet gets first (see `ordered_for`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnswerSet {
    pub ttl: u32,
    pub addrs: Vec<IpAddr>,
    pub first: FirstChoice,
}

impl AnswerSet {
    /// The addresses in the order `client` (its address or ECS subnet) gets them: the group its
    /// subnet hashes to first, then the others in stored order, as the XDP program writes them.
    pub fn ordered_for(&self, client: IpAddr) -> impl Iterator<Item = &IpAddr> {
        let order = self.order_for(client);
        // Orders cover the first MAX_ADDRS positions (all XDP answers); any further ones stay.
        (0..self.addrs.len()).map(move |i| &self.addrs[order.get(i).map_or(i, |&index| index as usize)])
    }

    /// Whether the order depends on the client's subnet.
    pub fn is_weighted(&self) -> bool {
        self.first.groups > 0
    }

    fn order_for(&self, client: IpAddr) -> [u8; MAX_ADDRS] {
        if !self.is_weighted() {
            return STORED_ORDER;
        }
        let bucket = match super::views::canonical(client) {
            IpAddr::V4(v4) => client_bucket_v4(v4.octets()),
            IpAddr::V6(v6) => client_bucket_v6(v6.octets()),
        };
        self.first.order_for(bucket, self.addrs.len())
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct AnswerTable {
    pub entries: HashMap<AnswerKey, AnswerSet>,
}

impl AnswerTable {
    /// Static answers straight from the address lists of services that are not site-based.
    pub fn from_config(config: &Config) -> AnswerTable {
        let mut table = AnswerTable::default();
        for service in config.service.iter().filter(|s| !s.is_site_based()) {
            let name = wire_name(&crate::config::parse_name(&service.name).expect("validated"));
            let a: Vec<IpAddr> = service.a.iter().map(|a| IpAddr::V4(*a)).collect();
            let aaaa: Vec<IpAddr> = service.aaaa.iter().map(|a| IpAddr::V6(*a)).collect();
            table.insert(DEFAULT_VIEW, &name, service.ttl, a, aaaa);
        }
        table
    }

    /// The policy's decisions keyed the way both paths look them up: view name to view id (the
    /// default view is 0), family to QTYPE. An empty list gets no entry (the server says NODATA).
    pub fn from_policy(decisions: &policy::Decisions, views: &Views) -> AnswerTable {
        let mut table = AnswerTable::default();
        for (key, decision) in decisions.iter() {
            if decision.addrs.is_empty() {
                continue;
            }
            let view = match &key.view {
                None => DEFAULT_VIEW,
                Some(name) => views.id_of(name).expect("validated: service views name [[view]] tables"),
            };
            let qtype = key.family.code();
            let name = wire_name(&crate::config::parse_name(&key.service).expect("validated"));
            let set = AnswerSet { ttl: decision.ttl, addrs: decision.addrs.clone(), first: first_choice(decision) };
            table.entries.insert(AnswerKey { view, qtype, name }, set);
        }
        table
    }

    /// Most entries `config`'s services can take in the answer map: per name, each family it
    /// has addresses for, in the default view and in each view of its own.
    pub fn capacity_needed(config: &Config, views: &Views) -> usize {
        let sites = config.site_addresses();
        config
            .service
            .iter()
            .map(|service| {
                let (v4, v6) = if service.is_site_based() {
                    let of = |name: &String| sites.get(name);
                    (
                        service.sites.iter().filter_map(of).any(|s| !s.a.is_empty()),
                        service.sites.iter().filter_map(of).any(|s| !s.aaaa.is_empty()),
                    )
                } else {
                    (!service.a.is_empty(), !service.aaaa.is_empty())
                };
                let own_views = service.views.keys().filter(|v| views.id_of(v).is_some()).count();
                (usize::from(v4) + usize::from(v6)) * (1 + own_views)
            })
            .sum()
    }

    /// Adds every entry of `other`, replacing entries with the same key.
    pub fn extend(&mut self, other: AnswerTable) {
        self.entries.extend(other.entries);
    }

    fn insert(&mut self, view: u32, name: &[u8], ttl: u32, a: Vec<IpAddr>, aaaa: Vec<IpAddr>) {
        for (qtype, addrs) in [(QTYPE_A, a), (QTYPE_AAAA, aaaa)] {
            if !addrs.is_empty() {
                let set = AnswerSet { ttl, addrs, first: FirstChoice::NONE };
                self.entries.insert(AnswerKey { view, qtype, name: name.to_vec() }, set);
            }
        }
    }

    /// The view's own answer, else the default view's: the same rule as the XDP program.
    pub fn lookup(&self, view: u32, qtype: u16, name: &[u8]) -> Option<&AnswerSet> {
        let mut key = AnswerKey { view, qtype, name: name.to_vec() };
        if let Some(set) = self.entries.get(&key) {
            return Some(set);
        }
        key.view = DEFAULT_VIEW;
        self.entries.get(&key)
    }

    /// The client prefix length a weighted first answer for this name depends on (/24 or /56,
    /// what the choice hashes), 0 when no view's answer is weighted.
    pub fn weighted_prefix(&self, name: &[u8], views: &Views, client: IpAddr) -> u8 {
        let weighted = self.sets_named(name, views).any(|(_, set)| set.is_weighted());
        match (weighted, super::views::canonical(client)) {
            (false, _) => 0,
            (true, IpAddr::V4(_)) => (CLIENT_PREFIX_V4 * 8) as u8,
            (true, IpAddr::V6(_)) => (CLIENT_PREFIX_V6 * 8) as u8,
        }
    }

    /// Whether any view has its own answers for this name (then the answer depends on locality).
    pub fn has_view_specific(&self, name: &[u8], views: &Views) -> bool {
        self.sets_named(name, views).any(|(view, _)| view != DEFAULT_VIEW)
    }

    /// The answer sets this name has, per view (the default one first) and type: a few direct
    /// lookups with one key, no scan of the table.
    fn sets_named<'a>(&'a self, name: &[u8], views: &'a Views) -> impl Iterator<Item = (u32, &'a AnswerSet)> + 'a {
        let mut key = AnswerKey { view: DEFAULT_VIEW, qtype: QTYPE_A, name: name.to_vec() };
        std::iter::once(DEFAULT_VIEW)
            .chain(views.ids.iter().map(|(_, id)| *id))
            .flat_map(|view| [QTYPE_A, QTYPE_AAAA].map(move |qtype| (view, qtype)))
            .filter_map(move |(view, qtype)| {
                (key.view, key.qtype) = (view, qtype);
                self.entries.get(&key).map(|set| (view, set))
            })
    }
}

/// The decision's weighted groups in the layout both paths choose from; the stored order for
/// every client when it has none (or groups beyond what an index byte holds).
fn first_choice(decision: &policy::Decision) -> FirstChoice {
    let groups: Option<Vec<(u8, u8, u32)>> = decision
        .first
        .iter()
        .map(|g| Some((u8::try_from(g.start).ok()?, u8::try_from(g.len).ok()?, g.weight)))
        .collect();
    groups.and_then(|groups| FirstChoice::new(&groups)).unwrap_or(FirstChoice::NONE)
}
