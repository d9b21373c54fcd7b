//! `[server]`, `[[view]]` names and `[xdp] interfaces`: what is refused before anything runs.

use super::Config;
use super::fixture::ConfigText;

/// A config the parser accepts, with these `[server]` lines.
fn with_server(lines: &[&str]) -> String {
    ConfigText::new()
        .server("t", lines)
        .xdp_off()
        .zone()
        .fixed_service("www.example.com.", &["198.18.10.1"], &[])
        .build()
}

fn assert_refused(text: &str, key: &str, problem: &str) {
    let error = Config::parse(text, "t.toml").expect_err("refused").to_string();
    assert!(error.contains(&format!("{key}: {problem}")), "expected {key}: {problem} in: {error}");
}

fn assert_accepted(text: &str) {
    if let Err(e) = Config::parse(text, "t.toml") {
        panic!("refused: {e}");
    }
}

#[test]
fn dns_port_zero_is_refused() {
    assert_refused(&with_server(&["dns_port = 0"]), "server.dns_port", "must be 1 to 65535");
    assert_accepted(&with_server(&["dns_port = 1"]));
}

#[test]
fn an_empty_listen_list_is_refused() {
    assert_refused(&with_server(&["listen = []"]), "server.listen", "at least one address is required");
}

#[test]
fn an_address_listed_twice_is_refused_naming_the_second() {
    let text = with_server(&[r#"listen = ["127.0.0.1", "::1", "127.0.0.1"]"#]);
    assert_refused(&text, "server.listen[2]", "127.0.0.1 is server.listen[0] already");
    assert_accepted(&with_server(&[r#"listen = ["127.0.0.1", "::1"]"#]));
}

/// TCP cannot listen on an address and port that a socket on the unspecified address of the
/// family listens on already (SO_REUSEADDR or not): such a list failed to bind at start.
#[test]
fn an_address_beside_the_unspecified_one_of_its_family_is_refused() {
    let text = with_server(&[r#"listen = ["0.0.0.0", "::1", "127.0.0.1"]"#]);
    let problem = "127.0.0.1 overlaps server.listen[0] (0.0.0.0): 0.0.0.0 takes every address of its family";
    assert_refused(&text, "server.listen[2]", problem);
    let text = with_server(&[r#"listen = ["::1", "::"]"#]);
    assert_refused(&text, "server.listen[1]", ":: overlaps server.listen[0] (::1): :: takes every address");
    assert_accepted(&with_server(&[r#"listen = ["0.0.0.0", "::"]"#]));
    assert_accepted(&with_server(&[r#"listen = ["0.0.0.0", "::1"]"#]));
}

/// A link-local address binds only with an interface named, which a listen address cannot carry.
#[test]
fn a_link_local_address_is_refused() {
    let text = with_server(&[r#"listen = ["127.0.0.1", "fe80::1"]"#]);
    assert_refused(&text, "server.listen[1]", "fe80::1 is link-local: binding it needs an interface");
    assert_accepted(&with_server(&[r#"listen = ["127.0.0.1", "fd00::1"]"#]));
}

#[test]
fn metrics_on_a_dns_address_and_port_is_refused() {
    let same = with_server(&[r#"listen = ["127.0.0.1"]"#, "dns_port = 5353", r#"metrics = "127.0.0.1:5353""#]);
    assert_refused(&same, "server.metrics", "127.0.0.1:5353 is where the DNS server listens (server.listen[0]");
    // An unspecified listen address takes the metrics address too.
    let covered = with_server(&[r#"listen = ["::", "0.0.0.0"]"#, r#"metrics = "127.0.0.1:53""#]);
    assert_refused(&covered, "server.metrics", "127.0.0.1:53 is where the DNS server listens (server.listen[1]");
    assert_accepted(&with_server(&[r#"listen = ["127.0.0.1"]"#, r#"metrics = "127.0.0.1:9153""#]));
    assert_accepted(&with_server(&[r#"listen = ["::"]"#, r#"metrics = "127.0.0.1:53""#]));
}

#[test]
fn the_heartbeat_or_sync_socket_on_a_dns_address_and_port_is_refused() {
    let peers = |listen: &str| {
        ConfigText::new()
            .server("t", &[r#"listen = ["127.0.0.1"]"#, "dns_port = 5364", r#"site = "a""#, r#"node = "dns-a1""#])
            .xdp_off()
            .zone()
            .site("a", &["198.18.1.1"], &[])
            .remote_site("b", &["198.18.2.1"])
            .peers(listen, "/etc/switchyard/peer.key")
            .peer("b", "dns-b1", "198.18.0.2:5300")
            .service("www.example.com.", 30, &["a", "b"])
            .build()
    };
    let problem = "127.0.0.1:5364 is where the DNS server listens (server.listen[0], dns_port); use another port";
    assert_refused(&peers("127.0.0.1:5364"), "peers.listen", problem);
    assert_refused(&peers("0.0.0.0:5364"), "peers.listen", "0.0.0.0:5364 is where the DNS server listens");
    // A heartbeat socket on `::` takes IPv4 as well (the DNS server's on `::` would not).
    assert_refused(&peers("[::]:5364"), "peers.listen", "[::]:5364 is where the DNS server listens");
    assert_accepted(&peers("127.0.0.1:5300"));

    let sync = |listen: &str, metrics: &str| {
        ConfigText::new()
            .server("t", &[r#"listen = ["127.0.0.1"]"#, "dns_port = 5364", r#"site = "a""#, metrics])
            .xdp_off()
            .zone()
            .site("a", &["198.18.1.1"], &[])
            .fixed_service("www.example.com.", &["198.18.10.1"], &[])
            .table(
                "[sync]",
                &[r#"database = "/var/lib/switchyard/a.db""#, &format!("listen = {listen:?}"), r#"key_file = "/k""#],
            )
            .table("[[sync.table]]", &[r#"name = "records""#])
            .table("[[sync.peer]]", &[r#"site = "b""#, r#"url = "http://198.18.0.2:8053""#])
            .build()
    };
    assert_refused(&sync("127.0.0.1:5364", ""), "sync.listen", "127.0.0.1:5364 is where the DNS server listens");
    let metrics = r#"metrics = "127.0.0.1:8053""#;
    assert_refused(
        &sync("0.0.0.0:8053", metrics),
        "sync.listen",
        "0.0.0.0:8053 is where the metrics endpoint listens (server.metrics); use another port",
    );
    assert_refused(&sync("[::]:8053", metrics), "sync.listen", "[::]:8053 is where the metrics endpoint listens");
    assert_accepted(&sync("127.0.0.1:8053", ""));
}

#[test]
fn a_view_prefix_with_host_bits_is_refused_naming_its_network() {
    let view = |prefixes: &[&str]| ConfigText::new().xdp_off().zone().view("near", prefixes).build();
    assert_refused(
        &view(&["198.18.1.0/24", "198.18.200.5/24"]),
        "view[0].prefixes[1]",
        "198.18.200.5/24 has host bits set: write 198.18.200.0/24",
    );
    assert_refused(
        &view(&["fd00:e0::1/32"]),
        "view[0].prefixes[0]",
        "fd00:e0::1/32 has host bits set: write fd00:e0::/32",
    );
    assert_accepted(&view(&["198.18.200.0/24", "198.18.7.9/32", "fd00:e0::/32"]));
}

#[test]
fn a_view_named_default_is_refused() {
    let text = ConfigText::new().xdp_off().zone().view("near", &["198.18.1.0/24"]).view("default", &["198.18.2.0/24"]);
    assert_refused(&text.build(), "view[1].name", "\"default\" is the built-in view of clients no [[view]] selects");
}

#[test]
fn more_xdp_interfaces_than_the_program_holds_are_refused() {
    let interfaces = |n: usize| (0..n).map(|i| format!("\"eth{i}\"")).collect::<Vec<_>>().join(", ");
    let text = |n: usize, mode: &str| {
        let xdp = format!("[xdp]\nmode = \"{mode}\"\ninterfaces = [{}]\n", interfaces(n));
        ConfigText::new().zone().build() + &xdp
    };
    let limit = switchyard_common::MAX_XDP_INTERFACES;
    assert_refused(
        &text(limit + 1, "native"),
        "xdp.interfaces",
        &format!("lists {} interfaces; the XDP program can be attached to {limit} at most", limit + 1),
    );
    assert_accepted(&text(limit, "native"));
    assert_accepted(&text(limit + 1, "off"));
}

#[test]
fn an_instance_that_is_not_a_plain_name_is_refused() {
    for instance in ["..", "a/b", "", "a.b"] {
        let text = ConfigText::new().server(instance, &[]).xdp_off().zone().build();
        assert_refused(&text, "server.instance", "use letters, digits, '-' and '_' only");
    }
}
