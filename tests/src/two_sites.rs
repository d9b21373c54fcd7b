//! The two-site daemon config that the failover test, the client test and the benches share:
//! sites a and b, each with one probed web server, answering `www.example.com` in that order.

use switchyard::config::fixture::ConfigText;

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
        let mut toml = ConfigText::new()
            .server(&unique("ts"), &[r#"listen = ["0.0.0.0", "::"]"#])
            .xdp(&self.pair.server_if, "native")
            .zone();
        if self.fast_probes {
            toml = toml.fast_probes();
        }
        toml = toml.site("a", &[self.site_a], &[]).http_server("web-a1", &self.health_a);
        if let Some(url) = &self.database_a {
            toml = toml.database(url, "db-a");
        }
        toml.site("b", &[self.site_b], &[])
            .http_server("web-b1", &self.health_b)
            .service("www.example.com.", 5, &["a", "b"])
            .build()
    }
}
