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

    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }
}

/// IPv4-mapped IPv6 addresses count as IPv4 clients.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
        v4 => v4,
    }
}
