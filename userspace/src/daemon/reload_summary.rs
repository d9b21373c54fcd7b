//! What a reload changed, in one line for the CLI and the log:
//! "services +3 -1 ~2, zones +0 -0 ~1, views +0 -0 ~0, peers +0 -0 ~0, sites +0 -0 ~1", then
//! the settings whose part was replaced ("xdp mode native -> skb") and the sections that
//! changed otherwise ("[server] changed").

use std::collections::BTreeMap;

use crate::config::Config;

pub fn describe(old: &Config, new: &Config) -> String {
    let key = |name: &str| name.trim_end_matches('.').to_ascii_lowercase();
    let services = |c: &Config| c.service.iter().map(|s| (key(&s.name), format!("{s:?}"))).collect();
    let zones = |c: &Config| c.zone.iter().map(|z| (key(&z.name), format!("{z:?}"))).collect();
    let views = |c: &Config| c.view.iter().map(|v| (v.name.clone(), format!("{v:?}"))).collect();
    let sites = |c: &Config| c.site.iter().map(|s| (s.name.clone(), format!("{s:?}"))).collect();
    let peers = |c: &Config| -> BTreeMap<String, String> {
        let list = c.peers.iter().flat_map(|p| &p.peers);
        list.map(|p| (format!("{}/{}", p.site, p.node), format!("{p:?}"))).collect()
    };
    let mut parts = vec![
        count("services", &services(old), &services(new)),
        count("zones", &zones(old), &zones(new)),
        count("views", &views(old), &views(new)),
        count("peers", &peers(old), &peers(new)),
        count("sites", &sites(old), &sites(new)),
    ];
    let (before, after) = (&old.xdp.interfaces, &new.xdp.interfaces);
    if before != after {
        let added = after.iter().filter(|i| !before.contains(i)).count();
        let removed = before.iter().filter(|i| !after.contains(i)).count();
        parts.push(format!("xdp interfaces +{added} -{removed}"));
    }
    parts.extend(services_restarted(old, new));
    parts.extend(sections_changed(old, new));
    parts.join(", ")
}

/// "[server] changed", "[rrl] changed", ...: sections with no count of their own that differ.
fn sections_changed(old: &Config, new: &Config) -> Vec<String> {
    let changed = [
        ("[server]", old.server != new.server),
        ("[probe]", old.probe != new.probe),
        ("[rrl]", old.rrl != new.rrl),
        ("[cookies]", old.cookies != new.cookies),
    ];
    changed.into_iter().filter(|(_, changed)| *changed).map(|(name, _)| format!("{name} changed")).collect()
}

/// "xdp mode native -> skb", "xdp max_entries 65536 -> 4096", "sync started|stopped|restarted",
/// "peer service started|stopped|restarted": the parts a reload replaced rather than changed in place.
fn services_restarted(old: &Config, new: &Config) -> Vec<String> {
    let mut parts = Vec::new();
    let mode = |c: &Config| format!("{:?}", c.xdp.mode).to_lowercase();
    if old.xdp.mode != new.xdp.mode {
        parts.push(format!("xdp mode {} -> {}", mode(old), mode(new)));
    }
    if old.xdp.max_entries != new.xdp.max_entries {
        parts.push(format!("xdp max_entries {} -> {}", old.xdp.max_entries, new.xdp.max_entries));
    }
    match (old.sync.is_some(), new.sync.is_some()) {
        (false, true) => parts.push("sync started".into()),
        (true, false) => parts.push("sync stopped".into()),
        _ if super::reload_sync::changed(old, new) => parts.push("sync restarted".into()),
        _ => {}
    }
    match (old.peers.is_some(), new.peers.is_some()) {
        (false, true) => parts.push("peer service started".into()),
        (true, false) => parts.push("peer service stopped".into()),
        _ if super::reload_peers::restart_needed(old, new) => parts.push("peer service restarted".into()),
        _ => {}
    }
    parts
}

/// "services +3 -1 ~2": added, removed, changed.
fn count(what: &str, old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> String {
    let added = new.keys().filter(|k| !old.contains_key(*k)).count();
    let removed = old.keys().filter(|k| !new.contains_key(*k)).count();
    let changed = new.iter().filter(|(k, v)| old.get(*k).is_some_and(|before| before != *v)).count();
    format!("{what} +{added} -{removed} ~{changed}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::fixture::ConfigText;

    #[test]
    fn counts_added_removed_and_changed() {
        let base = ConfigText::new().zone().site("a", &["192.0.2.1"], &[]);
        let old = base.clone().service("www.example.com.", 30, &["a"]).service("old.example.com.", 30, &["a"]);
        let new = base.service("www.example.com.", 7, &["a"]).service("new.example.com.", 30, &["a"]);
        let old = Config::parse(&old.build(), "old").unwrap();
        let new = Config::parse(&new.build(), "new").unwrap();
        assert_eq!(
            describe(&old, &new),
            "services +1 -1 ~1, zones +0 -0 ~0, views +0 -0 ~0, peers +0 -0 ~0, sites +0 -0 ~0"
        );
    }

    #[test]
    fn names_the_parts_a_reload_replaced() {
        let base = ConfigText::new().zone().site("a", &["192.0.2.1"], &[]).xdp("eth9", "native").build();
        let old = Config::parse(&base, "old").unwrap();
        let new = base.replace("mode = \"native\"", "mode = \"skb\"\nmax_entries = 100");
        let new = Config::parse(&new, "new").unwrap();
        let said = describe(&old, &new);
        assert!(said.ends_with(", xdp mode native -> skb, xdp max_entries 65536 -> 100"), "{said}");
    }

    #[test]
    fn names_the_sections_without_a_count_that_changed() {
        let base = ConfigText::new().zone().site("a", &["192.0.2.1"], &[]).build();
        let old = Config::parse(&base, "old").unwrap();
        let new = Config::parse(&format!("[server]\ndns_port = 5353\n{base}\n[rrl]\nenabled = true\n"), "new").unwrap();
        let said = describe(&old, &new);
        assert!(said.ends_with("sites +0 -0 ~0, [server] changed, [rrl] changed"), "{said}");
        assert!(!describe(&old, &old).contains("changed"));
    }
}
