//! `cargo xtask bench dnssec`: the cost of signing answer variants. Per algorithm, 100,000
//! distinct A RRsets (what a state change that alters that many variants asks for) are signed
//! once each, then each is asked for again from the signature cache. Prints per-signature and
//! per-hit cost, and beside them ring's bare cost for the same data (the floor). Then, as the
//! daemon does it (root needed): that many answer sets of distinct names in the XDP answer map
//! all change at once (a site goes down), and the map writer re-signs them, spread over the
//! cores, and writes answers and signatures; then they all change again (the other site goes
//! down) and, as the control loop does it, the answers are written ahead of their signatures
//! (when the program answers DO=0 queries with the new sites), signed ahead on tokio's
//! blocking pool, then written with their signatures (the writes keep the loop's task busy).
//! SWITCHYARD_BENCH_VARIANTS sets the count.
//! Writes dnssec.json under SWITCHYARD_BENCH_DIR (default target/bench).

use std::{
    collections::HashSet,
    net::{IpAddr, Ipv4Addr},
    path::Path,
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use hickory_proto::{
    dnssec::{TBS, rdata::SigInput},
    rr::{DNSClass, Name, RData, Record, RecordType, SerialNumber, rdata::A},
};
use ring::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair},
};
use serde_json::json;
use switchyard::{
    answers::{AnswerKey, AnswerSet, AnswerTable, wire_name},
    bpf::{datapath::Datapath, presign::presign, writer::MapWriter},
    dnssec::{SigningAlgorithm, SigningKeyFile, ZoneSigner, signer::Timing},
};
use switchyard_common::{FirstChoice, QTYPE_A};
use switchyard_tests::{
    bench::{report, signed_failover},
    privileges::have_root,
};

#[global_allocator]
static ALLOCATOR: signed_failover::CountingAllocator = signed_failover::CountingAllocator;

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
    println!(
        "| algorithm | variants | all signed in ms | µs per signature | µs per bare ring signature | µs per cached hit |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
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
        let bare = bare_ring_signing(algorithm, &zone, &rrsets)?;
        let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / f64::from(variants);
        let (sign_us, bare_us, hit_us) = (per(signing), per(bare), per(hits));
        println!(
            "| {} | {variants} | {:.0} | {sign_us:.1} | {bare_us:.1} | {hit_us:.2} |",
            algorithm.name(),
            signing.as_secs_f64() * 1e3
        );
        rows.push(json!({
            "algorithm": algorithm.name(),
            "variants": variants,
            "signing_ms": signing.as_secs_f64() * 1e3,
            "us_per_signature": sign_us,
            "us_per_bare_ring_signature": bare_us,
            "us_per_cached_hit": hit_us,
        }));
    }
    let rewrites = if have_root("bench dnssec: re-signing into the XDP maps") {
        resign_rows(&zone, dir.path(), timing, variants)?
    } else {
        return Err("needs root for the map rewrite".into());
    };
    let failover = failover_rows(dir.path(), variants)?;
    let document = json!({ "cases": rows, "resign_and_write": rewrites, "failover_signed_ahead": failover });
    let path = report::write_json("dnssec.json", &document)?;
    println!("written to {}", path.display());
    Ok(())
}

/// The time ring alone takes to sign what the signer signs for every RRset (the data built
/// beforehand, a key pair parsed once): the floor under the signer's cost per signature.
fn bare_ring_signing(algorithm: SigningAlgorithm, zone: &Name, rrsets: &[Vec<Record>]) -> Result<Duration, String> {
    let datas = rrsets
        .iter()
        .map(|rrset| {
            let input = SigInput {
                type_covered: RecordType::A,
                algorithm: algorithm.dnssec(),
                num_labels: rrset[0].name.num_labels(),
                original_ttl: rrset[0].ttl,
                sig_expiration: SerialNumber::new(1_800_000_000),
                sig_inception: SerialNumber::new(1_700_000_000),
                key_tag: 1,
                signer_name: zone.clone(),
            };
            let tbs = TBS::from_input(&rrset[0].name, DNSClass::IN, &input, rrset.iter()).map_err(|e| e.to_string())?;
            Ok::<_, String>(tbs.as_ref().to_vec())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let rng = SystemRandom::new();
    let failed = |e: &dyn std::fmt::Display| format!("ring {}: {e}", algorithm.name());
    let started;
    match algorithm {
        SigningAlgorithm::Ecdsap256sha256 => {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).map_err(|e| failed(&e))?;
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                .map_err(|e| failed(&e))?;
            started = Instant::now();
            for data in &datas {
                pair.sign(&rng, data).map_err(|e| failed(&e))?;
            }
        }
        SigningAlgorithm::Ed25519 => {
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| failed(&e))?;
            let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|e| failed(&e))?;
            started = Instant::now();
            for data in &datas {
                std::hint::black_box(pair.sign(data));
            }
        }
    }
    Ok(started.elapsed())
}

/// The answer table of `variants` services, each with the addresses of its sites that are up.
fn service_table(variants: u32, (site_a_up, site_b_up): (bool, bool)) -> AnswerTable {
    let mut table = AnswerTable::default();
    for i in 0..variants {
        let name = wire_name(&Name::from_ascii(format!("s{i}.example.com.")).expect("a name"));
        let site_a = IpAddr::V4(Ipv4Addr::from(0xc612_0000 | (i & 0xffff)));
        let site_b = IpAddr::V4(Ipv4Addr::from(0xc613_0000 | (i & 0xffff)));
        let addrs =
            [(site_a_up, site_a), (site_b_up, site_b)].into_iter().filter(|(up, _)| *up).map(|(_, a)| a).collect();
        table.entries.insert(
            AnswerKey { view: 0, qtype: QTYPE_A, name },
            AnswerSet { ttl: 30, addrs, first: FirstChoice::NONE },
        );
    }
    table
}

/// Per algorithm: a site's failure after its answers were signed ahead (`signed_failover`).
fn failover_rows(dir: &Path, services: u32) -> Result<Vec<serde_json::Value>, String> {
    println!();
    println!("A site's failure after the daemon signed its answers ahead ({services} services on two sites):");
    println!(
        "| algorithm | signed ahead | signing ahead took, ms | memory it keeps, MB | after the failure: answers in the map, ms | all signed in the map, ms | signatures made by the failover |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut rows = Vec::new();
    for algorithm in [SigningAlgorithm::Ecdsap256sha256, SigningAlgorithm::Ed25519] {
        let run = signed_failover::run(services, algorithm, dir)?;
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {} |",
            algorithm.name(),
            run.signed_ahead,
            ms(run.ahead),
            run.ahead_memory_mb,
            ms(run.answers_in_map),
            ms(run.all_signed_in_map),
            run.made_by_failover
        );
        rows.push(json!({
            "algorithm": algorithm.name(),
            "services": services,
            "signed_ahead": run.signed_ahead,
            "signing_ahead_ms": ms(run.ahead),
            "signing_ahead_memory_mb": run.ahead_memory_mb,
            "answers_in_map_ms": ms(run.answers_in_map),
            "all_signed_in_map_ms": ms(run.all_signed_in_map),
            "signatures_made_by_failover": run.made_by_failover,
        }));
    }
    Ok(rows)
}

/// Per algorithm: the time to re-sign and write every answer set after they all changed.
fn resign_rows(zone: &Name, dir: &Path, timing: Timing, variants: u32) -> Result<Vec<serde_json::Value>, String> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let before = service_table(variants, (true, true));
    let after = service_table(variants, (false, true));
    let later = service_table(variants, (true, false));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    println!();
    println!("Re-signed and written into the XDP maps after every answer set changed ({threads} signing threads):");
    println!(
        "| algorithm | answer sets | re-signed and written in one go, ms | µs per answer set | as the daemon does it: new answers in the map after, ms | signatures made after, ms | all signed in the map after, ms | loop busy, ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
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
        // As the daemon's control loop does it: the pass worked out once on the loop, the
        // signing started on the blocking pool, the answers written meanwhile, then the
        // signatures written on the loop once made.
        let _in_runtime = runtime.enter();
        let started = Instant::now();
        let mut plan = writer.plan(&later, &HashSet::new());
        let jobs = writer.due_for_signing(&plan);
        let signing = presign(jobs);
        let first = writer.write_planned(maps.answers, None, &mut plan).map_err(|e| e.to_string())?;
        let answers_in_map = started.elapsed();
        if (first.written, first.unsigned) != (variants as usize, variants as usize) {
            return Err(format!("{}: answers first: {first:?}", algorithm.name()));
        }
        let ahead = runtime.block_on(signing);
        let signatures_made = started.elapsed();
        let ahead_count = ahead.len();
        let write_started = Instant::now();
        writer.use_presigned(ahead);
        let stats =
            writer.write_planned(maps.answers, Some(&mut maps.signatures), &mut plan).map_err(|e| e.to_string())?;
        let (written_after, all_signed) = (write_started.elapsed(), started.elapsed());
        let loop_busy = answers_in_map + written_after;
        // The answers name their signatures already: only the signatures are written now.
        if (ahead_count, stats.signed, stats.written) != (variants as usize, variants as usize, 0) {
            return Err(format!("{}: {ahead_count} signed ahead, then {stats:?}", algorithm.name()));
        }
        let (ms, per_set) =
            (|d: Duration| d.as_secs_f64() * 1e3, |d: Duration| d.as_secs_f64() * 1e6 / f64::from(variants));
        println!(
            "| {} | {variants} | {:.0} | {:.1} | {:.0} | {:.0} | {:.0} | {:.0} |",
            algorithm.name(),
            ms(elapsed),
            per_set(elapsed),
            ms(answers_in_map),
            ms(signatures_made),
            ms(all_signed),
            ms(loop_busy)
        );
        rows.push(json!({
            "algorithm": algorithm.name(),
            "answer_sets": variants,
            "threads": threads,
            "resign_and_write_ms": ms(elapsed),
            "us_per_answer_set": per_set(elapsed),
            "answers_in_map_ms": ms(answers_in_map),
            "signatures_made_ms": ms(signatures_made),
            "written_after_ahead_ms": ms(written_after),
            "all_signed_in_map_ms": ms(all_signed),
            "loop_busy_ms": ms(loop_busy),
        }));
    }
    Ok(rows)
}
