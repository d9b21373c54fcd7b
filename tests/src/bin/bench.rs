//! `cargo xtask bench <name>`: measurements, never pass/fail timings. Results are JSON under
//! target/bench/ (SWITCHYARD_BENCH_DIR) and a table on stdout.

use std::{net::IpAddr, path::PathBuf, process::ExitCode};

use hickory_proto::{
    op::{Edns, Message, Query},
    rr::{Name, RecordType, rdata::opt::EdnsOption},
};
use switchyard::{bpf::test_run, config::fixture::ConfigText, cookie_secrets::wall_offset_ns};
use switchyard_common::{
    COOKIES_ENABLED, CookieAddr, CookieConfig, EDNS_COOKIE, key_words,
    program_names::{self, PASS, SWAP_ONLY, TABLE_FLOOR},
    server_cookie,
};
use switchyard_tests::{
    frames::{EdnsSpec, query, udp_frame},
    privileges::have_root,
    xdp_harness::XdpHarness,
};

/// Test runs per round, each of one repetition.
const CALLS: usize = 200_000;
const ROUNDS: usize = 7;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("xdp") => bench_xdp(&args[1..]),
        other => Err(format!("unknown bench {other:?}; known: xdp")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn out_dir() -> PathBuf {
    std::env::var_os("SWITCHYARD_BENCH_DIR").map(PathBuf::from).unwrap_or_else(|| "target/bench".into())
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Median of `ROUNDS` kernel-measured averages.
fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Cases that give the other rows their meaning: always measured.
const REFERENCE_CASES: [&str; 2] = ["floor_swap_tx", "empty_pass"];

/// `only`: case names to measure (with the reference cases); empty for all.
fn bench_xdp(only: &[String]) -> Result<(), String> {
    if !have_root("bench xdp") {
        return Err("needs root".into());
    }
    let cases = (|| -> Result<Vec<(&'static str, &'static str, f64)>, String> {
        let key_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let zone = zone_with_many_names(&signing_key(key_dir.path())?);
        let mut h = XdpHarness::with_max_entries(&zone, table(&zone), Default::default(), MAX_ENTRIES);
        h.set_cookies(bench_cookies());
        let edns = EdnsSpec::default();
        let v4 = |dns: Vec<u8>| udp_frame(None, ip("198.18.0.2"), ip("198.18.0.1"), 40000, 53, &dns);
        let client_cookie = v4(cookie_query(&BENCH_CLIENT_COOKIE));
        let valid_cookie = v4(cookie_query(&valid_cookie_option("198.18.0.2")));
        let a_hit = v4(query(1, "www.example.com.", RecordType::A, None));
        let aaaa_hit = udp_frame(
            None,
            ip("fd00::2"),
            ip("fd00::1"),
            40000,
            53,
            &query(1, "www.example.com.", RecordType::AAAA, None),
        );
        let edns_hit = v4(query(1, "www.example.com.", RecordType::A, Some(&edns)));
        let dnssec_ok = EdnsSpec { dnssec_ok: true, ..EdnsSpec::default() };
        let signed_hit = v4(query(1, "www.example.com.", RecordType::A, Some(&dnssec_ok)));
        let miss = v4(query(1, "nope.example.com.", RecordType::A, None));
        // The same shuffled names in both cases: the first 20,000 of them, then all.
        let many: Vec<Vec<u8>> =
            shuffled(MANY_NAMES).into_iter().map(|i| v4(query(1, &many_name(i), RecordType::A, None))).collect();
        let (some, all) = (&many[..SOME_NAMES], &many[..]);
        // Fewer names, still spread over the whole table (a page each): their lines fit a
        // core's L2 cache, their pages may not fit its TLB.
        let (few, more) = (&many[..FEW_NAMES], &many[..MORE_NAMES]);
        let responder = program_names::RESPONDER;
        let mut out = Vec::new();
        let cases = [
            ("ipv4_a_hit", "IPv4 A, 2 answers", responder, one(&a_hit), test_run::XDP_TX, Some("answered_v4")),
            ("ipv6_aaaa_hit", "IPv6 AAAA, 2 answers", responder, one(&aaaa_hit), test_run::XDP_TX, Some("answered_v6")),
            ("edns_a_hit", "IPv4 A + EDNS, OPT", responder, one(&edns_hit), test_run::XDP_TX, Some("answered_v4")),
            (
                "signed_a_hit",
                "IPv4 A + EDNS DO=1, RRSIG (ECDSA P-256) appended",
                responder,
                one(&signed_hit),
                test_run::XDP_TX,
                Some("answered_signed"),
            ),
            (
                "cookie_client_hit",
                "IPv4 A + client cookie: new server cookie",
                responder,
                one(&client_cookie),
                test_run::XDP_TX,
                Some("cookie_issued"),
            ),
            (
                "cookie_valid_hit",
                "IPv4 A + valid server cookie, echoed",
                responder,
                one(&valid_cookie),
                test_run::XDP_TX,
                Some("cookie_valid"),
            ),
            ("ipv4_a_hit_2k", FEW_WHAT, responder, few, test_run::XDP_TX, Some("answered_v4")),
            ("ipv4_a_hit_4k", MORE_WHAT, responder, more, test_run::XDP_TX, Some("answered_v4")),
            ("ipv4_a_hit_many", SOME_WHAT, responder, some, test_run::XDP_TX, Some("answered_v4")),
            ("ipv4_a_hit_100k", MANY_WHAT, responder, all, test_run::XDP_TX, Some("answered_v4")),
            ("miss_pass", "IPv4 A miss, XDP_PASS", responder, one(&miss), test_run::XDP_PASS, Some("pass_miss")),
            ("floor_swap_tx", "swap addresses + XDP_TX only", SWAP_ONLY, one(&a_hit), test_run::XDP_TX, None),
            ("floor_table", TABLE_FLOOR_WHAT, TABLE_FLOOR, one(&a_hit), test_run::XDP_TX, None),
            ("floor_table_100k", TABLE_FLOOR_MANY_WHAT, TABLE_FLOOR, all, test_run::XDP_TX, None),
            ("empty_pass", "return XDP_PASS (timer overhead)", PASS, one(&a_hit), test_run::XDP_PASS, None),
        ];
        if let Some(unknown) = only.iter().find(|o| !cases.iter().any(|c| c.0 == o.as_str())) {
            let known: Vec<&str> = cases.iter().map(|c| c.0).collect();
            return Err(format!("unknown case {unknown:?}; known: {}", known.join(", ")));
        }
        for (name, what, program_name, frames, action, counter) in cases {
            if !only.is_empty() && !only.iter().any(|o| o == name) && !REFERENCE_CASES.contains(&name) {
                continue;
            }
            let before = counter.map(|c| h.counter(c));
            let program = h.datapath.program(program_name).map_err(|e| e.to_string())?;
            let samples = (0..ROUNDS).map(|_| time_runs(program, frames, action)).collect::<Result<Vec<_>, _>>()?;
            // The counters prove that every run took the path it is meant to measure.
            if let (Some(c), Some(before)) = (counter, before) {
                let runs = h.counter(c) - before;
                if runs != (ROUNDS * CALLS) as u64 {
                    return Err(format!("{name}: {c} grew by {runs}, expected {}", ROUNDS * CALLS));
                }
            }
            out.push((name, what, median(samples)));
        }
        let memory = answer_map_memory(switchyard_common::answer_slots(MAX_ENTRIES))?;
        out.push((
            "answer_map_bytes_per_entry",
            "kernel memory of the answer table over its max_entries (twice the slots, to a power of two; not ns)",
            memory as f64 / f64::from(MAX_ENTRIES),
        ));
        let lines = slot_lines_per_hit(&many_name(0), 2);
        out.push(("value_lines_per_hit", LINES_WHAT, lines.len() as f64));
        let parts = 1 + usize::from(lines.iter().any(|&line| line * 64 >= switchyard_common::SLOT_HEAD_BYTES));
        out.push(("slot_parts_per_hit", PARTS_WHAT, parts as f64));
        let info = h.datapath.program(responder).map_err(|e| e.to_string())?.info().map_err(|e| e.to_string())?;
        out.push((
            "verified_instructions",
            "instructions the verifier processed (not ns)",
            info.verified_instruction_count().unwrap_or(0) as f64,
        ));
        out.push((
            "program_instructions",
            "BPF instructions in the program (not ns)",
            (info.size_translated().unwrap_or(0) / 8) as f64,
        ));
        Ok(out)
    })()?;

    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_string()))
        .unwrap_or_default();
    let ns_of = |case: &str| cases.iter().find(|c| c.0 == case).map(|c| c.2).unwrap_or(f64::NAN);
    let (floor, overhead) = (ns_of("floor_swap_tx"), ns_of("empty_pass"));
    let mut json = serde_json::Map::new();
    for (name, _, ns) in &cases {
        json.insert((*name).into(), (*ns).into());
    }
    json.insert("kernel".into(), kernel.clone().into());
    json.insert("cpu".into(), cpu.clone().into());
    json.insert("calls_per_round".into(), CALLS.into());
    json.insert("rounds".into(), ROUNDS.into());
    json.insert(
        "statistic".into(),
        "median of rounds; each round is the mean of the kernel's duration over single-run test runs; empty_pass is the timer's own overhead".into(),
    );
    let path = out_dir().join("xdp.json");
    std::fs::create_dir_all(out_dir()).map_err(|e| e.to_string())?;
    std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap())
        .map_err(|e| format!("{}: {e}", path.display()))?;

    println!(
        "XDP program, BPF_PROG_TEST_RUN, {ROUNDS} rounds x {CALLS} single runs (median of round means), kernel {kernel}, {cpu}"
    );
    println!("| case | what | ns/run | x floor | ns/run - timer | x floor - timer |");
    println!("|---|---|---:|---:|---:|---:|");
    // The floor beyond the timer is a few ns; within run-to-run noise of it a ratio means nothing.
    let floor_net = floor - overhead;
    let not_ns = |name: &str| NOT_NS.iter().any(|suffix| name.ends_with(suffix));
    for (name, what, ns) in cases.iter().filter(|c| !not_ns(c.0)) {
        let net = ns - overhead;
        let net_ratio = if floor_net >= 1.0 { format!("{:.2}", net / floor_net) } else { "n/a".into() };
        println!("| {name} | {what} | {ns:.1} | {:.2} | {net:.1} | {net_ratio} |", ns / floor);
    }
    let cached = ns_of("ipv4_a_hit");
    for name in ["ipv4_a_hit_2k", "ipv4_a_hit_4k", "ipv4_a_hit_many", "ipv4_a_hit_100k"] {
        println!("{name} / ipv4_a_hit (cached): {:.2}", ns_of(name) / cached);
    }
    println!(
        "a different name of 100,000 each run costs {:.1} ns more than the cached hit; the table floor, {:.1} more",
        ns_of("ipv4_a_hit_100k") - cached,
        ns_of("floor_table_100k") - ns_of("floor_table"),
    );
    for (name, what, n) in cases.iter().filter(|c| not_ns(c.0)) {
        println!("{name}: {n} ({what})");
    }
    println!("written to {}", path.display());
    Ok(())
}

/// Mean kernel-measured nanoseconds of one run of `program` over `CALLS` test runs of one
/// repetition each, taking the frames in turn. The kernel does not restore the frame between repetitions (nor between
/// live-mode runs on a recycled page), so a responder, which rewrites its frame, is only timed
/// correctly one run per call. Every run must end in `action`.
fn time_runs(program: &aya::programs::Xdp, frames: &[Vec<u8>], action: u32) -> Result<f64, String> {
    let mut total_ns = 0u64;
    for frame in frames.iter().cycle().take(CALLS) {
        let run = test_run::run(program, frame, 1).map_err(|e| e.to_string())?;
        if run.action != action {
            return Err(format!("a run ended in action {}, expected {action}", run.action));
        }
        total_ns += run.duration_ns as u64;
    }
    Ok((total_ns as f64 / CALLS as f64 * 10.0).round() / 10.0)
}

/// The zone the program answers from, signed with the key at `key` (DO=0 answers are as for an
/// unsigned zone): www with two addresses of each family.
fn zone(key: &str) -> ConfigText {
    let (a, aaaa) = (["198.18.10.1", "198.18.20.1"], ["fd00:10::1", "fd00:20::1"]);
    ConfigText::new().xdp_off().zone().dnssec(SIGNING, key).fixed_service("www.example.com.", &a, &aaaa)
}

const SIGNING: &str = "ecdsap256sha256";

/// A new zone key in `dir`.
fn signing_key(dir: &std::path::Path) -> Result<String, String> {
    use switchyard::dnssec::{SigningAlgorithm, SigningKeyFile};
    let path = dir.join("zone.key");
    let algorithm = SigningAlgorithm::from_name(SIGNING).ok_or("unknown algorithm")?;
    SigningKeyFile::generate(algorithm).and_then(|k| k.write_new(&path)).map_err(|e| e.to_string())?;
    Ok(path.to_str().ok_or("a UTF-8 temporary path")?.to_string())
}

/// Names in the answer map besides the zone's own, for the cases that look up a different one
/// each run (as under real load, where the entries are mostly not in the CPU's caches).
const MANY_NAMES: usize = 100_000;
/// `xdp.max_entries` of the bench: the many names and the zone's own, with room to spare. The
/// table has twice as many slots, to a power of two (262,144).
const MAX_ENTRIES: u32 = 110_000;
const MANY_WHAT: &str = "IPv4 A, 2 answers, a different name of 100,000 each run";
const SOME_NAMES: usize = 20_000;
const SOME_WHAT: &str = "IPv4 A, 2 answers, a different name of 20,000 each run";
const FEW_NAMES: usize = 2_000;
const FEW_WHAT: &str = "IPv4 A, 2 answers, a different name of 2,000 each run";
const MORE_NAMES: usize = 4_000;
const MORE_WHAT: &str = "IPv4 A, 2 answers, a different name of 4,000 each run";

const TABLE_FLOOR_WHAT: &str = "the reflector (addresses swapped, QR set) and one slot head read, picked by the www name's first bytes (the table floor)";
const TABLE_FLOOR_MANY_WHAT: &str = "the table floor on the frames of a different name of 100,000 each run";

/// Rows that are counts, not nanoseconds.
const NOT_NS: [&str; 3] = ["instructions", "_per_entry", "_per_hit"];

const LINES_WHAT: &str = "64-byte lines of its answer table slot a hit on a bench name reads (not ns)";
const PARTS_WHAT: &str =
    "parts of its slot (head, and tail when needed), each in its own array, a hit on a bench name reads (not ns)";

/// Cache lines of an `AnswerSlot` (which starts on a line) that answering `name` with `count`
/// IPv4 addresses from its home slot reads: the slot's sequence number, state and key, the
/// answer header, the name's words and each address's 4 bytes; in order.
fn slot_lines_per_hit(name: &str, count: usize) -> Vec<usize> {
    use std::mem::{offset_of, size_of};
    use switchyard_common::{AnswerSlot, MapEntry, NAME_HEAD_WORDS};
    let entry = offset_of!(AnswerSlot, entry);
    let word_at = |i: usize| match i.checked_sub(NAME_HEAD_WORDS) {
        None => entry + offset_of!(MapEntry, name_head) + 8 * i,
        Some(tail) => entry + offset_of!(MapEntry, name_tail) + 8 * tail,
    };
    let words = (name.trim_end_matches('.').len() + 2).div_ceil(8);
    let header = std::iter::once(0..entry + offset_of!(MapEntry, name_head));
    let name_words = (0..words).map(|i| word_at(i)..word_at(i) + 8);
    let addrs = (0..count).map(|i| {
        let at = entry + offset_of!(MapEntry, addrs) + i * size_of::<[u8; 16]>();
        at..at + 4
    });
    let mut lines: Vec<usize> =
        header.chain(name_words).chain(addrs).flat_map(|r| r.start / 64..=(r.end - 1) / 64).collect();
    lines.sort_unstable();
    lines.dedup();
    lines
}

/// Bytes the kernel charges for this process's answer table (the `memlock` in fdinfo of its
/// heads and its tails), found by type (array), value size and slot count.
fn answer_map_memory(slots: u32) -> Result<u64, String> {
    use switchyard_common::{SlotHead, SlotTail};
    let sizes = [std::mem::size_of::<SlotHead>(), std::mem::size_of::<SlotTail>()];
    let dir = std::fs::read_dir("/proc/self/fdinfo").map_err(|e| format!("/proc/self/fdinfo: {e}"))?;
    let mut found = [None; 2];
    for fdinfo in dir.flatten() {
        let Ok(text) = std::fs::read_to_string(fdinfo.path()) else { continue };
        let field =
            |name: &str| text.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse::<u64>().ok()));
        if field("map_type:") != Some(2) || field("max_entries:") != Some(slots as u64) {
            continue;
        }
        if let Some(part) = sizes.iter().position(|&size| field("value_size:") == Some(size as u64)) {
            found[part] = field("memlock:");
        }
    }
    match found {
        [Some(heads), Some(tails)] => Ok(heads + tails),
        _ => Err(format!("no pair of arrays of {slots} slot heads and tails among this process's descriptors")),
    }
}

fn many_name(i: usize) -> String {
    format!("s{i:05}.example.com.")
}

fn zone_with_many_names(key: &str) -> String {
    let mut zone = zone(key);
    for i in 0..MANY_NAMES {
        zone = zone.fixed_service(&many_name(i), &["198.18.10.1", "198.18.20.1"], &[]);
    }
    zone.build()
}

/// 0..n in a fixed pseudo-random order, so that neither the map's buckets nor the frames are
/// visited in address order.
fn shuffled(n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for i in (1..n).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(i, (state % (i as u64 + 1)) as usize);
    }
    order
}

const BENCH_CLIENT_COOKIE: [u8; 8] = *b"benchcli";
const BENCH_SECRET: [u8; 16] = [0x42; 16];

/// Cookies on, with a fixed secret and the wall clock as the program reads it.
fn bench_cookies() -> CookieConfig {
    let current = key_words(&BENCH_SECRET);
    CookieConfig { flags: COOKIES_ENABLED, _pad: 0, wall_offset_ns: wall_offset_ns(), current, previous: [0; 2] }
}

/// Client cookie and a server cookie of a minute ago for `client`, as a returning resolver sends.
fn valid_cookie_option(client: &str) -> Vec<u8> {
    let IpAddr::V4(addr) = ip(client) else { unreachable!("an IPv4 client") };
    let timestamp = switchyard::dns::cookies::wall_seconds() - 60;
    let client_word = u64::from_le_bytes(BENCH_CLIENT_COOKIE);
    let server = server_cookie(&key_words(&BENCH_SECRET), client_word, timestamp, &CookieAddr::V4(addr.octets()));
    [BENCH_CLIENT_COOKIE.as_slice(), &server.to_bytes()].concat()
}

fn cookie_query(option: &[u8]) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.id = 1;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii("www.example.com.").unwrap(), RecordType::A));
    let mut e = Edns::new();
    e.set_max_payload(1232);
    e.options_mut().insert(EdnsOption::Unknown(EDNS_COOKIE, option.to_vec()));
    m.set_edns(e);
    m.to_vec().unwrap()
}

fn one(frame: &Vec<u8>) -> &[Vec<u8>] {
    std::slice::from_ref(frame)
}

fn table(zone: &str) -> switchyard::answers::AnswerTable {
    let config = switchyard::config::Config::parse(zone, "bench.toml").expect("bench zone");
    switchyard::answers::AnswerTable::from_config(&config)
}
