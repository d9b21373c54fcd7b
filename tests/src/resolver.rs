//! A real resolver, unbound, inside a namespace: it sends the queries for one zone to one server
//! address (a stub zone) and, like every resolver, takes an answer only from the address it
//! asked. Stopped on drop.

use std::{
    net::IpAddr,
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use crate::netns::Netns;

pub struct Unbound {
    child: Child,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Unbound {
    /// Starts unbound in `ns` on 127.0.0.1:53, iterating only (no validation), with `zone`
    /// served by `server`; waits until it serves.
    pub fn start(ns: &Netns, zone: &str, server: IpAddr) -> Unbound {
        Unbound::start_with(ns, zone, server, None)
    }

    /// Like `start`, validating DNSSEC from `trust_anchor` (a DS or DNSKEY line of `zone`):
    /// a secure answer has the AD flag, a bogus one is SERVFAIL.
    pub fn start_validating(ns: &Netns, zone: &str, server: IpAddr, trust_anchor: &str) -> Unbound {
        Unbound::start_with(ns, zone, server, Some(trust_anchor))
    }

    fn start_with(ns: &Netns, zone: &str, server: IpAddr, trust_anchor: Option<&str>) -> Unbound {
        let (modules, anchor) = match trust_anchor {
            Some(anchor) => ("validator iterator", format!("    trust-anchor: \"{anchor}\"\n    val-log-level: 2\n")),
            None => ("iterator", String::new()),
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("unbound.log");
        let config = dir.path().join("unbound.conf");
        let text = format!(
            r#"server:
    interface: 127.0.0.1
    port: 53
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "{dir}"
    pidfile: ""
    use-syslog: no
    logfile: "{log}"
    verbosity: 1
    module-config: "{modules}"
    access-control: 127.0.0.0/8 allow
    do-ip6: yes
{anchor}stub-zone:
    name: "{zone}"
    stub-addr: {server}
"#,
            dir = dir.path().display(),
            log = log.display(),
        );
        std::fs::write(&config, text).expect("write unbound.conf");
        let child = ns
            .command("unbound")
            .arg("-d")
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start unbound (Debian package unbound)");
        let mut unbound = Unbound { child, log, _dir: dir };
        unbound.wait_ready();
        unbound
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.log().contains("start of service") {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("unbound exited with {status}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("unbound not serving after 10 s:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Resolves `name` `rtype` through this resolver (dig +short from `ns`): the answer lines.
    pub fn resolve(&self, ns: &Netns, name: &str, rtype: &str) -> Vec<String> {
        let out = ns.output("dig", &["@127.0.0.1", name, rtype, "+short", "+tries=1", "+time=5"]);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "dig via unbound {name} {rtype}: {stdout}\nunbound log:\n{}", self.log());
        stdout.lines().map(str::to_string).collect()
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        // SAFETY: signalling our own child by PID.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
