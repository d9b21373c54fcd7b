//! Loading the XDP program, pinning its maps and attaching it to interfaces.

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
};

use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, HashMap, LpmTrie, MapData, lpm_trie::Key as PrefixKey},
    programs::{Xdp, XdpMode},
};
use switchyard_common::{MapEntry, MapKey, XdpConfig, map_names, program_names};
use tracing::{info, warn};

use super::local_maps::{LocalMaps, LocalMapsError};
use crate::{
    answers::Views,
    config::XdpMode as ConfigMode,
    local_addresses::{Follower, LocalAddressError},
};

#[derive(Debug, thiserror::Error)]
pub enum DatapathError {
    #[error("loading the XDP object failed (needs root or CAP_BPF): {0}")]
    Load(#[from] aya::EbpfError),
    #[error("XDP program {0}: {1}")]
    Program(&'static str, aya::programs::ProgramError),
    #[error("attaching XDP to {iface} in {mode:?} mode failed: {source}")]
    Attach { iface: String, mode: ConfigMode, source: aya::programs::ProgramError },
    #[error("map {0}: {1}")]
    Map(&'static str, aya::maps::MapError),
    #[error("pinning map {name} at {path}: {source}")]
    Pin { name: &'static str, path: PathBuf, source: aya::pin::PinError },
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error(transparent)]
    LocalMaps(#[from] LocalMapsError),
    #[error(transparent)]
    LocalAddresses(#[from] LocalAddressError),
}

/// The loaded program and its maps. Dropping it detaches the program and removes the pins.
pub struct Datapath {
    ebpf: Ebpf,
    pin_dir: Option<PathBuf>,
    /// Whether locality prefixes were written: folded into the config the program reads.
    has_views: bool,
    /// The MAC and local-address maps, until `follow_local_addresses` hands them to the follower.
    local_maps: Option<LocalMaps>,
    local_addresses: Option<Follower>,
    _logger: Option<tokio::task::JoinHandle<()>>,
}

const PINNED_MAPS: [&str; 8] = [
    map_names::ANSWERS,
    map_names::COUNTERS,
    map_names::CONFIG,
    map_names::VIEWS_V4,
    map_names::VIEWS_V6,
    map_names::OWN_MACS,
    map_names::LOCAL_V4,
    map_names::LOCAL_V6,
];

impl Datapath {
    /// Loads the object with an answer map of `max_entries` and pins its maps in `pin_dir`
    /// (unpinned when `None`: packet tests and benchmarks).
    pub fn load(pin_dir: Option<&Path>, max_entries: u32) -> Result<Datapath, DatapathError> {
        let mut ebpf = EbpfLoader::new().map_max_entries(map_names::ANSWERS, max_entries).load(super::XDP_OBJECT)?;
        let program: &mut Xdp = ebpf
            .program_mut(program_names::RESPONDER)
            .expect("the object has the responder")
            .try_into()
            .map_err(|e| DatapathError::Program(program_names::RESPONDER, e))?;
        program.load().map_err(|e| DatapathError::Program(program_names::RESPONDER, e))?;
        if let Some(pin_dir) = pin_dir {
            pin_maps(&ebpf, pin_dir)?;
        }
        let logger = if pin_dir.is_some() { forward_kernel_logs(&mut ebpf) } else { None };
        let local_maps = Some(LocalMaps::take(&mut ebpf)?);
        Ok(Datapath {
            ebpf,
            pin_dir: pin_dir.map(Into::into),
            has_views: false,
            local_maps,
            local_addresses: None,
            _logger: logger,
        })
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

    pub fn attach(&mut self, iface: &str, mode: ConfigMode) -> Result<(), DatapathError> {
        let flags = match mode {
            ConfigMode::Auto | ConfigMode::Off => XdpMode::Default,
            ConfigMode::Native => XdpMode::Driver,
            ConfigMode::Skb => XdpMode::Skb,
        };
        let program: &mut Xdp =
            self.ebpf.program_mut(program_names::RESPONDER).expect("loaded").try_into().expect("loaded as XDP");
        program.attach(iface, flags).map_err(|source| DatapathError::Attach { iface: iface.into(), mode, source })?;
        info!(iface, ?mode, "XDP attached");
        Ok(())
    }

    pub fn answers(&mut self) -> Result<HashMap<&mut MapData, MapKey, MapEntry>, DatapathError> {
        let map = self.ebpf.map_mut(map_names::ANSWERS).expect("loaded");
        HashMap::try_from(map).map_err(|e| DatapathError::Map(map_names::ANSWERS, e))
    }

    /// Writes the runtime settings; `enabled` turns the fast path on once the maps are filled.
    /// Call after `set_views`: the views flag is added here.
    pub fn set_config(&mut self, mut config: XdpConfig) -> Result<(), DatapathError> {
        if self.has_views {
            config.enabled |= switchyard_common::FLAG_HAS_VIEWS;
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
            config.enabled |= switchyard_common::FLAG_ENABLED;
        } else {
            config.enabled &= !switchyard_common::FLAG_ENABLED;
        }
        array.set(0, config, 0).map_err(|e| DatapathError::Map(map_names::CONFIG, e))
    }

    /// Writes the client-locality prefixes.
    pub fn set_views(&mut self, views: &Views) -> Result<(), DatapathError> {
        self.has_views = !views.is_empty();
        let v4 = views.prefixes.iter().filter_map(|(net, id)| match net {
            ipnet::IpNet::V4(n) => Some((n.prefix_len(), n.network().octets(), *id)),
            ipnet::IpNet::V6(_) => None,
        });
        self.insert_prefixes(map_names::VIEWS_V4, v4)?;
        let v6 = views.prefixes.iter().filter_map(|(net, id)| match net {
            ipnet::IpNet::V6(n) => Some((n.prefix_len(), n.network().octets(), *id)),
            ipnet::IpNet::V4(_) => None,
        });
        self.insert_prefixes(map_names::VIEWS_V6, v6)
    }

    fn insert_prefixes<const N: usize>(
        &mut self,
        name: &'static str,
        prefixes: impl Iterator<Item = (u8, [u8; N], u32)>,
    ) -> Result<(), DatapathError> {
        let map = self.ebpf.map_mut(name).expect("loaded");
        let mut trie: LpmTrie<_, [u8; N], u32> = LpmTrie::try_from(map).map_err(|e| DatapathError::Map(name, e))?;
        for (len, addr, id) in prefixes {
            trie.insert(&PrefixKey::new(len as u32, addr), id, 0).map_err(|e| DatapathError::Map(name, e))?;
        }
        Ok(())
    }
}

fn pin_maps(ebpf: &Ebpf, pin_dir: &Path) -> Result<(), DatapathError> {
    ensure_bpffs(pin_dir)?;
    remove_stale_pins(pin_dir)?;
    std::fs::create_dir_all(pin_dir).map_err(|e| DatapathError::Io(pin_dir.into(), e))?;
    for name in PINNED_MAPS {
        let path = pin_dir.join(name);
        let map = ebpf.map(name).expect("the object has every map");
        map.pin(&path).map_err(|source| DatapathError::Pin { name, path, source })?;
    }
    Ok(())
}

impl Drop for Datapath {
    fn drop(&mut self) {
        let Some(pin_dir) = &self.pin_dir else { return };
        if let Err(e) = remove_stale_pins(pin_dir) {
            warn!(error = %e, "removing pinned maps failed");
        }
    }
}

const BPFFS: &str = "/sys/fs/bpf";
const BPF_FS_MAGIC: i64 = 0xcafe4a11;

/// Mounts bpffs at /sys/fs/bpf when the pin directory lives there and nothing is mounted yet
/// (as on a fresh machine); pins elsewhere must already be on a bpffs.
fn ensure_bpffs(pin_dir: &Path) -> Result<(), DatapathError> {
    if !pin_dir.starts_with(BPFFS) {
        return Ok(());
    }
    let mount_point = std::ffi::CString::new(BPFFS).expect("no NUL");
    // SAFETY: statfs fills the zeroed struct; the path is NUL-terminated.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(mount_point.as_ptr(), &mut fs) } == 0 && fs.f_type as i64 == BPF_FS_MAGIC {
        return Ok(());
    }
    let bpf = std::ffi::CString::new("bpf").expect("no NUL");
    // SAFETY: all pointers are NUL-terminated strings or null data.
    let rc = unsafe { libc::mount(bpf.as_ptr(), mount_point.as_ptr(), bpf.as_ptr(), 0, std::ptr::null()) };
    if rc != 0 {
        return Err(DatapathError::Io(BPFFS.into(), std::io::Error::last_os_error()));
    }
    info!(path = BPFFS, "mounted bpffs");
    Ok(())
}

/// Removes our pin files (and the directory) left by this or an earlier run.
fn remove_stale_pins(pin_dir: &Path) -> Result<(), DatapathError> {
    if !pin_dir.exists() {
        return Ok(());
    }
    for name in PINNED_MAPS {
        let path = pin_dir.join(name);
        if path.exists() {
            std::fs::remove_file(&path).map_err(|e| DatapathError::Io(path, e))?;
        }
    }
    // The shared parent stays: removing it could race another instance creating its directory.
    std::fs::remove_dir(pin_dir).map_err(|e| DatapathError::Io(pin_dir.into(), e))
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
