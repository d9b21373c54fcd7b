//! `[rrl]`: response rate limiting per client prefix, on the XDP path and in the UDP server.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use switchyard_common::RrlConfig;

/// Most exempt prefixes per address family (the size of the program's exempt tries).
pub const MAX_EXEMPT_PER_FAMILY: usize = 1024;
const MAX_RATE: u32 = 1_000_000;
const MAX_SLIP: u32 = 100;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RrlSection {
    /// Off by default: nothing is limited.
    #[serde(default)]
    pub enabled: bool,
    /// Responses per second each client prefix gets once its burst is spent.
    #[serde(default = "default_rate")]
    pub responses_per_second: u32,
    /// Responses a prefix may get at once after a quiet spell; unset means one second's worth.
    #[serde(default)]
    pub burst: Option<u32>,
    /// Every `slip`th limited response is sent as an empty truncated reply (TC=1), the others
    /// are dropped; 0 drops every one, 1 truncates every one.
    #[serde(default = "default_slip")]
    pub slip: u32,
    /// Client prefix lengths that share one bucket.
    #[serde(default = "default_ipv4_prefix")]
    pub ipv4_prefix: u8,
    #[serde(default = "default_ipv6_prefix")]
    pub ipv6_prefix: u8,
    /// Clients never limited (monitoring, resolvers one trusts).
    #[serde(default)]
    pub exempt: Vec<IpNet>,
}

fn default_rate() -> u32 {
    20
}
fn default_slip() -> u32 {
    2
}
fn default_ipv4_prefix() -> u8 {
    24
}
fn default_ipv6_prefix() -> u8 {
    56
}

impl Default for RrlSection {
    fn default() -> Self {
        RrlSection {
            enabled: false,
            responses_per_second: default_rate(),
            burst: None,
            slip: default_slip(),
            ipv4_prefix: default_ipv4_prefix(),
            ipv6_prefix: default_ipv6_prefix(),
            exempt: Vec::new(),
        }
    }
}

impl RrlSection {
    /// The burst in effect.
    pub fn burst(&self) -> u32 {
        self.burst.unwrap_or(self.responses_per_second)
    }

    /// The settings as both limiters read them.
    pub fn limits(&self) -> RrlConfig {
        if !self.enabled {
            return RrlConfig::OFF;
        }
        RrlConfig::new(self.responses_per_second, self.burst(), self.slip, self.ipv4_prefix, self.ipv6_prefix)
    }

    /// Checks every value; the error names the key (`rrl.<key>`) and what is wrong.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let error = |key: &str, problem: String| Err((format!("rrl.{key}"), problem));
        if !(1..=MAX_RATE).contains(&self.responses_per_second) {
            return error("responses_per_second", format!("must be 1 to {MAX_RATE}"));
        }
        if self.burst.is_some_and(|b| !(1..=MAX_RATE).contains(&b)) {
            return error("burst", format!("must be 1 to {MAX_RATE}"));
        }
        if self.slip > MAX_SLIP {
            return error("slip", format!("must be 0 (drop every limited response) to {MAX_SLIP}"));
        }
        if !(1..=32).contains(&self.ipv4_prefix) {
            return error("ipv4_prefix", "must be 1 to 32".into());
        }
        if !(1..=128).contains(&self.ipv6_prefix) {
            return error("ipv6_prefix", "must be 1 to 128".into());
        }
        for (i, net) in self.exempt.iter().enumerate() {
            super::no_host_bits(net).or_else(|problem| error(&format!("exempt[{i}]"), problem))?;
        }
        let v4 = self.exempt.iter().filter(|n| matches!(n, IpNet::V4(_))).count();
        if v4 > MAX_EXEMPT_PER_FAMILY || self.exempt.len() - v4 > MAX_EXEMPT_PER_FAMILY {
            return error("exempt", format!("at most {MAX_EXEMPT_PER_FAMILY} prefixes per address family"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, fixture::ConfigText};

    fn parse(rrl: &str) -> Result<Config, String> {
        let text = format!("{}\n[rrl]\n{rrl}\n", ConfigText::new().xdp_off().zone().build());
        Config::parse(&text, "rrl.toml").map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_off_with_the_usual_prefixes() {
        let rrl = parse("").unwrap().rrl;
        assert!(!rrl.enabled);
        assert!(!rrl.limits().enabled());
        assert_eq!((rrl.responses_per_second, rrl.burst(), rrl.slip), (20, 20, 2));
        assert_eq!((rrl.ipv4_prefix, rrl.ipv6_prefix), (24, 56));
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("responses_per_second = 0", "rrl.responses_per_second: must be 1 to 1000000"),
            ("burst = 0", "rrl.burst: must be 1 to 1000000"),
            ("slip = 101", "rrl.slip: must be 0"),
            ("ipv4_prefix = 33", "rrl.ipv4_prefix: must be 1 to 32"),
            ("ipv6_prefix = 0", "rrl.ipv6_prefix: must be 1 to 128"),
            ("exempt = [\"198.18.0.1/24\"]", "rrl.exempt[0]: 198.18.0.1/24 has host bits set: write 198.18.0.0/24"),
            ("exempt = [\"not-a-prefix\"]", "rrl.exempt[0]: invalid IP address syntax"),
            ("rate = 5", "unknown field `rate`"),
        ];
        for (line, expected) in cases {
            let error = parse(line).expect_err(line);
            assert!(error.contains(expected), "{line}: {error}");
        }
    }

    #[test]
    fn a_valid_section_gives_the_limits() {
        let rrl = parse("enabled = true\nresponses_per_second = 100\nburst = 10\nslip = 3\nexempt = [\"fd00:7::/48\"]")
            .unwrap()
            .rrl;
        let limits = rrl.limits();
        assert_eq!((limits.interval_ns, limits.burst_ns, limits.slip), (10_000_000, 100_000_000, 3));
        assert_eq!(rrl.exempt, vec!["fd00:7::/48".parse::<ipnet::IpNet>().unwrap()]);
    }
}
