//! `Config::load_for_host`'s checks of addresses and paths against this host.

use std::path::Path;

use super::Config;
use super::fixture::{ConfigText, address_not_on_this_host};

fn load(dir: &Path, text: &str) -> Result<Config, String> {
    let file = dir.join("t.toml");
    std::fs::write(&file, text).unwrap();
    Config::load_for_host(&file).map_err(|e| e.to_string())
}

fn with_server(lines: &[&str]) -> String {
    ConfigText::new().server("t", lines).xdp_off().zone().build()
}

#[test]
fn a_listen_address_this_host_does_not_have_is_refused() {
    let (dir, not_ours) = (tempfile::tempdir().unwrap(), address_not_on_this_host());
    let error = load(dir.path(), &with_server(&[&format!("listen = [\"127.0.0.1\", \"{not_ours}\"]")])).unwrap_err();
    assert!(
        error.contains(&format!(
            "server.listen[1]: {not_ours} is not an address of this host (in this network namespace)"
        )),
        "{error}"
    );
    load(dir.path(), &with_server(&[r#"listen = ["127.0.0.1", "::"]"#])).unwrap();
    // All of 127.0.0.0/8 binds on Linux, with only 127.0.0.1 on lo.
    load(dir.path(), &with_server(&[r#"listen = ["127.0.0.2"]"#])).unwrap();
}

#[test]
fn a_metrics_address_this_host_does_not_have_is_refused() {
    let (dir, not_ours) = (tempfile::tempdir().unwrap(), address_not_on_this_host());
    let error = load(dir.path(), &with_server(&[&format!("metrics = \"{not_ours}:9153\"")])).unwrap_err();
    assert!(error.contains(&format!("server.metrics: {not_ours} is not an address of this host")), "{error}");
    load(dir.path(), &with_server(&[r#"metrics = "127.0.0.1:9153""#])).unwrap();
}

#[test]
fn a_peers_listen_address_this_host_does_not_have_is_refused() {
    let (dir, not_ours) = (tempfile::tempdir().unwrap(), address_not_on_this_host());
    let text = ConfigText::new()
        .server("t", &["site = \"a\"", "node = \"dns-a1\""])
        .xdp_off()
        .zone()
        .site("a", &["198.18.1.10"], &[])
        .remote_site("b", &["198.18.2.10"])
        .peers(&format!("{not_ours}:5300"), "/nonexistent/peer.key")
        .peer("b", "dns-b1", "198.18.0.2:5300")
        .build();
    let error = load(dir.path(), &text).unwrap_err();
    assert!(error.contains(&format!("peers.listen: {not_ours} is not an address of this host")), "{error}");
    // Past the address check, the next one looks at the key file.
    let error = load(dir.path(), &text.replace(&not_ours.to_string(), "127.0.0.1")).unwrap_err();
    assert!(error.contains("peers.key_files"), "{error}");
}

#[test]
fn an_admin_socket_path_longer_than_a_unix_socket_holds_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = "/run/switchyard";
    // "/run/switchyard/" + instance + ".sock": 107 bytes fit, 108 do not.
    let fits = "i".repeat(107 - run_dir.len() - 1 - ".sock".len());
    let run_dir_line = format!("run_dir = {run_dir:?}");
    let text = |instance: &str| ConfigText::new().server(instance, &[&run_dir_line]).xdp_off().zone().build();
    load(dir.path(), &text(&fits)).unwrap();
    let error = load(dir.path(), &text(&format!("{fits}i"))).unwrap_err();
    assert!(
        error.contains("server.instance: the admin socket /run/switchyard/")
            && error.contains("would be 108 bytes, more than the 107 a Unix socket path holds"),
        "{error}"
    );
}
