//! Key files, `[zone.dnssec]` errors, signatures that verify, and the signature cache.

use std::{fs, os::unix::fs::PermissionsExt, path::Path};

use hickory_proto::{
    dnssec::{PublicKey, TBS, rdata::DNSSECRData},
    rr::{DNSClass, Name, RData, Record, RecordType, rdata::A},
};

use super::{SigningAlgorithm, SigningKeyFile, ZoneSigner, signer::Timing};
use crate::config::{Config, fixture::ConfigText};

const DAY: u64 = 86_400;

fn timing() -> Timing {
    Timing {
        validity: std::time::Duration::from_secs(14 * DAY),
        refresh: std::time::Duration::from_secs(7 * DAY),
        backdate: std::time::Duration::from_secs(3600),
    }
}

fn key_in(dir: &Path, algorithm: SigningAlgorithm) -> std::path::PathBuf {
    let path = dir.join("zone.key");
    SigningKeyFile::generate(algorithm).unwrap().write_new(&path).unwrap();
    path
}

fn signer(algorithm: SigningAlgorithm) -> ZoneSigner {
    let dir = tempfile::tempdir().unwrap();
    let path = key_in(dir.path(), algorithm);
    let file = SigningKeyFile::read(&path).unwrap();
    ZoneSigner::new(&Name::from_ascii("example.com.").unwrap(), &file, &path, timing()).unwrap()
}

fn a_rrset(owner: &str, addrs: &[[u8; 4]]) -> Vec<Record> {
    let name = Name::from_ascii(owner).unwrap();
    addrs.iter().map(|a| Record::from_rdata(name.clone(), 30, RData::A(A(std::net::Ipv4Addr::from(*a))))).collect()
}

/// Checks `rrsig` over `rrset` with the public key of the signer's key it names, as a
/// validator does.
fn verifies(signer: &ZoneSigner, rrset: &[Record], rrsig: &Record) -> bool {
    let RData::DNSSEC(DNSSECRData::RRSIG(sig)) = &rrsig.data else { panic!("not an RRSIG") };
    let tbs = TBS::from_input(&rrset[0].name, DNSClass::IN, sig.input(), rrset.iter()).unwrap();
    let tag = sig.input().key_tag;
    let mut keys = signer.dnskeys().filter(|k| k.calculate_key_tag().unwrap() == tag);
    keys.any(|key| key.public_key().verify(tbs.as_ref(), sig.sig()).is_ok())
}

/// The one signature a single-key signer makes over `rrset`.
fn only(mut rrsigs: Vec<Record>) -> Record {
    assert_eq!(rrsigs.len(), 1, "one key, one signature");
    rrsigs.remove(0)
}

#[test]
fn keygen_writes_a_private_file_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_in(dir.path(), SigningAlgorithm::Ed25519);
    assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let before = fs::read(&path).unwrap();
    let again = SigningKeyFile::generate(SigningAlgorithm::Ed25519).unwrap().write_new(&path).unwrap_err();
    assert!(again.to_string().contains("never overwritten"), "{again}");
    assert_eq!(fs::read(&path).unwrap(), before);
}

#[test]
fn key_files_readable_by_others_or_malformed_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_in(dir.path(), SigningAlgorithm::Ecdsap256sha256);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let open = SigningKeyFile::read(&path).err().unwrap().to_string();
    assert!(open.contains("0644") && open.contains("chmod 600"), "{open}");

    let garbage = dir.path().join("garbage.key");
    fs::write(&garbage, "ed25519 not-hex\n").unwrap();
    fs::set_permissions(&garbage, fs::Permissions::from_mode(0o600)).unwrap();
    let text = SigningKeyFile::read(&garbage).err().unwrap().to_string();
    assert!(text.contains("expected one line"), "{text}");

    let swapped = dir.path().join("swapped.key");
    let ecdsa = fs::read_to_string(dir.path().join("zone.key")).unwrap();
    fs::write(&swapped, ecdsa.replace("ecdsap256sha256", "ed25519")).unwrap();
    fs::set_permissions(&swapped, fs::Permissions::from_mode(0o600)).unwrap();
    let text = SigningKeyFile::read(&swapped).err().unwrap().to_string();
    assert!(text.contains("not a valid ed25519 private key"), "{text}");
}

#[test]
fn a_key_of_another_algorithm_than_configured_is_refused_before_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_in(dir.path(), SigningAlgorithm::Ed25519);
    let text = ConfigText::new().xdp_off().zone().dnssec("ecdsap256sha256", path.to_str().unwrap()).build();
    let file = dir.path().join("switchyard.toml");
    fs::write(&file, text).unwrap();
    let error = Config::load_for_host(&file).err().unwrap().to_string();
    assert!(error.contains("zone[0].dnssec.key_file") && error.contains("holds a ed25519 key"), "{error}");
}

#[test]
fn a_zone_inside_a_signed_zone_must_be_signed_too() {
    let child = |text: ConfigText| {
        let soa = "soa = { mname = \"ns1.example.com.\", rname = \"hostmaster.example.com.\" }";
        text.table("[[zone]]", &["name = \"eu.example.com.\"", "ns = [\"ns1.example.com.\"]", soa])
    };
    let signed = || ConfigText::new().xdp_off().zone().dnssec("ed25519", "/k.key");
    let error = Config::parse(&child(signed()).build(), "t.toml").err().unwrap().to_string();
    assert!(error.contains("zone[1].dnssec") && error.contains("inside the signed zone[0]"), "{error}");
    assert!(Config::parse(&child(signed()).dnssec("ed25519", "/k.key").build(), "t.toml").is_ok());
    // An unsigned parent may hold a signed child, and unsigned zones may nest.
    let unsigned = || ConfigText::new().xdp_off().zone();
    assert!(Config::parse(&child(unsigned()).dnssec("ed25519", "/k.key").build(), "t.toml").is_ok());
    assert!(Config::parse(&child(unsigned()).build(), "t.toml").is_ok());
}

#[test]
fn bad_signature_timing_is_refused_naming_the_key() {
    let base = || ConfigText::new().xdp_off().zone().dnssec("ed25519", "/nonexistent.key");
    let cases = [
        ("validity_ms = 60000", "zone[0].dnssec.validity_ms"),
        ("refresh_ms = 1209600000", "zone[0].dnssec.refresh_ms"),
        ("refresh_ms = 1000", "zone[0].dnssec.refresh_ms"),
        ("backdate_ms = 172800000", "zone[0].dnssec.backdate_ms"),
    ];
    for (line, key) in cases {
        let error = Config::parse(&base().line(line).build(), "t.toml").err().unwrap().to_string();
        assert!(error.contains(key), "{line}: {error}");
    }
    let unknown = ConfigText::new().xdp_off().zone().dnssec("rsasha1", "/k").build();
    let error = Config::parse(&unknown, "t.toml").err().unwrap().to_string();
    assert!(error.contains("zone[0].dnssec.algorithm") && error.contains("rsasha1"), "the key and the value: {error}");
    let defaults = Config::parse(&base().build(), "t.toml").unwrap();
    let dnssec = defaults.zone[0].dnssec.as_ref().unwrap();
    assert_eq!(
        (dnssec.validity_ms, dnssec.refresh_ms, dnssec.backdate_ms),
        (14 * DAY * 1000, 7 * DAY * 1000, 3_600_000)
    );
}

#[test]
fn signatures_verify_for_both_algorithms_and_fail_for_other_data() {
    for algorithm in [SigningAlgorithm::Ecdsap256sha256, SigningAlgorithm::Ed25519] {
        let signer = signer(algorithm);
        let rrset = a_rrset("WwW.example.com.", &[[198, 18, 1, 1], [198, 18, 2, 1]]);
        let rrsig = only(signer.sign(&rrset).unwrap());
        assert!(verifies(&signer, &rrset, &rrsig), "{algorithm:?}");
        let other = a_rrset("www.example.com.", &[[198, 18, 1, 1]]);
        assert!(!verifies(&signer, &other, &rrsig), "{algorithm:?}: a signature over other data");
        let RData::DNSSEC(DNSSECRData::RRSIG(sig)) = &rrsig.data else { unreachable!() };
        assert_eq!(sig.input().signer_name.to_string(), "example.com.");
        assert_eq!(vec![sig.input().key_tag], signer.key_tags());
        assert_eq!(sig.input().type_covered, RecordType::A);
    }
}

#[test]
fn one_signature_per_rrset_content_renewed_at_the_refresh_point() {
    let signer = signer(SigningAlgorithm::Ed25519);
    let now = 1_800_000_000;
    let ab = a_rrset("www.example.com.", &[[198, 18, 1, 1], [198, 18, 2, 1]]);
    let ba = a_rrset("WWW.example.com.", &[[198, 18, 2, 1], [198, 18, 1, 1]]);
    let first = only(signer.sign_at(&ab, now).unwrap());
    assert_eq!(only(signer.sign_at(&ba, now + 10).unwrap()).data, first.data, "same set, another order and case");
    assert_eq!(signer.cached(), 1);
    let RData::DNSSEC(DNSSECRData::RRSIG(sig)) = &first.data else { unreachable!() };
    assert_eq!(u64::from(sig.input().sig_inception.get()), now - 3600);
    assert_eq!(u64::from(sig.input().sig_expiration.get()), now + 14 * DAY);
    let renew_at = now + 7 * DAY;
    assert_eq!(only(signer.sign_at(&ab, renew_at - 1).unwrap()).data, first.data);
    let renewed = only(signer.sign_at(&ab, renew_at).unwrap());
    let RData::DNSSEC(DNSSECRData::RRSIG(new)) = &renewed.data else { unreachable!() };
    assert_eq!(u64::from(new.input().sig_expiration.get()), renew_at + 14 * DAY);
    let b_only = a_rrset("www.example.com.", &[[198, 18, 2, 1]]);
    signer.sign_at(&b_only, now).unwrap();
    assert_eq!(signer.cached(), 2, "a site state's variant has its own signature");
}

#[test]
fn ds_lines_name_the_key_for_the_parent() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_in(dir.path(), SigningAlgorithm::Ecdsap256sha256);
    let config = Config::parse(
        &ConfigText::new().xdp_off().zone().dnssec("ecdsap256sha256", path.to_str().unwrap()).build(),
        "t",
    )
    .unwrap();
    let lines = crate::cli::dnssec::parent_records(&config, "Example.COM").unwrap();
    let file = SigningKeyFile::read(&path).unwrap();
    let signer = ZoneSigner::new(&Name::from_ascii("example.com.").unwrap(), &file, &path, timing()).unwrap();
    let ds = format!("example.com. 3600 IN DS {} 13 2 ", signer.key_tags()[0]);
    assert!(lines[0].starts_with("; key 1 of 1: key tag ") && lines[0].ends_with("zone.key"), "{lines:?}");
    assert!(lines[1].starts_with(&ds) && lines[1].len() == ds.len() + 64, "{lines:?}");
    assert!(lines[2].starts_with("example.com. 3600 IN DNSKEY 257 3 13 "), "{lines:?}");
    let unsigned = Config::parse(&ConfigText::new().xdp_off().zone().build(), "t").unwrap();
    let error = crate::cli::dnssec::parent_records(&unsigned, "example.com.").unwrap_err().to_string();
    assert!(error.contains("not signed"), "{error}");
    let error = crate::cli::dnssec::parent_records(&config, "example.org.").unwrap_err().to_string();
    assert!(error.contains("not a zone"), "{error}");
}

#[test]
fn a_rollover_publishes_both_keys_and_each_signs_every_rrset() {
    let dir = tempfile::tempdir().unwrap();
    let old = key_in(dir.path(), SigningAlgorithm::Ecdsap256sha256);
    let new = dir.path().join("new.key");
    SigningKeyFile::generate(SigningAlgorithm::Ecdsap256sha256).unwrap().write_new(&new).unwrap();
    let paths = [old.to_str().unwrap(), new.to_str().unwrap()];
    let config =
        Config::parse(&ConfigText::new().xdp_off().zone().dnssec_keys("ecdsap256sha256", &paths).build(), "t").unwrap();
    let zone = Name::from_ascii("example.com.").unwrap();
    let signer = ZoneSigner::load(&zone, config.zone[0].dnssec.as_ref().unwrap()).unwrap();
    let tags = signer.key_tags();
    assert_eq!(tags.len(), 2);
    assert!(!signer.has_one_key());

    let rrset = a_rrset("www.example.com.", &[[198, 18, 1, 1]]);
    let rrsigs = signer.sign(&rrset).unwrap();
    let signed_by: Vec<u16> = rrsigs
        .iter()
        .map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::RRSIG(sig)) => sig.input().key_tag,
            _ => panic!("an RRSIG"),
        })
        .collect();
    assert_eq!(signed_by, tags, "one signature per key, in the configured order");
    assert!(rrsigs.iter().all(|r| verifies(&signer, &rrset, r)));
    assert_eq!(signer.cached(), 1, "both signatures cached as one entry");
    assert_eq!(signer.sign(&rrset).unwrap(), rrsigs, "the cache returns both");

    for rtype in [RecordType::DNSKEY, RecordType::CDS, RecordType::CDNSKEY] {
        assert_eq!(signer.apex_records(rtype, &zone, 3600).len(), 2, "{rtype}: one per key");
    }
    let dnskeys = signer.apex_records(RecordType::DNSKEY, &zone, 3600);
    assert!(signer.sign(&dnskeys).unwrap().iter().all(|r| verifies(&signer, &dnskeys, r)), "the DNSKEY set too");

    let lines = crate::cli::dnssec::parent_records(&config, "example.com").unwrap();
    for (i, tag) in tags.iter().enumerate() {
        assert_eq!(lines[3 * i], format!("; key {} of 2: key tag {tag}, {}", i + 1, paths[i]), "{lines:?}");
        assert!(lines[3 * i + 1].starts_with(&format!("example.com. 3600 IN DS {tag} 13 2 ")), "{lines:?}");
        assert!(lines[3 * i + 2].starts_with("example.com. 3600 IN DNSKEY 257 3 13 "), "{lines:?}");
    }
    assert_eq!(lines.len(), 6);
}

#[test]
fn key_lists_that_cannot_roll_are_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_in(dir.path(), SigningAlgorithm::Ed25519);
    let key = key.to_str().unwrap();
    let copy = dir.path().join("copy.key");
    fs::copy(key, &copy).unwrap();
    let copy = copy.to_str().unwrap();
    let both = ConfigText::new().xdp_off().zone().dnssec("ed25519", key).line(&format!("key_files = [{copy:?}]"));
    let error = Config::parse(&both.build(), "t.toml").err().unwrap().to_string();
    assert!(error.contains("zone[0].dnssec.key_files") && error.contains("not both"), "{error}");
    let none = ConfigText::new().xdp_off().zone().table("[zone.dnssec]", &["algorithm = \"ed25519\""]);
    let error = Config::parse(&none.build(), "t.toml").err().unwrap().to_string();
    assert!(error.contains("zone[0].dnssec.key_file") && error.contains("needs key_file"), "{error}");
    let many = ConfigText::new().xdp_off().zone().dnssec_keys("ed25519", &["/a", "/b", "/c", "/d"]);
    let error = Config::parse(&many.build(), "t.toml").err().unwrap().to_string();
    assert!(error.contains("zone[0].dnssec.key_files") && error.contains("1 to 3 keys"), "{error}");
    let empty = ConfigText::new().xdp_off().zone().dnssec_keys("ed25519", &[]);
    let error = Config::parse(&empty.build(), "t.toml").err().unwrap().to_string();
    assert!(error.contains("zone[0].dnssec.key_files") && error.contains("1 to 3 keys"), "{error}");

    // The same key twice, under one name or two: parses, refused when the keys are read.
    let file = dir.path().join("switchyard.toml");
    for second in [key, copy] {
        fs::write(&file, ConfigText::new().xdp_off().zone().dnssec_keys("ed25519", &[key, second]).build()).unwrap();
        let error = Config::load_for_host(&file).err().unwrap().to_string();
        assert!(error.contains("zone[0].dnssec.key_files[1]") && error.contains("like another key"), "{error}");
    }
}
