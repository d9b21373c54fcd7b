//! The `[peers]` config section and its validation.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::liveness::{LivenessRule, MAX_LIVE_PERIODS};
use super::names::{MAX_NAME_LEN, is_name_byte};

pub const DEFAULT_PERIOD_MS: u64 = 1000;
pub const DEFAULT_LIVE_PERIODS: u32 = 3;
pub const DEFAULT_MAX_SKEW_MS: u64 = 5000;
/// Below this the timer and scheduling jitter is a large part of a period.
pub const MIN_PERIOD_MS: u64 = 10;
pub const MAX_PERIOD_MS: u64 = 60_000;
pub const MAX_SKEW_LIMIT_MS: u64 = 3_600_000;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeersConfig {
    /// Address the heartbeat socket binds to; heartbeats are sent from it too.
    pub listen: SocketAddr,
    #[serde(default = "default_period_ms")]
    pub period_ms: u64,
    /// N: the number of period slots the liveness rule looks at.
    #[serde(default = "default_live_periods")]
    pub live_periods: u32,
    #[serde(default)]
    pub liveness_rule: LivenessRule,
    /// Heartbeats whose send time differs from our clock by more are dropped.
    #[serde(default = "default_max_skew_ms")]
    pub max_skew_ms: u64,
    /// The first key signs; every key verifies (rotation: add the new key
    /// second everywhere, then move it first everywhere, then drop the old;
    /// or replace the key by reload at every site within `key_rotation_ms`).
    pub key_files: Vec<PathBuf>,
    /// After a reload drops keys, how long they still verify and the old
    /// signing key still signs.
    #[serde(default = "default_key_rotation_ms")]
    pub key_rotation_ms: u64,
    #[serde(default, rename = "peer")]
    pub peers: Vec<PeerConfig>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    pub site: String,
    pub node: String,
    pub address: SocketAddr,
}

/// A config value that cannot be used, naming the field (`peers.period_ms`,
/// `peers.peer[2].address`, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ConfigError {
    pub field: String,
    pub problem: String,
}

impl ConfigError {
    fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self { field: field.into(), problem: problem.into() }
    }
}

fn default_period_ms() -> u64 {
    DEFAULT_PERIOD_MS
}
fn default_live_periods() -> u32 {
    DEFAULT_LIVE_PERIODS
}
fn default_max_skew_ms() -> u64 {
    DEFAULT_MAX_SKEW_MS
}
fn default_key_rotation_ms() -> u64 {
    DEFAULT_KEY_ROTATION_MS
}

/// Ten minutes to rekey every site.
pub const DEFAULT_KEY_ROTATION_MS: u64 = 600_000;

impl PeersConfig {
    /// A config with default timings and no peers.
    pub fn new(listen: SocketAddr, key_files: Vec<PathBuf>) -> Self {
        Self {
            listen,
            period_ms: DEFAULT_PERIOD_MS,
            live_periods: DEFAULT_LIVE_PERIODS,
            liveness_rule: LivenessRule::default(),
            max_skew_ms: DEFAULT_MAX_SKEW_MS,
            key_files,
            key_rotation_ms: DEFAULT_KEY_ROTATION_MS,
            peers: Vec::new(),
        }
    }

    pub fn period(&self) -> Duration {
        Duration::from_millis(self.period_ms)
    }

    pub fn key_rotation(&self) -> Duration {
        Duration::from_millis(self.key_rotation_ms)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(MIN_PERIOD_MS..=MAX_PERIOD_MS).contains(&self.period_ms) {
            return Err(ConfigError::new(
                "peers.period_ms",
                format!("{} is outside {MIN_PERIOD_MS}..={MAX_PERIOD_MS}", self.period_ms),
            ));
        }
        if !(1..=MAX_LIVE_PERIODS).contains(&self.live_periods) {
            return Err(ConfigError::new(
                "peers.live_periods",
                format!("{} is outside 1..={MAX_LIVE_PERIODS}", self.live_periods),
            ));
        }
        if !(1..=MAX_SKEW_LIMIT_MS).contains(&self.max_skew_ms) {
            return Err(ConfigError::new(
                "peers.max_skew_ms",
                format!("{} is outside 1..={MAX_SKEW_LIMIT_MS}", self.max_skew_ms),
            ));
        }
        if self.listen.port() == 0 {
            return Err(ConfigError::new("peers.listen", "port 0 is not a fixed port peers can reach"));
        }
        self.validate_key_files()?;
        self.validate_peers()
    }

    /// Checks that this server's own names are usable and not also listed as
    /// a peer; a peer at our own site would report our site's state to us.
    pub fn validate_identity(&self, own_site: &str, own_node: &str) -> Result<(), ConfigError> {
        check_name("site", own_site)?;
        check_name("node", own_node)?;
        for (index, peer) in self.peers.iter().enumerate() {
            if peer.site == own_site {
                return Err(ConfigError::new(
                    format!("peers.peer[{index}].site"),
                    format!("\"{own_site}\" is this server's own site"),
                ));
            }
        }
        Ok(())
    }

    fn validate_key_files(&self) -> Result<(), ConfigError> {
        if self.key_files.is_empty() {
            return Err(ConfigError::new("peers.key_files", "at least one key file is required"));
        }
        let mut seen = HashSet::new();
        for (index, path) in self.key_files.iter().enumerate() {
            if !seen.insert(path) {
                return Err(ConfigError::new(
                    format!("peers.key_files[{index}]"),
                    format!("{} is listed twice", path.display()),
                ));
            }
        }
        Ok(())
    }

    fn validate_peers(&self) -> Result<(), ConfigError> {
        let mut identities = HashSet::new();
        let mut addresses = HashSet::new();
        for (index, peer) in self.peers.iter().enumerate() {
            let field = |name: &str| format!("peers.peer[{index}].{name}");
            check_name(&field("site"), &peer.site)?;
            check_name(&field("node"), &peer.node)?;
            if !identities.insert((&peer.site, &peer.node)) {
                return Err(ConfigError::new(
                    field("node"),
                    format!("site \"{}\" node \"{}\" is listed twice", peer.site, peer.node),
                ));
            }
            if !addresses.insert(peer.address) {
                return Err(ConfigError::new(field("address"), format!("{} is listed twice", peer.address)));
            }
            if peer.address.port() == 0 || peer.address.ip().is_unspecified() {
                return Err(ConfigError::new(field("address"), format!("{} is not a reachable address", peer.address)));
            }
            if self.listen.is_ipv4() && peer.address.is_ipv6() {
                return Err(ConfigError::new(
                    field("address"),
                    format!("{} is IPv6 but peers.listen {} is IPv4", peer.address, self.listen),
                ));
            }
        }
        Ok(())
    }
}

/// Site and node names travel in every datagram: short, plain ASCII.
fn check_name(field: &str, name: &str) -> Result<(), ConfigError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(ConfigError::new(field, format!("must be 1..={MAX_NAME_LEN} bytes long")));
    }
    if !name.bytes().all(is_name_byte) {
        return Err(ConfigError::new(field, format!("\"{name}\" may only contain A-Z a-z 0-9 . _ -")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        peers: PeersConfig,
    }

    fn parse(text: &str) -> Result<PeersConfig, toml::de::Error> {
        toml::from_str::<File>(text).map(|file| file.peers)
    }

    const EXAMPLE: &str = r#"
        [peers]
        listen = "198.18.0.1:5300"
        key_files = ["/etc/switchyard/peer.key"]
        [[peers.peer]]
        site = "b"
        node = "dns-b1"
        address = "198.18.0.2:5300"
        [[peers.peer]]
        site = "c"
        node = "dns-c1"
        address = "[2001:db8::3]:5300"
    "#;

    #[test]
    fn parses_with_defaults() {
        let mut text = EXAMPLE.replace("198.18.0.1:5300", "[::]:5300");
        text.push('\n');
        let config = parse(&text).unwrap();
        assert_eq!(config.period_ms, DEFAULT_PERIOD_MS);
        assert_eq!(config.live_periods, DEFAULT_LIVE_PERIODS);
        assert_eq!(config.max_skew_ms, DEFAULT_MAX_SKEW_MS);
        assert_eq!(config.liveness_rule, LivenessRule::EveryPeriod);
        assert_eq!(config.peers.len(), 2);
        assert_eq!(config.peers[0].node, "dns-b1");
        config.validate().unwrap();
    }

    #[test]
    fn rejects_unknown_fields() {
        let text = EXAMPLE.replace("key_files", "period = 5\nkey_files");
        assert!(parse(&text).unwrap_err().to_string().contains("period"));
    }

    #[test]
    fn ipv6_peer_needs_ipv6_listen() {
        let err = parse(EXAMPLE).unwrap().validate().unwrap_err();
        assert_eq!(err.field, "peers.peer[1].address");
    }

    #[test]
    fn errors_name_the_field() {
        let mut config = parse(&EXAMPLE.replace("198.18.0.1:5300", "[::]:5300")).unwrap();
        config.period_ms = 1;
        assert_eq!(config.validate().unwrap_err().field, "peers.period_ms");
        config.period_ms = 50;
        config.live_periods = 0;
        assert_eq!(config.validate().unwrap_err().field, "peers.live_periods");
        config.live_periods = 3;
        config.peers[1].site = "b c".into();
        assert_eq!(config.validate().unwrap_err().field, "peers.peer[1].site");
        config.peers[1].site = "b".into();
        config.peers[1].node = "dns-b1".into();
        assert_eq!(config.validate().unwrap_err().field, "peers.peer[1].node");
        config.peers[1].node = "dns-b2".into();
        config.key_files.clear();
        let err = config.validate().unwrap_err();
        assert_eq!(err.to_string(), "peers.key_files: at least one key file is required");
    }

    #[test]
    fn own_site_may_not_be_a_peer() {
        let config = parse(&EXAMPLE.replace("198.18.0.1:5300", "[::]:5300")).unwrap();
        assert!(config.validate_identity("a", "dns-a1").is_ok());
        assert_eq!(config.validate_identity("b", "dns-b9").unwrap_err().field, "peers.peer[0].site");
        assert_eq!(config.validate_identity("a", "").unwrap_err().field, "node");
    }
}
