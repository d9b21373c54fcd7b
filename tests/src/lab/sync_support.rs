//! Whether the daemon binary understands `[sync]`: asked with `switchyard check`, so the lab
//! runs against a daemon built with or without database sync.

use std::process::Command;

/// False only when the daemon refuses `[sync]` as an unknown section.
pub fn daemon_has_sync(dir: &std::path::Path) -> bool {
    let config = dir.join("sync-probe.toml");
    let text = format!(
        r#"[server]
instance = "sync-probe"
site = "a"

[[site]]
name = "a"

[sync]
database = "{db}"
listen = "127.0.0.1:8053"
key_file = "{key}"
[[sync.table]]
name = "items"
[[sync.peer]]
site = "b"
url = "http://127.0.0.1:8054"
"#,
        db = dir.join("sync-probe.db").display(),
        key = dir.join("sync.key").display(),
    );
    if std::fs::write(&config, text).is_err() {
        return false;
    }
    let out = Command::new(crate::daemon::binary()).args(["check", "--config"]).arg(&config).output();
    let _ = std::fs::remove_file(&config);
    match out {
        Ok(out) => !String::from_utf8_lossy(&out.stderr).contains("unknown field `sync`"),
        Err(_) => false,
    }
}
