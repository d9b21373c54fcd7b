//! The cost of one site failing with many services: evaluate the policy, convert it to the
//! answer table and rewrite the XDP answer map (an unpinned map, no interface needed).

use std::{
    collections::BTreeMap,
    net::{Ipv4Addr, Ipv6Addr},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use switchyard::{
    answers::{AnswerTable, Views},
    bpf::{datapath::Datapath, writer::MapWriter},
    policy::{Policy, PolicyConfig, ServiceConfig},
    site::{SiteAddresses, SiteState},
};

use super::stats::round;

pub const MAX_ENTRIES: u32 = 262_144;

pub struct Report {
    services: usize,
    initial_entries: usize,
    initial_write: Duration,
    evaluate: Duration,
    convert: Duration,
    rewrite: Duration,
    written: usize,
    removed: usize,
    peak_rss_mib: f64,
}

fn site(n: u8) -> SiteAddresses {
    SiteAddresses {
        a: vec![Ipv4Addr::new(198, 18, n, 10)],
        aaaa: vec![Ipv6Addr::new(0xfd00, u16::from(n), 0, 0, 0, 0, 0, 0x10)],
    }
}

fn states(a_available: bool) -> BTreeMap<String, SiteState> {
    let up = SiteState { available: true, load: 0, rtt_us: 0 };
    BTreeMap::from([("a".to_string(), if a_available { up } else { SiteState::UNAVAILABLE }), ("b".to_string(), up)])
}

pub fn measure(services: usize) -> Result<Report, String> {
    let sites = BTreeMap::from([("a".to_string(), site(1)), ("b".to_string(), site(2))]);
    let config = PolicyConfig {
        services: (0..services).map(|i| ServiceConfig::new(format!("s{i}.example.com."), &["a", "b"])).collect(),
    };
    let mut policy = Policy::new(&config, &sites).map_err(|e| e.to_string())?;
    let views = Views::default();
    let table = AnswerTable::from_policy(&policy.evaluate(&states(true)), &views);
    let mut datapath = Datapath::load(None, MAX_ENTRIES).map_err(|e| e.to_string())?;
    let map = datapath.answers();
    let mut writer = MapWriter::default();
    let initial = writer.write(map, &table).map_err(|e| e.to_string())?;

    let started = Instant::now();
    let answers = policy.evaluate(&states(false));
    let evaluate = started.elapsed();
    let started = Instant::now();
    let table_after = AnswerTable::from_policy(&answers, &views);
    let convert = started.elapsed();
    let started = Instant::now();
    let stats = writer.write(map, &table_after).map_err(|e| e.to_string())?;
    let rewrite = started.elapsed();
    Ok(Report {
        services,
        initial_entries: table.entries.len(),
        initial_write: initial.elapsed,
        evaluate,
        convert,
        rewrite,
        written: stats.written,
        removed: stats.removed,
        peak_rss_mib: peak_rss_mib()?,
    })
}

/// VmHWM: the most resident memory this process has had so far.
fn peak_rss_mib() -> Result<f64, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| format!("/proc/self/status: {e}"))?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .ok_or("no VmHWM in /proc/self/status")?;
    Ok(kib / 1024.0)
}

fn ms(d: Duration) -> f64 {
    round(d.as_secs_f64() * 1000.0)
}

impl Report {
    pub fn to_json(&self) -> Value {
        json!({
            "services": self.services,
            "sites": 2,
            "map_max_entries": MAX_ENTRIES,
            "entries_initial": self.initial_entries,
            "initial_write_ms": ms(self.initial_write),
            "evaluate_ms": ms(self.evaluate),
            "convert_ms": ms(self.convert),
            "rewrite_ms": ms(self.rewrite),
            "entries_written": self.written,
            "entries_removed": self.removed,
            "peak_rss_mib": round(self.peak_rss_mib),
        })
    }

    pub fn print(&self) {
        println!(
            "| services | evaluate ms | convert ms | rewrite ms | entries written | initial write ms | peak RSS MiB |"
        );
        println!("|---:|---:|---:|---:|---:|---:|---:|");
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            self.services,
            ms(self.evaluate),
            ms(self.convert),
            ms(self.rewrite),
            self.written,
            ms(self.initial_write),
            round(self.peak_rss_mib)
        );
    }
}
