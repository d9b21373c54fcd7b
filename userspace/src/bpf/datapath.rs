//! Loading the XDP program, adopting or pinning its maps, attaching it to interfaces and
//! writing its maps. Pins outlive the daemon (see `pins`): the next daemon adopts the maps
//! and swaps its program in place, and the liveness stamp (see `stamp`) makes the program
//! stop answering once no daemon stamps any more.

use std::{
    collections::HashMap as StdHashMap,
    net::IpAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, HashMap, LpmTrie, MapData},
    programs::Xdp,
};
use aya_obj::programs::XdpAttachType;
use switchyard_common::{CookieConfig, MapKey, SignatureEntry, XdpConfig, answer_slots, map_names, program_names};
use tracing::info;

use super::{
    answer_slots::{AnswerSlots, SlotsError},
    ingress::XdpIngress,
    links::{Attached, Links},
    local_maps::{LocalMaps, LocalMapsError},
    pins::{self, Fit},
    prefix_trie,
    rrl_maps::{RrlMapError, RrlMaps},
    stamp,
};
use crate::{
    answers::Views,
    config::XdpMode as ConfigMode,
    local_addresses::{Follower, LocalAddressError},
};

#[derive(Debug, thiserror::Error)]
pub enum DatapathError {
    #[error("loading the XDP object failed (needs root or CAP_BPF): {0}")]
    Load(#[from] aya::EbpfError),
    #[error("the embedded XDP object: {0}")]
    Object(String),
    #[error("XDP program {0}: {1}")]
    Program(&'static str, aya::programs::ProgramError),
    #[error("attaching XDP to {iface} in {mode:?} mode failed: {source}")]
    Attach { iface: String, mode: ConfigMode, source: aya::programs::ProgramError },
    #[error("XDP on {0}: {1}")]
    Link(String, String),
    #[error("map {0}: {1}")]
    Map(&'static str, aya::maps::MapError),
    #[error("pinning {name} at {path}: {source}")]
    Pin { name: &'static str, path: PathBuf, source: aya::pin::PinError },
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error(transparent)]
    Slots(#[from] SlotsError),
    #[error(transparent)]
    LocalMaps(#[from] LocalMapsError),
    #[error(transparent)]
    LocalAddresses(#[from] LocalAddressError),
}

/// The loaded program and its maps. Dropping it stops the liveness stamp; the pinned maps and
/// links stay (see `pins::remove_all`), the unpinned ones go.
pub struct Datapath {
    ebpf: Ebpf,
    /// The answer table, mapped into this process.
    answers: AnswerSlots,
    /// Maps taken over with an earlier daemon's contents.
    adopted: Vec<&'static str>,
    /// Maps made new where an earlier daemon pinned another layout: pinned in its place once
    /// the program that uses them is attached.
    replaced: Vec<&'static str>,
    pin_dir: Option<PathBuf>,
    /// The responder an earlier daemon loaded from this same object, pinned: used instead of
    /// loading and verifying it again.
    pinned_program: Option<Xdp>,
    links: Links,
    /// Whether locality prefixes were written: folded into the config the program reads.
    has_views: bool,
    stamp: Option<tokio::task::JoinHandle<()>>,
    /// The stamp period in milliseconds, as the stamping task reads it.
    stamp_period_ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The MAC and local-address maps, until `follow_local_addresses` hands them to the follower.
    local_maps: Option<LocalMaps>,
    local_addresses: Option<Follower>,
    /// Where the program stands in front of the sockets (told by the MAC writer and the stamp).
    ingress: std::sync::Arc<XdpIngress>,
    _logger: Option<tokio::task::JoinHandle<()>>,
}

/// The maps the answer writer fills.
pub struct AnswerMaps<'a> {
    pub answers: &'a mut AnswerSlots,
    pub signatures: HashMap<&'a mut MapData, MapKey, SignatureEntry>,
}

impl Datapath {
    /// Loads the object with an answer table for `max_entries` answer sets. With a `pin_dir` its maps are
    /// pinned there, and maps an earlier daemon pinned are adopted with their contents when
    /// their layout fits; without, nothing is pinned (packet tests and benchmarks).
    pub fn load(pin_dir: Option<&Path>, max_entries: u32) -> Result<Datapath, DatapathError> {
        let slots = answer_slots(max_entries);
        let slot_mask = slots - 1;
        let mut loader = EbpfLoader::new();
        loader.map_max_entries(map_names::ANSWERS, slots);
        loader.map_max_entries(map_names::ANSWER_TAILS, slots);
        loader.override_global(switchyard_common::SLOT_MASK_GLOBAL, &slot_mask, true);
        // Two places per answer set (`signature_places`).
        let signature_places = max_entries.saturating_mul(2);
        loader.map_max_entries(map_names::SIGNATURES, signature_places);
        let (mut adopted, mut replaced) = (Vec::new(), Vec::new());
        if let Some(dir) = pin_dir {
            pins::prepare(dir)?;
            let capacities = StdHashMap::from([
                (map_names::ANSWERS, slots),
                (map_names::ANSWER_TAILS, slots),
                (map_names::SIGNATURES, signature_places),
            ]);
            for (name, fit) in pins::fits(dir, super::XDP_OBJECT, &capacities)? {
                match fit {
                    Fit::Replace(why) => {
                        info!(map = name, %why, "the pinned map does not fit this program: a new one replaces it");
                        replaced.push(name);
                        continue;
                    }
                    Fit::Adopt => adopted.push(name),
                    Fit::Absent => {}
                }
                loader.map_pin_path(name, dir.join(name));
            }
        }
        let mut ebpf = loader.load(super::XDP_OBJECT)?;
        let pinned_program = match pin_dir {
            Some(dir) if adopted.len() == pins::PINNED_MAPS.len() => {
                Xdp::from_pin(pins::program_path(dir, super::XDP_OBJECT), XdpAttachType::Interface).ok()
            }
            _ => None,
        };
        if pinned_program.is_some() {
            info!("the program this object makes is loaded already: taken from its pin");
        } else {
            let program: &mut Xdp = ebpf
                .program_mut(program_names::RESPONDER)
                .expect("the object has the responder")
                .try_into()
                .map_err(|e| DatapathError::Program(program_names::RESPONDER, e))?;
            program.load().map_err(|e| DatapathError::Program(program_names::RESPONDER, e))?;
        }
        let array = |name: &'static str| match ebpf.map(name) {
            Some(aya::maps::Map::Array(data)) => Ok(data),
            _ => Err(DatapathError::Object(format!("{name} is not an array"))),
        };
        // An adopted table is read by the writer's `adopt`, which every daemon path calls.
        let answers =
            AnswerSlots::open(array(map_names::ANSWERS)?, array(map_names::ANSWER_TAILS)?, max_entries as usize)?;
        let logger = if pin_dir.is_some() { forward_kernel_logs(&mut ebpf) } else { None };
        let local_maps = LocalMaps::take(&mut ebpf)?;
        let ingress = local_maps.ingress();
        let local_maps = Some(local_maps);
        if !adopted.is_empty() {
            info!(maps = ?adopted, "maps of an earlier daemon adopted");
        }
        Ok(Datapath {
            ebpf,
            answers,
            adopted,
            replaced,
            pin_dir: pin_dir.map(Into::into),
            pinned_program,
            links: Links::new(pin_dir),
            has_views: false,
            stamp: None,
            stamp_period_ms: Default::default(),
            local_maps,
            local_addresses: None,
            ingress,
            _logger: logger,
        })
    }

    /// Whether `map` was adopted with an earlier daemon's contents.
    pub fn adopted(&self, map: &str) -> bool {
        self.adopted.contains(&map)
    }

    /// The MAC and local-address maps, to be written by hand (packet tests, benchmarks); `None`
    /// once the daemon follows the interfaces.
    pub fn local_maps(&mut self) -> Option<&mut LocalMaps> {
        self.local_maps.as_mut()
    }

    /// Writes the MACs of `interfaces` and the addresses the sockets bound to `listen` hear,
    /// and keeps both in step with the interfaces until the datapath is dropped. Call before
    /// attaching: until then the program answers nothing.
    pub async fn follow_local_addresses(
        &mut self,
        listen: &[IpAddr],
        interfaces: &[String],
    ) -> Result<(), DatapathError> {
        let maps = self.local_maps.take().expect("the local maps are followed once");
        self.local_addresses = Some(Follower::start(maps, listen, interfaces).await?);
        Ok(())
    }

    /// Follows other listen addresses or interfaces (a reload); the maps change moments later,
    /// and until then a frame to a new address or interface is passed to userspace.
    pub fn update_local_addresses(&self, listen: &[IpAddr], interfaces: &[String]) {
        if let Some(follower) = &self.local_addresses {
            follower.update(listen, interfaces);
        }
    }

    /// Writes the address and MAC maps again in full, whatever the follower wrote last.
    pub fn rewrite_local_addresses(&self) {
        if let Some(follower) = &self.local_addresses {
            follower.rewrite();
        }
    }

    /// Loads one more program of the object (the pass-through or swap-only one) and returns it.
    pub fn program(&mut self, name: &'static str) -> Result<&mut Xdp, DatapathError> {
        let program: &mut Xdp = self
            .ebpf
            .program_mut(name)
            .ok_or(DatapathError::Program(name, aya::programs::ProgramError::NotLoaded))?
            .try_into()
            .map_err(|e| DatapathError::Program(name, e))?;
        if program.fd().is_err() {
            program.load().map_err(|e| DatapathError::Program(name, e))?;
        }
        Ok(program)
    }

    /// Reads every counter summed over CPUs, in `Counter::ALL` order.
    pub fn counters(&self) -> Result<Vec<(&'static str, u64)>, DatapathError> {
        let map = self.ebpf.map(map_names::COUNTERS).expect("loaded");
        let array: aya::maps::PerCpuArray<_, u64> =
            aya::maps::PerCpuArray::try_from(map).map_err(|e| DatapathError::Map(map_names::COUNTERS, e))?;
        super::counters::sum(&array).map_err(|e| DatapathError::Map(map_names::COUNTERS, e))
    }

    /// Attaches the responder to `iface`, taking over an earlier daemon's link there.
    pub fn attach(&mut self, iface: &str, mode: ConfigMode) -> Result<Attached, DatapathError> {
        let must_replace = self.adopted.len() < pins::PINNED_MAPS.len();
        let program: &mut Xdp = match self.pinned_program.as_mut() {
            Some(program) => program,
            None => self.ebpf.program_mut(program_names::RESPONDER).expect("loaded").try_into().expect("loaded as XDP"),
        };
        let attached = self.links.attach(program, iface, mode, must_replace)?;
        self.pin_replaced_maps()?;
        self.pin_program()?;
        Ok(attached)
    }

    /// Pins the responder this daemon loaded, for the next daemon of the same object. A pin of
    /// the same object is replaced: this one uses the maps pinned now (a new map size or a
    /// replaced map made the program be loaded again).
    fn pin_program(&mut self) -> Result<(), DatapathError> {
        let Some(dir) = &self.pin_dir else { return Ok(()) };
        if self.pinned_program.is_some() {
            return Ok(());
        }
        let path = pins::program_path(dir, super::XDP_OBJECT);
        let program: &mut Xdp =
            self.ebpf.program_mut(program_names::RESPONDER).expect("loaded").try_into().expect("loaded as XDP");
        pins::replace_program_pin(program, &path)?;
        pins::remove_other_programs(dir, &path);
        Ok(())
    }

    /// Detaches the responder from `iface`.
    pub fn detach(&mut self, iface: &str) -> Result<(), DatapathError> {
        self.links.detach(iface)
    }

    /// The interfaces the responder is attached to.
    pub fn interfaces(&self) -> Vec<String> {
        self.links.interfaces()
    }

    /// Pins the maps made in place of incompatible ones, now that the program using them runs.
    fn pin_replaced_maps(&mut self) -> Result<(), DatapathError> {
        let Some(dir) = &self.pin_dir else { return Ok(()) };
        for name in std::mem::take(&mut self.replaced) {
            let map = self.ebpf.map(name).expect("the object has every map");
            pins::replace_pin(map, &dir.join(name))?;
        }
        Ok(())
    }

    /// Stamps liveness once (packet tests; the daemon uses `start_stamping`).
    pub fn stamp_now(&mut self) -> Result<(), DatapathError> {
        let map = self.ebpf.map_mut(map_names::STAMP).expect("the stamp map is not taken");
        let mut array: Array<_, u64> = Array::try_from(map).map_err(|e| DatapathError::Map(map_names::STAMP, e))?;
        array.set(0, stamp::monotonic_ns(), 0).map_err(|e| DatapathError::Map(map_names::STAMP, e))
    }

    /// Stamps liveness now and then every period until dropped; with `stale_after` in the
    /// config the program stops answering when the stamps stop.
    pub fn start_stamping(&mut self, stale_after: Duration) -> Result<(), DatapathError> {
        if let Some(task) = self.stamp.take() {
            task.abort();
        }
        let map = self.ebpf.take_map(map_names::STAMP).expect("the object has the stamp map");
        let mut array: Array<MapData, u64> =
            Array::try_from(map).map_err(|e| DatapathError::Map(map_names::STAMP, e))?;
        self.set_stale_after(stale_after);
        stamp::write(&mut array, &self.ingress).map_err(|e| DatapathError::Map(map_names::STAMP, e))?;
        self.stamp = Some(stamp::start(array, self.stamp_period_ms.clone(), self.ingress.clone()));
        Ok(())
    }

    /// Stamps often enough for `stale_after` (the program reads the limit from the config).
    pub fn set_stale_after(&mut self, stale_after: Duration) {
        let period = stamp::period(stale_after).as_millis() as u64;
        self.stamp_period_ms.store(period, std::sync::atomic::Ordering::Relaxed);
        self.ingress.set_stale_after(stale_after);
    }

    /// The interfaces where the program charges queries before the UDP server sees them.
    pub fn ingress(&self) -> std::sync::Arc<XdpIngress> {
        self.ingress.clone()
    }

    /// The answer table, to be written by hand (packet tests, benchmarks).
    pub fn answers(&mut self) -> &mut AnswerSlots {
        &mut self.answers
    }

    /// The answer map and the signature map together, as the writer needs both at once.
    pub fn answer_maps(&mut self) -> Result<AnswerMaps<'_>, DatapathError> {
        let signatures = self.ebpf.map_mut(map_names::SIGNATURES).expect("loaded");
        Ok(AnswerMaps {
            answers: &mut self.answers,
            signatures: HashMap::try_from(signatures).map_err(|e| DatapathError::Map(map_names::SIGNATURES, e))?,
        })
    }

    /// Writes the server cookie secrets (packet tests, and the daemon before it attaches).
    pub fn set_cookies(&mut self, cookies: CookieConfig) -> Result<(), DatapathError> {
        let map = self.ebpf.map_mut(map_names::COOKIES).expect("the cookie map is not taken");
        let mut array: Array<_, CookieConfig> =
            Array::try_from(map).map_err(|e| DatapathError::Map(map_names::COOKIES, e))?;
        array.set(0, cookies, 0).map_err(|e| DatapathError::Map(map_names::COOKIES, e))
    }

    /// Hands the cookie map to its keeper (`crate::cookie_secrets`), which rewrites it; `None`
    /// once handed.
    pub fn take_cookie_map(&mut self) -> Option<Result<Array<MapData, CookieConfig>, DatapathError>> {
        let map = self.ebpf.take_map(map_names::COOKIES)?;
        Some(Array::try_from(map).map_err(|e| DatapathError::Map(map_names::COOKIES, e)))
    }

    /// Writes the runtime settings; `enabled` turns the fast path on once the maps are filled.
    /// Call after `set_views`: the views flag is added here.
    pub fn set_config(&mut self, mut config: XdpConfig) -> Result<(), DatapathError> {
        if self.has_views {
            config.flags |= switchyard_common::FLAG_HAS_VIEWS;
        }
        let map = self.ebpf.map_mut(map_names::CONFIG).expect("loaded");
        let mut array: Array<_, XdpConfig> =
            Array::try_from(map).map_err(|e| DatapathError::Map(map_names::CONFIG, e))?;
        array.set(0, config, 0).map_err(|e| DatapathError::Map(map_names::CONFIG, e))
    }

    /// Turns the fast path on or off, keeping the other settings: off sends every query to
    /// userspace (used while the answer map could not be brought up to date).
    pub fn set_enabled(&mut self, enabled: bool) -> Result<(), DatapathError> {
        let map = self.ebpf.map_mut(map_names::CONFIG).expect("loaded");
        let mut array: Array<_, XdpConfig> =
            Array::try_from(map).map_err(|e| DatapathError::Map(map_names::CONFIG, e))?;
        let mut config = array.get(&0, 0).map_err(|e| DatapathError::Map(map_names::CONFIG, e))?;
        if enabled {
            config.flags |= switchyard_common::FLAG_ENABLED;
        } else {
            config.flags &= !switchyard_common::FLAG_ENABLED;
        }
        array.set(0, config, 0).map_err(|e| DatapathError::Map(map_names::CONFIG, e))
    }

    /// Writes the rate limiter's settings and exempt prefixes (the daemon writes them through
    /// the pins, see `crate::rrl`; this is for unpinned programs: packet tests, benchmarks).
    pub fn set_rrl(
        &mut self,
        limits: switchyard_common::RrlConfig,
        exempt: &[ipnet::IpNet],
    ) -> Result<(), RrlMapError> {
        let mut maps: StdHashMap<&str, &mut aya::maps::Map> = self.ebpf.maps_mut().collect();
        let mut take = |name: &'static str| maps.remove(name).ok_or(RrlMapError::Missing(name));
        let (config, exempt_v4, exempt_v6) =
            (take(map_names::RRL_CONFIG)?, take(map_names::RRL_EXEMPT_V4)?, take(map_names::RRL_EXEMPT_V6)?);
        RrlMaps { config, exempt_v4, exempt_v6 }.write(limits, exempt)
    }

    /// Makes the client-locality tries hold exactly these prefixes: new and changed ones are
    /// written first, then the ones no view has any more are removed.
    pub fn set_views(&mut self, views: &Views) -> Result<(), DatapathError> {
        self.has_views = !views.is_empty();
        let v4 = views.prefixes().iter().filter_map(|(net, id)| match net {
            ipnet::IpNet::V4(n) => Some((n.prefix_len(), n.network().octets(), *id)),
            ipnet::IpNet::V6(_) => None,
        });
        self.write_prefixes(map_names::VIEWS_V4, v4.collect())?;
        let v6 = views.prefixes().iter().filter_map(|(net, id)| match net {
            ipnet::IpNet::V6(n) => Some((n.prefix_len(), n.network().octets(), *id)),
            ipnet::IpNet::V4(_) => None,
        });
        self.write_prefixes(map_names::VIEWS_V6, v6.collect())
    }

    fn write_prefixes<const N: usize>(
        &mut self,
        name: &'static str,
        wanted: Vec<(u8, [u8; N], u32)>,
    ) -> Result<(), DatapathError> {
        let map = self.ebpf.map_mut(name).expect("loaded");
        let mut trie: LpmTrie<_, [u8; N], u32> = LpmTrie::try_from(map).map_err(|e| DatapathError::Map(name, e))?;
        let wanted = wanted.into_iter().map(|(len, addr, id)| ((u32::from(len), addr), id)).collect();
        prefix_trie::write(&mut trie, &wanted).map_err(|e| DatapathError::Map(name, e))
    }
}

impl Drop for Datapath {
    fn drop(&mut self) {
        if let Some(task) = self.stamp.take() {
            task.abort();
        }
    }
}

/// Forwards the XDP program's aya-log lines to our log at debug level.
fn forward_kernel_logs(ebpf: &mut Ebpf) -> Option<tokio::task::JoinHandle<()>> {
    let logger = match aya_log::EbpfLogger::init(ebpf) {
        Ok(l) => l,
        Err(e) => {
            tracing::debug!(error = %e, "no kernel log forwarding");
            return None;
        }
    };
    // SAFETY: the logger owns its ring-buffer fd and lives inside the AsyncFd until it is dropped.
    let mut fd = unsafe { tokio::io::unix::AsyncFd::register(logger) }.ok()?;
    Some(tokio::spawn(async move {
        loop {
            let Ok(mut guard) = fd.readable_mut().await else {
                return;
            };
            guard.get_inner_mut().flush();
            guard.clear_ready();
        }
    }))
}
