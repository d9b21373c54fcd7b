//! A signed zone as its operator and its validators see it: keys made with `switchyard dnssec
//! keygen`, the DS and DNSKEY lines `switchyard dnssec ds` prints for the parent, and the
//! verdicts of delv and of a validating unbound on its answers.

use std::{path::Path, process::Command};

use switchyard::config::fixture::ConfigText;

use crate::{
    daemon::binary,
    http_server::HttpServer,
    netns::{Netns, unique},
    resolver::Unbound,
    topology::Pair,
};

/// Writes a new key of `algorithm` as `dir/name`; returns its path.
pub fn keygen(dir: &Path, name: &str, algorithm: &str) -> String {
    try_keygen(dir, name, algorithm).unwrap_or_else(|e| panic!("{e}"))
}

/// `keygen` for callers that report rather than panic (the benches).
pub fn try_keygen(dir: &Path, name: &str, algorithm: &str) -> Result<String, String> {
    let path = dir.join(name);
    let out = Command::new(binary())
        .args(["dnssec", "keygen", "--algorithm", algorithm, "--out"])
        .arg(&path)
        .output()
        .map_err(|e| format!("switchyard dnssec keygen: {e}"))?;
    if !out.status.success() {
        return Err(format!("switchyard dnssec keygen: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    path.to_str().map(String::from).ok_or_else(|| "key path is not UTF-8".into())
}

/// Site a's address (checked by `web_a`), site b's (static), and the wildcard's answer.
pub const SITE_A: &str = "198.18.10.1";
pub const SITE_B: &str = "198.18.20.1";
pub const WILDCARD_ANSWER: &str = "198.18.12.1";

/// The RRsets of `two_site_config`'s zone that exist, each asked for by a test (name, type).
pub const EXISTING_RRSETS: [(&str, &str); 5] = [
    ("www.example.com", "A"),
    ("www.example.com", "AAAA"),
    ("example.com", "SOA"),
    ("example.com", "NS"),
    ("example.com", "DNSKEY"),
];

/// A signed example.com. (key file `key` of `algorithm`) served by the pair's server with XDP
/// native: www.example.com. (TTL 5) on sites a (checked at `web_a`'s /health) and b, ns1, and
/// a wildcard `*.wild.example.com.`.
pub fn two_site_config(pair: &Pair, web_a: &HttpServer, key: &str, algorithm: &str) -> String {
    ConfigText::new()
        .server(&unique("sec"), &[r#"listen = ["0.0.0.0", "::"]"#])
        .xdp(&pair.server_if, "native")
        .zone_with(&["ns1.example.com."], "minimum = 60")
        .dnssec(algorithm, key)
        .fast_probes()
        .site("a", &[SITE_A], &["fd00:10::1"])
        .http_server("web-a1", &web_a.url("/health"))
        .site("b", &[SITE_B], &["fd00:20::1"])
        .service("www.example.com.", 5, &["a", "b"])
        .fixed_service("ns1.example.com.", &["198.18.0.53"], &[])
        .fixed_service("*.wild.example.com.", &[WILDCARD_ANSWER], &[])
        .build()
}

/// What `switchyard dnssec ds` prints for example.com under config `toml`: its DS lines and
/// its DNSKEY lines, one of each per key.
pub struct ParentRecords {
    pub ds: Vec<String>,
    pub dnskey: Vec<String>,
}

pub fn parent_records(dir: &Path, toml: &str) -> ParentRecords {
    let config = dir.join(format!("{}.toml", unique("ds")));
    std::fs::write(&config, toml).unwrap();
    let out = Command::new(binary())
        .args(["dnssec", "ds", "--zone", "example.com", "--config"])
        .arg(&config)
        .output()
        .expect("run switchyard dnssec ds");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "ds: {text} {}", String::from_utf8_lossy(&out.stderr));
    let lines = |rtype: &str| -> Vec<String> {
        text.lines().filter(|l| l.split_whitespace().nth(3) == Some(rtype)).map(str::to_string).collect()
    };
    let records = ParentRecords { ds: lines("DS"), dnskey: lines("DNSKEY") };
    assert!(!records.ds.is_empty() && records.ds.len() == records.dnskey.len(), "ds printed: {text}");
    records
}

/// delv's verdict on `name` `rtype` at `server` with `anchor` (a DNSKEY line) as trust anchor.
pub fn delv(ns: &Netns, server: &str, anchor: &str, name: &str, rtype: &str, tcp: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("anchors.conf");
    let fields: Vec<&str> = anchor.split_whitespace().collect();
    let key = format!("{} {} {} \"{}\"", fields[4], fields[5], fields[6], fields[7..].concat());
    std::fs::write(&file, format!("trust-anchors {{ example.com. static-key {key}; }};\n")).unwrap();
    let at = format!("@{server}");
    let mut args = vec![at.as_str(), "-a", file.to_str().unwrap(), "+root=example.com", name, rtype];
    if tcp {
        args.push("+tcp");
    }
    let out = ns.output("delv", &args);
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

pub fn assert_delv_secure(ns: &Netns, server: &str, anchor: &str, name: &str, rtype: &str, tcp: bool) -> String {
    let out = delv(ns, server, anchor, name, rtype, tcp);
    // A denial also says "resolution failed: ncache nxrrset": validated, and no data.
    assert!(out.contains("fully validated"), "delv {name} {rtype}: {out}");
    out
}

/// Through `unbound`, running in `ns`: the dig output, with its flags and status lines.
pub fn via_unbound(ns: &Netns, unbound: &Unbound, name: &str, rtype: &str) -> String {
    dig_dnssec(ns, unbound.address(), name, rtype)
}

/// dig's output for `name` `rtype` asked of `server` from `ns` with DO=1, one try.
pub fn dig_dnssec(ns: &Netns, server: &str, name: &str, rtype: &str) -> String {
    let at = format!("@{server}");
    let out = ns.output("dig", &[&at, name, rtype, "+dnssec", "+tries=1", "+time=5"]);
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Whether a dig output through a validating resolver is a secure answer (NOERROR, AD set).
pub fn is_secure(dig: &str) -> bool {
    let flags = dig.lines().find(|l| l.contains(";; flags:")).unwrap_or_default();
    dig.contains("status: NOERROR") && flags.contains(" ad")
}

pub fn assert_unbound_secure(ns: &Netns, unbound: &Unbound, name: &str, rtype: &str) -> String {
    let out = via_unbound(ns, unbound, name, rtype);
    assert!(is_secure(&out), "unbound {name} {rtype} not secure:\n{out}\n{}", unbound.log());
    out
}
