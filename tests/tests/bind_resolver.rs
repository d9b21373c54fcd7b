//! BIND 9 as the validating resolver in front of a signed zone: named (trusting the DS that
//! `switchyard dnssec ds` prints) finds the answers, the denials and a wildcard's answers
//! secure, follows a site going down once its cached answer expires, and logs no complaint
//! about the server (no FORMERR, no lame server, no EDNS fallback, no bad signature).

use std::{net::SocketAddr, time::Duration};

use switchyard::config::fixture::ConfigText;
use switchyard_tests::{
    answers::Question,
    bind_resolver::Named,
    daemon::Daemon,
    http_server::{Behavior, HttpServer},
    netns::unique,
    privileges::have_root,
    signed_zone::{is_secure, keygen, parent_records},
    topology::Pair,
};

const A: &str = "198.18.10.1";
const B: &str = "198.18.20.1";
const WILD: &str = "198.18.12.1";

#[test]
fn a_validating_bind_resolver_finds_answers_denials_and_wildcards_secure_and_follows_a_failover() {
    if !have_root("a_validating_bind_resolver_finds_answers_denials_and_wildcards_secure_and_follows_a_failover") {
        return;
    }
    let pair = Pair::new(96);
    let web_ip = "198.18.96.11";
    pair.server.ip(&["addr", "add", &format!("{web_ip}/32"), "dev", "lo"]);
    let web_a = HttpServer::start(&pair.server, format!("{web_ip}:8080").parse::<SocketAddr>().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "zone.key", "ecdsap256sha256");
    let toml = ConfigText::new()
        .server(&unique("bind"), &[r#"listen = ["0.0.0.0", "::"]"#])
        .xdp(&pair.server_if, "native")
        .zone_with(&["ns1.example.com."], "minimum = 60")
        .dnssec("ecdsap256sha256", &key)
        .fast_probes()
        .site("a", &[A], &["fd00:10::1"])
        .http_server("web-a1", &web_a.url("/health"))
        .site("b", &[B], &["fd00:20::1"])
        .service("www.example.com.", 2, &["a", "b"])
        .fixed_service("ns1.example.com.", &["198.18.0.53"], &[])
        .fixed_service("*.wild.example.com.", &[WILD], &[])
        .build();
    let parent = parent_records(dir.path(), &toml);
    let daemon = Daemon::start(&pair.server, &toml);
    let log = || format!("{}\n{}", daemon.log(), daemon.cli(&["stats"]));
    Question::www(&pair, "A").wait_for(&[A, B], Duration::from_secs(5), log);

    let named = Named::start_validating(&pair.client, "127.0.0.1", "example.com", pair.server_v4.into(), &parent.ds[0]);
    let secure = |name: &str, rtype: &str| -> String {
        let out = named.ask(&pair.client, name, rtype);
        assert!(is_secure(&out), "named {name} {rtype} not secure:\n{out}\nnamed log:\n{}", named.log());
        out
    };
    for (name, rtype) in [
        ("www.example.com", "A"),
        ("www.example.com", "AAAA"),
        ("example.com", "SOA"),
        ("example.com", "NS"),
        ("example.com", "DNSKEY"),
    ] {
        let out = secure(name, rtype);
        assert!(out.contains(&format!("RRSIG\t{rtype} ")), "{name} {rtype} with its signature: {out}");
    }
    let www = secure("www.example.com", "A");
    assert!(www.contains(A) && www.contains(B), "{www}");
    // A name that does not exist and a type a name lacks: validated denials, no answer.
    for (name, rtype) in [("nope.example.com", "A"), ("www.example.com", "MX"), ("x.wild.example.com", "AAAA")] {
        let out = secure(name, rtype);
        assert!(out.contains("ANSWER: 0,"), "{name} {rtype}: a denial has no answer: {out}");
    }
    // Names only the wildcard covers, one and two labels below it.
    for name in ["eu.wild.example.com", "a.b.wild.example.com"] {
        let out = secure(name, "A");
        assert!(out.contains(WILD), "{name}: {out}");
    }

    // Site a goes down: once the 2 s answer it cached expires, named gives b alone, secure.
    web_a.set("/health", Behavior::Status(503));
    Question::www(&pair, "A").wait_for(&[B], Duration::from_secs(5), log);
    let via_named = Question {
        client: &pair.client,
        server: "127.0.0.1".into(),
        name: "www.example.com",
        qtype: "A",
        source: None,
    };
    via_named.wait_for(&[B], Duration::from_secs(10), || named.log());
    let www = secure("www.example.com", "A");
    assert!(www.contains(B) && !www.contains(A), "{www}");

    let complaints: Vec<String> = named
        .log()
        .lines()
        .filter(|l| {
            ["FORMERR", "lame", "edns", "no valid", "bad cookie", "insecurity proof failed", "broken trust"]
                .iter()
                .any(|word| l.to_lowercase().contains(&word.to_lowercase()))
        })
        .map(str::to_string)
        .collect();
    assert!(complaints.is_empty(), "named complained about the server: {complaints:#?}");
}
