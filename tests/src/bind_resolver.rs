//! BIND 9's named as a validating resolver inside a namespace: one zone sent to one server
//! address (a static stub), trusted through the DS the zone's parent would publish. Stopped on
//! drop.

use std::{
    net::IpAddr,
    path::PathBuf,
    process::{Child, Stdio},
    time::Duration,
};

use crate::{
    netns::Netns,
    resolver::{stop, wait_for_log_line},
};

pub struct Named {
    child: Child,
    /// Where it listens (port 53).
    address: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Named {
    /// Starts named in `ns` on `listen`:53, recursing for the clients of `ns`, with `zone`
    /// served by `server` and trusted from `ds` (a DS line as `switchyard dnssec ds` prints it);
    /// waits until it serves. `refused_zone` is sent to `server` too, which serves it not: its
    /// answers are the complaint a test can check the log shows (lame-server lines).
    pub fn start_validating(
        ns: &Netns,
        listen: &str,
        (zone, refused_zone): (&str, &str),
        server: IpAddr,
        ds: &str,
    ) -> Named {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("named.log");
        let config = dir.path().join("named.conf");
        // "example.com. 3600 IN DS 12345 13 2 ABCD..." -> 12345 13 2 "ABCD..."
        let fields: Vec<&str> = ds.split_whitespace().collect();
        assert!(fields.len() >= 8 && fields[3] == "DS", "not a DS line: {ds}");
        let anchor = format!("{} {} {} \"{}\"", fields[4], fields[5], fields[6], fields[7..].concat());
        let d = dir.path().display();
        let text = format!(
            r#"options {{
  directory "{d}";
  pid-file "{d}/named.pid";
  session-keyfile "{d}/session.key";
  managed-keys-directory "{d}";
  listen-on port 53 {{ {listen}; }};
  listen-on-v6 {{ none; }};
  recursion yes;
  allow-recursion {{ any; }};
  allow-query {{ any; }};
  dnssec-validation yes;
}};
controls {{ }};
trust-anchors {{ {zone}. static-ds {anchor}; }};
zone "{zone}" {{ type static-stub; server-addresses {{ {server}; }}; }};
zone "{refused_zone}" {{ type static-stub; server-addresses {{ {server}; }}; }};
"#
        );
        std::fs::write(&config, text).expect("write named.conf");
        // In the foreground, every category logged to stderr, which goes to the log file.
        let stderr = std::fs::File::create(&log).expect("named log");
        let child = ns
            .command("named")
            .args(["-g", "-n", "1", "-c"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start named (Debian package bind9)");
        let mut named = Named { child, address: listen.to_string(), log, _dir: dir };
        named.wait_ready();
        named
    }

    fn wait_ready(&mut self) {
        wait_for_log_line(&mut self.child, &self.log, "running", "named", Duration::from_secs(15));
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The dig output (flags, status and records, DNSSEC records included) of `name` `rtype`
    /// asked of this resolver from `ns`.
    pub fn ask(&self, ns: &Netns, name: &str, rtype: &str) -> String {
        crate::signed_zone::dig_dnssec(ns, &self.address, name, rtype)
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}
