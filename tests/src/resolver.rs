//! A real resolver, unbound, inside a namespace: it sends the queries for one zone to one server
//! address (a stub zone) and, like every resolver, takes an answer only from the address it
//! asked. Stopped on drop.

use std::{
    net::IpAddr,
    path::Path,
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use crate::netns::Netns;

pub struct Unbound {
    child: Child,
    /// Where it listens (port 53): 127.0.0.1 unless started with `start_validating_at`.
    address: String,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Unbound {
    /// Starts unbound in `ns` on 127.0.0.1:53, iterating only (no validation), with `zone`
    /// served by `server`; waits until it serves.
    pub fn start(ns: &Netns, zone: &str, server: IpAddr) -> Unbound {
        Unbound::start_with(ns, "127.0.0.1", zone, server, &[])
    }

    /// Like `start`, validating DNSSEC from `trust_anchor` (a DS or DNSKEY line of `zone`):
    /// a secure answer has the AD flag, a bogus one is SERVFAIL.
    pub fn start_validating(ns: &Netns, zone: &str, server: IpAddr, trust_anchor: &str) -> Unbound {
        Unbound::start_with(ns, "127.0.0.1", zone, server, &[trust_anchor])
    }

    /// Like `start_validating`, listening on `listen` (another loopback address, so that several
    /// resolvers run side by side), with several anchors, as a parent publishes several DS
    /// records during a key rollover: a key matching any of them makes the zone's keys trusted.
    pub fn start_validating_at(
        ns: &Netns,
        listen: &str,
        zone: &str,
        server: IpAddr,
        trust_anchors: &[&str],
    ) -> Unbound {
        Unbound::start_with(ns, listen, zone, server, trust_anchors)
    }

    fn start_with(ns: &Netns, listen: &str, zone: &str, server: IpAddr, trust_anchors: &[&str]) -> Unbound {
        let modules = if trust_anchors.is_empty() { "iterator" } else { "validator iterator" };
        let mut anchor: String = trust_anchors.iter().map(|a| format!("    trust-anchor: \"{a}\"\n")).collect();
        if !trust_anchors.is_empty() {
            anchor.push_str("    val-log-level: 2\n");
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("unbound.log");
        let config = dir.path().join("unbound.conf");
        let text = format!(
            r#"server:
    interface: {listen}
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
        let mut unbound = Unbound { child, address: listen.to_string(), log, _dir: dir };
        unbound.wait_ready();
        unbound
    }

    fn wait_ready(&mut self) {
        wait_for_log_line(&mut self.child, &self.log, "start of service", "unbound", Duration::from_secs(10));
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Resolves `name` `rtype` through this resolver (dig +short from `ns`): the answer lines.
    pub fn resolve(&self, ns: &Netns, name: &str, rtype: &str) -> Vec<String> {
        let at = format!("@{}", self.address);
        let out = ns.output("dig", &[&at, name, rtype, "+short", "+tries=1", "+time=5"]);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "dig via unbound {name} {rtype}: {stdout}\nunbound log:\n{}", self.log());
        stdout.lines().map(str::to_string).collect()
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Waits until the log file at `log` of `what` (our `child`) has a line with `marker`; panics
/// with the log when the child exits or `within` passes first.
pub(crate) fn wait_for_log_line(child: &mut Child, log: &Path, marker: &str, what: &str, within: Duration) {
    let read = || std::fs::read_to_string(log).unwrap_or_default();
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if read().contains(marker) {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited with {status}:\n{}", read());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} not serving after {within:?}:\n{}", read());
}

/// SIGTERM to our own `child`, then up to 5 s for it to exit before it is killed.
pub(crate) fn stop(child: &mut Child) {
    // SAFETY: signalling our own child by PID.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}
