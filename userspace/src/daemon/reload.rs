//! `switchyard reload` and SIGHUP: which parts of a new config can be taken live.
//!
//! Probes, sites and the contents of services change live. The sockets, the XDP program, the
//! zones and views the userspace server was built with, the set of service names, peers and
//! sync stay as they are until a restart; a new config that changes them is refused whole, so
//! the daemon never runs half of one config and half of another.

use std::path::Path;

use tokio::sync::oneshot;

use crate::config::Config;

/// One reload, asked for by the admin socket (which waits for the outcome) or by SIGHUP.
pub struct ReloadRequest {
    pub reply: Option<oneshot::Sender<Result<String, String>>>,
}

/// Reads, validates and checks a new config the way `switchyard run` does.
pub fn load(path: &Path) -> Result<Config, String> {
    let config = Config::load(path).map_err(|e| e.to_string())?;
    config.check_interfaces(path).map_err(|e| e.to_string())?;
    config.check_peer_keys(path).map_err(|e| e.to_string())?;
    config.check_sync_key(path).map_err(|e| e.to_string())?;
    Ok(config)
}

/// The first section that differs in a way only a restart can apply, with what to do.
pub fn restart_needed(old: &Config, new: &Config) -> Option<String> {
    // Debug output compares every field without asking each config type for PartialEq.
    let same = |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| format!("{a:?}") == format!("{b:?}");
    let sections: [(&str, bool); 6] = [
        ("[server]", same(&old.server, &new.server)),
        ("[xdp]", same(&old.xdp, &new.xdp)),
        ("[[zone]]", same(&old.zone, &new.zone)),
        ("[[view]]", same(&old.view, &new.view)),
        ("[peers]", same(&old.peers, &new.peers)),
        ("[sync]", same(&old.sync, &new.sync)),
    ];
    if let Some((section, _)) = sections.iter().find(|(_, same)| !same) {
        return Some(format!("{section} changed: restart the daemon to apply it"));
    }
    if service_names(old) != service_names(new) {
        return Some("services were added or removed: restart the daemon to apply it".into());
    }
    None
}

/// Whether the health monitor must be rebuilt (probes or sites changed).
pub fn health_changed(old: &Config, new: &Config) -> bool {
    format!("{:?}{:?}", old.probe, old.site) != format!("{:?}{:?}", new.probe, new.site)
}

fn service_names(config: &Config) -> std::collections::BTreeSet<String> {
    config.service.iter().map(|s| s.name.trim_end_matches('.').to_ascii_lowercase()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[[zone]]
name = "example.com."
ns = ["ns1.example.com."]
soa = { mname = "ns1.example.com.", rname = "hostmaster.example.com." }

[[site]]
name = "a"
a = ["192.0.2.1"]

[[service]]
name = "www.example.com."
sites = ["a"]
"#;

    #[test]
    fn an_unset_udp_threads_does_not_follow_the_cpus_into_a_reload() {
        // Parsed on all CPUs, then again with this thread pinned to one: the file is the same,
        // so a reload must not ask for a restart.
        let old = Config::parse(BASE, "old").unwrap();
        let cpus = old.server.udp_threads();
        assert!(cpus >= 1);
        let pinned = unsafe {
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(0, &mut one);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one)
        };
        assert_eq!(pinned, 0, "pin the test thread to CPU 0");
        let new = Config::parse(BASE, "new").unwrap();
        assert_eq!(new.server.udp_threads(), 1, "one CPU left, one thread");
        assert_eq!(restart_needed(&old, &new), None);
    }

    #[test]
    fn services_and_sites_change_live_but_zones_and_names_need_a_restart() {
        let old = Config::parse(BASE, "old").unwrap();
        let ttl = Config::parse(&BASE.replace("sites = [\"a\"]", "ttl = 7\nsites = [\"a\"]"), "new").unwrap();
        assert_eq!(restart_needed(&old, &ttl), None);
        let address = Config::parse(&BASE.replace("192.0.2.1", "192.0.2.2"), "new").unwrap();
        assert_eq!(restart_needed(&old, &address), None);
        assert!(health_changed(&old, &address));
        let zone = Config::parse(&BASE.replace("hostmaster", "admin"), "new").unwrap();
        assert!(restart_needed(&old, &zone).unwrap().contains("[[zone]]"));
        let renamed = Config::parse(&BASE.replace("www.example", "web.example"), "new").unwrap();
        assert!(restart_needed(&old, &renamed).unwrap().contains("added or removed"));
    }
}
