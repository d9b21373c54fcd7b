//! `Override::checked`: what `switchyard map set` refuses before anything changes.

use std::net::IpAddr;

use super::{Override, Qtype};
use crate::config::{Config, fixture::ConfigText};

fn config() -> Config {
    let text = ConfigText::new().xdp_off().zone().fixed_service("www.example.com.", &["198.18.10.1"], &[]).build();
    Config::parse(&text, "t.toml").unwrap()
}

fn set(qtype: Qtype, ttl: u32, addrs: &[&str]) -> Override {
    let addrs = addrs.iter().map(|a| a.parse::<IpAddr>().unwrap()).collect();
    Override { name: "www.example.com.".into(), qtype, view: Some("default".into()), ttl, addrs }
}

fn refusal(o: Override) -> String {
    o.checked(&config(), true).expect_err("refused").to_string()
}

#[test]
fn a_ttl_above_rfc_2181_is_refused() {
    assert_eq!(
        refusal(set(Qtype::A, 2_147_483_648, &["198.18.10.2"])),
        "TTL 2147483648 is more than 2147483647, the largest RFC 2181 §8 allows"
    );
    assert!(set(Qtype::A, 2_147_483_647, &["198.18.10.2"]).checked(&config(), true).is_ok());
}

#[test]
fn an_address_given_twice_is_refused() {
    assert_eq!(
        refusal(set(Qtype::A, 30, &["198.18.10.2", "198.18.10.3", "198.18.10.2"])),
        "198.18.10.2 is given twice"
    );
    assert_eq!(refusal(set(Qtype::Aaaa, 30, &["fd00::1", "fd00::1"])), "fd00::1 is given twice");
}

#[test]
fn addresses_no_client_can_connect_to_are_refused() {
    let cases = [
        (Qtype::A, "0.0.0.0", "the unspecified address"),
        (Qtype::A, "255.255.255.255", "the broadcast address"),
        (Qtype::A, "224.0.0.1", "a multicast address"),
        (Qtype::Aaaa, "::", "the unspecified address"),
        (Qtype::Aaaa, "ff02::1", "a multicast address"),
    ];
    for (qtype, addr, kind) in cases {
        assert_eq!(refusal(set(qtype, 30, &[addr])), format!("{addr} is {kind}: no client can connect to it"));
    }
    assert!(set(Qtype::A, 30, &["198.18.10.2", "198.18.10.3"]).checked(&config(), true).is_ok());
}
