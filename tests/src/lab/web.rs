//! A site's web app instances (`switchyard-lab-web`) on the site's loopback, behind HAProxy.

use std::path::{Path, PathBuf};

use super::{addresses::WEB_PORTS, process::Process};
use crate::netns::Netns;

/// `SWITCHYARD_LAB_WEB`, else next to the running binary (also from a test's `deps/`).
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SWITCHYARD_LAB_WEB") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().expect("binary dir");
    let dir = if dir.ends_with("deps") { dir.parent().unwrap() } else { dir };
    dir.join("switchyard-lab-web")
}

/// HAProxy's name of instance `i` (0-based): web1, web2.
pub fn server_name(i: usize) -> String {
    format!("web{}", i + 1)
}

pub struct WebApps {
    site: String,
    db: PathBuf,
    logs: PathBuf,
    running: Vec<Process>,
}

impl WebApps {
    pub fn new(site: &str, db: &Path, logs: &Path) -> WebApps {
        WebApps { site: site.into(), db: db.into(), logs: logs.into(), running: Vec::new() }
    }

    /// Starts both instances (after `stop`, again) and waits until they listen.
    pub fn start(&mut self, ns: &Netns) -> Result<(), String> {
        self.stop();
        for (i, port) in WEB_PORTS.iter().enumerate() {
            let listen = format!("127.0.0.1:{port}");
            let name = format!("web-{}{}", self.site, i + 1);
            let log = self.logs.join(format!("{name}.log"));
            let db = self.db.to_str().ok_or("database path is not UTF-8")?;
            self.running.push(Process::start(ns, &name, &binary(), &[&listen, db, &name], log)?);
        }
        for (process, port) in self.running.iter_mut().zip(WEB_PORTS) {
            let addr = format!("127.0.0.1:{port}").parse().unwrap();
            super::http::wait_listening(ns, addr, || process.check_running())?;
        }
        Ok(())
    }

    pub fn stop(&mut self) {
        self.running.clear();
    }

    pub fn pids(&self) -> Vec<u32> {
        self.running.iter().map(Process::pid).collect()
    }
}
