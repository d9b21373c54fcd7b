//! The `[sync]` section: what is accepted, and one clear error for each mistake.

use std::os::unix::fs::PermissionsExt;

use crate::{config::Config, sync::ConflictRule};

const BASE: &str = r#"
[server]
site = "a"
[[zone]]
name = "example.com."
ns = ["ns1.example.com."]
soa = { mname = "ns1.example.com.", rname = "hostmaster.example.com." }
[[site]]
name = "a"
a = ["198.18.1.10"]
[sync]
database = "/var/lib/switchyard/a.db"
listen = "198.18.0.1:8053"
key_file = "KEY"
interval_ms = 50
[[sync.table]]
name = "records"
[[sync.table]]
name = "services"
policy = "delete_wins"
[[sync.table]]
name = "owners"
policy = { site_priority = ["a", "b"] }
[[sync.peer]]
site = "b"
url = "http://198.18.0.2:8053"
"#;

fn assert_refused(text: &str, key: &str, problem: &str) {
    let e = Config::parse(text, "t.toml").expect_err("refused").to_string();
    assert!(e.starts_with("config error in t.toml: "), "{e}");
    assert!(e.contains(key) && e.contains(problem), "expected {key:?} / {problem:?} in: {e}");
}

#[test]
fn sync_section_parses_with_policies() {
    let config = Config::parse(BASE, "t.toml").unwrap();
    let sync = config.sync.as_ref().unwrap();
    assert_eq!(sync.tables[0].policy, ConflictRule::LastWriterWins);
    assert_eq!(sync.tables[1].policy, ConflictRule::DeleteWins);
    assert_eq!(sync.tables[2].policy, ConflictRule::SitePriority(vec!["a".into(), "b".into()]));
    assert_eq!(sync.peers[0].site, "b");
}

#[test]
fn mistakes_name_their_key() {
    assert_refused(
        &BASE
            .replace("site = \"a\"\n[[zone]]", "[[zone]]")
            .replace("[[site]]\nname = \"a\"\na = [\"198.18.1.10\"]\n", ""),
        "server.site",
        "required with [sync]",
    );
    assert_refused(&BASE.replace("interval_ms = 50", "interval_ms = 1"), "sync.interval_ms", "outside");
    assert_refused(&BASE.replace("\"delete_wins\"", "\"newest\""), "sync.table[1].policy", "unknown variant");
    assert_refused(&BASE.replace("name = \"owners\"", "name = \"records\""), "sync.table[2].name", "listed twice");
    assert_refused(&BASE.replace("name = \"owners\"", "name = \"_sy_x\""), "sync.table[2].name", "reserved prefix");
    assert_refused(&BASE.replace("site = \"b\"\nurl", "site = \"a\"\nurl"), "sync.peer[0].site", "own site");
    assert_refused(&BASE.replace("http://198.18.0.2:8053", "ftp://x"), "sync.peer[0].url", "http://");
    assert_refused(&BASE.replace("listen = \"198.18.0.1:8053\"", "listen = \"198.18.0.1:0\""), "sync.listen", "port 0");
    assert_refused(&BASE.replace("interval_ms = 50", "intervall_ms = 50"), "sync.intervall_ms", "unknown field");
    let with = |line: &str| BASE.replace("interval_ms = 50", &format!("interval_ms = 50\n{line}"));
    assert_refused(&with("max_batch_bytes = 1000"), "sync.max_batch_bytes", "1000 is outside 65536..=");
    assert_refused(&with("max_connections = 0"), "sync.max_connections", "outside 1..=");
    assert_refused(&with("max_concurrent_requests = 0"), "sync.max_concurrent_requests", "outside 1..=");
    assert_refused(&with("max_clock_ahead_ms = 10"), "sync.max_clock_ahead_ms", "outside 1000..=");
    assert_refused(&with("anti_entropy_interval_ms = 5"), "sync.anti_entropy_interval_ms", "outside 1000..=");
    assert_refused(&with("conflict_log_max_rows = 10"), "sync.conflict_log_max_rows", "outside 1000..=");
    assert_refused(&with("max_changes_per_batch = 0"), "sync.max_changes_per_batch", "outside 1..=");
}

#[test]
fn key_file_must_be_private_and_long_enough() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("sync.key");
    std::fs::write(&key, "sync-key-0123456789abcdef\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let config = Config::parse(&BASE.replace("KEY", key.to_str().unwrap()), "t.toml").unwrap();
    let e = config.check_sync_key(std::path::Path::new("t.toml")).unwrap_err().to_string();
    assert!(e.starts_with("config error in t.toml: sync.key_file: ") && e.contains("chmod 600"), "{e}");

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let sync = config.sync_config(std::path::Path::new("t.toml")).unwrap().unwrap();
    assert_eq!(sync.key, b"sync-key-0123456789abcdef");
    assert_eq!(sync.site_id, "a");
    assert_eq!(sync.interval.as_millis(), 50);
    assert_eq!(sync.max_batch_bytes, 32 * 1024 * 1024, "default");
    assert_eq!(sync.anti_entropy_interval, Some(std::time::Duration::from_secs(60)), "default");
    assert_eq!(sync.conflict_log_max_rows, 100_000, "default");

    let tuned = BASE.replace(
        "interval_ms = 50",
        "interval_ms = 50\nmax_batch_bytes = 1048576\nmax_clock_ahead_ms = 5000\nanti_entropy_interval_ms = 0\n\
         conflict_log_max_rows = 5000",
    );
    let tuned = Config::parse(&tuned.replace("KEY", key.to_str().unwrap()), "t.toml").unwrap();
    let sync = tuned.sync_config(std::path::Path::new("t.toml")).unwrap().unwrap();
    assert_eq!(sync.max_batch_bytes, 1_048_576);
    assert_eq!(sync.max_clock_ahead.as_millis(), 5000);
    assert_eq!(sync.anti_entropy_interval, None, "0 turns anti-entropy off");
    assert_eq!(sync.conflict_log_max_rows, 5000);

    std::fs::write(&key, "short").unwrap();
    let e = config.check_sync_key(std::path::Path::new("t.toml")).unwrap_err().to_string();
    assert!(e.contains("sync.key_file") && e.contains("at least 16"), "{e}");
}
