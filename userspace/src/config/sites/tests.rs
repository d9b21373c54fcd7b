//! The multi-site config: what is accepted, and one clear error for each mistake.

use crate::config::{Config, fixture::ConfigText};

/// Site a probed here, site b reported by its peer, www answered from both.
fn base() -> String {
    ConfigText::new()
        .server("default", &["site = \"a\"", "node = \"dns-a1\""])
        .zone()
        .view("near-b", &["198.18.200.0/24"])
        .site("a", &["198.18.1.10"], &[])
        .tcp_server("web1", "198.18.1.11:80")
        .remote_site("b", &["198.18.2.10"])
        .peers("198.18.0.1:5300", "/nonexistent/peer.key")
        .peer("b", "dns-b1", "198.18.0.2:5300")
        .service("www.example.com.", 30, &["a", "b"])
        .line(r#"views = { near-b = ["b", "a"] }"#)
        .fixed_service("ns1.example.com.", &["198.18.0.53"], &[])
        .build()
}

fn error(text: &str) -> String {
    Config::parse(text, "t.toml").expect_err("refused").to_string()
}

fn assert_refused(text: &str, key: &str, problem: &str) {
    let e = error(text);
    assert!(e.starts_with("config error in t.toml: "), "{e}");
    assert!(e.contains(key) && e.contains(problem), "expected {key:?} / {problem:?} in: {e}");
}

#[test]
fn two_sites_with_peers_parse() {
    let config = Config::parse(&base(), "t.toml").unwrap();
    assert_eq!(config.site.len(), 2);
    assert_eq!(config.remote_sites(), ["b"]);
    let policy = config.policy_config();
    assert_eq!(policy.services.len(), 1, "only the site-based service goes to the policy");
    assert_eq!(policy.services[0].views["near-b"], ["b", "a"]);
    assert_eq!(config.peers.unwrap().peers[0].node, "dns-b1");
}

#[test]
fn a_service_has_sites_or_addresses_not_both() {
    let text = base().replace("sites = [\"a\", \"b\"]", "sites = [\"a\", \"b\"]\na = [\"198.18.9.9\"]");
    assert_refused(&text, "service[0].a", "either `sites` or fixed");
}

#[test]
fn old_per_view_address_lists_are_refused() {
    let text = base().replace("views = { near-b = [\"b\", \"a\"] }", "views.near-b = { a = [\"198.18.2.10\"] }");
    assert_refused(&text, "service[0].views.near-b", "expected a sequence");
}

#[test]
fn views_and_sites_must_exist() {
    assert_refused(&base().replace("near-b = [\"b\"", "far = [\"b\""), "service[0].views.far", "no [[view]]");
    assert_refused(
        &base().replace("sites = [\"a\", \"b\"]", "sites = [\"a\", \"c\"]"),
        "service[0]",
        "unknown site 'c'",
    );
    let fixed_with_views =
        base().replace("a = [\"198.18.0.53\"]", "a = [\"198.18.0.53\"]\nviews = { near-b = [\"a\"] }");
    assert_refused(&fixed_with_views, "service[1].views", "need `sites`");
}

#[test]
fn own_site_and_peers_are_checked_against_the_sites() {
    assert_refused(&base().replace("site = \"a\"\nnode", "site = \"x\"\nnode"), "server.site", "no [[site]]");
    assert_refused(&base().replace("site = \"a\"\nnode", "site = \"b\"\nnode"), "server.site", "cannot be remote");
    assert_refused(&base().replace("node = \"dns-a1\"\n", ""), "server.node", "required with [peers]");
    assert_refused(
        &base().replace("site = \"b\"\nnode = \"dns-b1\"", "site = \"c\"\nnode = \"dns-b1\""),
        "peers.peer[0].site",
        "no [[site]]",
    );
    let text = base();
    let no_peers = &text[..text.find("[peers]").unwrap()];
    assert_refused(
        &format!("{no_peers}[[service]]\nname = \"x.example.com.\"\nsites = [\"a\"]\n"),
        "site[1].remote",
        "configure [peers]",
    );
    assert_refused(&base().replace("[peers]\n", "[peers]\nperiod_ms = 1\n"), "peers.period_ms", "outside");
}

#[test]
fn health_checks_are_validated_with_the_site_named() {
    assert_refused(&base().replace("address = \"198.18.1.11:80\"", ""), "site[0] ('a').server[0].address", "required");
    assert_refused(
        &base().replace("[[site.server]]", "[[site.server]]\nbogus = 1"),
        "site[0].server[0]",
        "unknown field `bogus`",
    );
}

#[test]
fn a_site_without_checks_is_static_and_needs_no_peers() {
    let text =
        ConfigText::new().zone().site("a", &["198.18.10.1"], &[]).service("www.example.com.", 30, &["a"]).build();
    let config = Config::parse(&text, "t.toml").unwrap();
    assert!(config.site[0].is_static());
}

#[test]
fn key_files_are_checked_before_running() {
    let config = Config::parse(&base(), "t.toml").unwrap();
    let e = config.check_peer_keys(std::path::Path::new("t.toml")).unwrap_err().to_string();
    assert!(e.contains("peers.key_files") && e.contains("/nonexistent/peer.key"), "{e}");
}
