//! One trial: writers on all sites, the fault schedule, healing, waiting for
//! the sites to settle, and the verdict.

use std::sync::atomic::Ordering;

use rusqlite::Connection;
use serde_json::json;

use super::*;

/// Longest the sites may take to settle once every fault is healed.
const SETTLE: Duration = Duration::from_secs(90);
/// Longest the restore waits for a's backlog to reach its peers (a loaded machine is slow).
const DRAIN: Duration = Duration::from_secs(60);

struct Trial<'a> {
    lab: Lab,
    writers: &'a [Writer],
    log: Arc<Mutex<Vec<Ack>>>,
    started: Instant,
    seconds: f64,
    events: Vec<String>,
    backup: Option<PathBuf>,
}

impl Trial<'_> {
    fn note(&mut self, what: impl Into<String>) {
        self.events.push(format!("{:6.1}s {}", self.started.elapsed().as_secs_f64(), what.into()));
    }

    /// Waits until `fraction` of the run has passed.
    fn at(&self, fraction: f64) {
        let due = Duration::from_secs_f64(self.seconds * fraction);
        std::thread::sleep(due.saturating_sub(self.started.elapsed()));
    }

    fn schedule(&mut self) {
        self.at(0.10);
        self.backup = Some(backup(&self.lab.sites[0].db, self.lab.dir.path()));
        self.note("backup of a taken");
        self.at(0.15);
        let acks = self.writers[2].bad_bytes().expect("bad bytes written at b");
        self.log.lock().unwrap().extend(acks);
        self.note("TEXT that is not UTF-8 and a BLOB written at b");
        self.at(0.20);
        self.kill(1);
        self.at(0.30);
        self.lab.start_daemon(1);
        self.note("b restarted");
        self.at(0.35);
        self.lab.cut(0, 2, true);
        self.note("link a-c cut");
        self.at(0.50);
        self.lab.cut(0, 2, false);
        self.note("link a-c healed");
        self.at(0.55);
        self.lab.signal(2, libc::SIGSTOP);
        self.note("c paused (SIGSTOP)");
        self.at(0.65);
        self.lab.signal(2, libc::SIGCONT);
        self.note("c resumed");
        self.at(0.70);
        self.restore_a();
        self.at(1.0);
    }

    fn kill(&mut self, i: usize) {
        self.lab.signal(i, libc::SIGKILL);
        drop(self.lab.sites[i].daemon.take());
        self.note(format!("{} SIGKILLed", SITES[i]));
    }

    /// Restores a's database from the backup once everything a acknowledged has
    /// reached its peers (what a restore can lose is only what never left). Every
    /// site's writers pause, and every site's backlog must drain: conflicts a finds
    /// between b's and c's writes are a's to ship too, so a's backlog can read zero
    /// only once nothing is on its way to a either (on a slow machine a stream of
    /// them kept it from reading zero for a minute). b and c write again as soon
    /// as a is down.
    fn restore_a(&mut self) {
        for site in &self.lab.sites {
            site.gate.close();
        }
        let sites = &self.lab.sites;
        let drained = wait_for(DRAIN, || sites.iter().all(|s| s.daemon.as_ref().is_some_and(|d| backlog(d) == 0)));
        if !drained {
            for site in &self.lab.sites {
                site.gate.open();
            }
            self.note(format!("the backlogs did not drain in {} s; restore skipped", DRAIN.as_secs()));
            return;
        }
        self.kill(0);
        for site in &self.lab.sites[1..] {
            site.gate.open();
        }
        let db = self.lab.sites[0].db.clone();
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        std::fs::copy(self.backup.as_ref().expect("backup taken"), &db).expect("restore the backup");
        self.lab.start_daemon(0);
        self.lab.sites[0].gate.open();
        self.note("a restored from the backup and restarted");
    }

    /// Heals everything and waits until the sites hold the same rows with nothing in flight.
    fn settle(&mut self) -> Option<f64> {
        for (_, _, proxy) in &self.lab.proxies {
            proxy.cut.store(false, Ordering::Relaxed);
        }
        let healed = Instant::now();
        let lab = &self.lab;
        let settled = wait_for(SETTLE, || {
            let dumps: Vec<_> = lab.sites.iter().map(|s| dump(&s.db)).collect();
            dumps.windows(2).all(|w| w[0] == w[1])
                && lab.sites.iter().all(|s| s.daemon.as_ref().is_some_and(|d| backlog(d) == 0))
        });
        settled.then(|| healed.elapsed().as_secs_f64())
    }
}

fn backup(db: &Path, dir: &Path) -> PathBuf {
    let copy = dir.join("a-backup.db");
    let conn = Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn.execute("VACUUM INTO ?1", [copy.to_str().unwrap()]).unwrap();
    copy
}

fn dump(db: &Path) -> (checker::Rows, checker::Rows) {
    let conn = Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    (checker::rows(&conn, "ledger"), checker::rows(&conn, "shared"))
}

fn status(daemon: &Daemon) -> serde_json::Value {
    let out = std::process::Command::new(crate::daemon::binary())
        .args(["sync", "status", "--json", "--config"])
        .arg(&daemon.config)
        .output()
        .expect("switchyard sync status");
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// Unacknowledged changes plus state pages still to send, over all peers.
fn backlog(daemon: &Daemon) -> u64 {
    let status = status(daemon);
    if status.is_null() {
        return u64::MAX;
    }
    let peers = status["peers"].as_array().cloned().unwrap_or_default();
    peers
        .iter()
        .map(|p| p["backlog"].as_u64().unwrap_or(u64::MAX).saturating_add(u64::from(p["state_transfer"] == true)))
        .fold(0, u64::saturating_add)
}

fn wait_for(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    false
}

fn proxy_counts(lab: &Lab) -> serde_json::Value {
    let mut total = json!({});
    for (from, to, proxy) in &lab.proxies {
        total[format!("{}->{}", SITES[*from], SITES[*to])] = serde_json::to_value(&proxy.counts).unwrap();
    }
    total
}

/// Runs one trial of `options.seconds` and judges it.
pub fn run_trial(options: &FaultOptions) -> TrialReport {
    let lab = Lab::new(options);
    let log = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<Writer> = (0..SITES.len())
        .flat_map(|i| (0..WRITERS_PER_SITE).map(move |n| (i, n)))
        .map(|(i, n)| Writer {
            site: SITES[i],
            number: n,
            db: lab.sites[i].db.clone(),
            gate: lab.sites[i].gate.clone(),
            log: log.clone(),
        })
        .collect();
    let stop = AtomicBool::new(false);
    let mut trial = Trial {
        lab,
        writers: &writers,
        log: log.clone(),
        started: Instant::now(),
        seconds: options.seconds as f64,
        events: Vec::new(),
        backup: None,
    };
    std::thread::scope(|s| {
        for (k, writer) in writers.iter().enumerate() {
            let stop = &stop;
            s.spawn(move || writer.run(stop, options.seed.wrapping_add(k as u64 * 7919)));
        }
        trial.schedule();
        stop.store(true, Ordering::Relaxed);
    });
    trial.note("writers stopped; every fault healed");
    let converged_after_s = trial.settle();
    let final_status: Vec<serde_json::Value> = if converged_after_s.is_some() {
        Vec::new()
    } else {
        trial.lab.sites.iter().filter_map(|s| s.daemon.as_ref()).map(status).collect()
    };
    let connections: Vec<Connection> = trial.lab.sites.iter().map(|s| Connection::open(&s.db).unwrap()).collect();
    let acks = log.lock().unwrap().clone();
    let verdict = judge(&connections, &acks);
    TrialReport {
        seed: options.seed,
        seconds: options.seconds,
        proxy: proxy_counts(&trial.lab),
        events: trial.events,
        converged_after_s,
        final_status,
        verdict,
    }
}
