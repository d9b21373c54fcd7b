//! A reference authoritative server, Knot DNS from Debian's packages (installed by `cargo xtask
//! test`), serving a zone file inside a namespace, for differential tests.

use std::{
    net::{IpAddr, SocketAddr},
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use hickory_proto::rr::RecordType;

use crate::{client, netns::Netns};

/// A running `knotd`; stopped when dropped.
pub struct Knot {
    child: Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Knot {
    /// Starts Knot in `ns` on `addr`, authoritative for `zone` with the records of `zone_file`
    /// (master file format), CHAOS identity and version off, and waits until it answers.
    pub fn start(ns: &Netns, addr: SocketAddr, zone: &str, zone_file: &str) -> Knot {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().display();
        std::fs::write(dir.path().join(format!("{zone}zone")), zone_file).expect("zone file");
        let listen = format!("{}@{}", addr.ip(), addr.port());
        let conf = format!(
            "server:\n    rundir: \"{d}\"\n    listen: {listen}\n    identity: \"\"\n    version: \"\"\n\
             log:\n  - target: stderr\n    any: warning\n\
             database:\n    storage: \"{d}\"\n\
             template:\n  - id: default\n    storage: \"{d}\"\n    file: \"%s.zone\"\n    zonefile-sync: -1\n    journal-content: none\n\
             zone:\n  - domain: {zone}\n"
        );
        std::fs::write(dir.path().join("knot.conf"), conf).expect("knot.conf");
        let child = ns
            .command("knotd")
            .args(["-c", &format!("{d}/knot.conf")])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start knotd (cargo xtask test installs knot)");
        let knot = Knot { child, addr, _dir: dir };
        knot.wait_ready(ns, zone);
        knot
    }

    fn wait_ready(&self, ns: &Netns, zone: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let query = client::query_message(zone, RecordType::SOA, false);
        while Instant::now() < deadline {
            if client::udp_connected(ns, self.addr, &query, Duration::from_millis(200))
                .is_some_and(|m| !m.answers.is_empty())
            {
                return;
            }
        }
        panic!("knotd did not answer for {zone} on {} within 20 s", self.addr);
    }

    pub fn ip(&self) -> IpAddr {
        self.addr.ip()
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
