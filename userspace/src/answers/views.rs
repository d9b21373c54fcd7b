//! Client locality: which view a client's address falls in, the same way the XDP program's
//! LPM trie decides it.

use std::{collections::BTreeMap, net::IpAddr};

use ipnet::IpNet;
use switchyard_common::VIEW_PREFIXES;

use super::view_index::FamilyIndex;
use crate::config::Config;

/// Client-locality views: each `[[view]]` has an id from 1 (0 is the default view), which
/// both paths key answers by.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Views {
    /// View name and id.
    pub ids: Vec<(String, u32)>,
    /// Each prefix once, with its view.
    prefixes: Vec<(IpNet, u32)>,
    v4: FamilyIndex,
    v6: FamilyIndex,
}

impl Views {
    /// Views with these names and ids holding these prefixes (one view per prefix).
    pub fn new(ids: Vec<(String, u32)>, prefixes: Vec<(IpNet, u32)>) -> Views {
        let v4 = FamilyIndex::new(
            32,
            prefixes.iter().filter_map(|(net, id)| match net {
                IpNet::V4(n) => Some((u128::from(u32::from(n.network())), n.prefix_len(), *id)),
                IpNet::V6(_) => None,
            }),
        );
        let v6 = FamilyIndex::new(
            128,
            prefixes.iter().filter_map(|(net, id)| match net {
                IpNet::V6(n) => Some((u128::from(n.network()), n.prefix_len(), *id)),
                IpNet::V4(_) => None,
            }),
        );
        Views { ids, prefixes, v4, v6 }
    }

    /// Every prefix with its view.
    pub fn prefixes(&self) -> &[(IpNet, u32)] {
        &self.prefixes
    }

    /// Ids 1.. in config order.
    pub fn from_config(config: &Config) -> Views {
        Views::from_config_keeping(config, &Views::default())
    }

    /// Like `from_config`, where a view `previous` has keeps its id (a reload that adds or
    /// removes one view leaves the others' answers where they are); a new one takes the
    /// lowest free id.
    pub fn from_config_keeping(config: &Config, previous: &Views) -> Views {
        let kept: Vec<u32> = config.view.iter().filter_map(|v| previous.id_of(&v.name)).collect();
        let mut next = 1;
        let mut views = Views::default();
        for view in &config.view {
            let id = previous.id_of(&view.name).unwrap_or_else(|| {
                while kept.contains(&next) || views.ids.iter().any(|(_, id)| *id == next) {
                    next += 1;
                }
                next
            });
            views.ids.push((view.name.clone(), id));
        }
        // A prefix in several views goes to the first that lists it, else to the first whose
        // countries or continents hold it.
        let mut prefixes = BTreeMap::new();
        let listed = config.view.iter().zip(&views.ids).flat_map(|(v, (_, id))| v.prefixes.iter().map(|p| (p, *id)));
        let located =
            config.view.iter().zip(&views.ids).flat_map(|(v, (_, id))| v.geo_prefixes.iter().map(|p| (p, *id)));
        for (prefix, id) in listed.chain(located) {
            prefixes.entry(prefix.trunc()).or_insert(id);
        }
        merge_neighbours(&mut prefixes);
        Views::new(views.ids, prefixes.into_iter().collect())
    }

    /// How many prefixes view `id` holds.
    pub fn prefix_count(&self, id: u32) -> usize {
        self.prefixes.iter().filter(|(_, v)| *v == id).count()
    }

    /// One line per view: "view eu: 1234 prefixes", for `check` and the log.
    pub fn describe(&self) -> Vec<String> {
        self.ids.iter().map(|(name, id)| format!("view {name}: {} prefixes", self.prefix_count(*id))).collect()
    }

    /// Whether every prefix fits the XDP view tries; else which views hold how many.
    pub fn check_fits(&self) -> Result<(), String> {
        let families = [("IPv4", true), ("IPv6", false)];
        for (family, v4) in families {
            let count = self.prefixes.iter().filter(|(net, _)| matches!(net, IpNet::V4(_)) == v4).count();
            if count > VIEW_PREFIXES as usize {
                let per_view: Vec<String> = self
                    .ids
                    .iter()
                    .map(|(name, id)| {
                        let n = self.prefixes.iter().filter(|(net, v)| v == id && matches!(net, IpNet::V4(_)) == v4);
                        format!("{name}: {}", n.count())
                    })
                    .collect();
                return Err(format!(
                    "the views hold {count} {family} prefixes ({}), more than the {VIEW_PREFIXES} the XDP view table holds",
                    per_view.join(", ")
                ));
            }
        }
        Ok(())
    }

    pub fn id_of(&self, name: &str) -> Option<u32> {
        self.ids.iter().find(|(n, _)| n == name).map(|(_, id)| *id)
    }

    /// Longest matching prefix: (view, prefix length). The same answer as the kernel's LPM trie.
    pub fn lookup(&self, addr: IpAddr) -> Option<(u32, u8)> {
        match canonical(addr) {
            IpAddr::V4(v4) => self.v4.lookup(u128::from(u32::from(v4))),
            IpAddr::V6(v6) => self.v6.lookup(u128::from(v6)),
        }
    }

    /// The shortest prefix length around `addr` in which every address gets the view `addr`
    /// gets: at least the matched prefix's length, and long enough to leave out every other
    /// view prefix nearby (RFC 7871 7.2.1: a resolver reuses the answer for the whole scope).
    pub fn scope(&self, addr: IpAddr) -> u8 {
        let matched = self.lookup(addr).map_or(0, |(_, len)| len);
        let leave_out = match canonical(addr) {
            IpAddr::V4(v4) => self.v4.leave_out(u128::from(u32::from(v4))),
            IpAddr::V6(v6) => self.v6.leave_out(u128::from(v6)),
        };
        matched.max(leave_out)
    }

    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }
}

/// Two neighbouring prefixes of one view become their common prefix, where that answers every
/// address as before: when no other view has that prefix itself. A longer prefix of another
/// view inside still wins, as before; a shorter one lost to both before and loses to the union.
fn merge_neighbours(prefixes: &mut BTreeMap<IpNet, u32>) {
    for len in (1..=128u8).rev() {
        let at_len: Vec<(IpNet, u32)> =
            prefixes.iter().filter(|(net, _)| net.prefix_len() == len).map(|(n, id)| (*n, *id)).collect();
        for (net, id) in at_len {
            let Some(parent) = net.supernet() else { continue };
            let Some(sibling) = parent.subnets(len).ok().and_then(|mut s| s.find(|s| *s != net)) else { continue };
            let parent_free = prefixes.get(&parent).is_none_or(|other| *other == id);
            if prefixes.get(&net) == Some(&id) && prefixes.get(&sibling) == Some(&id) && parent_free {
                prefixes.remove(&net);
                prefixes.remove(&sibling);
                prefixes.insert(parent, id);
            }
        }
    }
}

/// IPv4-mapped IPv6 addresses count as IPv4 clients.
pub(crate) fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn views(prefixes: &[(&str, u32)]) -> Views {
        Views::new(Vec::new(), prefixes.iter().map(|(p, id)| (p.parse().unwrap(), *id)).collect())
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_scope_leaves_out_a_view_inside_the_clients_subnet() {
        let v = views(&[("198.18.10.96/28", 1)]);
        // 198.18.10.0/26 is .0-.63: the view's .96-.111 lies outside it.
        assert_eq!(v.scope(ip("198.18.10.0")), 26);
        assert_eq!(v.scope(ip("198.18.0.0")), 21);
        let v6 = views(&[("fd00:10::60/124", 1)]);
        assert_eq!(v6.scope(ip("fd00:10::")), 122);
    }

    #[test]
    fn the_scope_inside_a_view_is_at_least_its_prefix_and_leaves_out_nested_views() {
        let v = views(&[("198.18.0.0/16", 1), ("198.18.10.0/24", 2)]);
        assert_eq!(v.scope(ip("198.18.10.7")), 24);
        assert_eq!(v.scope(ip("198.18.200.1")), 17, "198.18.128.0/17 holds no view but the /16");
        assert_eq!(v.scope(ip("198.18.0.1")), 21, "198.18.0.0/21 stops short of 198.18.10.0/24");
    }

    #[test]
    fn every_address_in_the_scope_gets_the_same_view() {
        let v = views(&[("198.18.0.0/15", 1), ("198.18.10.96/28", 2), ("198.19.4.0/22", 3), ("10.0.0.0/8", 4)]);
        for client in ["198.18.10.0", "198.18.10.100", "198.19.0.0", "198.19.5.9", "192.0.2.1", "10.1.2.3"] {
            let client = ip(client);
            let scope = v.scope(client);
            let net = IpNet::new(client, scope).unwrap().trunc();
            let view = v.lookup(client).map(|(id, _)| id);
            for host in net.hosts().take(4096) {
                assert_eq!(v.lookup(host).map(|(id, _)| id), view, "{host} in {net} (scope of {client})");
            }
        }
    }

    fn config_views(views: &[(&str, &[&str], &[&str])]) -> Views {
        let mut config = crate::config::Config::parse(
            "[[zone]]\nname = \"example.com.\"\nns = [\"ns1.example.com.\"]\nsoa = { mname = \"ns1.example.com.\", rname = \"h.example.com.\" }\n",
            "test",
        )
        .unwrap();
        for (name, listed, located) in views {
            config.view.push(crate::config::ViewConfig {
                name: name.to_string(),
                prefixes: listed.iter().map(|p| p.parse().unwrap()).collect(),
                countries: Vec::new(),
                continents: Vec::new(),
                geo_prefixes: located.iter().map(|p| p.parse().unwrap()).collect(),
            });
        }
        Views::from_config(&config)
    }

    #[test]
    fn neighbours_of_one_view_merge_without_changing_any_answer() {
        let located = ["198.18.0.0/26", "198.18.0.64/26", "198.18.0.128/25", "198.18.1.0/24", "198.18.2.0/24"];
        let v = config_views(&[("inner", &["198.18.0.64/27"], &[]), ("geo", &[], &located)]);
        let geo: Vec<IpNet> = v.prefixes.iter().filter(|(_, id)| *id == 2).map(|(n, _)| *n).collect();
        let expected: Vec<IpNet> = ["198.18.0.0/23", "198.18.2.0/24"].iter().map(|p| p.parse().unwrap()).collect();
        assert_eq!(geo, expected);
        assert_eq!((v.prefix_count(1), v.prefix_count(2)), (1, 2));
        for host in 0..=255u8 {
            let addr = ip(&format!("198.18.0.{host}"));
            let want = if (64..96).contains(&host) { 1 } else { 2 };
            assert_eq!(v.lookup(addr).map(|(id, _)| id), Some(want), "{addr}");
        }
        assert_eq!(v.describe(), ["view inner: 1 prefixes", "view geo: 2 prefixes"]);
    }

    #[test]
    fn a_prefix_in_two_views_goes_to_the_first_that_lists_it_else_the_first_that_locates_it() {
        let v = config_views(&[
            ("de", &[], &["198.18.0.0/24", "198.18.1.0/25"]),
            ("eu", &[], &["198.18.0.0/24", "198.18.5.0/24"]),
            ("listed", &["198.18.1.0/25"], &[]),
        ]);
        assert_eq!(v.lookup(ip("198.18.0.1")), Some((1, 24)));
        assert_eq!(v.lookup(ip("198.18.5.1")), Some((2, 24)));
        assert_eq!(v.lookup(ip("198.18.1.1")), Some((3, 25)));
        assert_eq!(v.prefixes.len(), 3, "one entry per prefix: {:?}", v.prefixes);
    }

    #[test]
    fn more_prefixes_than_the_view_table_holds_are_refused_with_counts_per_view() {
        let spread: Vec<String> =
            (0..=VIEW_PREFIXES).map(|i| format!("10.{}.{}.0/24", i / 128, (i % 128) * 2)).collect();
        let spread: Vec<&str> = spread.iter().map(String::as_str).collect();
        let v = config_views(&[("small", &["fd00::/16"], &[]), ("big", &[], &spread)]);
        let error = v.check_fits().unwrap_err();
        assert_eq!(
            error,
            format!(
                "the views hold 16385 IPv4 prefixes (small: 0, big: 16385), more than the {VIEW_PREFIXES} the XDP view table holds"
            )
        );
        assert!(config_views(&[("big", &[], &spread[1..])]).check_fits().is_ok());
    }

    /// How many leading bits two addresses of one family share; `None` across families.
    fn common_prefix_len(a: IpAddr, b: IpAddr) -> Option<u8> {
        let differing = match (a, b) {
            (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) ^ u32::from(b)).leading_zeros(),
            (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a) ^ u128::from(b)).leading_zeros(),
            _ => return None,
        };
        Some(differing as u8)
    }

    /// Every prefix looked at in turn: what the index must agree with.
    fn reference(prefixes: &[(IpNet, u32)], addr: IpAddr) -> (Option<(u32, u8)>, u8) {
        let lookup = prefixes
            .iter()
            .filter(|(net, _)| net.contains(&addr))
            .max_by_key(|(net, _)| net.prefix_len())
            .map(|(net, id)| (*id, net.prefix_len()));
        let scope = prefixes
            .iter()
            .filter(|(net, _)| !net.contains(&addr))
            .filter_map(|(net, _)| common_prefix_len(addr, net.network()))
            .map(|shared| shared + 1)
            .fold(lookup.map_or(0, |(_, len)| len), u8::max);
        (lookup, scope)
    }

    proptest::proptest! {
        #[test]
        fn the_index_answers_as_a_pass_over_every_prefix(
            nets in proptest::collection::vec((0u32..1 << 12, 8u8..=32, 1u32..4), 0..60),
            nets6 in proptest::collection::vec((0u16..1 << 10, 4u8..=128, 1u32..4), 0..30),
            clients in proptest::collection::vec((0u32..1 << 12, 0u16..1 << 10, proptest::num::u32::ANY), 1..40),
        ) {
            // Addresses share their leading bits (198.18/15, fd00::/8) so prefixes nest and neighbour.
            let v4 = |top: u32, rest: u32| IpAddr::V4((0xc612_0000 | (top << 4) | (rest & 0xf)).into());
            let v6 = |top: u16, rest: u32| {
                IpAddr::V6(std::net::Ipv6Addr::from((0xfd00u128 << 112) | (u128::from(top) << 100) | u128::from(rest)))
            };
            let mut prefixes: BTreeMap<IpNet, u32> = BTreeMap::new();
            for (top, len, id) in nets {
                prefixes.entry(IpNet::new(v4(top, 0), len).unwrap().trunc()).or_insert(id);
            }
            for (top, len, id) in nets6 {
                prefixes.entry(IpNet::new(v6(top, 0), len).unwrap().trunc()).or_insert(id);
            }
            let prefixes: Vec<(IpNet, u32)> = prefixes.into_iter().collect();
            let views = Views::new(Vec::new(), prefixes.clone());
            for (top, top6, rest) in clients {
                for addr in [v4(top, rest), v6(top6, rest)] {
                    let (lookup, scope) = reference(&prefixes, addr);
                    proptest::prop_assert_eq!(views.lookup(addr), lookup, "{}", addr);
                    proptest::prop_assert_eq!(views.scope(addr), scope, "{}", addr);
                }
            }
        }
    }
}
