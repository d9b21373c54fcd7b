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
