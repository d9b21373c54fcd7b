//! TTLs within RFC 2181 §8 and SOA intervals that are not negative.

use super::Config;
use super::fixture::ConfigText;

/// One zone and one fixed-address service; `soa` adds fields to the zone's SOA.
fn with_soa(soa: &str) -> String {
    ConfigText::new()
        .xdp_off()
        .zone_with(&["ns1.example.com."], soa)
        .fixed_service("www.example.com.", &["198.18.10.1"], &[])
        .build()
}

fn refused(text: &str) -> String {
    Config::parse(text, "t.toml").expect_err("refused").to_string()
}

const TOO_LARGE: &str = "must be at most 2147483647 (RFC 2181 §8)";

#[test]
fn a_fixed_address_service_ttl_above_rfc_2181_is_refused() {
    let text = with_soa("").replace("name = \"www.example.com.\"", "name = \"www.example.com.\"\nttl = 2147483648");
    let error = refused(&text);
    assert!(error.contains("service[0].ttl: ") && error.contains(TOO_LARGE), "{error}");
    assert!(Config::parse(&text.replace("2147483648", "2147483647"), "t.toml").is_ok());
}

#[test]
fn a_site_based_service_ttl_above_rfc_2181_is_refused_with_the_same_key_and_words() {
    let text = ConfigText::new()
        .xdp_off()
        .zone()
        .site("a", &["198.18.1.10"], &[])
        .service("www.example.com.", 30, &["a"])
        .build()
        .replace("ttl = 30", "ttl = 4294967295");
    let error = refused(&text);
    assert!(error.contains("service[0].ttl: ") && error.contains(TOO_LARGE), "{error}");
}

#[test]
fn a_zone_ttl_above_rfc_2181_is_refused() {
    let text = with_soa("").replace("name = \"example.com.\"", "name = \"example.com.\"\nttl = 3000000000");
    let error = refused(&text);
    assert!(error.contains("zone[0].ttl: ") && error.contains(TOO_LARGE), "{error}");
}

#[test]
fn an_soa_minimum_above_rfc_2181_is_refused() {
    let error = refused(&with_soa("minimum = 2147483648"));
    assert!(error.contains("zone[0].soa.minimum: ") && error.contains(TOO_LARGE), "{error}");
    assert!(Config::parse(&with_soa("minimum = 2147483647"), "t.toml").is_ok());
}

#[test]
fn negative_soa_intervals_are_refused() {
    for field in ["refresh", "retry", "expire"] {
        let error = refused(&with_soa(&format!("{field} = -1")));
        let expected = format!("zone[0].soa.{field}: is -1; must be 0 to 2147483647 seconds");
        assert!(error.contains(&expected), "{error}");
        assert!(Config::parse(&with_soa(&format!("{field} = 0")), "t.toml").is_ok(), "{field} = 0");
    }
}
