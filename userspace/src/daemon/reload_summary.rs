//! What a reload changed, in one line for the CLI and the log:
//! "services +3 -1 ~2, zones +0 -0 ~1, views +0 -0 ~0, peers +0 -0 ~0, sites +0 -0 ~1".

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
    parts.join(", ")
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
}
