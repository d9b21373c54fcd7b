//! A combined signing key rolled over as the README describes (double signature: the new key
//! published and signing beside the old one, the parent's DS changed, the old key withdrawn),
//! followed by validating resolvers that keep their caches across each step, each holding the
//! DS the parent published in that step or the one before: not one answer is bogus, and every
//! query sent while the config is reloaded is answered secure. A resolver still holding only the
//! old DS once the old key is gone fails, which is why the DS changes first.

use std::{
    process::Command,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use switchyard::config::fixture::ConfigText;
use switchyard_tests::{
    answers::Question,
    daemon::{self, Daemon},
    http_server::HttpServer,
    netns::{Netns, unique},
    privileges::have_root,
    resolver::Unbound,
    signed_zone::{
        ParentRecords, assert_delv_secure, assert_unbound_secure, is_secure, keygen, parent_records, via_unbound,
    },
    topology::Pair,
};

const A: &str = "198.18.10.1";
const B: &str = "198.18.20.1";
const ALGORITHM: &str = "ecdsap256sha256";

fn config(pair: &Pair, web: &HttpServer, instance: &str, keys: &[&str]) -> String {
    ConfigText::new()
        .server(instance, &[r#"listen = ["0.0.0.0", "::"]"#])
        .xdp(&pair.server_if, "native")
        .zone_with(&["ns1.example.com."], "minimum = 60")
        .dnssec_keys(ALGORITHM, keys)
        .fast_probes()
        .site("a", &[A], &["fd00:10::1"])
        .http_server("web-a1", &web.url("/health"))
        .site("b", &[B], &["fd00:20::1"])
        .service("www.example.com.", 5, &["a", "b"])
        .fixed_service("ns1.example.com.", &["198.18.0.53"], &[])
        .build()
}

fn reload(daemon: &Daemon, toml: &str) {
    std::fs::write(&daemon.config, toml).unwrap();
    let out = Command::new(daemon::binary()).args(["reload", "--config"]).arg(&daemon.config).output().unwrap();
    assert!(out.status.success(), "reload: {}\n{}", String::from_utf8_lossy(&out.stderr), daemon.log());
}

/// Runs `step` while each of `resolvers` is asked in turn for names it has not seen (each one
/// goes to the server) and for www A, then for a second more (at most 30 s in all). Every
/// answer must be secure, and queries must have been asked after the step too.
fn secure_throughout(ns: &Netns, resolvers: &[&Unbound], tag: &str, step: impl FnOnce()) {
    let done = AtomicBool::new(false);
    let (during, after) = std::thread::scope(|scope| {
        let asker = scope.spawn(|| {
            let started = Instant::now();
            let (mut during, mut after) = (0, 0);
            let mut quiet_since: Option<Instant> = None;
            while started.elapsed() < Duration::from_secs(30)
                && quiet_since.is_none_or(|t| t.elapsed() < Duration::from_secs(1))
            {
                let asked = during + after;
                let unbound = resolvers[asked % resolvers.len()];
                let name =
                    if asked % 3 == 2 { "www.example.com".to_string() } else { format!("{tag}-{asked}.example.com") };
                let out = via_unbound(ns, unbound, &name, "A");
                assert!(is_secure(&out), "{name} A during {tag} not secure:\n{out}\n{}", unbound.log());
                match quiet_since {
                    Some(_) => after += 1,
                    None => during += 1,
                }
                if quiet_since.is_none() && done.load(Ordering::Relaxed) {
                    quiet_since = Some(Instant::now());
                }
            }
            (during, after)
        });
        step();
        done.store(true, Ordering::Relaxed);
        asker.join().unwrap()
    });
    // The first query always counts as during the step, so only the second after it is asserted.
    assert!(after >= 5, "{during} queries during {tag}, {after} after it");
}

/// The RRSIG lines over `rtype` in a dig output.
fn signatures_over(dig: &str, rtype: &str) -> usize {
    dig.lines().filter(|l| l.contains(&format!("RRSIG\t{rtype} ")) || l.contains(&format!("RRSIG {rtype} "))).count()
}

fn key_tag(ds: &str) -> &str {
    ds.split_whitespace().nth(4).unwrap()
}

/// The records of `rtype` in a dig output's answer, as their fields.
fn records<'a>(dig: &'a str, rtype: &str) -> Vec<Vec<&'a str>> {
    let fields = dig.lines().filter(|l| !l.starts_with(';')).map(|l| l.split_whitespace().collect::<Vec<_>>());
    fields.filter(|f| f.get(3) == Some(&rtype)).collect()
}

/// The key tags `switchyard status` lists for example.com.
fn status_key_tags(daemon: &Daemon) -> String {
    let status = daemon.cli(&["status"]);
    let row = status.lines().find(|l| l.starts_with("example.com.")).unwrap_or_else(|| panic!("{status}"));
    row.split_whitespace().nth(2).unwrap().to_string()
}

/// Asks delv (DO=1) until an answer comes from the XDP program signed, or 5 s pass.
fn signed_by_xdp(daemon: &Daemon, ns: &Netns, server: &str, anchor: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let before = daemon.xdp_counter("answered_signed");
        assert_delv_secure(ns, server, anchor, "www.example.com", "A", false);
        if daemon.xdp_counter("answered_signed") > before {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn a_key_rollover_keeps_every_answer_secure_for_resolvers_following_the_parent() {
    if !have_root("a_key_rollover_keeps_every_answer_secure_for_resolvers_following_the_parent") {
        return;
    }
    let pair = Pair::new(93);
    let web = HttpServer::start_on_loopback(&pair.server, "198.18.93.11");
    let dir = tempfile::tempdir().unwrap();
    let old_key = keygen(dir.path(), "old.key", ALGORITHM);
    let new_key = keygen(dir.path(), "new.key", ALGORITHM);
    let instance = unique("roll");
    let (only_old, both, only_new) = (
        config(&pair, &web, &instance, &[&old_key]),
        config(&pair, &web, &instance, &[&old_key, &new_key]),
        config(&pair, &web, &instance, &[&new_key]),
    );
    let old: ParentRecords = parent_records(dir.path(), &only_old);
    let new: ParentRecords = parent_records(dir.path(), &only_new);
    let during: ParentRecords = parent_records(dir.path(), &both);
    assert_eq!(during.ds, [old.ds[0].clone(), new.ds[0].clone()], "`dnssec ds` prints both keys' DS");
    assert_ne!(key_tag(&old.ds[0]), key_tag(&new.ds[0]));

    let daemon = Daemon::start(&pair.server, &only_old);
    let server = pair.server_v4.to_string();
    let log = || format!("{}\n{}", daemon.log(), daemon.cli(&["stats"]));
    let plain =
        Question { client: &pair.client, server: server.clone(), name: "www.example.com", qtype: "A", source: None };
    plain.wait_for(&[A, B], Duration::from_secs(5), log);
    let zone_server = pair.server_v4.into();
    let anchored = |listen: &str, anchors: &[&str]| {
        Unbound::start_validating_at(&pair.client, listen, "example.com", zone_server, anchors)
    };

    // Step 0: the old key alone, its DS at the parent. A resolver fills its cache.
    assert_eq!(status_key_tags(&daemon), key_tag(&old.ds[0]));
    let old_ds = anchored("127.0.0.1", &[&old.ds[0]]);
    for (name, rtype) in [("www.example.com", "A"), ("example.com", "DNSKEY"), ("example.com", "SOA")] {
        assert_unbound_secure(&pair.client, &old_ds, name, rtype);
    }
    assert!(signed_by_xdp(&daemon, &pair.client, &server, &old.dnskey[0]), "one key: signed A from XDP: {}", log());

    // Step 1: the new key published and signing beside the old one. The resolver holding the
    // old DS and a cache of the old DNSKEY set sees nothing but secure answers meanwhile.
    secure_throughout(&pair.client, &[&old_ds], "publish", || reload(&daemon, &both));
    assert_eq!(status_key_tags(&daemon), format!("{},{}", key_tag(&old.ds[0]), key_tag(&new.ds[0])));
    let cds = assert_unbound_secure(&pair.client, &old_ds, "example.com", "CDS");
    // An RRset has no order (resolvers rotate them): compare the tags as sets.
    let mut tags: Vec<&str> = records(&cds, "CDS").iter().map(|f| f[4]).collect();
    let mut wanted = [key_tag(&old.ds[0]), key_tag(&new.ds[0])];
    tags.sort_unstable();
    wanted.sort_unstable();
    assert_eq!(tags, wanted, "a CDS per key:\n{cds}");
    let fresh_old = anchored("127.0.0.2", &[&old.ds[0]]);
    let new_ds = anchored("127.0.0.3", &[&new.ds[0]]);
    let double_ds = anchored("127.0.0.4", &[&old.ds[0], &new.ds[0]]);
    for unbound in [&fresh_old, &new_ds, &double_ds] {
        let cds = assert_unbound_secure(&pair.client, unbound, "example.com", "CDS");
        assert_eq!(records(&cds, "CDS").len(), 2, "a CDS per key:\n{cds}");
        let out = assert_unbound_secure(&pair.client, unbound, "www.example.com", "A");
        assert_eq!(signatures_over(&out, "A"), 2, "both keys sign every answer:\n{out}");
        let out = assert_unbound_secure(&pair.client, unbound, "example.com", "DNSKEY");
        assert_eq!(records(&out, "DNSKEY").len(), 2, "both keys published:\n{out}");
        assert_eq!(signatures_over(&out, "DNSKEY"), 2, "both keys sign the DNSKEY set:\n{out}");
        assert_unbound_secure(&pair.client, unbound, "nope.example.com", "A");
        assert_unbound_secure(&pair.client, unbound, "www.example.com", "MX");
    }
    for anchor in [&old.dnskey[0], &new.dnskey[0]] {
        assert_delv_secure(&pair.client, &server, anchor, "www.example.com", "A", false);
    }
    let (signed, passed) = (daemon.xdp_counter("answered_signed"), daemon.xdp_counter("pass_dnssec"));
    assert_delv_secure(&pair.client, &server, &new.dnskey[0], "www.example.com", "AAAA", false);
    assert_eq!(daemon.xdp_counter("answered_signed"), signed, "two signatures: userspace answers DO=1: {}", log());
    assert!(daemon.xdp_counter("pass_dnssec") > passed, "{}", log());

    // Step 2: the parent's DS changed to the new key. Step 3: the old key withdrawn. Resolvers
    // holding the new DS, or both, with caches from step 1, stay secure throughout.
    secure_throughout(&pair.client, &[&new_ds, &double_ds], "withdraw", || reload(&daemon, &only_new));
    for unbound in [&new_ds, &double_ds] {
        for (name, rtype) in
            [("www.example.com", "A"), ("www.example.com", "AAAA"), ("example.com", "SOA"), ("gone.example.com", "A")]
        {
            assert_unbound_secure(&pair.client, unbound, name, rtype);
        }
    }
    assert_eq!(status_key_tags(&daemon), key_tag(&new.ds[0]));
    let after = anchored("127.0.0.5", &[&new.ds[0]]);
    let out = assert_unbound_secure(&pair.client, &after, "example.com", "DNSKEY");
    assert_eq!(records(&out, "DNSKEY").len(), 1, "the new key alone:\n{out}");
    assert_eq!(signatures_over(&out, "DNSKEY"), 1, "the new key alone signs:\n{out}");
    assert!(signed_by_xdp(&daemon, &pair.client, &server, &new.dnskey[0]), "one key again: from XDP: {}", log());

    // Withdrawing the old key before the parent's DS changed breaks resolvers that hold only
    // the old DS: what the order of the steps is for.
    let late = anchored("127.0.0.6", &[&old.ds[0]]);
    let out = via_unbound(&pair.client, &late, "www.example.com", "A");
    assert!(out.contains("status: SERVFAIL"), "only the old DS, old key withdrawn: {out}\n{}", late.log());
}
