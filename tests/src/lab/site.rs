//! One site: its database, web app instances, HAProxy and DNS server, each stoppable on cue.

use std::path::{Path, PathBuf};

use super::{
    addresses::SitePlan,
    daemon_config::{self, DaemonFiles},
    database::Database,
    haproxy,
    process::Process,
    web::WebApps,
};
use crate::{daemon::Daemon, netns::Netns, netns::unique};

pub struct Site {
    pub plan: SitePlan,
    /// Declared first so it stops first: nothing probes what is being torn down.
    pub dns: Option<Daemon>,
    pub haproxy: Process,
    pub web: WebApps,
    pub db: Database,
    /// The daemon's config, kept for restarts (the instance name stays the same).
    pub config: String,
    instance: String,
}

pub struct SiteFiles<'a> {
    pub dir: &'a Path,
    pub peer_key: &'a Path,
    pub sync_key: Option<&'a Path>,
}

impl Site {
    /// Database, web apps and HAProxy; the DNS server is started by `start_dns`.
    pub fn new(ns: &Netns, plan: SitePlan, files: &SiteFiles) -> Result<Site, String> {
        let db = Database::create(files.dir, plan.name, &plan.db_name())?;
        let mut web = WebApps::new(plan.name, &db.path, files.dir);
        web.start(ns)?;
        let haproxy = haproxy::start(ns, &plan, files.dir)?;
        let instance = unique(&format!("lab{}", plan.name));
        let sync = files.sync_key.map(|key| (db.path.as_path(), key));
        let config = daemon_config::config(&plan, &DaemonFiles { instance: &instance, peer_key: files.peer_key, sync });
        Ok(Site { plan, dns: None, haproxy, web, db, config, instance })
    }

    /// Starts the DNS server and waits until it is ready (panics with its log if it is not).
    pub fn start_dns(&mut self, ns: &Netns) {
        self.dns = Some(Daemon::start(ns, &self.config));
    }

    /// SIGKILL, as a crash would: no goodbye to the peer.
    pub fn kill_dns(&mut self) {
        if let Some(daemon) = self.dns.take() {
            // SAFETY: signalling our own child by its PID.
            unsafe { libc::kill(daemon.pid() as i32, libc::SIGKILL) };
            drop(daemon);
        }
    }

    pub fn dns_log(&self) -> String {
        self.dns.as_ref().map(Daemon::log).unwrap_or_default()
    }

    pub fn config_path(&self) -> Option<PathBuf> {
        self.dns.as_ref().map(|d| d.config.clone())
    }
}

impl Drop for Site {
    /// A killed daemon leaves its pinned maps and admin socket behind; a restart would remove
    /// them, but the lab may end first.
    fn drop(&mut self) {
        drop(self.dns.take());
        let server = switchyard::config::ServerConfig { instance: self.instance.clone(), ..Default::default() };
        let _ = std::fs::remove_dir_all(server.pin_dir());
        let _ = std::fs::remove_file(server.admin_socket());
    }
}
