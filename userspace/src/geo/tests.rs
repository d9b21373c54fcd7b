//! Expansion of small databases the tests write: an MaxMind DB file and a CSV.

use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde_json::json;

use super::*;

fn write_mmdb(path: &Path, records: &[(&str, serde_json::Value)]) {
    let mut writer = mmdb_writer::Writer::new("Test-Country");
    for (network, record) in records {
        writer.insert(network.parse::<IpNet>().unwrap(), record).unwrap();
    }
    std::fs::write(path, writer.to_bytes().unwrap()).unwrap();
}

fn place(country: &str, continent: &str) -> serde_json::Value {
    json!({ "country": { "iso_code": country, "names": { "en": country } }, "continent": { "code": continent } })
}

fn selection(countries: &[&str], continents: &[&str]) -> Selection {
    Selection {
        countries: countries.iter().map(|c| c.to_string()).collect(),
        continents: continents.iter().map(|c| c.to_string()).collect(),
    }
}

fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|n| n.parse().unwrap()).collect()
}

fn mmdb_config(path: PathBuf) -> GeoConfig {
    GeoConfig { mmdb: Some(path), csv: None }
}

#[test]
fn an_mmdb_gives_each_view_the_networks_of_its_countries_and_continents() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("country.mmdb");
    write_mmdb(
        &path,
        &[
            ("198.18.0.0/25", place("DE", "EU")),
            ("198.18.0.128/25", place("FR", "EU")),
            ("fd00:1::/64", place("DE", "EU")),
            ("198.19.0.0/24", place("US", "NA")),
            // Only the registered country: still that country's network.
            ("198.19.1.0/24", json!({ "registered_country": { "iso_code": "US" } })),
        ],
    );
    let selections =
        [selection(&["DE"], &[]), selection(&[], &["EU"]), selection(&["US"], &[]), selection(&["FR"], &["NA"])];
    let found = expand(&mmdb_config(path), &selections).unwrap();
    assert_eq!(found[0], nets(&["198.18.0.0/25", "fd00:1::/64"]), "IPv4 networks come back as IPv4");
    assert_eq!(found[1], nets(&["198.18.0.0/25", "198.18.0.128/25", "fd00:1::/64"]));
    assert_eq!(found[2], nets(&["198.19.0.0/24", "198.19.1.0/24"]));
    assert_eq!(found[3], nets(&["198.18.0.128/25", "198.19.0.0/24"]));
}

#[test]
fn an_unknown_country_is_refused_with_the_code() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("country.mmdb");
    write_mmdb(&path, &[("198.18.0.0/24", place("GB", "EU"))]);
    let error = expand(&mmdb_config(path.clone()), &[selection(&["UK"], &[])]).unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "no network in {} has country \"UK\" (countries are ISO 3166-1 alpha-2 codes, e.g. \"GB\", not \"UK\")",
            path.display()
        )
    );
    assert_eq!(expand(&mmdb_config(path), &[selection(&["GB"], &[])]).unwrap()[0], nets(&["198.18.0.0/24"]));
}

#[test]
fn a_database_of_another_layout_or_no_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let asn = dir.path().join("asn.mmdb");
    write_mmdb(&asn, &[("198.18.0.0/24", json!({ "autonomous_system_number": 64500 }))]);
    let error = expand(&mmdb_config(asn), &[selection(&[], &["EU"])]).unwrap_err().to_string();
    assert!(error.contains("(Test-Country) has no network with country.iso_code or continent.code"), "{error}");

    let garbage = dir.path().join("garbage.mmdb");
    std::fs::write(&garbage, "198.18.0.0/24,DE,EU\n").unwrap();
    let error = expand(&mmdb_config(garbage), &[selection(&["DE"], &[])]).unwrap_err().to_string();
    assert!(error.contains("garbage.mmdb is not a MaxMind DB file"), "{error}");

    let missing = dir.path().join("missing.mmdb");
    let error = expand(&mmdb_config(missing), &[selection(&["DE"], &[])]).unwrap_err().to_string();
    assert!(error.starts_with("cannot read ") && error.contains("missing.mmdb"), "{error}");
}

#[test]
fn a_wrongly_typed_field_names_the_network() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.mmdb");
    write_mmdb(&path, &[("198.18.0.0/24", json!({ "country": "DE" }))]);
    let error = expand(&mmdb_config(path), &[selection(&["DE"], &[])]).unwrap_err().to_string();
    assert!(error.contains("network 198.18.0.0/24"), "{error}");
}

#[test]
fn a_csv_of_prefixes_and_ranges_expands_like_an_mmdb() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("geo.csv");
    std::fs::write(&path, "198.18.0.0/25,DE,EU\n198.18.0.128,198.18.1.255,FR,EU\nfd00:1::/64,DE\n").unwrap();
    let geo = GeoConfig { mmdb: None, csv: Some(path) };
    let found = expand(&geo, &[selection(&["DE"], &[]), selection(&[], &["EU"])]).unwrap();
    assert_eq!(found[0], nets(&["198.18.0.0/25", "fd00:1::/64"]));
    assert_eq!(found[1], nets(&["198.18.0.0/25", "198.18.0.128/25", "198.18.1.0/24"]));
}
