//! Config text for tests, benches and the lab: the sections most configs share, written once.
//! Each call appends one table (or a line to the table before it), in the order given.
//!
//! ```
//! use switchyard::config::{Config, fixture::ConfigText};
//!
//! let text = ConfigText::new()
//!     .zone()
//!     .site("a", &["198.18.1.10"], &[])
//!     .service("www.example.com.", 30, &["a"])
//!     .build();
//! assert!(Config::parse(&text, "example.toml").is_ok());
//! ```

use std::fmt::Write;

/// TOML text of a daemon config, built a table at a time.
#[derive(Clone, Debug, Default)]
pub struct ConfigText(String);

impl ConfigText {
    pub fn new() -> ConfigText {
        ConfigText::default()
    }

    /// `[server]` with this instance name and further `key = value` lines.
    pub fn server(self, instance: &str, lines: &[&str]) -> ConfigText {
        self.table("[server]", &[&format!("instance = {instance:?}")]).lines(lines)
    }

    /// `[xdp]` on one interface.
    pub fn xdp(self, interface: &str, mode: &str) -> ConfigText {
        self.table("[xdp]", &[&format!("interfaces = [{interface:?}]"), &format!("mode = {mode:?}")])
    }

    /// `[xdp] mode = "off"`: userspace only.
    pub fn xdp_off(self) -> ConfigText {
        self.table("[xdp]", &["mode = \"off\""])
    }

    /// The zone every example serves: example.com. with ns1.example.com. as its name server.
    pub fn zone(self) -> ConfigText {
        self.zone_with(&["ns1.example.com."], "")
    }

    /// example.com. with these name servers; `soa` adds fields to its SOA, e.g. `serial = 7`.
    pub fn zone_with(self, ns: &[&str], soa: &str) -> ConfigText {
        let soa = if soa.is_empty() { String::new() } else { format!(", {soa}") };
        self.table(
            "[[zone]]",
            &[
                "name = \"example.com.\"",
                &format!("ns = {}", list(ns)),
                &format!("soa = {{ mname = \"ns1.example.com.\", rname = \"hostmaster.example.com.\"{soa} }}"),
            ],
        )
    }

    /// A `[[view]]`: clients in these prefixes get its answers.
    pub fn view(self, name: &str, prefixes: &[&str]) -> ConfigText {
        self.table("[[view]]", &[&format!("name = {name:?}"), &format!("prefixes = {}", list(prefixes))])
    }

    /// `[probe]`: every check every 50 ms, up after one success, down after two failures.
    pub fn fast_probes(self) -> ConfigText {
        self.table("[probe]", &["interval_ms = 50", "timeout_ms = 100", "rise = 1", "fall = 2"])
    }

    /// A `[[site]]` with the addresses it puts in answers; checks follow with `http_server`,
    /// `tcp_server` and `database`. Without any it is static: always available.
    pub fn site(self, name: &str, a: &[&str], aaaa: &[&str]) -> ConfigText {
        let mut lines = vec![format!("name = {name:?}"), format!("a = {}", list(a))];
        if !aaaa.is_empty() {
            lines.push(format!("aaaa = {}", list(aaaa)));
        }
        self.table("[[site]]", &lines.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// A `[[site]]` whose state its own DNS server reports in heartbeats.
    pub fn remote_site(self, name: &str, a: &[&str]) -> ConfigText {
        self.table("[[site]]", &[&format!("name = {name:?}"), "remote = true", &format!("a = {}", list(a))])
    }

    /// A web server of the site before, checked with HTTP GET.
    pub fn http_server(self, name: &str, url: &str) -> ConfigText {
        self.table("[[site.server]]", &[&format!("name = {name:?}"), "check = \"http\"", &format!("url = {url:?}")])
    }

    /// A web server of the site before, checked with a TCP connect.
    pub fn tcp_server(self, name: &str, address: &str) -> ConfigText {
        let address = format!("address = {address:?}");
        self.table("[[site.server]]", &[&format!("name = {name:?}"), "check = \"tcp\"", &address])
    }

    /// The database page of the site before; it must contain `name`.
    pub fn database(self, url: &str, name: &str) -> ConfigText {
        self.table("[site.database]", &[&format!("url = {url:?}"), &format!("name = {name:?}")])
    }

    /// The database of the site before, as its HAProxy's check of the database page sees it:
    /// `backend` on the stats page of `[site.haproxy]` (see `haproxy`).
    pub fn database_from_haproxy(self, backend: &str, name: &str) -> ConfigText {
        self.table("[site.database]", &[&format!("name = {name:?}"), &format!("haproxy_backend = {backend:?}")])
    }

    /// `[site.haproxy]` of the site before: the CSV stats page and the web servers' backend.
    pub fn haproxy(self, stats_url: &str, backend: &str) -> ConfigText {
        self.table("[site.haproxy]", &[&format!("url = {stats_url:?}"), &format!("backend = {backend:?}")])
    }

    /// `[peers]`: heartbeats from `listen`, signed with one key file; timings follow as lines.
    pub fn peers(self, listen: &str, key_file: &str) -> ConfigText {
        self.table("[peers]", &[&format!("listen = {listen:?}"), &format!("key_files = [{key_file:?}]")])
    }

    /// One `[[peers.peer]]`: another site's DNS server.
    pub fn peer(self, site: &str, node: &str, address: &str) -> ConfigText {
        self.table(
            "[[peers.peer]]",
            &[&format!("site = {site:?}"), &format!("node = {node:?}"), &format!("address = {address:?}")],
        )
    }

    /// A `[[service]]` answered from these sites, best first.
    pub fn service(self, name: &str, ttl: u32, sites: &[&str]) -> ConfigText {
        self.table(
            "[[service]]",
            &[&format!("name = {name:?}"), &format!("ttl = {ttl}"), &format!("sites = {}", list(sites))],
        )
    }

    /// A `[[service]]` with fixed addresses and the default TTL.
    pub fn fixed_service(self, name: &str, a: &[&str], aaaa: &[&str]) -> ConfigText {
        let mut lines = vec![format!("name = {name:?}")];
        if !a.is_empty() {
            lines.push(format!("a = {}", list(a)));
        }
        if !aaaa.is_empty() {
            lines.push(format!("aaaa = {}", list(aaaa)));
        }
        self.table("[[service]]", &lines.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// Any other table, e.g. `[site.haproxy]`.
    pub fn table(mut self, header: &str, lines: &[&str]) -> ConfigText {
        let _ = writeln!(self.0, "\n{header}");
        self.lines(lines)
    }

    /// More `key = value` lines for the table before.
    pub fn lines(mut self, lines: &[&str]) -> ConfigText {
        for line in lines {
            let _ = writeln!(self.0, "{line}");
        }
        self
    }

    /// One more line for the table before.
    pub fn line(self, line: &str) -> ConfigText {
        self.lines(&[line])
    }

    pub fn build(self) -> String {
        self.0
    }
}

/// `["a", "b"]`
fn list(items: &[&str]) -> String {
    format!("{items:?}")
}

impl ConfigText {
    /// `[zone.dnssec]` for the zone before: signed with this algorithm and key file.
    pub fn dnssec(self, algorithm: &str, key_file: &str) -> ConfigText {
        self.table("[zone.dnssec]", &[&format!("algorithm = {algorithm:?}"), &format!("key_file = {key_file:?}")])
    }

    /// `[zone.dnssec]` with several keys, as during a rollover.
    pub fn dnssec_keys(self, algorithm: &str, key_files: &[&str]) -> ConfigText {
        let keys = format!("key_files = {}", list(key_files));
        self.table("[zone.dnssec]", &[&format!("algorithm = {algorithm:?}"), &keys])
    }
}

/// A documentation address (RFC 5737) this host does not have, for tests of the host checks.
pub fn address_not_on_this_host() -> std::net::IpAddr {
    let host = crate::local_addresses::of_this_host().expect("this host's addresses");
    ["192.0.2.201", "198.51.100.201", "203.0.113.201"]
        .into_iter()
        .map(|a| a.parse().expect("an address"))
        .find(|a| !host.contains(a))
        .expect("a documentation address this host does not have")
}
