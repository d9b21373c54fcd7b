//! SOA serials raised whenever a zone's served content changes, so that a secondary or a
//! monitor can see that something did. The content is what the config says the zone holds:
//! its SOA (but the serial), NS and TTL, its services (names, fixed addresses, sites, views,
//! TTLs, policies), the addresses of the sites those services answer with, and the views they
//! use. Answers moving with site health are not content. The serial and a digest of the
//! content are kept in `<run_dir>/<instance>.serials.json`, so a restart never lowers them.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};
use sha2::Digest;
use tracing::{info, warn};

use crate::config::{Config, ServerConfig, parse_name};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Serials {
    pub zones: BTreeMap<String, ZoneSerial>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZoneSerial {
    /// Digest of the zone's content when `serial` was given to it.
    pub content: String,
    pub serial: u32,
}

pub fn path(server: &ServerConfig) -> PathBuf {
    server.run_dir.join(format!("{}.serials.json", server.instance))
}

pub fn load(path: &Path) -> Serials {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Serials::default();
    };
    serde_json::from_str(&text).unwrap_or_else(|e| {
        warn!(file = %path.display(), error = %e, "zone serials unreadable; the configured ones are served");
        Serials::default()
    })
}

pub fn save(path: &Path, serials: &Serials) {
    if let Err(e) = crate::json_file::write_atomically(path, serials) {
        warn!(file = %path.display(), error = %e, "zone serials not saved");
    }
}

/// The serial of every zone of `config`: the saved one while its content is unchanged, one
/// more when it changed, and never below the configured one.
pub fn next(config: &Config, saved: &Serials) -> Serials {
    let mut out = Serials::default();
    for zone in &config.zone {
        let content = content_digest(config, &zone.name);
        let configured = zone.soa.serial;
        let serial = match saved.zones.get(&zone.name) {
            Some(s) if s.content == content => s.serial.max(configured),
            Some(s) => {
                let raised = s.serial.wrapping_add(1).max(configured);
                info!(zone = %zone.name, from = s.serial, to = raised, "zone content changed: SOA serial raised");
                raised
            }
            None => configured,
        };
        out.zones.insert(zone.name.clone(), ZoneSerial { content, serial });
    }
    out
}

/// The serials after a reload to `served` is taken back to `old`, whose serials were `saved`:
/// the reload may have served its own already, so a zone whose serial it raised goes back to
/// the old content one serial higher still (a serial never goes down, and never names two
/// contents). `None` when it raised none of the old config's zones.
pub fn after_undo(old: &Config, served: &Serials, saved: &Serials) -> Option<Serials> {
    let raised = |name: &String| match (served.zones.get(name), saved.zones.get(name)) {
        (Some(served), Some(saved)) => served.serial != saved.serial,
        _ => false,
    };
    if !old.zone.iter().any(|z| raised(&z.name)) {
        return None;
    }
    let mut basis = saved.clone();
    basis.zones.extend(served.zones.iter().map(|(name, serial)| (name.clone(), serial.clone())));
    Some(next(old, &basis))
}

impl Serials {
    /// Zone name → serial.
    pub fn by_zone(&self) -> BTreeMap<String, u32> {
        self.zones.iter().map(|(name, z)| (name.clone(), z.serial)).collect()
    }
}

/// A digest of what the config says `zone` holds.
fn content_digest(config: &Config, zone_name: &str) -> String {
    let zone = config.zone.iter().find(|z| z.name == zone_name).expect("a configured zone");
    let apex = parse_name(&zone.name).expect("validated");
    let mut soa = zone.soa.clone();
    soa.serial = 0;
    let mut text = format!("{:?}{:?}{}", soa, zone.ns, zone.ttl);
    let mut services: Vec<_> =
        config.service.iter().filter(|s| parse_name(&s.name).is_ok_and(|n| apex.zone_of(&n))).collect();
    services.sort_by_key(|s| s.name.to_ascii_lowercase());
    for service in services {
        text.push_str(&format!("{service:?}"));
        for site in config.site.iter().filter(|site| service.sites.contains(&site.name)) {
            text.push_str(&format!("{}{:?}{:?}", site.name, site.a, site.aaaa));
        }
        for view in config.view.iter().filter(|v| service.views.contains_key(&v.name)) {
            text.push_str(&format!("{}{:?}{:?}", view.name, view.prefixes, view.geo_prefixes));
        }
    }
    hex::encode(&sha2::Sha256::digest(text.as_bytes())[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::fixture::ConfigText;

    fn config(text: ConfigText) -> Config {
        Config::parse(&text.build(), "test.toml").unwrap()
    }

    fn running() -> ConfigText {
        ConfigText::new().xdp_off().zone().site("one", &["198.18.1.1"], &[]).service("www.example.com.", 30, &["one"])
    }

    #[test]
    fn a_reload_taken_back_serves_the_old_content_under_a_serial_above_the_one_it_served() {
        let old = config(running());
        let saved = next(&old, &Serials::default());
        let before = saved.zones["example.com."].serial;
        let new = config(running().fixed_service("new.example.com.", &["198.18.2.1"], &[]));
        let served = next(&new, &saved);
        assert_eq!(served.zones["example.com."].serial, before + 1);
        let back = after_undo(&old, &served, &saved).expect("the reload raised the zone's serial");
        assert_eq!(back.zones["example.com."].serial, before + 2);
        // Kept as the old content's serial: the next start serves it, not a lower one.
        assert_eq!(next(&old, &back), back);
    }

    #[test]
    fn a_reload_taken_back_that_raised_no_serial_changes_none() {
        let old = config(running());
        let saved = next(&old, &Serials::default());
        let new = config(running().line("# a comment changes no zone"));
        assert_eq!(after_undo(&old, &next(&new, &saved), &saved), None);
    }
}
