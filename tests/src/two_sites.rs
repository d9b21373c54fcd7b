//! The two-site daemon config that the failover test, the client test and the benches share:
//! sites a and b, each with one probed web server, answering `www.example.com` in that order.

use crate::{netns::unique, topology::Pair};

pub struct TwoSites<'a> {
    pub pair: &'a Pair,
    /// The address each site contributes to the answer.
    pub site_a: &'a str,
    pub site_b: &'a str,
    /// Health check URLs of the two web servers.
    pub health_a: String,
    pub health_b: String,
    /// Site a's database check page, looked for the keyword "db-a".
    pub database_a: Option<String>,
    /// Probe every 50 ms (tests); otherwise the shipped defaults are used (benches).
    pub fast_probes: bool,
}

impl TwoSites<'_> {
    pub fn toml(&self) -> String {
        let probe =
            if self.fast_probes { "[probe]\ninterval_ms = 50\ntimeout_ms = 100\nrise = 1\nfall = 2\n" } else { "" };
        let database = match &self.database_a {
            Some(url) => format!("[site.database]\nurl = \"{url}\"\nname = \"db-a\"\n"),
            None => String::new(),
        };
        format!(
            r#"
[server]
instance = "{instance}"
listen = ["0.0.0.0", "::"]

[xdp]
interfaces = ["{iface}"]
mode = "native"

[[zone]]
name = "example.com."
ns = ["ns1.example.com."]
soa = {{ mname = "ns1.example.com.", rname = "hostmaster.example.com." }}

{probe}
[[site]]
name = "a"
a = ["{a}"]
[[site.server]]
name = "web-a1"
check = "http"
url = "{health_a}"
{database}
[[site]]
name = "b"
a = ["{b}"]
[[site.server]]
name = "web-b1"
check = "http"
url = "{health_b}"

[[service]]
name = "www.example.com."
ttl = 5
sites = ["a", "b"]
"#,
            instance = unique("ts"),
            iface = self.pair.server_if,
            a = self.site_a,
            b = self.site_b,
            health_a = self.health_a,
            health_b = self.health_b,
        )
    }
}
