//! The answer table while the daemon rewrites it: the program answers from a slot only when
//! the slot did not change while its answer was copied out, and otherwise passes the query to
//! userspace untouched, so a reply never mixes two answer sets and no query is lost; names that
//! come and go (slots moved and used again) never take another name's answer away or give
//! theirs to it.

mod xdp_common;

use std::{
    os::fd::AsFd,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use hickory_proto::rr::RecordType;
use switchyard::{
    answers::wire_name,
    bpf::test_run::{self, XDP_PASS, XDP_TX},
};
use switchyard_common::{FirstChoice, MapEntry, MapKey, PackedName, QTYPE_A, program_names};
use switchyard_tests::{frames::query, privileges::have_root, xdp_harness::XdpHarness};
use xdp_common::*;

fn v4(s: &str) -> [u8; 16] {
    let mut slot = [0u8; 16];
    slot[..4].copy_from_slice(&s.parse::<std::net::Ipv4Addr>().unwrap().octets());
    slot
}

fn name() -> PackedName {
    PackedName::new(&wire_name(&"www.example.com.".parse().unwrap())).unwrap()
}

#[test]
fn a_reply_never_mixes_two_answer_sets_nor_is_lost_while_the_daemon_rewrites_them() {
    if !have_root("a_reply_never_mixes_two_answer_sets_nor_is_lost_while_the_daemon_rewrites_them") {
        return;
    }
    // Two sets that differ in every address and in their count; the second's fifth and sixth
    // addresses lie in the slot's tail, the rest in its head.
    let first = MapEntry::new(QTYPE_A, 30, &name(), &[v4("198.18.71.1"), v4("198.18.71.2")]);
    let six: Vec<[u8; 16]> = (1..=6).map(|i| v4(&format!("198.18.72.{i}"))).collect();
    let second = MapEntry::new(QTYPE_A, 60, &name(), &six);
    never_mixed_nor_lost(first, second);
}

#[test]
fn a_weighted_reply_never_mixes_two_orders_while_the_daemon_rewrites_them() {
    if !have_root("a_weighted_reply_never_mixes_two_orders_while_the_daemon_rewrites_them") {
        return;
    }
    // The same addresses; every client gets the third first in one set, the second in the
    // other (one weighted group each), so only the copied orders (and TTL) tell them apart.
    let addrs = [v4("198.18.73.1"), v4("198.18.73.2"), v4("198.18.73.3")];
    let weighted = |ttl: u32, group: u8| {
        let mut entry = MapEntry::new(QTYPE_A, ttl, &name(), &addrs);
        entry.set_first(FirstChoice::new(&[(group, 1, 1)]).unwrap());
        entry
    };
    never_mixed_nor_lost(weighted(30, 2), weighted(60, 1));
}

/// Runs the program on one name for a few seconds while another thread rewrites its slot
/// between `first` and `second` as fast as it can: every reply is one set's, every other query
/// is passed untouched and counted as busy, none is dropped.
fn never_mixed_nor_lost(first: MapEntry, second: MapEntry) {
    let mut h = harness();
    let key = MapKey::new(0, QTYPE_A, &name());
    let frame = v4_query(&query(7, "www.example.com.", RecordType::A, None));
    let mut reply_of = |entry: &MapEntry| {
        assert!(h.datapath.answers().insert(key, entry));
        let run = h.run(&frame).unwrap();
        assert_eq!(run.action, XDP_TX);
        run.frame
    };
    let replies = [reply_of(&first), reply_of(&second)];
    assert_ne!(replies[0], replies[1], "the two sets give different replies");
    let busy = h.counter("pass_slot_busy");

    let program = h.datapath.program(program_names::RESPONDER).unwrap().fd().unwrap().try_clone().unwrap();
    let answers = h.datapath.answers();
    let stop = AtomicBool::new(false);
    let mut seen = [0u64; 2];
    // Queries the program passed to userspace.
    let mut passed = 0u64;
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                for entry in [&first, &second] {
                    answers.insert(key, entry);
                    let pause = Instant::now();
                    while pause.elapsed() < Duration::from_micros(1) {}
                }
            }
        });
        // Stops the writer however the loop below ends (a failed assertion included).
        let _stop = StopOnDrop(&stop);
        // At least three seconds of runs: a read that overlaps a rewrite is rare per run (a
        // check that misses it shows within a second); on a slow machine up to ten, until both
        // sets were answered and some queries passed.
        let started = Instant::now();
        let enough = |passed: u64, seen: &[u64; 2]| passed >= 10 && !seen.contains(&0);
        while started.elapsed() < Duration::from_secs(3)
            || (started.elapsed() < Duration::from_secs(10) && !enough(passed, &seen))
        {
            let run = test_run::run_fd(program.as_fd(), &frame, 1).unwrap();
            match run.action {
                XDP_TX => {
                    let which = replies.iter().position(|r| *r == run.frame);
                    let which = which.unwrap_or_else(|| panic!("a reply that is neither set's: {:02x?}", run.frame));
                    seen[which] += 1;
                }
                XDP_PASS => {
                    assert_eq!(run.frame, frame, "a passed frame is untouched");
                    passed += 1;
                }
                // A dropped query is one the client must ask again: a reload would lose it.
                other => panic!("action {other}: a query neither answered nor passed"),
            }
        }
    });
    let busy = h.counter("pass_slot_busy") - busy;
    assert!(seen.iter().all(|&n| n > 0), "both sets answered while rewritten: {seen:?}");
    assert_eq!(busy, passed, "every query passed was counted as busy");
    assert!(passed >= 10, "the rewrites overlapped runs ({busy} busy, {seen:?} answered)");
}

fn named(label: &str) -> PackedName {
    PackedName::new(&wire_name(&format!("{label}.example.com.").parse().unwrap())).unwrap()
}

fn set_for(name: &PackedName, i: u8) -> MapEntry {
    MapEntry::new(QTYPE_A, 30, name, &[v4(&format!("198.18.74.{i}"))])
}

#[test]
fn names_that_come_and_go_never_take_another_names_answer_nor_give_theirs() {
    if !have_root("names_that_come_and_go_never_take_another_names_answer_nor_give_theirs") {
        return;
    }
    // A table of 16 sets (32 slots), so that keys move and slots are used again all the time:
    // `stay` is in it throughout, `comer` comes and goes, and so do parts of 13 others.
    let mut h = XdpHarness::with_max_entries(&zone(), Default::default(), views(), 16);
    let labels: Vec<String> =
        ["stay".to_string(), "comer".to_string()].into_iter().chain((0..13).map(|i| format!("other{i}"))).collect();
    let names: Vec<(MapKey, MapEntry, Vec<u8>)> = labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let name = named(label);
            let frame = v4_query(&query(7, &format!("{label}.example.com."), RecordType::A, None));
            (MapKey::new(0, QTYPE_A, &name), set_for(&name, 10 + i as u8), frame)
        })
        .collect();
    // Each name's own reply, every name in the table.
    let replies: Vec<Vec<u8>> = names
        .iter()
        .map(|(key, entry, frame)| {
            assert!(h.datapath.answers().insert(*key, entry));
            h.run(frame).unwrap().frame
        })
        .collect();
    let (comer, others) = (&names[1], &names[2..]);

    let program = h.datapath.program(program_names::RESPONDER).unwrap().fd().unwrap().try_clone().unwrap();
    let answers = h.datapath.answers();
    let stop = AtomicBool::new(false);
    // Per name: runs answered with its own reply, runs passed untouched.
    let mut answered = vec![0u64; names.len()];
    let mut passed = vec![0u64; names.len()];
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut round = 0usize;
            while !stop.load(Ordering::Relaxed) {
                // Each round removes and puts back a different part of the others, and the
                // comer, in another order: keys move past each other, slots change hands.
                round += 1;
                answers.remove(&comer.0);
                for (key, _, _) in others.iter().skip(round % 5) {
                    answers.remove(key);
                }
                for (key, entry, _) in others.iter().rev().skip(round % 3) {
                    answers.insert(*key, entry);
                }
                answers.insert(comer.0, &comer.1);
            }
        });
        // Stops the writer however the loop below ends (a failed assertion included).
        let _stop = StopOnDrop(&stop);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(3)
            || (started.elapsed() < Duration::from_secs(10) && !enough_of(&answered, &passed))
        {
            for (i, (_, _, frame)) in names.iter().enumerate() {
                let run = test_run::run_fd(program.as_fd(), frame, 1).unwrap();
                match run.action {
                    XDP_TX => {
                        assert_eq!(run.frame, replies[i], "{}: its own answer, never another's", labels[i]);
                        answered[i] += 1;
                    }
                    XDP_PASS => {
                        assert_eq!(&run.frame, frame, "{}: a passed frame is untouched", labels[i]);
                        passed[i] += 1;
                    }
                    other => panic!("{}: action {other}: a query neither answered nor passed", labels[i]),
                }
            }
        }
    });
    assert!(enough_of(&answered, &passed), "answered {answered:?}, passed {passed:?}");
    // The name that stays is passed at most while a move of its key is under way.
    assert!(passed[0] <= answered[0], "stay: answered {}, passed {}", answered[0], passed[0]);
}

/// The name that stays was answered, and the comer both answered and passed (it is out of the
/// table for part of each round).
fn enough_of(answered: &[u64], passed: &[u64]) -> bool {
    answered[0] > 0 && answered[1] > 0 && passed[1] > 0
}
