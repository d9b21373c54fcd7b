//! Signed answers from the XDP program (DO=1 in a signed zone): the RRSIG the daemon wrote for
//! the answer set is appended, and the reply is byte for byte what userspace sends, for both
//! algorithms; a signature that is missing, made for another answer set or no longer fresh
//! sends the query to userspace; DO=0 answers carry no signature; a signature due for renewal is
//! renewed by the next pass that writes the maps; a signed reply over the client's EDNS size is
//! left to userspace, which answers with TC=1; a pass of thousands of sets signed ahead lands
//! whole.

mod xdp_common;

use std::{collections::HashSet, net::IpAddr};

use hickory_proto::{
    op::Message,
    rr::{RData, RecordType},
    serialize::binary::BinEncodable,
};
use switchyard::bpf::{
    test_run::{XDP_PASS, XDP_TX},
    writer::MapWriter,
};
use switchyard_common::{MapKey, PackedName, QTYPE_A, SIGNATURE_SIDE, signature_place};
use switchyard_tests::{
    frames::{EdnsSpec, check_response, query, udp_frame},
    privileges::have_root,
    xdp_harness::XdpHarness,
};
use xdp_common::*;

fn frame_for(name: &str, rtype: RecordType, client: &str, edns: Option<&EdnsSpec>, id: u16) -> (Vec<u8>, Vec<u8>) {
    let dns = query(id, name, rtype, edns);
    let client: IpAddr = client.parse().unwrap();
    let server: IpAddr = if client.is_ipv6() { SERVER_V6.parse().unwrap() } else { SERVER_V4.parse().unwrap() };
    (udp_frame(None, client, server, 33333, 53, &dns), dns)
}

const DO: EdnsSpec = EdnsSpec { dnssec_ok: true, version: 0, cookie: false, client_subnet: None, nsid: false };

/// Answers `name` from XDP, checks the reply is userspace's to the byte, and returns it parsed.
fn answered_like_userspace(
    h: &mut XdpHarness,
    name: &str,
    rtype: RecordType,
    client: &str,
    edns: &EdnsSpec,
) -> Message {
    let (frame, dns) = frame_for(name, rtype, client, Some(edns), 0x5151);
    let run = h.run(&frame).expect("test run");
    assert_eq!(run.action, XDP_TX, "{name} {rtype} from {client} ({edns:?}) answered by XDP");
    let reply = check_response(&frame, &run.frame).expect("a well-formed response");
    let userspace = h.userspace(&dns, client.parse().unwrap()).expect("userspace answers");
    assert_eq!(reply, userspace, "{name} {rtype} from {client} ({edns:?}): the same bytes as userspace");
    Message::from_vec(&reply).expect("the reply parses")
}

fn signatures_in(reply: &Message) -> Vec<RecordType> {
    reply
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::RRSIG(sig)) => Some(sig.input().type_covered),
            _ => None,
        })
        .collect()
}

#[test]
fn signed_answers_from_xdp_are_userspaces_bytes_for_both_algorithms() {
    if !have_root("signed_answers_from_xdp_are_userspaces_bytes_for_both_algorithms") {
        return;
    }
    for algorithm in ALGORITHMS {
        let dir = tempfile::tempdir().unwrap();
        let mut h = XdpHarness::new(&signed_zone(algorithm, dir.path()), table(), views());
        assert!(h.write_stats.signed > 10, "{algorithm}: answer sets signed when written: {:?}", h.write_stats);
        assert_eq!(h.write_stats.unsigned, 0, "{algorithm}: {:?}", h.write_stats);
        let with_cookie = EdnsSpec { cookie: true, ..DO };
        let cases = [
            ("www.example.com.", RecordType::A, CLIENT_V4, &DO),
            ("WwW.ExAmPlE.CoM.", RecordType::A, CLIENT_V4, &with_cookie),
            ("www.example.com.", RecordType::AAAA, CLIENT_V6, &DO),
            ("www.example.com.", RecordType::A, "198.18.200.9", &DO),
            ("www.example.com.", RecordType::AAAA, "fd00:c8::9", &with_cookie),
            ("eight.example.com.", RecordType::A, CLIENT_V4, &DO),
            ("a.example.com.", RecordType::A, CLIENT_V6, &DO),
            (LONG_NAMES[4], RecordType::A, CLIENT_V4, &DO),
            (LONG_NAMES[1], RecordType::AAAA, CLIENT_V4, &with_cookie),
        ];
        let before = h.counter("answered_signed");
        for (name, rtype, client, edns) in cases {
            let reply = answered_like_userspace(&mut h, name, rtype, client, edns);
            assert_eq!(signatures_in(&reply), [rtype], "{algorithm} {name} {rtype}: one RRSIG over the answer");
            assert!(reply.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok), "DO set in the reply's OPT");
        }
        assert_eq!(h.counter("answered_signed") - before, cases.len() as u64, "{algorithm}: counted as signed");

        // DO=0 and no EDNS: answered as for an unsigned zone, no RRSIG.
        let plain = EdnsSpec { dnssec_ok: false, ..DO };
        let reply = answered_like_userspace(&mut h, "www.example.com.", RecordType::A, CLIENT_V4, &plain);
        assert!(signatures_in(&reply).is_empty() && reply.answers.len() == 2, "{reply:?}");
        let (frame, dns) = frame_for("www.example.com.", RecordType::A, CLIENT_V4, None, 7);
        let run = h.run(&frame).unwrap();
        assert_eq!(run.action, XDP_TX);
        let reply = check_response(&frame, &run.frame).unwrap();
        assert_eq!(reply, h.userspace(&dns, CLIENT_V4.parse().unwrap()).unwrap());
        assert_eq!(h.counter("answered_signed") - before, cases.len() as u64, "DO=0 is not counted as signed");
    }
}

fn www_a_key() -> MapKey {
    let name = PackedName::new(b"\x03www\x07example\x03com\x00").unwrap();
    MapKey::new(0, QTYPE_A, &name)
}

/// The DO=1 query for www A goes to userspace untouched (counted as `pass_dnssec`), while its
/// DO=0 query is still answered.
fn passes_to_userspace(h: &mut XdpHarness, why: &str) {
    let before = h.counter("pass_dnssec");
    let (frame, _) = frame_for("www.example.com.", RecordType::A, CLIENT_V4, Some(&DO), 9);
    let run = h.run(&frame).unwrap();
    assert_eq!((run.action, &run.frame), (XDP_PASS, &frame), "{why}: passed untouched");
    assert_eq!(h.counter("pass_dnssec") - before, 1, "{why}: counted");
    let plain = EdnsSpec { dnssec_ok: false, ..DO };
    let (frame, _) = frame_for("www.example.com.", RecordType::A, CLIENT_V4, Some(&plain), 9);
    assert_eq!(h.run(&frame).unwrap().action, XDP_TX, "{why}: DO=0 still answered");
}

#[test]
fn a_missing_stale_or_foreign_signature_sends_do_queries_to_userspace() {
    if !have_root("a_missing_stale_or_foreign_signature_sends_do_queries_to_userspace") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut h = XdpHarness::new(&signed_zone("ed25519", dir.path()), table(), views());
    let key = www_a_key();
    let original = h.datapath.answer_maps().unwrap().signatures.get(&key, 0).expect("www A is signed");

    let mut expired = original;
    expired.fresh_until_ns = 1;
    h.datapath.answer_maps().unwrap().signatures.insert(key, expired, 0).unwrap();
    passes_to_userspace(&mut h, "no longer fresh");

    let mut foreign = original;
    foreign.serial = original.serial.wrapping_add(1).max(1);
    h.datapath.answer_maps().unwrap().signatures.insert(key, foreign, 0).unwrap();
    passes_to_userspace(&mut h, "made for another answer set");

    h.datapath.answer_maps().unwrap().signatures.remove(&key).unwrap();
    passes_to_userspace(&mut h, "missing");

    h.datapath.answer_maps().unwrap().signatures.insert(key, original, 0).unwrap();
    answered_like_userspace(&mut h, "www.example.com.", RecordType::A, CLIENT_V4, &DO);
}

#[test]
fn a_changed_answer_set_is_signed_anew_and_the_others_keep_their_signature() {
    if !have_root("a_changed_answer_set_is_signed_anew_and_the_others_keep_their_signature") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut h = XdpHarness::new(&signed_zone("ecdsap256sha256", dir.path()), table(), views());
    let zones = h.zones();
    let mut writer = MapWriter::default();
    writer.set_signers(zones.signers());
    let mut maps = h.datapath.answer_maps().unwrap();
    let first = writer.write_signed(&mut maps, &table()).unwrap();
    // The harness signed through the same signers: every signature comes from their cache.
    let again = writer.write_signed(&mut maps, &table()).unwrap();
    assert_eq!((again.signed, again.written), (0, 0), "nothing changed, nothing signed: {again:?}");
    let key = www_a_key();
    let before = maps.signatures.get(&key, 0).unwrap();

    // Site b goes down: www A has one address left.
    let mut down = table();
    let www = switchyard::answers::wire_name(&"www.example.com.".parse().unwrap());
    let entry = down.entries.get_mut(&switchyard::answers::AnswerKey { view: 0, qtype: QTYPE_A, name: www }).unwrap();
    entry.addrs.retain(|a| *a != "198.18.20.1".parse::<IpAddr>().unwrap());
    let stats = writer.write_signed(&mut maps, &down).unwrap();
    assert_eq!((stats.signed, stats.written), (1, 1), "one answer set changed: {stats:?} (first {first:?})");
    let entry = maps.answers.get(&key).unwrap();
    let after = maps.signatures.get(&signature_place(&key, entry.signature), 0).unwrap();
    assert_ne!(after.serial, before.serial);
    assert_eq!(entry.signature, after.serial, "the entry names its new signature");
    // In the other place: the signature the program was reading is left as it was.
    assert_ne!(signature_place(&key, after.serial), signature_place(&key, before.serial));
    assert_eq!(maps.signatures.get(&signature_place(&key, before.serial), 0).unwrap(), before);
    h.set_table(down);
    let reply = answered_like_userspace(&mut h, "www.example.com.", RecordType::A, CLIENT_V4, &DO);
    assert_eq!(reply.answers.len(), 2, "one A and its RRSIG: {reply:?}");
}

/// The test table with site b down: www A has one address left.
fn site_b_down() -> switchyard::answers::AnswerTable {
    let mut down = table();
    put(&mut down, 0, QTYPE_A, "www.example.com.", 30, &["198.18.10.1"]);
    down
}

/// A set that changes back (site b fails and returns) finds its former signature in its other
/// place: the answers-first write names it at once, so XDP answers DO=1 signed throughout, and
/// the signed write keeps it instead of writing over the place the entry names.
#[test]
fn a_set_that_changes_back_is_served_with_its_former_signature_which_no_write_replaces() {
    if !have_root("a_set_that_changes_back_is_served_with_its_former_signature_which_no_write_replaces") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut h, mut writer) = signed_and_written(dir.path());
    let key = www_a_key();
    let former = h.datapath.answer_maps().unwrap().answers.get(&key).unwrap().signature;
    writer.write_signed(&mut h.datapath.answer_maps().unwrap(), &site_b_down()).unwrap();
    let original = h.datapath.answer_maps().unwrap().signatures.get(&signature_place(&key, former), 0).unwrap();

    // Site b is back: the answers go first, as the daemon writes them.
    let first = writer.write(h.datapath.answer_maps().unwrap().answers, &table()).unwrap();
    assert_eq!((first.written, first.unsigned), (1, 0), "www A named its former signature: {first:?}");
    assert_eq!(h.datapath.answer_maps().unwrap().answers.get(&key).unwrap().signature, former);
    h.set_table(table());
    let reply = answered_like_userspace(&mut h, "www.example.com.", RecordType::A, CLIENT_V4, &DO);
    assert_eq!(signatures_in(&reply), [RecordType::A], "signed from XDP at once: {reply:?}");

    let stats = writer.write_signed(&mut h.datapath.answer_maps().unwrap(), &table()).unwrap();
    assert_eq!((stats.signed, stats.written), (0, 0), "kept, not signed anew: {stats:?}");
    let maps = h.datapath.answer_maps().unwrap();
    assert_eq!(maps.signatures.get(&signature_place(&key, former), 0).unwrap(), original, "left as it was");
}

/// A daemon that takes over the maps (a hand-off) knows which of a key's two places its entry
/// names: its first signed write puts every set's signature in the other one, and the one the
/// program is reading stays as it was.
#[test]
fn a_writer_that_adopts_the_maps_signs_into_the_places_the_entries_do_not_name() {
    if !have_root("a_writer_that_adopts_the_maps_signs_into_the_places_the_entries_do_not_name") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut h, mut writer) = signed_and_written(dir.path());
    // www A changes twice, so that both its places hold a signature, the second named.
    writer.write_signed(&mut h.datapath.answer_maps().unwrap(), &site_b_down()).unwrap();
    writer.write_signed(&mut h.datapath.answer_maps().unwrap(), &table()).unwrap();
    let key = www_a_key();
    let signers = h.zones().signers();
    let mut maps = h.datapath.answer_maps().unwrap();
    let named = maps.answers.get(&key).unwrap().signature;
    let other = named ^ SIGNATURE_SIDE;
    let reading = maps.signatures.get(&signature_place(&key, named), 0).unwrap();
    assert!(maps.signatures.get(&signature_place(&key, other), 0).is_ok(), "both places hold one");

    let mut successor = MapWriter::default();
    successor.adopt(maps.answers);
    successor.adopt_signatures(&maps.signatures).unwrap();
    successor.set_signers(signers);
    let stats = successor.write_signed(&mut maps, &table()).unwrap();
    assert!(stats.signed > 10, "adopted signatures are made anew: {stats:?}");
    assert_eq!(maps.answers.get(&key).unwrap().signature, other, "the entry names the other place now");
    assert_eq!(maps.signatures.get(&signature_place(&key, named), 0).unwrap(), reading, "left as it was");
    answered_like_userspace(&mut h, "www.example.com.", RecordType::A, CLIENT_V4, &DO);
}

#[test]
fn a_signature_near_its_renewal_is_left_to_userspace_and_the_next_pass_renews_it() {
    if !have_root("a_signature_near_its_renewal_is_left_to_userspace_and_the_next_pass_renews_it") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Renewed 5 s after it is made: within the minute before renewal from the start.
    let timing = ["validity_ms = 7200000", "refresh_ms = 7195000"];
    let mut h = XdpHarness::new(&signed_zone_with("ed25519", dir.path(), &timing), table(), views());
    passes_to_userspace(&mut h, "within a minute of its renewal");

    let mut writer = MapWriter::default();
    writer.set_signers(h.zones().signers());
    let mut maps = h.datapath.answer_maps().unwrap();
    let first = writer.write_signed(&mut maps, &table()).unwrap();
    assert!(writer.renewal_due(), "a refresh pass is due");
    let key = www_a_key();
    let old = maps.signatures.get(&key, 0).unwrap();
    std::thread::sleep(std::time::Duration::from_secs(6));
    let renewed = writer.write_signed(&mut maps, &table()).unwrap();
    assert_eq!(renewed.signed, first.signed, "every answer set signed anew: {renewed:?}");
    assert_eq!(renewed.written, renewed.signed, "each entry now names its signature's other place: {renewed:?}");
    let entry = maps.answers.get(&key).unwrap();
    let new = maps.signatures.get(&signature_place(&key, entry.signature), 0).unwrap();
    assert_eq!(entry.signature, new.serial);
    assert_eq!(new.serial & !SIGNATURE_SIDE, old.serial & !SIGNATURE_SIDE, "the same answer set");
    assert_ne!(new.serial, old.serial, "in the other place");
    let left = maps.signatures.get(&signature_place(&key, old.serial), 0).unwrap();
    assert_eq!(left, old, "the renewal did not write where the program was reading");
    assert_ne!(new.record, old.record, "a new signature (later inception and expiration)");
    assert!(new.fresh_until_ns > old.fresh_until_ns);

    // Userspace serves the renewed signature too: its reply's RRSIG is the one in the map.
    let (_, dns) = frame_for("www.example.com.", RecordType::A, CLIENT_V4, Some(&DO), 3);
    let reply = Message::from_vec(&h.userspace(&dns, CLIENT_V4.parse().unwrap()).unwrap()).unwrap();
    let rrsig = reply.answers.iter().find(|r| r.record_type() == RecordType::RRSIG).expect("signed");
    let (bytes, len) = new.bytes();
    assert_eq!(rrsig.data.to_bytes().unwrap(), bytes[12..len].to_vec());
}

/// The zones `config` describes, with their signers loaded from its key files.
fn zones_of(config: &str) -> std::sync::Arc<switchyard::answers::Zones> {
    let config = switchyard::config::Config::parse(config, "rollover.toml").unwrap();
    std::sync::Arc::new(switchyard::answers::Zones::from_config(&config, &Default::default()))
}

/// The key tags of the RRSIGs over A in `reply`.
fn a_signers(reply: &Message) -> Vec<u16> {
    let tags = reply.answers.iter().filter_map(|r| match &r.data {
        RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::RRSIG(sig)) => Some(sig.input().key_tag),
        _ => None,
    });
    tags.collect()
}

/// The harness with the signed test zone (ECDSA, its key in `dir`) and a writer that has
/// signed the table into the map.
fn signed_and_written(dir: &std::path::Path) -> (XdpHarness, MapWriter) {
    let mut h = XdpHarness::new(&signed_zone("ecdsap256sha256", dir), table(), views());
    let mut writer = MapWriter::default();
    writer.set_signers(h.zones().signers());
    writer.write_signed(&mut h.datapath.answer_maps().unwrap(), &table()).unwrap();
    (h, writer)
}

/// A new ECDSA key file `new.key` in `dir`; its path.
fn new_key_in(dir: &std::path::Path) -> String {
    let path = dir.join("new.key");
    let algorithm = switchyard::dnssec::SigningAlgorithm::Ecdsap256sha256;
    switchyard::dnssec::SigningKeyFile::generate(algorithm).unwrap().write_new(&path).unwrap();
    path.to_str().unwrap().to_string()
}

/// Serves the test zone signed with `keys` from now on, in userspace and in the writer.
fn sign_with(h: &XdpHarness, writer: &mut MapWriter, keys: &[&str]) {
    let zones = zones_of(&signed_zone_keys("ecdsap256sha256", keys));
    writer.set_signers(zones.signers());
    h.set_zones(zones);
}

#[test]
fn during_a_rollover_userspace_signs_with_both_keys_and_after_it_xdp_signs_with_the_new_one() {
    if !have_root("during_a_rollover_userspace_signs_with_both_keys_and_after_it_xdp_signs_with_the_new_one") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut h, mut writer) = signed_and_written(dir.path());
    let old_key = dir.path().join("ecdsap256sha256.key").to_str().unwrap().to_string();
    let new_key = new_key_in(dir.path());
    // Each key's tag from its own file, not from a reply.
    let tag_of = |path: &str| {
        let path = std::path::Path::new(path);
        switchyard::dnssec::SigningKeyFile::read(path).unwrap().key_tag(path).unwrap()
    };
    let (old_tag, new_tag) = (tag_of(&old_key), tag_of(&new_key));
    assert_ne!(old_tag, new_tag);
    let reply = answered_like_userspace(&mut h, "www.example.com.", RecordType::A, CLIENT_V4, &DO);
    assert_eq!(a_signers(&reply), [old_tag], "signed by the old key");

    // Both keys: no signature stays in the map, DO=1 goes to userspace, which signs with both.
    sign_with(&h, &mut writer, &[&old_key, &new_key]);
    let stats = writer.write_signed(&mut h.datapath.answer_maps().unwrap(), &table()).unwrap();
    assert_eq!(stats.signed, 0, "{stats:?}");
    assert!(stats.unsigned > 10, "every signed answer set counted as left to userspace: {stats:?}");
    let maps = h.datapath.answer_maps().unwrap();
    assert_eq!(maps.signatures.keys().count(), 0, "the single-key signatures are gone");
    assert_eq!(maps.answers.get(&www_a_key()).unwrap().signature, 0);
    passes_to_userspace(&mut h, "two keys");
    let (_, dns) = frame_for("www.example.com.", RecordType::A, CLIENT_V4, Some(&DO), 4);
    let reply = Message::from_vec(&h.userspace(&dns, CLIENT_V4.parse().unwrap()).unwrap()).unwrap();
    assert_eq!(a_signers(&reply), [old_tag, new_tag], "both keys, the old one first, as configured: {reply:?}");

    // The new key alone: the map is signed again and XDP serves it, signed by the new key.
    sign_with(&h, &mut writer, &[&new_key]);
    let stats = writer.write_signed(&mut h.datapath.answer_maps().unwrap(), &table()).unwrap();
    assert!(stats.signed > 10 && stats.unsigned == 0, "{stats:?}");
    let reply = answered_like_userspace(&mut h, "www.example.com.", RecordType::A, CLIENT_V4, &DO);
    assert_eq!(a_signers(&reply), [new_tag], "signed by the new key alone");
}

#[test]
fn after_a_new_key_the_answers_first_write_names_no_signature_of_the_old_key() {
    if !have_root("after_a_new_key_the_answers_first_write_names_no_signature_of_the_old_key") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut h, mut writer) = signed_and_written(dir.path());
    let old_key_signature = h.datapath.answer_maps().unwrap().answers.get(&www_a_key()).unwrap().signature;
    sign_with(&h, &mut writer, &[&new_key_in(dir.path())]);

    // The answers go first, unchanged, but none names the old key's signature any more (each
    // names the other place, where the new key's signature is to go).
    writer.write(h.datapath.answer_maps().unwrap().answers, &table()).unwrap();
    let named = h.datapath.answer_maps().unwrap().answers.get(&www_a_key()).unwrap().signature;
    assert_ne!(named, old_key_signature);
    assert_eq!(named, old_key_signature ^ SIGNATURE_SIDE, "the other place of the same set");
    passes_to_userspace(&mut h, "the old key's signature is not served");

    let stats = writer.write_signed(&mut h.datapath.answer_maps().unwrap(), &table()).unwrap();
    assert!(stats.signed > 10 && stats.unsigned == 0, "{stats:?}");
    let reply = answered_like_userspace(&mut h, "www.example.com.", RecordType::A, CLIENT_V4, &DO);
    assert_eq!(signatures_in(&reply), [RecordType::A], "signed from XDP again, by the new key: {reply:?}");
}

fn long_zone_config(algorithm: &str, dir: &std::path::Path) -> String {
    use switchyard::dnssec::{SigningAlgorithm, SigningKeyFile};
    let key = dir.join(format!("{algorithm}.key"));
    SigningKeyFile::generate(SigningAlgorithm::from_name(algorithm).unwrap()).unwrap().write_new(&key).unwrap();
    signed_long_zone(switchyard::config::fixture::ConfigText::new().xdp_off(), algorithm, key.to_str().unwrap())
}

fn long_zone_table() -> switchyard::answers::AnswerTable {
    let mut t = switchyard::answers::AnswerTable::default();
    let eight = eight_aaaa();
    put(
        &mut t,
        0,
        switchyard_common::QTYPE_AAAA,
        &too_big_name(),
        60,
        &eight.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    t
}

/// A DO=1 query for `name` AAAA offering `payload` bytes of EDNS buffer.
fn do_query(name: &str, payload: u16) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.id = 0x7c7c;
    m.add_query(hickory_proto::op::Query::query(name.parse().unwrap(), RecordType::AAAA));
    let mut edns = hickory_proto::op::Edns::new();
    edns.set_max_payload(payload);
    edns.set_dnssec_ok(true);
    m.set_edns(edns);
    m.to_vec().unwrap()
}

#[test]
fn a_signed_reply_over_the_clients_size_is_passed_and_userspace_truncates_it() {
    if !have_root("a_signed_reply_over_the_clients_size_is_passed_and_userspace_truncates_it") {
        return;
    }
    let name = too_big_name();
    let client: IpAddr = CLIENT_V4.parse().unwrap();
    let server: IpAddr = SERVER_V4.parse().unwrap();
    for algorithm in ALGORITHMS {
        let dir = tempfile::tempdir().unwrap();
        let mut h = XdpHarness::new(&long_zone_config(algorithm, dir.path()), long_zone_table(), views());
        assert_eq!((h.write_stats.signed, h.write_stats.unsigned), (1, 0), "{algorithm}: {:?}", h.write_stats);

        // With room for it (1232 bytes) the program answers, signed: the signature is there and
        // the reply is more than 512 bytes.
        let roomy = udp_frame(None, client, server, 33333, 53, &do_query(&name, 1232));
        let run = h.run(&roomy).unwrap();
        assert_eq!(run.action, XDP_TX, "{algorithm}: answered with 1232 bytes of room");
        let signed = check_response(&roomy, &run.frame).unwrap();
        assert!(signed.len() > 512, "{algorithm}: the signed reply needs {} bytes", signed.len());
        assert_eq!(signatures_in(&Message::from_vec(&signed).unwrap()), [RecordType::AAAA]);
        let userspace = h.userspace(&do_query(&name, 1232), client).expect("userspace answers");
        assert_eq!(signed, userspace, "{algorithm}: the signed reply over 512 bytes is userspace's to the byte");

        // Offering 512: passed untouched and counted, for userspace to answer.
        let (too_big, signed_before) = (h.counter("pass_too_big"), h.counter("answered_signed"));
        let dns = do_query(&name, 512);
        let small = udp_frame(None, client, server, 33333, 53, &dns);
        let run = h.run(&small).unwrap();
        assert_eq!((run.action, &run.frame), (XDP_PASS, &small), "{algorithm}: passed untouched");
        assert_eq!(h.counter("pass_too_big") - too_big, 1, "{algorithm}: counted as too big");
        assert_eq!(h.counter("answered_signed"), signed_before, "{algorithm}: not counted as answered");

        // Userspace's reply fits the 512 bytes and says it is truncated (TC=1): the client
        // retries over TCP.
        let reply = h.userspace(&dns, client).expect("userspace answers");
        assert!(reply.len() <= 512, "{algorithm}: the UDP reply fits 512 bytes, not {}", reply.len());
        let reply = Message::from_vec(&reply).unwrap();
        assert!(reply.metadata.truncation, "{algorithm}: TC=1 in {reply:?}");
        assert_eq!(reply.metadata.id, 0x7c7c);
        assert_eq!(reply.queries.first().map(|q| q.name().to_ascii()), Some(name.clone()));

        // Over TCP userspace sends the whole signed answer.
        let whole = Message::from_vec(&h.authority.respond(&dns, client, true).bytes.unwrap()).unwrap();
        assert!(!whole.metadata.truncation);
        assert_eq!(whole.answers.len(), 9, "{algorithm}: eight AAAA and their RRSIG over TCP");
    }
}

/// Every answer set of `table` in a signed zone is in the map with the signature of that very
/// set: the entry names it, and the signature map holds it.
fn every_set_signed_in_the_map(h: &mut XdpHarness, table: &switchyard::answers::AnswerTable) -> usize {
    let maps = h.datapath.answer_maps().unwrap();
    let mut checked = 0;
    for (key, set) in &table.entries {
        // An empty entry (a view's set only userspace can serve) carries no signature.
        let Some((map_key, _)) = switchyard::bpf::writer::to_map_entry(key, set).filter(|(_, e)| e.count > 0) else {
            continue;
        };
        let entry = maps.answers.get(&map_key).expect("every answer set written");
        let serial = switchyard::bpf::signatures::AnswerId::of(key, set).serial;
        assert_eq!(entry.signature & !SIGNATURE_SIDE, serial, "{key:?}: the entry names the signature of its own set");
        let place = signature_place(&map_key, entry.signature);
        assert_eq!(maps.signatures.get(&place, 0).expect("its signature written").serial, entry.signature);
        checked += 1;
    }
    checked
}

/// A signed write that fails part of the way (more sets than the signature map holds) leaves
/// signatures in the map the writer does not know: until a signed write reads the map again, the
/// answers written first name none of them, and that write signs every set anew.
#[test]
fn after_a_failed_signed_write_no_entry_names_a_signature_until_the_map_is_read_again() {
    if !have_root("after_a_failed_signed_write_no_entry_names_a_signature_until_the_map_is_read_again") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = signed_zone("ecdsap256sha256", dir.path());
    let mut h = XdpHarness::with_max_entries(&config, many_names(100, 1), views(), 1024);
    let mut writer = MapWriter::default();
    writer.adopt(h.datapath.answer_maps().unwrap().answers);
    writer.adopt_signatures(&h.datapath.answer_maps().unwrap().signatures).unwrap();
    writer.set_signers(h.zones().signers());
    writer.write_signed(&mut h.datapath.answer_maps().unwrap(), &many_names(100, 1)).unwrap();
    let failed = writer.write_signed(&mut h.datapath.answer_maps().unwrap(), &many_names(2_500, 2));
    assert!(failed.is_err(), "2,500 signatures do not fit a map of 2,048 (two places per entry): {failed:?}");

    let fewer = many_names(100, 2);
    writer.write(h.datapath.answer_maps().unwrap().answers, &fewer).unwrap();
    let maps = h.datapath.answer_maps().unwrap();
    let naming = maps.answers.entries().values().filter(|entry| entry.signature != 0).count();
    assert_eq!(naming, 0, "no entry names a signature the writer does not know");
    passes_to_userspace(&mut h, "after a failed signed write");

    let stats = writer.write_signed(&mut h.datapath.answer_maps().unwrap(), &fewer).unwrap();
    assert_eq!(stats.unsigned, 0, "{stats:?}");
    assert!(every_set_signed_in_the_map(&mut h, &fewer) > 100, "{stats:?}");
    h.set_table(fewer);
    let reply = answered_like_userspace(&mut h, "s7.example.com.", RecordType::A, CLIENT_V4, &DO);
    assert_eq!(signatures_in(&reply), [RecordType::A], "signed from XDP again: {reply:?}");
}

/// A reload that renames a table near `max_entries` whole, each old set holding both its
/// places: in the daemon's order (the answers first, which takes the old entries out, then the
/// signatures) the old places are given up before the new signatures need room, so the write
/// fits (about 2,700 places would not fit the 2,048).
#[test]
fn a_table_renamed_whole_near_its_capacity_is_signed_in_the_daemons_order() {
    if !have_root("a_table_renamed_whole_near_its_capacity_is_signed_in_the_daemons_order") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = signed_zone("ecdsap256sha256", dir.path());
    let mut h = XdpHarness::with_max_entries(&config, table(), views(), 1024);
    let mut writer = MapWriter::default();
    writer.adopt(h.datapath.answer_maps().unwrap().answers);
    writer.adopt_signatures(&h.datapath.answer_maps().unwrap().signatures).unwrap();
    writer.set_signers(h.zones().signers());
    // Every set signed twice, with site 1's addresses and then site 2's: both places taken.
    for site in [1, 2] {
        writer.write_signed(&mut h.datapath.answer_maps().unwrap(), &many_names(900, site)).unwrap();
    }
    let mut renamed = table();
    for i in 0..900 {
        put(&mut renamed, 0, QTYPE_A, &format!("t{i}.example.com."), 30, &[&format!("198.18.30.{}", i % 250 + 1)]);
    }
    writer.write(h.datapath.answer_maps().unwrap().answers, &renamed).unwrap();
    let stats = writer.write_signed(&mut h.datapath.answer_maps().unwrap(), &renamed).unwrap();
    assert_eq!(stats.unsigned, 0, "{stats:?}");
    assert!(every_set_signed_in_the_map(&mut h, &renamed) > 900, "{stats:?}");
    h.set_table(renamed);
    let reply = answered_like_userspace(&mut h, "t7.example.com.", RecordType::A, CLIENT_V4, &DO);
    assert_eq!(signatures_in(&reply), [RecordType::A], "signed from XDP: {reply:?}");
}

/// A state change that alters more answer sets than one batched map write takes (4,096), made
/// as the daemon's control loop makes it: the pass worked out once, the signing started ahead,
/// the answers written meanwhile, then the signatures; every set and its signature land, and
/// XDP serves them as userspace does. Signatures made ahead for answer sets the write no
/// longer has are not used.
#[test]
fn a_pass_of_thousands_of_sets_signed_ahead_lands_whole() {
    if !have_root("a_pass_of_thousands_of_sets_signed_ahead_lands_whole") {
        return;
    }
    const NAMES: u32 = 5_000;
    let dir = tempfile::tempdir().unwrap();
    let config = signed_zone("ecdsap256sha256", dir.path());
    let mut h = XdpHarness::with_max_entries(&config, many_names(NAMES, 1), views(), 8192);
    assert!(h.write_stats.written > NAMES as usize, "{:?}", h.write_stats);
    let mut writer = MapWriter::default();
    writer.adopt(h.datapath.answer_maps().unwrap().answers);
    writer.adopt_signatures(&h.datapath.answer_maps().unwrap().signatures).unwrap();
    writer.set_signers(h.zones().signers());
    let runtime = tokio::runtime::Builder::new_multi_thread().build().unwrap();
    let _in_runtime = runtime.enter();

    // Site 1's addresses give way to site 2's for every name.
    let moved = many_names(NAMES, 2);
    let mut plan = writer.plan(&moved, &HashSet::new());
    let signing = switchyard::bpf::presign::presign(writer.due_for_signing(&plan));
    let first = writer.write_planned(h.datapath.answer_maps().unwrap().answers, None, &mut plan).unwrap();
    let ahead = runtime.block_on(signing);
    let signed_ahead = ahead.len();
    assert!(signed_ahead > NAMES as usize, "every set signed ahead (adopted signatures are renewed): {signed_ahead}");
    writer.use_presigned(ahead);
    let mut maps = h.datapath.answer_maps().unwrap();
    let stats = writer.write_planned(maps.answers, Some(&mut maps.signatures), &mut plan).unwrap();
    // Every set of the signed zone with addresses: the 5,000 names and the table's own.
    let signed_sets = moved
        .entries
        .iter()
        .filter(|(k, s)| switchyard::bpf::writer::to_map_entry(k, s).is_some_and(|(_, e)| e.count > 0))
        .count();
    assert_eq!(signed_ahead, signed_sets, "every set signed ahead (adopted signatures are renewed)");
    assert_eq!((first.written, first.unsigned), (signed_sets, signed_sets), "answers first: {first:?}");
    // The answers named their signatures already (in the place the adopted ones are not in,
    // for the sets that kept their content too: an adopted signature's key is not known): only
    // the signatures are written now.
    let expected = (signed_sets, signed_sets, 0, 0);
    assert_eq!((stats.signed, stats.signed_ahead, stats.written, stats.unsigned), expected, "{stats:?}");
    assert!(every_set_signed_in_the_map(&mut h, &moved) > NAMES as usize);
    h.set_table(moved.clone());
    for name in ["s0.example.com.", "s4095.example.com.", "s4999.example.com."] {
        answered_like_userspace(&mut h, name, RecordType::A, CLIENT_V4, &DO);
    }

    // Signed ahead for site 1 again, but written is a table where site 2 stayed: the
    // signatures made ahead are of other sets, and the write signs what it writes.
    let earlier = many_names(NAMES, 1);
    let plan = writer.plan(&earlier, &HashSet::new());
    let ahead = runtime.block_on(switchyard::bpf::presign::presign(writer.due_for_signing(&plan)));
    writer.use_presigned(ahead);
    let mut changed = moved.clone();
    put(&mut changed, 0, QTYPE_A, "s7.example.com.", 30, &["198.18.99.7"]);
    let stats = writer.write_signed(&mut h.datapath.answer_maps().unwrap(), &changed).unwrap();
    assert_eq!((stats.signed, stats.signed_ahead, stats.written), (1, 0, 1), "only s7 changed: {stats:?}");
    every_set_signed_in_the_map(&mut h, &changed);
    h.set_table(changed);
    let reply = answered_like_userspace(&mut h, "s7.example.com.", RecordType::A, CLIENT_V4, &DO);
    assert_eq!(signatures_in(&reply), [RecordType::A], "{reply:?}");
}

/// A change of sites reaches the program's answers before its signature is made: written ahead,
/// the changed set is answered by XDP for DO=0 with the new addresses, its DO=1 queries go to
/// userspace, and the unchanged sets keep their signatures; the signed write that follows puts
/// the new set's signature in the map.
#[test]
fn a_changed_set_is_answered_at_once_and_its_signature_follows() {
    if !have_root("a_changed_set_is_answered_at_once_and_its_signature_follows") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut h, mut writer) = signed_and_written(dir.path());

    let down = site_b_down();
    let first = writer.write(h.datapath.answer_maps().unwrap().answers, &down);
    let first = first.unwrap();
    assert_eq!((first.written, first.unsigned), (1, 1), "only www A changed: {first:?}");
    h.set_table(down.clone());
    let plain = EdnsSpec { dnssec_ok: false, ..DO };
    let reply = answered_like_userspace(&mut h, "www.example.com.", RecordType::A, CLIENT_V4, &plain);
    assert_eq!(reply.answers.len(), 1, "the new answer set, from XDP: {reply:?}");
    passes_to_userspace(&mut h, "the new set has no signature yet");
    let reply = answered_like_userspace(&mut h, "a.example.com.", RecordType::A, CLIENT_V4, &DO);
    assert_eq!(signatures_in(&reply), [RecordType::A], "an unchanged set keeps its signature: {reply:?}");

    // The entry names its set's signature already: only the signature is written now.
    let entry = h.datapath.answer_maps().unwrap().answers.get(&www_a_key()).unwrap();
    assert_ne!(entry.signature, 0, "the first write names the signature to come");
    let stats = writer.write_signed(&mut h.datapath.answer_maps().unwrap(), &down).unwrap();
    assert_eq!((stats.signed, stats.written), (1, 0), "{stats:?}");
    let reply = answered_like_userspace(&mut h, "www.example.com.", RecordType::A, CLIENT_V4, &DO);
    assert_eq!(signatures_in(&reply), [RecordType::A], "signed from XDP now: {reply:?}");
}
