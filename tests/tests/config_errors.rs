//! A bad config stops the daemon at start with one line naming the file, the key and the
//! problem (exit code 2), before anything is bound, attached or pinned.

use std::process::Command;

use switchyard::config::fixture::{ConfigText, address_not_on_this_host};
use switchyard_tests::{daemon::binary, netns::Netns, privileges::have_root};

/// A config `switchyard run` accepts; each test breaks one thing in it.
fn good() -> String {
    ConfigText::new()
        .server("cfgtest", &["dns_port = 53"])
        .xdp("lo", "native")
        .zone()
        .fixed_service("www.example.com.", &["198.18.10.1"], &[])
        .build()
}

/// Runs `switchyard run` on `text` and returns (exit code, stderr, the file's path).
fn run_with(text: &str) -> (i32, String, String) {
    run_command("run", text)
}

/// Runs `switchyard <command> --config` on `text` and returns (exit code, stderr, the file's path).
fn run_command(command: &str, text: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(binary()).args([command, "--config"]).arg(&path).output().expect("switchyard");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned(), path.display().to_string())
}

fn assert_refused(text: &str, key: &str, problem: &str) {
    let (code, stderr, file) = run_with(text);
    assert_eq!(code, 2, "exit code 2 for a bad config; stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(&file), "names the file: {stderr}");
    assert!(stderr.contains(key), "names the key {key}: {stderr}");
    assert!(stderr.contains(problem), "says {problem:?}: {stderr}");
    assert!(!std::path::Path::new("/sys/fs/bpf/switchyard/cfgtest").exists(), "nothing pinned");
}

#[test]
fn unknown_key_is_refused() {
    assert_refused(
        &good().replace("dns_port = 53", "dns_port = 53\ndns_prot = 54"),
        "server",
        "unknown field `dns_prot`",
    );
}

#[test]
fn bad_address_is_refused() {
    assert_refused(&good().replace("198.18.10.1", "198.18.300.1"), "service[0].a[0]", "invalid IPv4 address");
}

#[test]
fn name_outside_the_zone_is_refused() {
    assert_refused(
        &good().replace("www.example.com.", "www.example.org."),
        "service[0].name",
        "outside every configured zone",
    );
}

#[test]
fn udp_threads_out_of_range_are_refused() {
    for n in [0, 257] {
        let text = good().replace("dns_port = 53", &format!("dns_port = 53\nudp_threads = {n}"));
        assert_refused(&text, "server.udp_threads", "must be 1 to 256");
    }
}

#[test]
fn missing_interface_is_refused() {
    assert_refused(
        &good().replace("interfaces = [\"lo\"]", "interfaces = [\"sy-missing0\"]"),
        "xdp.interfaces[0]",
        "no interface named",
    );
}

#[test]
fn services_the_answer_map_cannot_hold_are_refused() {
    // Three entries: www's A, api's A and AAAA.
    let two = good() + "\n[[service]]\nname = \"api.example.com.\"\na = [\"198.18.10.2\"]\naaaa = [\"fd00::10:2\"]\n";
    let (code, stderr, _) =
        run_command("check", &two.replace("mode = \"native\"", "mode = \"native\"\nmax_entries = 3"));
    assert_eq!(code, 0, "three entries fit in three: {stderr}");
    let small = two.replace("mode = \"native\"", "mode = \"native\"\nmax_entries = 2");
    assert_refused(&small, "xdp.max_entries", "is 2, and the services need 3 answer map entries");
    let zero = good().replace("mode = \"native\"", "mode = \"native\"\nmax_entries = 0");
    assert_refused(&zero, "xdp.max_entries", "must be at least 1");
    // Without XDP there is no map to fit.
    let off = small.replace("mode = \"native\"", "mode = \"off\"");
    let (code, stderr, _) = run_command("check", &off);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn check_accepts_a_good_config_and_refuses_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let good_file = dir.path().join("good.toml");
    std::fs::write(&good_file, good()).unwrap();
    let out = Command::new(binary()).args(["check", "--config"]).arg(&good_file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (1 zones, 1 services"));
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, good().replace("[[zone]]", "[[zones]]")).unwrap();
    let out = Command::new(binary()).args(["check", "--config"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_database_with_two_sources_needs_to_be_told_how_to_combine_them() {
    let site = ConfigText::new()
        .site("a", &["198.18.10.1"], &[])
        .tcp_server("web1", "198.18.10.11:80")
        .haproxy("http://127.0.0.1:8404/stats;csv", "web")
        .database("http://198.18.10.11/dbcheck", "db-a")
        .line("haproxy_backend = \"dbcheck\"")
        .service("app.example.com.", 5, &["a"])
        .build();
    let text = format!("{}{site}", good());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("both.toml");
    std::fs::write(&file, &text).unwrap();
    let out = Command::new(binary()).args(["check", "--config"]).arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "site[0] ('a').database.combine: both url (the database page, checked here) and haproxy_backend \
             (HAProxy's backend 'dbcheck') are set: say how to combine them, combine = \"all\" (both must pass) \
             or combine = \"any\" (either is enough)"
        ),
        "{stderr}"
    );
    for combine in ["all", "any"] {
        std::fs::write(
            &file,
            text.replace(
                "haproxy_backend = \"dbcheck\"",
                &format!("haproxy_backend = \"dbcheck\"\ncombine = \"{combine}\""),
            ),
        )
        .unwrap();
        let out = Command::new(binary()).args(["check", "--config"]).arg(&file).output().unwrap();
        assert!(out.status.success(), "combine = {combine}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// A site with one HTTP check at `url`, and more lines for that check.
fn with_http_check(url: &str, lines: &[&str]) -> String {
    let site = ConfigText::new()
        .site("a", &["198.18.10.1"], &[])
        .http_server("web1", url)
        .lines(lines)
        .service("app.example.com.", 5, &["a"])
        .build();
    format!("{}{site}", good())
}

#[test]
fn check_warns_about_a_check_url_whose_name_does_not_resolve() {
    if !switchyard_tests::privileges::have_root("check_warns_about_a_check_url_whose_name_does_not_resolve") {
        return;
    }
    // In a namespace of its own (loopback only) the resolver can send nothing anywhere.
    let ns = switchyard_tests::netns::Netns::new("sycfg");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("names.toml");
    std::fs::write(&file, with_http_check("http://web1.example.invalid:8080/health", &[])).unwrap();
    let out = ns.output(binary().to_str().unwrap(), &["check", "--config", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "a name that does not resolve is a warning, not an error: {stderr}");
    assert!(
        stderr.starts_with(
            "switchyard: warning: site[0] ('a').server[0].url: the name 'web1.example.invalid' does not resolve now"
        ) && stderr.contains("resolved by the system resolver at every probe"),
        "{stderr}"
    );
    std::fs::write(&file, with_http_check("http://localhost:8080/health", &[])).unwrap();
    let out = ns.output(binary().to_str().unwrap(), &["check", "--config", file.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "localhost resolves from /etc/hosts");
}

#[test]
fn check_loads_the_tls_files_of_https_checks() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing-ca.pem");
    let ca_line = format!("ca_file = {:?}", missing.to_str().unwrap());
    let text = with_http_check("https://198.18.10.11/health", &["host = \"www.example.com\"", &ca_line]);
    let file = dir.path().join("tls.toml");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(binary()).args(["check", "--config"]).arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("site[0] ('a').server[0]: ca_file ") && stderr.contains("cannot read it"), "{stderr}");
}

#[test]
fn bad_rate_limits_are_refused() {
    let with = |rrl: &str| format!("{}\n[rrl]\nenabled = true\n{rrl}\n", good());
    assert_refused(&with("responses_per_second = 0"), "rrl.responses_per_second", "must be 1 to 1000000");
    assert_refused(&with("slip = 1000"), "rrl.slip", "must be 0 (drop every limited response) to 100");
    assert_refused(&with("ipv6_prefix = 129"), "rrl.ipv6_prefix", "must be 1 to 128");
    assert_refused(&with("exempt = [\"198.18.0.7/24\"]"), "rrl.exempt[0]", "has host bits set: write 198.18.0.0/24");
}

#[test]
fn a_ttl_above_rfc_2181_is_refused() {
    let text = good().replace("name = \"www.example.com.\"", "name = \"www.example.com.\"\nttl = 2147483648");
    assert_refused(&text, "service[0].ttl", "must be at most 2147483647 (RFC 2181 §8)");
    let negative =
        good().replace("rname = \"hostmaster.example.com.\"", "rname = \"hostmaster.example.com.\", retry = -5");
    assert_refused(&negative, "zone[0].soa.retry", "is -5; must be 0 to 2147483647 seconds");
}

#[test]
fn bad_server_sockets_and_view_names_are_refused() {
    assert_refused(&good().replace("dns_port = 53", "dns_port = 0"), "server.dns_port", "must be 1 to 65535");
    let twice = good().replace("dns_port = 53", "dns_port = 53\nlisten = [\"::\", \"::\"]");
    assert_refused(&twice, "server.listen[1]", ":: is server.listen[0] already");
    let view = good() + "\n[[view]]\nname = \"default\"\nprefixes = [\"198.18.0.0/24\"]\n";
    assert_refused(&view, "view[0].name", "\"default\" is the built-in view");
}

#[test]
fn addresses_and_paths_this_host_cannot_have_are_refused() {
    let not_ours = address_not_on_this_host();
    let listen = good().replace("dns_port = 53", &format!("dns_port = 53\nlisten = [\"{not_ours}\"]"));
    assert_refused(&listen, "server.listen[0]", &format!("{not_ours} is not an address of this host"));
    let metrics = good().replace("dns_port = 53", &format!("dns_port = 53\nmetrics = \"{not_ours}:9153\""));
    let (code, stderr, _) = run_command("check", &metrics);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(&format!("server.metrics: {not_ours} is not an address of this host")), "{stderr}");
    let long = good().replace("instance = \"cfgtest\"", &format!("instance = \"{}\"", "i".repeat(100)));
    assert_refused(&long, "server.instance", "more than the 107 a Unix socket path holds");
}

/// An address keepalived moves here later binds while `ip_nonlocal_bind` is 1, so `check`
/// takes it then, and refuses it while the setting is 0 (in a namespace of the test's own).
#[test]
fn an_address_this_host_lacks_is_taken_while_nonlocal_bind_is_on() {
    if !have_root("an_address_this_host_lacks_is_taken_while_nonlocal_bind_is_on") {
        return;
    }
    let ns = Netns::new("nlb");
    let floating = address_not_on_this_host();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("floating.toml");
    let listen = format!("listen = [\"{floating}\"]");
    std::fs::write(&config, ConfigText::new().server("nlb", &[&listen]).xdp_off().zone().build()).unwrap();
    let check = || {
        let out = ns.command(binary().to_str().unwrap()).args(["check", "--config"]).arg(&config).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, stderr) = check();
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(&format!("server.listen[0]: {floating} is not an address of this host")), "{stderr}");
    let set = ns.output("sh", &["-c", "echo 1 > /proc/sys/net/ipv4/ip_nonlocal_bind"]);
    assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
    let (code, stderr) = check();
    assert_eq!(code, Some(0), "a floating address is taken while ip_nonlocal_bind is 1: {stderr}");
}

#[test]
fn cleanup_refuses_an_instance_that_would_leave_pin_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("pins")).unwrap();
    // What cleanup removes from a pin directory, here in the parent of pin_root.
    let sentinel = root.join("program-sentinel");
    std::fs::write(&sentinel, "").unwrap();
    let config = root.join("dotdot.toml");
    let pins = root.join("pins");
    std::fs::write(&config, format!("[server]\ninstance = \"..\"\npin_root = {pins:?}\nrun_dir = {root:?}\n")).unwrap();
    let out = Command::new(binary()).args(["cleanup", "--config"]).arg(&config).output().expect("switchyard");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "refused: {stderr}");
    assert!(stderr.contains("server.instance: use letters, digits, '-' and '_' only"), "{stderr}");
    assert!(sentinel.exists(), "nothing outside pin_root was removed");
}
