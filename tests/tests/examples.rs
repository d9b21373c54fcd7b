//! The example configs are accepted by `switchyard check`.
//!
//! The examples name a real interface (eth0), a peer key under /etc and their sites' own
//! addresses (198.18.0.x), which a test host may not have. So: first parse and validate them
//! as they are (everything but the host checks), then run `switchyard check` on copies with
//! XDP mode "off" (which skips the interface check), the key path pointing at a key made here
//! and the addresses the daemon binds moved to this host's loopback.

use std::{path::Path, process::Command};

use switchyard::config::Config;
use switchyard_tests::daemon::binary;

const EXAMPLES: [&str; 3] = ["switchyard.toml", "site-a.toml", "site-b.toml"];

fn examples_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples"))
}

#[test]
fn examples_parse_and_validate() {
    for name in EXAMPLES {
        let path = examples_dir().join(name);
        Config::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn switchyard_check_accepts_the_examples() {
    let dir = tempfile::tempdir().unwrap();
    let key = switchyard_tests::key_file::write(dir.path(), "peer.key", "0123456789abcdef0123456789abcdef").unwrap();
    for name in EXAMPLES {
        let text = std::fs::read_to_string(examples_dir().join(name)).unwrap();
        assert!(text.contains("mode = \"auto\"") && text.contains("/etc/switchyard/peer.key"), "{name} changed shape");
        let copy = dir.path().join(name);
        let text = bound_on_loopback(
            &text
                .replace("mode = \"auto\"", "mode = \"off\"")
                .replace("/etc/switchyard/peer.key", key.to_str().unwrap()),
        );
        std::fs::write(&copy, text).unwrap();
        let out = Command::new(binary()).args(["check", "--config"]).arg(&copy).output().expect("switchyard check");
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains(": ok ("), "{name}");
    }
}

/// `text` with the addresses the daemon binds (`listen`, `metrics`) on 127.0.0.1, which every
/// host has; the peers' addresses stay.
fn bound_on_loopback(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let binds = line.starts_with("listen = ") || line.starts_with("metrics = ");
        let line = if binds {
            line.replace("198.18.0.1", "127.0.0.1").replace("198.18.0.2", "127.0.0.1")
        } else {
            line.into()
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}
