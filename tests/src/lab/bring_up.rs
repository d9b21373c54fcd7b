//! The whole lab: topology, both sites with their DNS servers, keys and files in one temp dir.

use super::{
    addresses::{SITE_A, SITE_B, SitePlan},
    site::{Site, SiteFiles},
    topology::Topology,
};
use crate::netns::Netns;

pub struct Lab {
    // Drop order: processes first, then the namespaces, then the files.
    pub a: Site,
    pub b: Site,
    pub topology: Topology,
    pub dir: tempfile::TempDir,
}

impl Lab {
    /// Brings everything up; the DNS servers keep the sites' `items` tables in step.
    pub fn new() -> Result<Lab, String> {
        let dir = tempfile::Builder::new().prefix("switchyard-lab").tempdir().map_err(|e| e.to_string())?;
        let peer_key = crate::key_file::write(dir.path(), "peer.key", "lab-peer-key-0123456789abcdef")?;
        let sync_key = crate::key_file::write(dir.path(), "sync.key", "lab-sync-key-0123456789abcdef")?;
        let topology = Topology::new()?;
        let files = SiteFiles { dir: dir.path(), peer_key: &peer_key, sync_key: Some(sync_key.as_path()) };
        let mut a = Site::new(&topology.site_a, SITE_A, &files)?;
        let mut b = Site::new(&topology.site_b, SITE_B, &files)?;
        a.start_dns(&topology.site_a);
        b.start_dns(&topology.site_b);
        Ok(Lab { a, b, topology, dir })
    }

    pub fn site(&self, site: &SitePlan) -> &Site {
        if site.name == SITE_A.name { &self.a } else { &self.b }
    }

    pub fn site_mut(&mut self, site: &SitePlan) -> (&mut Site, &Netns) {
        if site.name == SITE_A.name {
            (&mut self.a, &self.topology.site_a)
        } else {
            (&mut self.b, &self.topology.site_b)
        }
    }

    /// Both DNS servers' logs, for a failed step.
    pub fn logs(&self) -> String {
        format!("--- dns-a log ---\n{}--- dns-b log ---\n{}", tail(&self.a.dns_log(), 25), tail(&self.b.dns_log(), 25))
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].iter().map(|l| format!("{l}\n")).collect()
}
