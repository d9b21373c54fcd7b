//! One site's DNS server in the heartbeat tests and bench: www is served from its own site and
//! the other sites, which are `remote = true` and known only from their DNS servers'
//! heartbeats (period 100 ms, N = 3).

use std::path::Path;

use switchyard::config::fixture::ConfigText;

use crate::netns::unique;

pub const PERIOD_MS: u64 = 100;
pub const LIVE_PERIODS: u64 = 3;
pub const A: &str = "198.18.10.1";
pub const B: &str = "198.18.20.1";
pub const C: &str = "198.18.30.1";

/// The answer address of each site.
pub fn site_addr(site: &str) -> &'static str {
    match site {
        "a" => A,
        "b" => B,
        "c" => C,
        _ => unreachable!("sites are a, b and c"),
    }
}

/// The config of site `own`'s DNS server. `peers` are the other sites' DNS servers (site, heartbeat
/// address); those sites are `remote = true`. www is served from `own` and the peers' sites.
pub fn config(own: &str, peers: &[(&str, String)], key: &Path, xdp_iface: Option<&str>) -> String {
    let mut sites: Vec<&str> = peers.iter().map(|(site, _)| *site).chain([own]).collect();
    sites.sort();
    let (node, key) = (format!("dns-{own}1"), key.display().to_string());
    let mut toml = ConfigText::new()
        .server(&unique("pe"), &[r#"listen = ["0.0.0.0"]"#, &format!("site = {own:?}"), &format!("node = {node:?}")]);
    toml = match xdp_iface {
        Some(iface) => toml.xdp(iface, "native"),
        None => toml.xdp_off(),
    };
    toml = toml
        .zone()
        .service("www.example.com.", 5, &sites)
        .site(own, &[site_addr(own)], &[])
        .peers("0.0.0.0:5300", &key)
        .lines(&[&format!("period_ms = {PERIOD_MS}"), &format!("live_periods = {LIVE_PERIODS}")]);
    for (site, address) in peers {
        toml = toml.peer(site, &format!("dns-{site}1"), &format!("{address}:5300"));
    }
    for (site, _) in peers {
        toml = toml.remote_site(site, &[site_addr(site)]);
    }
    toml.build()
}
