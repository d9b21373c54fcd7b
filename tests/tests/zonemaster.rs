//! Zonemaster (Debian's zonemaster-cli), the zone checker registries run before they delegate,
//! checks a signed zone served by Switchyard with the daemon's default SOA timers: two name
//! servers, each with an IPv4 and an IPv6 address, delegated to in the test (`--ns`) with the DS
//! that `switchyard dnssec ds` prints (`--ds`). The modules that need the internet (reverse
//! lookups of the addresses, their AS numbers) are left out. Zonemaster must find nothing at
//! WARNING or above, and nothing at NOTICE but the zone's lack of a mail server (Switchyard
//! serves no MX) and the one-minute negative TTL, while its checks of recursion, zone transfers,
//! EDNS, name case, the SOA and the signatures are seen to run.

use std::{collections::BTreeSet, process::Command};

use switchyard::config::fixture::ConfigText;
use switchyard_tests::{
    daemon::Daemon,
    netns::unique,
    privileges::have_root,
    signed_zone::{keygen, parent_records},
    topology::Pair,
};

const SUBNET: u8 = 97;
/// ns2's addresses, on the server's end of the pair and routed to from the client.
const NS2_V4: &str = "198.18.98.1";
const NS2_V6: &str = "fd00:98::1";
/// The modules that only talk to the zone's own servers.
const MODULES: [&str; 7] = ["basic", "consistency", "delegation", "dnssec", "nameserver", "syntax", "zone"];
/// The NOTICEs expected: a zone without MX (Switchyard serves none), and the negative TTL
/// kept at a minute for quick recovery (docs/config.md, `[zone.soa]`).
const EXPECTED_NOTICES: [&str; 3] =
    ["Z09_MISSING_MAIL_TARGET", "RNAME_MAIL_DOMAIN_INVALID", "SOA_DEFAULT_TTL_MAXIMUM_VALUE_LOWER"];
/// Messages that show the checks that matter here ran (and so can fail).
const RAN: [&str; 8] = [
    "NO_RECURSOR",
    "AXFR_FAILURE",
    "EDNS0_SUPPORT",
    "QNAME_CASE_SENSITIVE",
    "ONE_SOA",
    "ALGORITHM_OK",
    "RRSIG_EXPIRATION",
    "DS15_HAS_CDS_AND_CDNSKEY",
];

#[test]
fn zonemaster_finds_nothing_to_warn_about_in_a_signed_zone_with_default_soa_timers() {
    if !have_root("zonemaster_finds_nothing_to_warn_about_in_a_signed_zone_with_default_soa_timers") {
        return;
    }
    let pair = Pair::new(SUBNET);
    pair.server.ip(&["addr", "add", &format!("{NS2_V4}/32"), "dev", &pair.server_if]);
    pair.server.ip(&["-6", "addr", "add", &format!("{NS2_V6}/128"), "dev", &pair.server_if, "nodad"]);
    pair.client.ip(&["route", "add", &format!("{NS2_V4}/32"), "dev", &pair.client_if]);
    pair.client.ip(&["-6", "route", "add", &format!("{NS2_V6}/128"), "dev", &pair.client_if]);

    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "zone.key", "ecdsap256sha256");
    let (ns1_v4, ns1_v6) = (pair.server_v4.to_string(), pair.server_v6.to_string());
    let toml = ConfigText::new()
        .server(&unique("zm"), &[r#"listen = ["0.0.0.0", "::"]"#])
        .xdp(&pair.server_if, "native")
        .zone_with(&["ns1.example.com.", "ns2.example.com."], "serial = 2026120301")
        .dnssec("ecdsap256sha256", &key)
        .site("a", &["198.18.10.1"], &["fd00:10::1"])
        .site("b", &["198.18.20.1"], &["fd00:20::1"])
        .service("www.example.com.", 30, &["a", "b"])
        .fixed_service("ns1.example.com.", &[&ns1_v4], &[&ns1_v6])
        .fixed_service("ns2.example.com.", &[NS2_V4], &[NS2_V6])
        .build();
    let ds = parent_records(dir.path(), &toml).ds[0].clone();
    let daemon = Daemon::start(&pair.server, &toml);

    let report = zonemaster(&pair, &[("ns1", &ns1_v4), ("ns1", &ns1_v6), ("ns2", NS2_V4), ("ns2", NS2_V6)], &ds);
    let context = || format!("zonemaster said:\n{report}\ndaemon log:\n{}", daemon.log());
    let at = |levels: &[&str]| -> Vec<&str> {
        report.lines().filter(|l| l.split_whitespace().nth(1).is_some_and(|level| levels.contains(&level))).collect()
    };
    assert!(at(&["WARNING", "ERROR", "CRITICAL"]).is_empty(), "{}", context());
    let notices: BTreeSet<&str> = at(&["NOTICE"]).iter().filter_map(|l| l.split_whitespace().nth(3)).collect();
    assert!(notices.iter().all(|tag| EXPECTED_NOTICES.contains(tag)), "unexpected notices {notices:?}: {}", context());
    for tag in RAN {
        assert!(report.lines().any(|l| l.split_whitespace().nth(3) == Some(tag)), "{tag} missing: {}", context());
    }
    let answered = daemon.xdp_counter("answered_v4") + daemon.xdp_counter("answered_v6");
    assert!(answered > 0, "some of zonemaster's A/AAAA questions were answered by XDP: {}", context());
}

/// Runs zonemaster-cli from the client namespace against `servers` (name, address) with `ds`
/// (a DS record in zone-file form) and returns its report, one message per line:
/// `seconds LEVEL TESTCASE TAG arguments`.
fn zonemaster(pair: &Pair, servers: &[(&str, &str)], ds: &str) -> String {
    let fields: Vec<&str> = ds.split_whitespace().collect();
    let ds_arg = match fields[..] {
        [_, _, _, "DS", tag, algorithm, digest_type, digest] => format!("{tag},{algorithm},{digest_type},{digest}"),
        _ => panic!("not a DS record: {ds}"),
    };
    let mut args: Vec<String> = vec!["example.com".into(), "--ds".into(), ds_arg];
    for (name, address) in servers {
        args.extend(["--ns".into(), format!("{name}.example.com/{address}")]);
    }
    for module in MODULES {
        args.extend(["--test".into(), module.into()]);
    }
    args.extend(["--level", "INFO", "--show-testcase", "--raw", "--no-count", "--no-progress"].map(String::from));
    let mut command: Command = pair.client.command("timeout");
    let out = command.arg("300").arg("zonemaster-cli").args(&args).output().expect("run timeout");
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "zonemaster-cli {args:?} (`cargo xtask test` installs Debian's zonemaster-cli): {report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    report
}
