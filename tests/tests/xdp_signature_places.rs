//! Signatures made anew while the program reads them: the daemon puts each new signature in
//! a place of its key the program is not reading, so a reply carries one whole signature,
//! never part of another name's (the kernel reuses a replaced hash-map element at once, for the
//! next update of the same batch).

mod xdp_common;

use std::{
    os::fd::AsFd,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use hickory_proto::rr::RecordType;
use switchyard::{
    answers::AnswerTable,
    bpf::{
        test_run::{self, XDP_PASS, XDP_TX},
        writer::MapWriter,
    },
};
use switchyard_common::{QTYPE_A, program_names};
use switchyard_tests::{
    frames::{EdnsSpec, query},
    privileges::have_root,
    xdp_harness::XdpHarness,
};
use xdp_common::*;

const DO: EdnsSpec = EdnsSpec { dnssec_ok: true, version: 0, cookie: false, client_subnet: None, nsid: false };

/// The test table with eight more names, all with `addrs`: sets with one serial, whose
/// signatures differ only by the owner they sign.
fn with_names(addrs: &[&str]) -> AnswerTable {
    let mut t = table();
    for i in 0..8 {
        put(&mut t, 0, QTYPE_A, &format!("s{i}.example.com."), 30, addrs);
    }
    t
}

/// Three contents in turn, so that every pass signs the eight sets anew (the two places of
/// each hold the last two): eight signatures in one batch per pass.
fn contents() -> [AnswerTable; 3] {
    [with_names(&["198.18.10.1", "198.18.20.1"]), with_names(&["198.18.10.1"]), with_names(&["198.18.20.1"])]
}

/// What a stress run saw.
struct Seen {
    /// Replies per content, each that content's own.
    replies: [u64; 3],
    /// DO=1 queries passed to userspace for want of a signature (`pass_dnssec`).
    unsigned: u64,
    passes: u64,
}

/// Runs the program on s0's DO=1 query for 3 s while another thread writes the contents in
/// turn, each pass with `write_pass`; every reply must be one content's own.
fn signed_anew_while_read(write_pass: fn(&mut MapWriter, &mut XdpHarness, &AnswerTable)) -> Seen {
    let dir = tempfile::tempdir().unwrap();
    let tables = contents();
    let mut h = XdpHarness::new(&signed_zone("ecdsap256sha256", dir.path()), tables[0].clone(), views());
    let program = h.datapath.program(program_names::RESPONDER).unwrap().fd().unwrap().try_clone().unwrap();
    let mut writer = MapWriter::default();
    writer.set_signers(h.zones().signers());
    let frame = v4_query(&query(7, "s0.example.com.", RecordType::A, Some(&DO)));
    let mut replies = Vec::new();
    for table in &tables {
        writer.write_signed(&mut h.datapath.answer_maps().unwrap(), table).unwrap();
        let run = test_run::run_fd(program.as_fd(), &frame, 1).unwrap();
        assert_eq!(run.action, XDP_TX, "answered, signed, by the program");
        replies.push(run.frame);
    }
    assert!(replies[0] != replies[1] && replies[1] != replies[2] && replies[0] != replies[2]);

    let unsigned_before = h.counter("pass_dnssec");
    let stop = AtomicBool::new(false);
    let mut seen = [0u64; 3];
    let passes = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut passes = 0u64;
            for table in tables.iter().cycle() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                write_pass(&mut writer, &mut h, table);
                passes += 1;
            }
            passes
        });
        let _stop = StopOnDrop(&stop);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(3) {
            let run = test_run::run_fd(program.as_fd(), &frame, 1).unwrap();
            match run.action {
                XDP_TX => match replies.iter().position(|r| *r == run.frame) {
                    Some(which) => seen[which] += 1,
                    None => panic!("a reply that is no set's with its own signature: {:02x?}", run.frame),
                },
                // The slot changed while it was read, or the set had no signature yet.
                XDP_PASS => assert_eq!(run.frame, frame, "a passed frame is untouched"),
                other => panic!("action {other}: a query neither answered nor passed"),
            }
        }
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap()
    });
    assert!(seen.iter().all(|&n| n > 0), "every content answered, signed, while signed anew: {seen:?}");
    assert!(passes > 100, "the sets were signed anew throughout: {passes} passes ({seen:?})");
    Seen { replies: seen, unsigned: h.counter("pass_dnssec") - unsigned_before, passes }
}

#[test]
fn a_reply_never_carries_part_of_another_names_signature_while_the_sets_are_signed_anew() {
    if !have_root("a_reply_never_carries_part_of_another_names_signature_while_the_sets_are_signed_anew") {
        return;
    }
    let seen = signed_anew_while_read(|writer, h, table| {
        writer.write_signed(&mut h.datapath.answer_maps().unwrap(), table).unwrap();
    });
    // The signature an entry names stays in the map while the next one is written in the other
    // place, so a DO=1 query is answered from the program throughout (a table rewritten in
    // place left it to userspace between a signature's write and its entry's: about one query
    // in ten here).
    let answered = seen.replies.iter().sum::<u64>();
    assert!(
        seen.unsigned * 1000 < answered,
        "{} of {answered} DO=1 queries passed for want of a signature ({} passes)",
        seen.unsigned,
        seen.passes
    );
}

#[test]
fn neither_while_the_answers_go_first_and_their_signatures_follow() {
    if !have_root("neither_while_the_answers_go_first_and_their_signatures_follow") {
        return;
    }
    // As the daemon writes a change: the answers first, naming no signature where a place
    // holds one that the signed write may replace (those DO=1 queries go to userspace
    // meanwhile), then the signatures and the entries that name them.
    signed_anew_while_read(|writer, h, table| {
        writer.write(h.datapath.answer_maps().unwrap().answers, table).unwrap();
        writer.write_signed(&mut h.datapath.answer_maps().unwrap(), table).unwrap();
    });
}
