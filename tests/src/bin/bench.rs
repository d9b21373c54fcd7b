//! `cargo xtask bench <name>`: measurements, never pass/fail timings. Results are JSON under
//! target/bench/ (SWITCHYARD_BENCH_DIR) and a table on stdout.

use std::{net::IpAddr, path::PathBuf, process::ExitCode};

use hickory_proto::rr::RecordType;
use switchyard::bpf::test_run;
use switchyard_common::program_names;
use switchyard_tests::{
    frames::{EdnsSpec, query, udp_frame},
    netns::Netns,
    privileges::have_root,
    xdp_harness::XdpHarness,
};

const REPEAT: u32 = 2_000_000;
const ROUNDS: usize = 7;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("xdp") => bench_xdp(),
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
fn median(mut samples: Vec<u32>) -> u32 {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn bench_xdp() -> Result<(), String> {
    if !have_root("bench xdp") {
        return Err("needs root".into());
    }
    // A namespace of our own: frames transmitted in live mode leave through its loopback.
    let ns = Netns::new("syb");
    let cases = ns.enter(|| -> Result<Vec<(&'static str, &'static str, u32)>, String> {
        let mut h = XdpHarness::new(ZONE, table(), Default::default());
        let edns = EdnsSpec { cookie: true, ..EdnsSpec::default() };
        let v4 = |dns: Vec<u8>| udp_frame(None, ip("198.18.0.2"), ip("198.18.0.1"), 40000, 53, &dns);
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
        let miss = v4(query(1, "nope.example.com.", RecordType::A, None));
        // Sanity: each frame takes the path it is meant to measure.
        for (frame, action) in [
            (&a_hit, test_run::XDP_TX),
            (&aaaa_hit, test_run::XDP_TX),
            (&edns_hit, test_run::XDP_TX),
            (&miss, test_run::XDP_PASS),
        ] {
            let run = h.run(frame).map_err(|e| e.to_string())?;
            if run.action != action {
                return Err(format!("unexpected action {} while preparing the bench", run.action));
            }
        }
        let mut out = Vec::new();
        let responder = program_names::RESPONDER;
        for (name, what, frame) in [
            ("ipv4_a_hit", "IPv4 A, 2 answers", &a_hit),
            ("ipv6_aaaa_hit", "IPv6 AAAA, 2 answers", &aaaa_hit),
            ("edns_a_hit", "IPv4 A + EDNS cookie, OPT", &edns_hit),
        ] {
            let program = h.datapath.program(responder).map_err(|e| e.to_string())?;
            let samples =
                (0..ROUNDS).map(|_| test_run::time_live(program, frame, REPEAT)).collect::<Result<Vec<_>, _>>();
            out.push((name, what, median(samples.map_err(|e| e.to_string())?)));
        }
        // A miss leaves the frame untouched, so plain repeats time it (XDP_PASS, no stack).
        let program = h.datapath.program(responder).map_err(|e| e.to_string())?;
        let samples = (0..ROUNDS)
            .map(|_| test_run::run(program, &miss, REPEAT).map(|r| r.duration_ns))
            .collect::<Result<Vec<_>, _>>();
        out.push(("miss_pass", "IPv4 A miss, XDP_PASS", median(samples.map_err(|e| e.to_string())?)));
        let info = h.datapath.program(responder).map_err(|e| e.to_string())?.info().map_err(|e| e.to_string())?;
        out.push((
            "verified_instructions",
            "instructions the verifier processed (not ns)",
            info.verified_instruction_count().unwrap_or(0),
        ));
        out.push((
            "program_instructions",
            "BPF instructions in the program (not ns)",
            info.size_translated().unwrap_or(0) / 8,
        ));
        let floor = h.datapath.program(program_names::SWAP_ONLY).map_err(|e| e.to_string())?;
        let samples = (0..ROUNDS).map(|_| test_run::time_live(floor, &a_hit, REPEAT)).collect::<Result<Vec<_>, _>>();
        out.push(("floor_swap_tx", "swap addresses + XDP_TX only", median(samples.map_err(|e| e.to_string())?)));
        Ok(out)
    })?;
    drop(ns);

    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_string()))
        .unwrap_or_default();
    let floor = cases.iter().find(|c| c.0 == "floor_swap_tx").map(|c| c.2).unwrap_or(1).max(1);
    let mut json = serde_json::Map::new();
    for (name, _, ns) in &cases {
        json.insert((*name).into(), (*ns).into());
    }
    json.insert("kernel".into(), kernel.clone().into());
    json.insert("cpu".into(), cpu.clone().into());
    json.insert("repeat".into(), REPEAT.into());
    json.insert("rounds".into(), ROUNDS.into());
    json.insert("statistic".into(), "median of rounds; each round is the kernel's average ns per run".into());
    let path = out_dir().join("xdp.json");
    std::fs::create_dir_all(out_dir()).map_err(|e| e.to_string())?;
    std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap())
        .map_err(|e| format!("{}: {e}", path.display()))?;

    println!("XDP program, BPF_PROG_TEST_RUN, {REPEAT} runs x {ROUNDS} rounds (median), kernel {kernel}, {cpu}");
    println!("| case | what | ns/packet | x floor |");
    println!("|---|---|---:|---:|");
    for (name, what, ns) in cases.iter().filter(|c| !c.0.ends_with("instructions")) {
        println!("| {name} | {what} | {ns} | {:.2} |", *ns as f64 / floor as f64);
    }
    for (name, what, n) in cases.iter().filter(|c| c.0.ends_with("instructions")) {
        println!("{name}: {n} ({what})");
    }
    println!("written to {}", path.display());
    Ok(())
}

const ZONE: &str = r#"
[xdp]
mode = "off"
[[zone]]
name = "example.com."
ns = ["ns1.example.com."]
soa = { mname = "ns1.example.com.", rname = "hostmaster.example.com." }
[[service]]
name = "www.example.com."
a = ["198.18.10.1", "198.18.20.1"]
aaaa = ["fd00:10::1", "fd00:20::1"]
"#;

fn table() -> switchyard::answers::AnswerTable {
    let config = switchyard::config::Config::parse(ZONE, "bench.toml").expect("bench zone");
    switchyard::answers::AnswerTable::from_config(&config, &Default::default())
}
