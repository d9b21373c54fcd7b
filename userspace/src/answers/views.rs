//! Client locality: which view a client's address falls in, the same way the XDP program's
//! LPM trie decides it.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::config::Config;

/// Client-locality views: view ids are 1.. in config order; 0 is the default view.
#[derive(Clone, Debug, Default)]
pub struct Views {
    pub names: Vec<String>,
    pub prefixes: Vec<(IpNet, u32)>,
}

impl Views {
    pub fn from_config(config: &Config) -> Views {
        let mut views = Views::default();
        for (i, view) in config.view.iter().enumerate() {
            let id = i as u32 + 1;
            views.names.push(view.name.clone());
            views.prefixes.extend(view.prefixes.iter().map(|p| (p.trunc(), id)));
        }
        views
    }

    pub fn id_of(&self, name: &str) -> Option<u32> {
        self.names.iter().position(|n| n == name).map(|i| i as u32 + 1)
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
pub(crate) fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
        v4 => v4,
    }
}
