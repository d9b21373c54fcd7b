//! `cargo xtask bench dnssec`: the cost of signing answer variants. Per algorithm, 100,000
//! distinct A RRsets (what a state change that alters that many variants asks for) are signed
//! once each, then each is asked for again from the signature cache. Prints per-signature and
//! per-hit cost; SWITCHYARD_BENCH_VARIANTS sets the count. Writes dnssec.json under
//! SWITCHYARD_BENCH_DIR (default target/bench).

use std::{net::Ipv4Addr, process::ExitCode, time::Instant};

use hickory_proto::rr::{Name, RData, Record, rdata::A};
use serde_json::json;
use switchyard::dnssec::{SigningAlgorithm, SigningKeyFile, ZoneSigner, signer::Timing};
use switchyard_tests::bench::report;

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
    let path = report::write_json("dnssec.json", &json!({ "cases": rows }))?;
    println!("written to {}", path.display());
    Ok(())
}
