//! Response rate limiting as the daemon runs it: the settings in force (from `[rrl]`, changed
//! live by `switchyard rrl set|exempt`), the UDP server's own limiter, and the XDP program's
//! copy of the settings, written through its pinned maps.
//!
//! Each query is charged once, before any work on its answer: the XDP program charges every
//! query that comes in on an interface it is attached to (those it passes on included) while
//! the daemon's stamp is fresh; this limiter charges the rest of what the UDP server answers
//! (`bpf::ingress` tells which). With XDP on, both charge the same bucket per prefix, the program's
//! `RRL_BUCKETS` map (the daemon through its pin, on CLOCK_MONOTONIC, the clock of
//! `bpf_ktime_get_ns`), so one rate holds for a prefix whichever path answers it; with XDP off
//! the buckets are a table of this process. Both use the same arithmetic
//! (`switchyard_common::RrlConfig::charge`). TCP is never limited.

use std::{
    net::IpAddr,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

use arc_swap::ArcSwapOption;
use hashlink::LruCache;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use switchyard_common::{RrlBucket, RrlConfig, RrlKey, RrlVerdict, rrl_key_v4, rrl_key_v6};

use aya::maps::{HashMap as BpfHashMap, MapData};

use crate::{
    bpf::{ingress::XdpIngress, rrl_maps, stamp},
    config::rrl::RrlSection,
    dns::counters::ServerCounters,
};

/// Buckets the userspace limiter keeps (as many as the XDP program's map): under a flood of
/// random sources the least recently charged prefixes make room.
pub const TABLE_SIZE: usize = 65536;

#[derive(Debug, thiserror::Error)]
pub enum RrlError {
    #[error("{0}")]
    Invalid(String),
    #[error("the XDP program's rate limit maps: {0}")]
    Maps(#[from] rrl_maps::RrlMapError),
}

/// A live change from the CLI.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RrlChange {
    /// New limits; the ones not given stay. Turns limiting on.
    Limits {
        rate: Option<u32>,
        burst: Option<u32>,
        slip: Option<u32>,
    },
    ExemptAdd(IpNet),
    ExemptRemove(IpNet),
}

pub struct Rrl {
    state: Mutex<State>,
    /// Where the XDP program charged queries already; `None` while XDP is off.
    ingress: ArcSwapOption<XdpIngress>,
    /// Whether limiting is on, read without the lock: with it off, the UDP threads never
    /// contend for the state.
    enabled: AtomicBool,
}

struct State {
    settings: RrlSection,
    limits: RrlConfig,
    /// The XDP program's pin directory; `None` while XDP is off.
    pin_dir: Option<PathBuf>,
    buckets: Buckets,
}

/// Where the buckets are.
enum Buckets {
    /// The XDP program's map, shared with it.
    Program(BpfHashMap<MapData, RrlKey, RrlBucket>),
    /// A table of this process (XDP off), on a clock that starts at `epoch`.
    Own { table: LruCache<RrlKey, RrlBucket>, epoch: Instant },
}

impl Buckets {
    fn own() -> Buckets {
        Buckets::Own { table: LruCache::new(TABLE_SIZE), epoch: Instant::now() }
    }

    /// Charges the bucket of `key` (a new one when it has none).
    fn charge(&mut self, key: RrlKey, limits: &RrlConfig) -> RrlVerdict {
        match self {
            Buckets::Own { table, epoch } => {
                let now = epoch.elapsed().as_nanos() as u64;
                match table.get_mut(&key) {
                    Some(bucket) => limits.charge(bucket, now),
                    None => {
                        table.insert(key, limits.new_bucket(now));
                        RrlVerdict::Answer
                    }
                }
            }
            Buckets::Program(map) => {
                let now = stamp::monotonic_ns();
                let (verdict, bucket) = match map.get(&key, 0) {
                    Ok(mut bucket) => (limits.charge(&mut bucket, now), bucket),
                    Err(_) => (RrlVerdict::Answer, limits.new_bucket(now)),
                };
                // An update that fails (the map cannot take it now) forgets this charge only.
                let _ = map.insert(key, bucket, 0);
                verdict
            }
        }
    }

    fn len(&self) -> Option<usize> {
        match self {
            Buckets::Own { table, .. } => Some(table.len()),
            Buckets::Program(_) => None,
        }
    }
}

impl Default for Rrl {
    fn default() -> Self {
        Rrl::new()
    }
}

impl Rrl {
    /// Limiting off until `apply` is called.
    pub fn new() -> Rrl {
        Rrl {
            state: Mutex::new(State {
                settings: RrlSection::default(),
                limits: RrlConfig::OFF,
                pin_dir: None,
                buckets: Buckets::own(),
            }),
            enabled: AtomicBool::new(false),
            ingress: ArcSwapOption::empty(),
        }
    }

    /// Puts `settings` in force on both paths (at start and on every reload: the file wins over
    /// earlier live changes). `xdp` is the XDP program's pin directory and where it stands in
    /// front of the sockets, `None` with XDP off.
    pub fn apply(&self, settings: &RrlSection, xdp: Option<(PathBuf, Arc<XdpIngress>)>) -> Result<(), RrlError> {
        let (pin_dir, ingress) = xdp.unzip();
        self.ingress.store(ingress);
        let mut state = self.state.lock().expect("rrl state");
        match &pin_dir {
            Some(dir) => state.buckets = Buckets::Program(rrl_maps::open_buckets(dir)?),
            // A table of its own is kept across reloads; the program's buckets go with XDP.
            None if matches!(state.buckets, Buckets::Program(_)) => state.buckets = Buckets::own(),
            None => {}
        }
        state.pin_dir = pin_dir;
        let result = state.put(settings.clone());
        self.enabled.store(state.limits.enabled(), Ordering::Relaxed);
        result
    }

    /// Changes the settings in force (`switchyard rrl set|exempt`); says what they are now.
    pub fn change(&self, change: RrlChange) -> Result<String, RrlError> {
        let mut state = self.state.lock().expect("rrl state");
        let mut settings = state.settings.clone();
        match change {
            RrlChange::Limits { rate, burst, slip } => {
                settings.enabled = true;
                settings.responses_per_second = rate.unwrap_or(settings.responses_per_second);
                settings.burst = burst.or(settings.burst);
                settings.slip = slip.unwrap_or(settings.slip);
            }
            RrlChange::ExemptAdd(net) if settings.exempt.contains(&net) => {
                return Err(RrlError::Invalid(format!("{net} is exempt already")));
            }
            RrlChange::ExemptAdd(net) => settings.exempt.push(net),
            RrlChange::ExemptRemove(net) => {
                let before = settings.exempt.len();
                settings.exempt.retain(|n| *n != net);
                if settings.exempt.len() == before {
                    return Err(RrlError::Invalid(format!("{net} is not exempt")));
                }
            }
        }
        settings.validate().map_err(|(key, problem)| RrlError::Invalid(format!("{key}: {problem}")))?;
        state.put(settings)?;
        self.enabled.store(state.limits.enabled(), Ordering::Relaxed);
        Ok(describe(&state.settings))
    }

    /// The settings in force.
    pub fn settings(&self) -> RrlSection {
        self.state.lock().expect("rrl state").settings.clone()
    }

    /// Whether the XDP program charged a query that came in on `ifindex` already.
    pub fn charged_by_program(&self, ifindex: u32) -> bool {
        self.ingress.load().as_ref().is_some_and(|i| i.charged_by_program(ifindex))
    }

    /// The verdict for a query from `client` the UDP server is about to answer, charged to its
    /// prefix's bucket. `exempt` answers without charge: the caller knows the client is real
    /// (e.g. it presented a valid server cookie).
    pub fn verdict(&self, client: IpAddr, exempt: bool, counters: &ServerCounters) -> RrlVerdict {
        if !self.enabled.load(Ordering::Relaxed) {
            return RrlVerdict::Answer;
        }
        let mut state = self.state.lock().expect("rrl state");
        if !state.limits.enabled() {
            return RrlVerdict::Answer;
        }
        if exempt || state.settings.exempt.iter().any(|net| net.contains(&client)) {
            counters.rrl_exempt.fetch_add(1, Ordering::Relaxed);
            return RrlVerdict::Answer;
        }
        let key = match client {
            IpAddr::V4(v4) => rrl_key_v4(v4.octets(), state.limits.ipv4_prefix),
            IpAddr::V6(v6) => rrl_key_v6(v6.octets(), state.limits.ipv6_prefix),
        };
        let limits = state.limits;
        let verdict = state.buckets.charge(key, &limits);
        match verdict {
            RrlVerdict::Answer => {}
            RrlVerdict::Drop => _ = counters.rrl_dropped.fetch_add(1, Ordering::Relaxed),
            RrlVerdict::Slip => _ = counters.rrl_slipped.fetch_add(1, Ordering::Relaxed),
        }
        verdict
    }

    /// Client prefixes with a bucket in this process's table; `None` while the buckets are
    /// the XDP program's.
    pub fn tracked_prefixes(&self) -> Option<usize> {
        self.state.lock().expect("rrl state").buckets.len()
    }
}

impl State {
    /// Writes the XDP program's maps first: if that fails nothing changes.
    fn put(&mut self, settings: RrlSection) -> Result<(), RrlError> {
        let limits = settings.limits();
        if let Some(dir) = &self.pin_dir {
            rrl_maps::write_pinned(dir, limits, &settings.exempt)?;
        }
        if let Buckets::Own { table, .. } = &mut self.buckets
            && (limits.ipv4_prefix != self.limits.ipv4_prefix || limits.ipv6_prefix != self.limits.ipv6_prefix)
        {
            table.clear();
        }
        self.limits = limits;
        self.settings = settings;
        Ok(())
    }
}

/// One line: what is limited now.
pub fn describe(s: &RrlSection) -> String {
    if !s.enabled {
        return "rate limiting off".into();
    }
    let exempt: Vec<String> = s.exempt.iter().map(ToString::to_string).collect();
    format!(
        "rate limiting on: {} responses/s, burst {}, slip {}, per /{} (IPv4) and /{} (IPv6), exempt [{}]",
        s.responses_per_second,
        s.burst(),
        s.slip,
        s.ipv4_prefix,
        s.ipv6_prefix,
        exempt.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(rrl: &str) -> Rrl {
        let settings: RrlSection = toml::from_str(rrl).unwrap();
        let limiter = Rrl::new();
        limiter.apply(&settings, None).unwrap();
        limiter
    }

    fn verdicts(rrl: &Rrl, client: &str, n: usize, counters: &ServerCounters) -> Vec<RrlVerdict> {
        (0..n).map(|_| rrl.verdict(client.parse().unwrap(), false, counters)).collect()
    }

    #[test]
    fn a_flooding_prefix_is_limited_and_another_is_not() {
        let rrl = limiter("enabled = true\nresponses_per_second = 1\nburst = 5\nslip = 2");
        let counters = ServerCounters::default();
        let flood = verdicts(&rrl, "198.18.7.1", 5, &counters);
        assert!(flood.iter().all(|v| *v == RrlVerdict::Answer), "the burst is answered: {flood:?}");
        // Another address of the same /24 shares the bucket: limited, every second one slipped.
        let limited = verdicts(&rrl, "198.18.7.99", 10, &counters);
        assert_eq!(limited.iter().filter(|v| **v == RrlVerdict::Slip).count(), 5, "{limited:?}");
        assert_eq!(limited.iter().filter(|v| **v == RrlVerdict::Drop).count(), 5, "{limited:?}");
        assert_eq!(
            (counters.rrl_dropped.load(Ordering::Relaxed), counters.rrl_slipped.load(Ordering::Relaxed)),
            (5, 5)
        );
        let other = verdicts(&rrl, "198.18.8.1", 5, &counters);
        assert!(other.iter().all(|v| *v == RrlVerdict::Answer), "another /24: {other:?}");
    }

    #[test]
    fn exempt_clients_and_off_are_never_limited() {
        let rrl = limiter("enabled = true\nresponses_per_second = 1\nburst = 1\nexempt = [\"fd00:9::/48\"]");
        let counters = ServerCounters::default();
        assert!(verdicts(&rrl, "fd00:9::1", 50, &counters).iter().all(|v| *v == RrlVerdict::Answer));
        assert_eq!(counters.rrl_exempt.load(Ordering::Relaxed), 50);
        // The caller's own proof of a real client (a server cookie) exempts as well.
        assert!((0..50).all(|_| rrl.verdict("198.18.1.1".parse().unwrap(), true, &counters) == RrlVerdict::Answer));
        let off = limiter("enabled = false\nresponses_per_second = 1\nburst = 1");
        assert!(verdicts(&off, "198.18.1.1", 50, &counters).iter().all(|v| *v == RrlVerdict::Answer));
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_56() {
        let rrl = limiter("enabled = true\nresponses_per_second = 1\nburst = 2\nslip = 0");
        let counters = ServerCounters::default();
        assert_eq!(verdicts(&rrl, "fd00:1:2:3400::1", 2, &counters), [RrlVerdict::Answer; 2]);
        assert_eq!(verdicts(&rrl, "fd00:1:2:34ff::2", 1, &counters), [RrlVerdict::Drop]);
        assert_eq!(verdicts(&rrl, "fd00:1:2:3500::1", 1, &counters), [RrlVerdict::Answer]);
    }

    #[test]
    fn the_table_stays_bounded_under_random_sources() {
        let rrl = limiter("enabled = true\nresponses_per_second = 1\nburst = 1");
        let counters = ServerCounters::default();
        for i in 0..(TABLE_SIZE as u32 * 2) {
            let client = IpAddr::V4((0x0a00_0000 | i << 8).into());
            rrl.verdict(client, false, &counters);
        }
        assert_eq!(rrl.tracked_prefixes(), Some(TABLE_SIZE));
    }

    #[test]
    fn live_changes_are_checked_and_kept_until_applied_again() {
        let rrl = limiter("enabled = false");
        let now = rrl.change(RrlChange::Limits { rate: Some(50), burst: Some(100), slip: Some(0) }).unwrap();
        assert!(now.starts_with("rate limiting on: 50 responses/s, burst 100, slip 0"), "{now}");
        let error = rrl.change(RrlChange::Limits { rate: Some(0), burst: None, slip: None }).unwrap_err();
        assert_eq!(error.to_string(), "rrl.responses_per_second: must be 1 to 1000000");
        let net: IpNet = "198.18.5.0/24".parse().unwrap();
        rrl.change(RrlChange::ExemptAdd(net)).unwrap();
        assert_eq!(rrl.change(RrlChange::ExemptAdd(net)).unwrap_err().to_string(), "198.18.5.0/24 is exempt already");
        rrl.change(RrlChange::ExemptRemove(net)).unwrap();
        assert!(rrl.change(RrlChange::ExemptRemove(net)).is_err());
        assert_eq!(rrl.settings().responses_per_second, 50);
        rrl.apply(&RrlSection::default(), None).unwrap();
        assert!(!rrl.settings().enabled, "the file wins at a reload");
    }
}
