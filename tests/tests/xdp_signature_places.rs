//! Signatures made anew while the program reads them: the daemon puts each new signature in
//! the place of its key the entry does not name, so a reply carries one whole signature, never
//! part of another name's (the kernel reuses a replaced hash-map element at once, for the next
//! update of the same batch).

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

#[test]
fn a_reply_never_carries_part_of_another_names_signature_while_the_sets_are_signed_anew() {
    if !have_root("a_reply_never_carries_part_of_another_names_signature_while_the_sets_are_signed_anew") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Every pass changes all eight sets, between two contents, as a site that fails and comes
    // back would: each pass writes eight signatures in one batch.
    let tables = [with_names(&["198.18.10.1", "198.18.20.1"]), with_names(&["198.18.10.1"])];
    let mut h = XdpHarness::new(&signed_zone("ecdsap256sha256", dir.path()), tables[0].clone(), views());
    let program = h.datapath.program(program_names::RESPONDER).unwrap().fd().unwrap().try_clone().unwrap();
    let mut writer = MapWriter::default();
    writer.set_signers(h.zones().signers());
    let frame = v4_query(&query(7, "s0.example.com.", RecordType::A, Some(&DO)));
    let mut reply_to = |table: &AnswerTable| {
        writer.write_signed(&mut h.datapath.answer_maps().unwrap(), table).unwrap();
        let run = test_run::run_fd(program.as_fd(), &frame, 1).unwrap();
        assert_eq!(run.action, XDP_TX, "answered, signed, by the program");
        run.frame
    };
    let replies = [reply_to(&tables[0]), reply_to(&tables[1])];
    assert_ne!(replies[0], replies[1]);
    // Signed again, each set gets the same signature (the signer's cache): the same replies.
    assert_eq!([reply_to(&tables[0]), reply_to(&tables[1])], replies);

    let unsigned_before = h.counter("pass_dnssec");
    let stop = AtomicBool::new(false);
    let mut seen = [0u64; 2];
    let mut passed = 0u64;
    let passes = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut maps = h.datapath.answer_maps().unwrap();
            let mut passes = 0u64;
            for table in tables.iter().cycle() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                writer.write_signed(&mut maps, table).unwrap();
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
                    None => panic!("a reply that is neither set's with its own signature: {:02x?}", run.frame),
                },
                // The slot changed while it was read (`pass_slot_busy`).
                XDP_PASS => {
                    assert_eq!(run.frame, frame, "a passed frame is untouched");
                    passed += 1;
                }
                other => panic!("action {other}: a query neither answered nor passed"),
            }
        }
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap()
    });
    assert!(seen.iter().all(|&n| n > 0), "both sets answered, signed, while signed anew: {seen:?}");
    assert!(passes > 100, "the sets were signed anew throughout: {passes} passes ({seen:?}, {passed} passed)");
    // The signature an entry names stays in the map while the next one is written elsewhere, so
    // a DO=1 query is answered from the program throughout (a table rewritten in place left it
    // to userspace between a signature's write and its entry's: about one query in ten here).
    let unsigned = h.counter("pass_dnssec") - unsigned_before;
    let answered = seen.iter().sum::<u64>();
    assert!(unsigned * 1000 < answered, "{unsigned} of {answered} DO=1 queries passed for want of a signature");
}
