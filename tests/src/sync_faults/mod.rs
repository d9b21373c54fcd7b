//! Three sites syncing through misbehaving proxies while writers write and
//! the harness kills, pauses, cuts and restores: `cargo xtask bench
//! sync-faults`, and a short run in the test suite.
//!
//! All three daemons live in one network namespace made for the run, on
//! 127.0.0.1-3; every site reaches each peer through a `FaultProxy` of its own
//! (127.0.<from+10>.<to+1>), so each direction of each link misbehaves and can
//! be cut on its own.

pub mod checker;
mod run;
pub mod writers;

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use serde::Serialize;

use self::{
    checker::{Verdict, judge},
    writers::{Ack, Gate, SCHEMA, Writer},
};
use crate::{
    daemon::Daemon,
    fault_proxy::{Chaos, FaultProxy},
    netns::{Netns, unique},
    sync_lab::{KEY, SYNC_PORT},
};

pub const SITES: [&str; 3] = ["a", "b", "c"];
const WRITERS_PER_SITE: usize = 2;

#[derive(Debug, Clone, Serialize)]
pub struct FaultOptions {
    pub seconds: u64,
    pub chaos: Chaos,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrialReport {
    pub seed: u64,
    pub seconds: u64,
    pub events: Vec<String>,
    pub proxy: serde_json::Value,
    pub converged_after_s: Option<f64>,
    /// Each daemon's `sync status` when the sites did not settle.
    pub final_status: Vec<serde_json::Value>,
    pub verdict: Verdict,
}

struct Site {
    db: PathBuf,
    config: String,
    daemon: Option<Daemon>,
    gate: Arc<Gate>,
}

struct Lab {
    ns: Arc<Netns>,
    sites: Vec<Site>,
    proxies: Vec<(usize, usize, Arc<FaultProxy>)>,
    dir: tempfile::TempDir,
}

fn site_address(i: usize) -> String {
    format!("127.0.0.{}", i + 1)
}

fn proxy_address(from: usize, to: usize) -> String {
    format!("127.0.{}.{}", from + 10, to + 1)
}

fn site_config(i: usize, db: &Path, key: &Path) -> String {
    let peers: String = (0..SITES.len())
        .filter(|&j| j != i)
        .map(|j| {
            format!("[[sync.peer]]\nsite = \"{}\"\nurl = \"http://{}:{SYNC_PORT}\"\n", SITES[j], proxy_address(i, j))
        })
        .collect();
    format!(
        r#"[server]
instance = "{instance}"
listen = ["{address}"]
site = "{name}"
[xdp]
mode = "off"
[[zone]]
name = "example.com."
ns = ["ns1.example.com."]
soa = {{ mname = "ns1.example.com.", rname = "hostmaster.example.com." }}
[[site]]
name = "{name}"
a = ["198.18.9.{n}"]
[sync]
database = "{db}"
listen = "{address}:{SYNC_PORT}"
key_file = "{key}"
interval_ms = 50
request_timeout_ms = 2000
anti_entropy_interval_ms = 2000
[[sync.table]]
name = "ledger"
[[sync.table]]
name = "shared"
{peers}"#,
        instance = unique("sf"),
        address = site_address(i),
        name = SITES[i],
        n = i + 1,
        db = db.display(),
        key = key.display(),
    )
}

impl Lab {
    fn new(options: &FaultOptions) -> Lab {
        let dir = tempfile::tempdir().expect("temp dir");
        let ns = Arc::new(Netns::new("syf"));
        let sites = (0..SITES.len()).map(|i| Lab::site(dir.path(), i)).collect();
        let mut lab = Lab { ns, sites, proxies: Vec::new(), dir };
        for from in 0..SITES.len() {
            for to in (0..SITES.len()).filter(|&t| t != from) {
                lab.start_proxy(from, to, options);
            }
        }
        for i in 0..SITES.len() {
            lab.start_daemon(i);
        }
        lab
    }

    fn site(dir: &Path, i: usize) -> Site {
        let db = dir.join(format!("{}.db", SITES[i]));
        crate::sync_lab::sqlite(&db, SCHEMA);
        let key = crate::key_file::write(dir, &format!("{}.key", SITES[i]), KEY).unwrap();
        let config = site_config(i, &db, &key);
        Site { db, config, daemon: None, gate: Arc::new(Gate::opened()) }
    }

    fn start_proxy(&mut self, from: usize, to: usize, options: &FaultOptions) {
        let listen = format!("{}:{SYNC_PORT}", proxy_address(from, to)).parse().unwrap();
        let target = format!("{}:{SYNC_PORT}", site_address(to)).parse().unwrap();
        let seed = options.seed.wrapping_mul(31).wrapping_add((from * 7 + to) as u64) | 1;
        let (ns, chaos) = (self.ns.clone(), options.chaos);
        let (ready, proxy) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            ns.enter(|| {
                let (proxy, listener) = FaultProxy::bind(listen, target, chaos, seed);
                ready.send(proxy.clone()).unwrap();
                proxy.serve(listener);
            })
        });
        self.proxies.push((from, to, proxy.recv().expect("proxy started")));
    }

    fn start_daemon(&mut self, i: usize) {
        self.sites[i].daemon = Some(Daemon::start(&self.ns, &self.sites[i].config));
    }

    fn signal(&self, i: usize, signal: i32) {
        let pid = self.sites[i].daemon.as_ref().expect("running").pid();
        // SAFETY: signalling a daemon this harness started, by its PID.
        assert_eq!(unsafe { libc::kill(pid as i32, signal) }, 0);
    }

    fn cut(&self, a: usize, b: usize, cut: bool) {
        for (from, to, proxy) in &self.proxies {
            if (*from == a && *to == b) || (*from == b && *to == a) {
                proxy.cut.store(cut, Ordering::Relaxed);
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (_, _, proxy) in &self.proxies {
            proxy.stop();
        }
        for site in &mut self.sites {
            drop(site.daemon.take());
        }
        let _ = &self.dir;
    }
}

pub use self::run::run_trial;
