//! Two sites for database sync tests: each a namespace with its own SQLite file and daemon,
//! joined by a veth whose ends can be taken down. Databases are written and read with the
//! sqlite3 shell, a separate program, the way an operator's tools would.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use crate::{
    daemon::{Daemon, binary},
    netns::{Netns, ip, unique},
};

pub const SYNC_PORT: u16 = 8053;
pub const KEY: &str = "sync-test-key-0123456789abcdef";
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS records(id INTEGER PRIMARY KEY, name TEXT NOT NULL, value TEXT);";

/// One site: its namespace, its end of the link, its database and key.
pub struct Site {
    pub name: &'static str,
    pub ns: Netns,
    pub iface: String,
    pub address: String,
    pub db: PathBuf,
    key: PathBuf,
    /// One instance name for every daemon the lab starts at this site, so what a stopped one
    /// leaves in the run directory is found again (by its successor, or by `Drop`).
    instance: String,
}

pub struct SyncLab {
    pub a: Site,
    pub b: Site,
    _dir: tempfile::TempDir,
}

impl SyncLab {
    /// Sites "a" (198.18.<subnet>.1) and "b" (.2), each with an empty `records` table.
    pub fn new(subnet: u8) -> SyncLab {
        let dir = tempfile::tempdir().expect("temp dir");
        let base = unique("sq");
        let site = |name: &'static str, host: u8| {
            let db = dir.path().join(format!("{name}.db"));
            sqlite(&db, SCHEMA);
            let key = crate::key_file::write(dir.path(), &format!("{name}.key"), KEY).unwrap();
            Site {
                name,
                ns: Netns::new(&format!("sy{name}")),
                iface: format!("{base}{name}"),
                address: format!("198.18.{subnet}.{host}"),
                db,
                key,
                instance: format!("{base}{name}"),
            }
        };
        let (a, b) = (site("a", 1), site("b", 2));
        ip(&["link", "add", &a.iface, "type", "veth", "peer", "name", &b.iface]);
        for s in [&a, &b] {
            ip(&["link", "set", &s.iface, "netns", &s.ns.name]);
            s.ns.ip(&["addr", "add", &format!("{}/24", s.address), "dev", &s.iface]);
            s.ns.ip(&["link", "set", &s.iface, "up"]);
        }
        SyncLab { a, b, _dir: dir }
    }

    pub fn start(&self, site: &Site) -> Daemon {
        Daemon::start(&site.ns, &site.config(self.peer_of(site), "records"))
    }

    /// Runs `switchyard run` at `site` syncing `table`, expecting it to refuse to start;
    /// returns its exit code and stderr.
    pub fn start_refused(&self, site: &Site, table: &str) -> (Option<i32>, String) {
        let config = self._dir.path().join(format!("{}-refused.toml", site.name));
        std::fs::write(&config, site.config(self.peer_of(site), table)).unwrap();
        let mut run = site.ns.command(binary().to_str().unwrap());
        let out = run.args(["run", "--config"]).arg(&config).output().expect("switchyard run");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    fn peer_of(&self, site: &Site) -> &Site {
        if site.name == "a" { &self.b } else { &self.a }
    }
}

impl Drop for SyncLab {
    /// A stopped daemon leaves its state files for a successor; none comes after the lab.
    fn drop(&mut self) {
        for (site, peer) in [(&self.a, &self.b), (&self.b, &self.a)] {
            let Ok(config) = switchyard::config::Config::parse(&site.config(peer, "records"), "lab.toml") else {
                continue;
            };
            let server = &config.server;
            for path in [
                switchyard::daemon::runtime_state::path(server),
                switchyard::daemon::zone_serials::path(server),
                server.admin_socket(),
            ] {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

impl Site {
    fn config(&self, peer: &Site, table: &str) -> String {
        format!(
            r#"
[server]
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
a = ["{address}"]

[sync]
database = "{db}"
listen = "{address}:{SYNC_PORT}"
key_file = "{key}"
interval_ms = 50
request_timeout_ms = 1000

[[sync.table]]
name = "{table}"

[[sync.peer]]
site = "{peer_name}"
url = "http://{peer_address}:{SYNC_PORT}"
"#,
            instance = self.instance,
            address = self.address,
            name = self.name,
            db = self.db.display(),
            key = self.key.display(),
            peer_name = peer.name,
            peer_address = peer.address,
        )
    }

    /// Runs SQL on this site's database with the sqlite3 shell.
    pub fn sql(&self, statements: &str) -> String {
        sqlite(&self.db, statements)
    }

    /// Every row of `records`, in key order, one `id|name|value` line each.
    pub fn rows(&self) -> String {
        self.sql("SELECT id, name, value FROM records ORDER BY id;")
    }

    pub fn count(&self) -> usize {
        self.sql("SELECT count(*) FROM records;").trim().parse().expect("a count")
    }

    pub fn link_down(&self) {
        self.ns.ip(&["link", "set", &self.iface, "down"]);
    }

    pub fn link_up(&self) {
        self.ns.ip(&["link", "set", &self.iface, "up"]);
    }
}

/// `sqlite3 DB SQL`, waiting up to 10 s for a lock the daemon holds; panics on failure.
pub fn sqlite(db: &Path, statements: &str) -> String {
    let out = Command::new("sqlite3")
        .args(["-cmd", ".timeout 10000"])
        .arg(db)
        .arg(statements)
        .output()
        .expect("sqlite3 shell (Debian package sqlite3)");
    assert!(out.status.success(), "sqlite3 {statements}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Inserts rows `ids` at a site, one shell process per `chunk` rows.
pub fn insert_rows(site: &Site, ids: std::ops::Range<u32>, chunk: u32) {
    let mut start = ids.start;
    while start < ids.end {
        let end = (start + chunk).min(ids.end);
        let values: Vec<String> = (start..end).map(|id| format!("({id}, 'row-{id}', '{}')", site.name)).collect();
        site.sql(&format!("INSERT INTO records(id, name, value) VALUES {};", values.join(", ")));
        start = end;
    }
}

/// Polls `done` until it holds or `within` has passed; returns how long it took.
pub fn wait_until(within: Duration, what: &str, mut done: impl FnMut() -> bool, log: impl Fn() -> String) -> Duration {
    let started = Instant::now();
    while started.elapsed() < within {
        if done() {
            return started.elapsed();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what}: not within {within:?}\n{}", log());
}
