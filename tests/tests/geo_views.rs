//! Geographic views in the namespace lab: clients at addresses a generated geolocation database
//! places in two countries get different first answers, over XDP and with XDP off; an EDNS
//! Client Subnet query is answered for its subnet with a scope that stays inside one country;
//! a replaced database takes effect by reload, and a bad one is refused while the views stay.

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    time::Duration,
};

use ipnet::IpNet;
use switchyard_tests::{
    answers::Question,
    daemon::{self, Daemon},
    privileges::have_root,
    topology::Pair,
};

const SECOND: Duration = Duration::from_secs(1);
const A: &str = "198.18.10.1";
const B: &str = "198.18.20.1";
const A6: &str = "fd00:10::1";
const B6: &str = "fd00:20::1";

/// The pair's client halves: the lower holds the client's own addresses (.2, ::2), the upper
/// the second ones this test adds (.130, ::8000:0:0:2).
struct Halves {
    lower: [String; 2],
    upper: [String; 2],
    upper_v4: String,
    upper_v6: String,
}

fn halves(pair: &Pair) -> Halves {
    let s = pair.server_v4.octets()[2];
    let upper_v4 = format!("198.18.{s}.130");
    let upper_v6 = format!("fd00:{s:x}::8000:0:0:2");
    pair.add_client_address(&format!("{upper_v4}/24"));
    pair.add_client_address(&format!("{upper_v6}/64"));
    Halves {
        lower: [format!("198.18.{s}.0/25"), format!("fd00:{s:x}::/65")],
        upper: [format!("198.18.{s}.128/25"), format!("fd00:{s:x}:0:0:8000::/65")],
        upper_v4,
        upper_v6,
    }
}

/// DE holds the lower halves and FR the upper ones, or the other way round when `swapped`.
fn places(h: &Halves, swapped: bool) -> Vec<(String, &'static str)> {
    let (de, fr) = if swapped { (&h.upper, &h.lower) } else { (&h.lower, &h.upper) };
    de.iter().map(|n| (n.clone(), "DE")).chain(fr.iter().map(|n| (n.clone(), "FR"))).collect()
}

/// Written beside and renamed over `path`, as an operator replaces a database.
fn write_mmdb(path: &Path, places: &[(String, &str)]) {
    let mut writer = mmdb_writer::Writer::new("Test-Country");
    for (network, country) in places {
        let record = serde_json::json!({ "country": { "iso_code": country }, "continent": { "code": "EU" } });
        writer.insert(network.parse::<IpNet>().unwrap(), &record).unwrap();
    }
    let fresh = path.with_extension("new");
    std::fs::write(&fresh, writer.to_bytes().unwrap()).unwrap();
    std::fs::rename(fresh, path).unwrap();
}

fn write_csv(path: &Path, places: &[(String, &str)]) {
    let lines: Vec<String> = places.iter().map(|(network, country)| format!("{network},{country},EU\n")).collect();
    std::fs::write(path, format!("# network,country,continent\n{}", lines.concat())).unwrap();
}

/// The basic lab config with its view `near-b` (www answered b first) selecting Germany.
fn geo_config(pair: &Pair, mode: &str, source: &str, path: &Path) -> String {
    let (_, toml) = common::basic_config(pair, mode);
    let listed = r#"prefixes = ["198.18.200.0/24", "fd00:c8::/64"]"#;
    assert!(toml.contains(listed));
    toml.replace(listed, r#"countries = ["DE"]"#) + &format!("\n[geo]\n{source} = {:?}\n", path.to_str().unwrap())
}

fn question<'a>(pair: &'a Pair, qtype: &'a str, source: Option<&'a str>) -> Question<'a> {
    let server = if qtype == "A" { pair.server_v4.to_string() } else { pair.server_v6.to_string() };
    Question { client: &pair.client, server, name: "www.example.com", qtype, source }
}

/// www for clients in Germany (b first) and in France (a first), both families; Germany holds
/// the lower halves, or the upper ones when `swapped`.
fn wait_for_countries(pair: &Pair, h: &Halves, swapped: bool, daemon: &Daemon) {
    let (lower_v4, lower_v6) = (pair.client_v4.to_string(), pair.client_v6.to_string());
    let lower = [lower_v4.as_str(), lower_v6.as_str()];
    let upper = [h.upper_v4.as_str(), h.upper_v6.as_str()];
    let (de, fr) = if swapped { (upper, lower) } else { (lower, upper) };
    question(pair, "A", Some(de[0])).wait_for(&[B, A], SECOND, || daemon.log());
    question(pair, "A", Some(fr[0])).wait_for(&[A, B], SECOND, || daemon.log());
    question(pair, "AAAA", Some(de[1])).wait_for(&[B6, A6], SECOND, || daemon.log());
    question(pair, "AAAA", Some(fr[1])).wait_for(&[A6, B6], SECOND, || daemon.log());
}

/// dig from the client's own address with an EDNS Client Subnet: the answer and the
/// CLIENT-SUBNET line (`198.18.77.128/25/25`).
fn ask_with_subnet(pair: &Pair, subnet: &str) -> (Vec<String>, String) {
    let server = format!("@{}", pair.server_v4);
    let option = format!("+subnet={subnet}");
    let out = pair.client.output("dig", &[&server, "www.example.com", "A", &option, "+tries=1", "+time=1"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let answers = text
        .lines()
        .filter(|l| l.starts_with("www.example.com.") && l.contains("\tA\t"))
        .filter_map(|l| l.split_whitespace().last().map(str::to_string))
        .collect();
    let scope = text.lines().find_map(|l| l.strip_prefix("; CLIENT-SUBNET: ")).unwrap_or_default().to_string();
    (answers, scope)
}

fn reload(daemon: &Daemon) -> Output {
    Command::new(daemon::binary()).args(["reload", "--config"]).arg(&daemon.config).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

/// `switchyard check` in the server's namespace (where the XDP interface is).
fn check(pair: &Pair, config: &Path) -> Output {
    pair.server.output(daemon::binary().to_str().unwrap(), &["check", "--config", config.to_str().unwrap()])
}

fn tempfile_in(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

#[test]
fn countries_from_an_mmdb_choose_the_answer_over_xdp_and_follow_a_replaced_database() {
    if !have_root("countries_from_an_mmdb_choose_the_answer_over_xdp_and_follow_a_replaced_database") {
        return;
    }
    let pair = Pair::new(77);
    let h = halves(&pair);
    let dir = tempfile::tempdir().unwrap();
    let db = tempfile_in(&dir, "country.mmdb");
    write_mmdb(&db, &places(&h, false));
    let toml = geo_config(&pair, "native", "mmdb", &db);
    let daemon = Daemon::start(&pair.server, &toml);
    assert!(daemon.log().contains("view near-b: 2 prefixes"), "{}", daemon.log());
    let checked = check(&pair, &daemon.config);
    assert!(checked.status.success(), "{}", text(&checked.stderr));
    assert!(text(&checked.stdout).contains("view near-b: 2 prefixes"), "{}", text(&checked.stdout));

    let before = (daemon.xdp_counter("answered_v4"), daemon.xdp_counter("answered_v6"));
    wait_for_countries(&pair, &h, false, &daemon);
    assert!(daemon.xdp_counter("answered_v4") > before.0, "XDP answers IPv4 clients by country");
    assert!(daemon.xdp_counter("answered_v6") > before.1, "XDP answers IPv6 clients by country");

    // A client in Germany asking for a French subnet gets France's answer, for that /25 only.
    let (answers, scope) = ask_with_subnet(&pair, &h.upper[0]);
    assert_eq!((answers, scope), (vec![A.to_string(), B.to_string()], format!("{}/25", h.upper[0])));
    let (answers, scope) = ask_with_subnet(&pair, &format!("{}/32", h.upper_v4));
    assert_eq!((answers, scope), (vec![A.to_string(), B.to_string()], format!("{}/32/25", h.upper_v4)));

    // The database now places the halves the other way round: a reload follows it.
    write_mmdb(&db, &places(&h, true));
    let out = reload(&daemon);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("views +0 -0 ~1") && said.contains("view near-b: 2 prefixes"), "{said}");
    let before = daemon.xdp_counter("answered_v4");
    wait_for_countries(&pair, &h, true, &daemon);
    assert!(daemon.xdp_counter("answered_v4") > before, "XDP answers from the new database");

    // A file that is no database: the reload is refused and the views stay.
    std::fs::write(&db, "not a database").unwrap();
    let out = reload(&daemon);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("country.mmdb is not a MaxMind DB file"), "{}", text(&out.stderr));
    wait_for_countries(&pair, &h, true, &daemon);
}

#[test]
fn countries_from_a_csv_choose_the_answer_with_xdp_off_and_follow_a_reload() {
    if !have_root("countries_from_a_csv_choose_the_answer_with_xdp_off_and_follow_a_reload") {
        return;
    }
    let pair = Pair::new(78);
    let h = halves(&pair);
    let dir = tempfile::tempdir().unwrap();
    let db = tempfile_in(&dir, "country.csv");
    write_csv(&db, &places(&h, false));
    let daemon = Daemon::start(&pair.server, &geo_config(&pair, "off", "csv", &db));
    wait_for_countries(&pair, &h, false, &daemon);
    assert!(!pair.server_has_xdp(), "XDP is off: userspace answers");
    let (answers, scope) = ask_with_subnet(&pair, &h.lower[0]);
    assert_eq!((answers, scope), (vec![B.to_string(), A.to_string()], format!("{}/25", h.lower[0])));

    write_csv(&db, &places(&h, true));
    let out = reload(&daemon);
    assert!(out.status.success(), "{}", text(&out.stderr));
    wait_for_countries(&pair, &h, true, &daemon);

    // A country no network has any more: refused, naming the code; the views stay.
    write_csv(&db, &[(h.lower[0].clone(), "FR")]);
    let out = reload(&daemon);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("view[0].countries: no network in"), "{}", text(&out.stderr));
    std::fs::remove_file(&db).unwrap();
    let out = reload(&daemon);
    assert!(text(&out.stderr).contains("cannot read"), "{}", text(&out.stderr));
    wait_for_countries(&pair, &h, true, &daemon);
}
