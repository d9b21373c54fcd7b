//! The zones of a config: each named once; the names served in them.

use super::Config;
use super::fixture::ConfigText;

#[test]
fn a_zone_named_twice_is_refused_whatever_its_case() {
    let text = ConfigText::new().xdp_off().zone().site("one", &["198.18.1.1"], &[]).build();
    let twice = format!(
        "{text}\n[[zone]]\nname = \"EXAMPLE.com.\"\nns = [\"ns.provider.test.\"]\n\
         soa = {{ mname = \"ns.provider.test.\", rname = \"dns.provider.test.\" }}\n"
    );
    let error = Config::parse(&twice, "test.toml").unwrap_err().to_string();
    assert!(error.contains("zone[1].name") && error.contains("is zone[0] already"), "{error}");
    assert!(Config::parse(&text, "test.toml").is_ok());
}

#[test]
fn a_wildcard_service_is_accepted_in_unsigned_and_signed_zones() {
    let text = ConfigText::new().xdp_off().zone().site("one", &["198.18.1.1"], &[]);
    let unsigned = text.clone().service("*.wild.example.com.", 30, &["one"]).build();
    assert!(Config::parse(&unsigned, "test.toml").is_ok());
    let signed = ConfigText::new()
        .xdp_off()
        .zone()
        .dnssec("ecdsap256sha256", "/nonexistent/example.com.key")
        .site("one", &["198.18.1.1"], &[])
        .service("*.wild.example.com.", 30, &["one"])
        .build();
    assert!(Config::parse(&signed, "test.toml").is_ok());
    // A `*` that is not the first label is an ordinary character (RFC 4592 2.1.1).
    assert!(Config::parse(&text.service("a.*.example.com.", 30, &["one"]).build(), "test.toml").is_ok());
}
