//! The multi-site part of the config: `[probe]`, `[[site]]`, `[peers]` and site-based
//! `[[service]]` tables, checked against each other, and the views of them that the health
//! monitor, the policy and the peer service take.

use std::collections::BTreeSet;

use super::{Config, ConfigError};
use crate::{health::HealthConfig, peers::KeyRing, policy::PolicyConfig, site::SiteAddresses};

type Problem = (String, String);

impl Config {
    /// What the health monitor probes.
    pub fn health_config(&self) -> HealthConfig {
        HealthConfig { probe: self.probe, sites: self.site.clone() }
    }

    /// The site-based services, for the policy.
    pub fn policy_config(&self) -> PolicyConfig {
        PolicyConfig { services: self.service.iter().filter(|s| s.is_site_based()).map(|s| s.to_policy()).collect() }
    }

    /// Addresses per site, for the policy.
    pub fn site_addresses(&self) -> std::collections::BTreeMap<String, SiteAddresses> {
        self.health_config().site_addresses()
    }

    /// Names of the sites marked `remote = true`: their state comes from peers.
    pub fn remote_sites(&self) -> Vec<String> {
        self.site.iter().filter(|s| s.remote).map(|s| s.name.clone()).collect()
    }

    pub(super) fn validate_sites(&self) -> Result<(), Problem> {
        self.health_config().validate().map_err(|e| (e.field, e.reason))?;
        let sites: BTreeSet<&str> = self.site.iter().map(|s| s.name.as_str()).collect();
        let views: BTreeSet<&str> = self.view.iter().map(|v| v.name.as_str()).collect();
        self.validate_own_site(&sites)?;
        self.validate_peers(&sites)?;
        for (i, service) in self.service.iter().enumerate() {
            let at = format!("service[{i}]");
            if !service.is_site_based() {
                if !service.views.is_empty() {
                    return Err((format!("{at}.views"), "per-view site orders need `sites`".into()));
                }
                continue;
            }
            if !service.a.is_empty() || !service.aaaa.is_empty() {
                let key = if service.a.is_empty() { "aaaa" } else { "a" };
                return Err((
                    format!("{at}.{key}"),
                    "a service has either `sites` or fixed `a`/`aaaa` addresses, not both".into(),
                ));
            }
            for view in service.views.keys() {
                if !views.contains(view.as_str()) {
                    return Err((format!("{at}.views.{view}"), "no [[view]] has this name".into()));
                }
            }
            // Validated one by one so that the error carries this service's index.
            let one = PolicyConfig { services: vec![service.to_policy()] };
            one.validate(sites.iter().copied()).map_err(|e| (e.field.replacen("service[0]", &at, 1), e.reason))?;
        }
        Ok(())
    }

    fn validate_own_site(&self, sites: &BTreeSet<&str>) -> Result<(), Problem> {
        let Some(own) = &self.server.site else {
            return Ok(());
        };
        let Some(site) = self.site.iter().find(|s| &s.name == own) else {
            return Err(("server.site".into(), format!("no [[site]] is named {own:?}")));
        };
        if site.remote {
            return Err(("server.site".into(), format!("{own:?} is this daemon's own site; it cannot be remote")));
        }
        debug_assert!(sites.contains(own.as_str()));
        Ok(())
    }

    fn validate_peers(&self, sites: &BTreeSet<&str>) -> Result<(), Problem> {
        let Some(peers) = &self.peers else {
            if let Some(i) = self.site.iter().position(|s| s.remote) {
                return Err((
                    format!("site[{i}].remote"),
                    "remote sites are reported by peers: configure [peers]".into(),
                ));
            }
            return Ok(());
        };
        let own_site =
            self.server.site.as_deref().ok_or(("server.site".to_string(), "required with [peers]".to_string()))?;
        let own_node =
            self.server.node.as_deref().ok_or(("server.node".to_string(), "required with [peers]".to_string()))?;
        peers.validate().map_err(|e| (e.field, e.problem))?;
        peers.validate_identity(own_site, own_node).map_err(|e| match e.field.as_str() {
            "site" | "node" => (format!("server.{}", e.field), e.problem),
            _ => (e.field, e.problem),
        })?;
        for (i, peer) in peers.peers.iter().enumerate() {
            if !sites.contains(peer.site.as_str()) {
                return Err((format!("peers.peer[{i}].site"), format!("no [[site]] is named {:?}", peer.site)));
            }
        }
        for (i, site) in self.site.iter().enumerate().filter(|(_, s)| s.remote) {
            if !peers.peers.iter().any(|p| p.site == site.name) {
                return Err((format!("site[{i}].remote"), format!("no [[peers.peer]] reports site {:?}", site.name)));
            }
        }
        Ok(())
    }

    /// Loads the HTTP checks' CA bundles, client certificates and keys; finds the external
    /// checks' programs.
    pub fn check_check_files(&self, file: &std::path::Path) -> Result<(), ConfigError> {
        self.health_config().check_files().map_err(|e| ConfigError {
            file: file.display().to_string(),
            key: e.field,
            problem: e.reason,
        })
    }

    /// Reads the peer key files (they must exist, be private and long enough). Separate from
    /// parsing because the CLI reads configs without needing the daemon's secrets.
    pub fn check_peer_keys(&self, file: &std::path::Path) -> Result<(), ConfigError> {
        let Some(peers) = &self.peers else {
            return Ok(());
        };
        KeyRing::load(&peers.key_files).map(|_| ()).map_err(|e| ConfigError {
            file: file.display().to_string(),
            key: "peers.key_files".into(),
            problem: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests;
