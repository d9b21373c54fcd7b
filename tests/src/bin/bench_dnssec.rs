//! `cargo xtask bench dnssec`: the cost of signing answer variants. Per algorithm, 100,000
//! distinct A RRsets (what a state change that alters that many variants asks for) are signed
//! once each, then each is asked for again from the signature cache. Prints per-signature and
//! per-hit cost. Then, as the daemon does it (root needed): that many answer sets of distinct
//! names in the XDP answer map all change at once (a site goes down), and the map writer
//! re-signs them, spread over the cores, and writes answers and signatures. SWITCHYARD_BENCH_VARIANTS sets
//! the count. Writes dnssec.json under SWITCHYARD_BENCH_DIR (default target/bench).

use std::{
    net::{IpAddr, Ipv4Addr},
    path::Path,
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use hickory_proto::rr::{Name, RData, Record, rdata::A};
use serde_json::json;
use switchyard::{
    answers::{AnswerKey, AnswerSet, AnswerTable, wire_name},
    bpf::{datapath::Datapath, writer::MapWriter},
    dnssec::{SigningAlgorithm, SigningKeyFile, ZoneSigner, signer::Timing},
};
use switchyard_common::{FirstChoice, QTYPE_A};
use switchyard_tests::{bench::report, privileges::have_root};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench dnssec: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Variant `i`: two addresses of www, as one site state gives them; distinct for every `i`
/// below 2^24.
fn variant(owner: &Name, i: u32) -> Vec<Record> {
    let first = Ipv4Addr::from(0xc612_0000 | (i & 0xffff));
    let second = Ipv4Addr::from(0x0a00_0000 | (i & 0x00ff_ffff));
    [first, second].into_iter().map(|a| Record::from_rdata(owner.clone(), 30, RData::A(A(a)))).collect()
}

fn run() -> Result<(), String> {
    let variants = report::env_number("SWITCHYARD_BENCH_VARIANTS", 100_000)? as u32;
    let zone = Name::from_ascii("example.com.").map_err(|e| e.to_string())?;
    let owner = Name::from_ascii("www.example.com.").map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let days = |d: u64| std::time::Duration::from_secs(d * 86_400);
    let timing = Timing { validity: days(14), refresh: days(7), backdate: std::time::Duration::from_secs(3600) };
    let rrsets: Vec<Vec<Record>> = (0..variants).map(|i| variant(&owner, i)).collect();
    let mut rows = Vec::new();
    println!("| algorithm | variants | all signed in ms | µs per signature | µs per cached hit |");
    println!("|---|---:|---:|---:|---:|");
    for algorithm in [SigningAlgorithm::Ecdsap256sha256, SigningAlgorithm::Ed25519] {
        let path = dir.path().join(algorithm.name());
        let file = SigningKeyFile::generate(algorithm).map_err(|e| e.to_string())?;
        file.write_new(&path).map_err(|e| e.to_string())?;
        let signer = ZoneSigner::new(&zone, &file, &path, timing).map_err(|e| e.to_string())?;
        let started = Instant::now();
        for rrset in &rrsets {
            signer.sign(rrset).map_err(|e| e.to_string())?;
        }
        let signing = started.elapsed();
        if signer.cached() != rrsets.len() {
            return Err(format!("{} signatures cached for {} variants", signer.cached(), rrsets.len()));
        }
        let started = Instant::now();
        for rrset in &rrsets {
            signer.sign(rrset).map_err(|e| e.to_string())?;
        }
        let hits = started.elapsed();
        let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / f64::from(variants);
        let (sign_us, hit_us) = (per(signing), per(hits));
        println!(
            "| {} | {variants} | {:.0} | {sign_us:.1} | {hit_us:.2} |",
            algorithm.name(),
            signing.as_secs_f64() * 1e3
        );
        rows.push(json!({
            "algorithm": algorithm.name(),
            "variants": variants,
            "signing_ms": signing.as_secs_f64() * 1e3,
            "us_per_signature": sign_us,
            "us_per_cached_hit": hit_us,
        }));
    }
    let rewrites = if have_root("bench dnssec: re-signing into the XDP maps") {
        resign_rows(&zone, dir.path(), timing, variants)?
    } else {
        return Err("needs root for the map rewrite".into());
    };
    let path = report::write_json("dnssec.json", &json!({ "cases": rows, "resign_and_write": rewrites }))?;
    println!("written to {}", path.display());
    Ok(())
}

/// The answer table of `variants` services, each with its site a and site b address, or only
/// site b's once site a is down.
fn service_table(variants: u32, site_a_up: bool) -> AnswerTable {
    let mut table = AnswerTable::default();
    for i in 0..variants {
        let name = wire_name(&Name::from_ascii(format!("s{i}.example.com.")).expect("a name"));
        let site_a = IpAddr::V4(Ipv4Addr::from(0xc612_0000 | (i & 0xffff)));
        let site_b = IpAddr::V4(Ipv4Addr::from(0xc613_0000 | (i & 0xffff)));
        let addrs = if site_a_up { vec![site_a, site_b] } else { vec![site_b] };
        table.entries.insert(
            AnswerKey { view: 0, qtype: QTYPE_A, name },
            AnswerSet { ttl: 30, addrs, first: FirstChoice::NONE },
        );
    }
    table
}

/// Per algorithm: the time to re-sign and write every answer set after they all changed.
fn resign_rows(zone: &Name, dir: &Path, timing: Timing, variants: u32) -> Result<Vec<serde_json::Value>, String> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (before, after) = (service_table(variants, true), service_table(variants, false));
    let mut rows = Vec::new();
    println!();
    println!("Re-signed and written into the XDP maps after every answer set changed ({threads} signing threads):");
    println!("| algorithm | answer sets | re-signed and written in ms | µs per answer set |");
    println!("|---|---:|---:|---:|");
    for algorithm in [SigningAlgorithm::Ecdsap256sha256, SigningAlgorithm::Ed25519] {
        let path = dir.join(format!("{}.resign", algorithm.name()));
        let file = SigningKeyFile::generate(algorithm).map_err(|e| e.to_string())?;
        file.write_new(&path).map_err(|e| e.to_string())?;
        let signer = Arc::new(ZoneSigner::new(zone, &file, &path, timing).map_err(|e| e.to_string())?);
        let mut datapath = Datapath::load(None, variants.next_power_of_two().max(1024)).map_err(|e| e.to_string())?;
        let mut writer = MapWriter::default();
        writer.set_signers(vec![(wire_name(zone), Some(signer))]);
        let mut maps = datapath.answer_maps().map_err(|e| e.to_string())?;
        writer.write_signed(&mut maps, &before).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let stats = writer.write_signed(&mut maps, &after).map_err(|e| e.to_string())?;
        let elapsed = started.elapsed();
        if (stats.signed, stats.written, stats.unsigned) != (variants as usize, variants as usize, 0) {
            return Err(format!("{}: expected {variants} signed and written: {stats:?}", algorithm.name()));
        }
        let per_set = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(variants);
        println!(
            "| {} | {variants} | {:.0} | {:.1} |",
            algorithm.name(),
            elapsed.as_secs_f64() * 1e3,
            per_set(elapsed)
        );
        rows.push(json!({
            "algorithm": algorithm.name(),
            "answer_sets": variants,
            "threads": threads,
            "resign_and_write_ms": elapsed.as_secs_f64() * 1e3,
            "us_per_answer_set": per_set(elapsed),
        }));
    }
    Ok(rows)
}
