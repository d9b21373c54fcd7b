//! Client locality: which view a client's address falls in, the same way the XDP program's
//! LPM trie decides it.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::config::Config;

/// Client-locality views: each `[[view]]` has an id from 1 (0 is the default view), which
/// both paths key answers by.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Views {
    /// View name and id.
    pub ids: Vec<(String, u32)>,
    pub prefixes: Vec<(IpNet, u32)>,
}

impl Views {
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
            views.prefixes.extend(view.prefixes.iter().map(|p| (p.trunc(), id)));
        }
        views
    }

    pub fn id_of(&self, name: &str) -> Option<u32> {
        self.ids.iter().find(|(n, _)| n == name).map(|(_, id)| *id)
    }

    /// Longest matching prefix: (view, prefix length). The same answer as the kernel's LPM trie.
    pub fn lookup(&self, addr: IpAddr) -> Option<(u32, u8)> {
        let addr = canonical(addr);
        self.prefixes
            .iter()
            .filter(|(net, _)| net.contains(&addr))
            .max_by_key(|(net, _)| net.prefix_len())
            .map(|(net, id)| (*id, net.prefix_len()))
    }

    /// The shortest prefix length around `addr` in which every address gets the view `addr`
    /// gets: at least the matched prefix's length, and long enough to leave out every other
    /// view prefix nearby (RFC 7871 7.2.1: a resolver reuses the answer for the whole scope).
    pub fn scope(&self, addr: IpAddr) -> u8 {
        let addr = canonical(addr);
        let matched = self.lookup(addr).map_or(0, |(_, len)| len);
        self.prefixes
            .iter()
            .filter(|(net, _)| !net.contains(&addr))
            .filter_map(|(net, _)| common_prefix_len(addr, net.network()))
            // A prefix that does not hold `addr` shares fewer bits with it than its length.
            .map(|shared| shared + 1)
            .fold(matched, u8::max)
    }

    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }
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
        Views { ids: Vec::new(), prefixes: prefixes.iter().map(|(p, id)| (p.parse().unwrap(), *id)).collect() }
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
}
