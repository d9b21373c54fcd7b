//! What the daemon says about itself now: read by `switchyard status` (over the admin socket)
//! and by the status page.

use std::sync::atomic::Ordering;

use super::{admin::Status, metrics::Sources};
use crate::config::XdpMode;

pub fn current(sources: &Sources) -> Status {
    let live = &sources.reloadable;
    let config = live.config.load();
    let xdp_on = config.xdp.mode != XdpMode::Off;
    let operator = sources.operator.current();
    Status {
        instance: config.server.instance.clone(),
        config_file: Some(sources.config_file.clone()),
        xdp_mode: format!("{:?}", config.xdp.mode).to_lowercase(),
        xdp_interfaces: if xdp_on { config.xdp.interfaces.clone() } else { vec![] },
        services: config.service.len(),
        map_entries: sources.map_entries.load(Ordering::Relaxed),
        sites: live.monitor.load().status().sites,
        peers: live.peers.load().as_ref().map(|p| p.status()),
        site_settings: operator.sites,
        overrides: operator.overrides,
        signed_zones: crate::dnssec::status::of(&sources.served.load().zones),
    }
}
