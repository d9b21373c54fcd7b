//! The zones of a config: each named once.

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
