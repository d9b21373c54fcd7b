//! Configs shared by the integration tests.
#![allow(dead_code)]

use switchyard::config::fixture::ConfigText;
use switchyard_tests::{netns::unique, topology::Pair};

/// A one-zone config with a service answered from two static sites and two fixed services, XDP on the pair's server end in `mode`.
pub fn basic_config(pair: &Pair, mode: &str) -> (String, String) {
    let instance = unique("t");
    let eight_a: Vec<String> = (1..=8).map(|i| format!("198.18.8.{i}")).collect();
    let eight_aaaa: Vec<String> = (1..=8).map(|i| format!("fd00:8::{i}")).collect();
    let toml = ConfigText::new()
        .server(&instance, &["dns_port = 53", r#"listen = ["0.0.0.0", "::"]"#])
        .xdp(&pair.server_if, mode)
        .zone_with(&["ns1.example.com."], "serial = 7, minimum = 60")
        .view("near-b", &["198.18.200.0/24", "fd00:c8::/64"])
        .site("a", &["198.18.10.1"], &["fd00:10::1"])
        .site("b", &["198.18.20.1"], &["fd00:20::1"])
        .service("www.example.com.", 30, &["a", "b"])
        .line(r#"views.near-b = ["b", "a"]"#)
        .fixed_service("ns1.example.com.", &["198.18.0.53"], &[])
        .fixed_service("api.eu.example.com.", &["198.18.11.1"], &[])
        .line("ttl = 60")
        .fixed_service("eight.example.com.", &strs(&eight_a), &strs(&eight_aaaa))
        .build();
    (instance, toml)
}

fn strs(items: &[String]) -> Vec<&str> {
    items.iter().map(String::as_str).collect()
}
