//! BIND 9 as the validating resolver in front of a signed zone: named (trusting the DS that
//! `switchyard dnssec ds` prints) finds the answers, the denials and a wildcard's answers
//! secure, follows a site going down once its cached answer expires, and logs no complaint
//! about the server (no FORMERR, no lame server, no EDNS fallback, no bad signature), while a
//! zone the server refuses shows that such complaints reach the log.

use std::time::Duration;

use switchyard_tests::{
    answers::Question,
    bind_resolver::Named,
    daemon::Daemon,
    http_server::{Behavior, HttpServer},
    privileges::have_root,
    signed_zone::{
        EXISTING_RRSETS, SITE_A as A, SITE_B as B, WILDCARD_ANSWER as WILD, is_secure, keygen, parent_records,
        two_site_config,
    },
    topology::Pair,
};

#[test]
fn a_validating_bind_resolver_finds_answers_denials_and_wildcards_secure_and_follows_a_failover() {
    if !have_root("a_validating_bind_resolver_finds_answers_denials_and_wildcards_secure_and_follows_a_failover") {
        return;
    }
    let pair = Pair::new(96);
    let web_a = HttpServer::start_on_loopback(&pair.server, "198.18.96.11");
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "zone.key", "ecdsap256sha256");
    let toml = two_site_config(&pair, &web_a, &key, "ecdsap256sha256");
    let parent = parent_records(dir.path(), &toml);
    let daemon = Daemon::start(&pair.server, &toml);
    let log = || format!("{}\n{}", daemon.log(), daemon.cli(&["stats"]));
    Question::www(&pair, "A").wait_for(&[A, B], Duration::from_secs(5), log);

    let zones = ("example.com", "example.net");
    let named = Named::start_validating(&pair.client, "127.0.0.1", zones, pair.server_v4.into(), &parent.ds[0]);
    let secure = |name: &str, rtype: &str| -> String {
        let out = named.ask(&pair.client, name, rtype);
        assert!(is_secure(&out), "named {name} {rtype} not secure:\n{out}\nnamed log:\n{}", named.log());
        out
    };
    for (name, rtype) in EXISTING_RRSETS {
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

    // Site a goes down: once the 5 s answer it cached expires, named gives b alone, secure.
    web_a.set("/health", Behavior::Status(503));
    Question::www(&pair, "A").wait_for(&[B], Duration::from_secs(5), log);
    let via_named = Question {
        client: &pair.client,
        server: "127.0.0.1".into(),
        name: "www.example.com",
        qtype: "A",
        source: None,
    };
    via_named.wait_for(&[B], Duration::from_secs(12), || named.log());
    let www = secure("www.example.com", "A");
    assert!(www.contains(B) && !www.contains(A), "{www}");

    // The control: a zone the server refuses (it is not its) is a complaint named logs, so the
    // log would show one about example.com too.
    let refused = named.ask(&pair.client, "www.example.net", "A");
    assert!(refused.contains("status: SERVFAIL"), "{refused}");
    let complaint = |line: &str| {
        ["formerr", "lame", "edns", "no valid", "bad cookie", "insecurity proof failed", "broken trust", "refused"]
            .iter()
            .any(|word| line.to_lowercase().contains(word))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !named.log().lines().any(|l| complaint(l) && l.contains("example.net")) {
        assert!(std::time::Instant::now() < deadline, "no complaint logged for the refused zone:\n{}", named.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let about_ours: Vec<String> =
        named.log().lines().filter(|l| complaint(l) && !l.contains("example.net")).map(str::to_string).collect();
    assert!(about_ours.is_empty(), "named complained about the server: {about_ours:#?}");
}
