//! `bench dnssec`'s failover signed ahead: `services` services on two sites in a signed zone,
//! the daemon's controller and map writer. With both sites up their answers are signed and
//! written; then a pass signs ahead the answers each site's failure would give (timed: how
//! long after a change the next failover is covered); then site b goes down and the map is
//! written as the control loop writes it (answers first, signatures on the blocking pool,
//! then the signed write): the signatures are found made.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use switchyard::{
    answers::{AnswerController, AnswerTable, Views, Zones, failover_signing::sign_ahead, wire_name},
    bpf::{datapath::Datapath, presign::presign, writer::MapWriter},
    config::{Config, fixture::ConfigText},
    dnssec::{SigningAlgorithm, SigningKeyFile, ZoneSigner},
    site::{SiteMap, SiteState},
};

/// What one algorithm's run measured.
pub struct SignedFailover {
    /// The pass that signs the failover answers ahead, on the lowest-priority threads.
    pub ahead: Duration,
    pub signed_ahead: usize,
    /// What the heap held more after the pass than before, MB: the signatures it cached.
    pub ahead_memory_mb: f64,
    /// From site b's failure: its answers in the map, then every signature.
    pub answers_in_map: Duration,
    pub all_signed_in_map: Duration,
    /// Signatures made from the failure to the last write (0 when all were signed ahead).
    pub made_by_failover: u64,
}

fn sites(b_up: bool) -> SiteMap {
    let state = |available| SiteState { available, load: 0, rtt_us: 0 };
    SiteMap::from([("a".to_string(), state(true)), ("b".to_string(), state(b_up))])
}

/// The controller of `services` names on sites a and b (every name the same two addresses,
/// so each answer set differs from the others by its owner only) in example.com., signed with
/// `key`.
fn controller(services: u32, algorithm: SigningAlgorithm, key: &str, b_up: bool) -> Result<AnswerController, String> {
    let mut text = ConfigText::new()
        .xdp_off()
        .zone()
        .dnssec(algorithm.name(), key)
        .site("a", &["198.18.10.1"], &[])
        .site("b", &["198.18.20.1"], &[]);
    for i in 0..services {
        text = text.service(&format!("s{i}.example.com."), 30, &["a", "b"]);
    }
    let config = Config::parse(&text.build(), "bench.toml").map_err(|e| e.to_string())?;
    let zones = Zones::from_config(&config, &Default::default());
    AnswerController::new(&config, Views::from_config(&config), zones, &sites(b_up)).map_err(|e| e.to_string())
}

pub fn run(services: u32, algorithm: SigningAlgorithm, dir: &std::path::Path) -> Result<SignedFailover, String> {
    let key = dir.join(format!("{}.failover", algorithm.name()));
    SigningKeyFile::generate(algorithm).and_then(|f| f.write_new(&key)).map_err(|e| e.to_string())?;
    let key = key.to_str().ok_or("key path")?;
    let both_up = controller(services, algorithm, key, true)?;
    let served = both_up.served().load_full();
    let signer: Arc<ZoneSigner> = served.zones.zones[0].signing.signer().ok_or("the zone has no signer")?.clone();
    // Site b's failure as the policy answers it; signed by the first controller's signer.
    let b_down: AnswerTable = controller(services, algorithm, key, false)?.served().load().table.clone();

    let mut datapath = Datapath::load(None, services.next_power_of_two().max(1024)).map_err(|e| e.to_string())?;
    let mut maps = datapath.answer_maps().map_err(|e| e.to_string())?;
    let mut writer = MapWriter::default();
    let zone = wire_name(&hickory_proto::rr::Name::from_ascii("example.com.").map_err(|e| e.to_string())?);
    writer.set_signers(vec![(zone, Some(signer.clone()))]);
    writer.write_signed(&mut maps, &served.table).map_err(|e| e.to_string())?;

    let (started, live) = (Instant::now(), live_heap());
    let report = sign_ahead(&both_up.foresight(), &AtomicBool::new(false));
    let ahead = started.elapsed();
    let ahead_memory_mb = (live_heap() as f64 - live as f64) / 1e6;

    let made_before = signer.signatures_made();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let _in_runtime = runtime.enter();
    let started = Instant::now();
    let mut plan = writer.plan(&b_down, &HashSet::new());
    let signing = presign(writer.due_for_signing(&plan));
    writer.write_planned(maps.answers, None, &mut plan).map_err(|e| e.to_string())?;
    let answers_in_map = started.elapsed();
    writer.use_presigned(runtime.block_on(signing));
    let stats = writer.write_planned(maps.answers, Some(&mut maps.signatures), &mut plan).map_err(|e| e.to_string())?;
    let all_signed_in_map = started.elapsed();
    if stats.signed != services as usize {
        return Err(format!("{}: {services} sets changed, {stats:?}", algorithm.name()));
    }
    Ok(SignedFailover {
        ahead,
        signed_ahead: report.made,
        ahead_memory_mb,
        answers_in_map,
        all_signed_in_map,
        made_by_failover: signer.signatures_made() - made_before,
    })
}

/// Heap bytes in use: counted by `CountingAllocator`, which the bench binary installs.
static LIVE_HEAP: AtomicUsize = AtomicUsize::new(0);

fn live_heap() -> usize {
    LIVE_HEAP.load(Ordering::Relaxed)
}

/// The system allocator, counting the bytes in use (for the memory signing ahead keeps).
pub struct CountingAllocator;

// SAFETY: every call is passed to the system allocator unchanged; only a counter is added.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_HEAP.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_HEAP.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_HEAP.fetch_add(new_size, Ordering::Relaxed);
        LIVE_HEAP.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
