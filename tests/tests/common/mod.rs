//! Configs shared by the integration tests.
#![allow(dead_code)]

use switchyard_tests::{netns::unique, topology::Pair};

/// A one-zone config with a service answered from two static sites and two fixed services, XDP on the pair's server end in `mode`.
pub fn basic_config(pair: &Pair, mode: &str) -> (String, String) {
    let instance = unique("t");
    let toml = format!(
        r#"
[server]
instance = "{instance}"
dns_port = 53
listen = ["0.0.0.0", "::"]

[xdp]
interfaces = ["{iface}"]
mode = "{mode}"

[[zone]]
name = "example.com."
ns = ["ns1.example.com."]
soa = {{ mname = "ns1.example.com.", rname = "hostmaster.example.com.", serial = 7, minimum = 60 }}

[[view]]
name = "near-b"
prefixes = ["198.18.200.0/24", "fd00:c8::/64"]

[[site]]
name = "a"
a = ["198.18.10.1"]
aaaa = ["fd00:10::1"]

[[site]]
name = "b"
a = ["198.18.20.1"]
aaaa = ["fd00:20::1"]

[[service]]
name = "www.example.com."
ttl = 30
sites = ["a", "b"]
views.near-b = ["b", "a"]

[[service]]
name = "ns1.example.com."
a = ["198.18.0.53"]

[[service]]
name = "api.eu.example.com."
ttl = 60
a = ["198.18.11.1"]

[[service]]
name = "eight.example.com."
a = ["198.18.8.1", "198.18.8.2", "198.18.8.3", "198.18.8.4", "198.18.8.5", "198.18.8.6", "198.18.8.7", "198.18.8.8"]
aaaa = ["fd00:8::1", "fd00:8::2", "fd00:8::3", "fd00:8::4", "fd00:8::5", "fd00:8::6", "fd00:8::7", "fd00:8::8"]
"#,
        iface = pair.server_if
    );
    (instance, toml)
}
