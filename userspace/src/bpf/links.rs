//! The program's attachments to interfaces: bpf_links, pinned under `links/<interface>` so
//! that they outlive the daemon. A new daemon adopts them; when its program differs it swaps
//! it in with BPF_LINK_UPDATE, which is atomic: the interface is never without a program.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use aya::programs::{
    Xdp, XdpMode,
    links::{FdLink, PinnedLink},
    xdp::XdpLink,
};
use tracing::{info, warn};

use super::{datapath::DatapathError, pins};
use crate::config::XdpMode as ConfigMode;

/// How an interface came to run this daemon's program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attached {
    /// Nothing was attached by an earlier daemon.
    New,
    /// An earlier daemon attached the same program with the same maps: left as it is.
    Adopted,
    /// An earlier daemon's program was swapped for this one in place.
    Replaced,
}

enum Held {
    /// Attached while its pin exists, also after this process ends.
    Pinned(#[allow(dead_code)] FdLink),
    /// Attached until dropped (no pin directory, or a kernel without XDP links).
    Owned(#[allow(dead_code)] XdpLink),
}

/// The interfaces the program is attached to.
pub struct Links {
    pin_dir: Option<PathBuf>,
    held: BTreeMap<String, Held>,
}

impl Links {
    pub fn new(pin_dir: Option<&Path>) -> Links {
        Links { pin_dir: pin_dir.map(Into::into), held: BTreeMap::new() }
    }

    pub fn interfaces(&self) -> Vec<String> {
        self.held.keys().cloned().collect()
    }

    /// Attaches `program` to `iface`, adopting or updating a link an earlier daemon pinned.
    /// `must_replace` is set when this program's maps are not all the pinned ones.
    pub fn attach(
        &mut self,
        program: &mut Xdp,
        iface: &str,
        mode: ConfigMode,
        must_replace: bool,
    ) -> Result<Attached, DatapathError> {
        if let Some(pin_dir) = &self.pin_dir {
            let path = pins::link_path(pin_dir, iface);
            if path.exists() {
                match adopt(program, &path, must_replace) {
                    Ok((held, how)) => {
                        self.held.insert(iface.to_string(), held);
                        info!(iface, how = ?how, "XDP link of the earlier daemon taken over");
                        return Ok(how);
                    }
                    Err(e) => {
                        warn!(iface, error = %e, "pinned XDP link unusable (interface gone?); attaching anew");
                        let _ = std::fs::remove_file(&path);
                    }
                }
            }
        }
        let held = self.attach_new(program, iface, mode)?;
        self.held.insert(iface.to_string(), held);
        info!(iface, ?mode, "XDP attached");
        Ok(Attached::New)
    }

    fn attach_new(&self, program: &mut Xdp, iface: &str, mode: ConfigMode) -> Result<Held, DatapathError> {
        let flags = match mode {
            ConfigMode::Auto | ConfigMode::Off => XdpMode::Default,
            ConfigMode::Native => XdpMode::Driver,
            ConfigMode::Skb => XdpMode::Skb,
        };
        let attach_error = |source| DatapathError::Attach { iface: iface.into(), mode, source };
        let id = program.attach(iface, flags).map_err(attach_error)?;
        let link = program.take_link(id).map_err(attach_error)?;
        let Some(pin_dir) = &self.pin_dir else {
            return Ok(Held::Owned(link));
        };
        let fd_link = match FdLink::try_from(link) {
            Ok(fd_link) => fd_link,
            Err(e) => {
                warn!(iface, error = %e, "no XDP link on this kernel: the program goes with the daemon");
                return Err(DatapathError::Link(iface.into(), e.to_string()));
            }
        };
        let path = pins::link_path(pin_dir, iface);
        let pinned = fd_link.pin(&path).map_err(|source| DatapathError::Pin { name: "link", path, source })?;
        Ok(Held::Pinned(FdLink::from(pinned)))
    }

    /// Detaches the program from `iface` (removing its pin).
    pub fn detach(&mut self, iface: &str) -> Result<(), DatapathError> {
        if let Some(pin_dir) = &self.pin_dir {
            let path = pins::link_path(pin_dir, iface);
            if path.exists() {
                super::link_detach::detach_and_unpin(&path).map_err(|e| DatapathError::Io(path, e))?;
            }
        }
        self.held.remove(iface);
        info!(iface, "XDP detached");
        Ok(())
    }
}

/// Takes over the link pinned at `path`: left alone when it runs the same program (same tag)
/// on the same maps, else updated to `program`.
fn adopt(program: &mut Xdp, path: &Path, must_replace: bool) -> Result<(Held, Attached), String> {
    let pinned = PinnedLink::from_pin(path).map_err(|e| e.to_string())?;
    let fd_link = FdLink::from(pinned);
    let attached_id = fd_link.info().map_err(|e| e.to_string())?.program_id();
    let ours = program.info().map_err(|e| e.to_string())?.tag();
    let theirs = aya::programs::loaded_programs().flatten().find(|p| p.id() == attached_id).map(|p| p.tag());
    if !must_replace && theirs == Some(ours) {
        return Ok((Held::Pinned(fd_link), Attached::Adopted));
    }
    let link = XdpLink::try_from(fd_link).map_err(|e| e.to_string())?;
    let id = program.attach_to_link(link).map_err(|e| e.to_string())?;
    let link = program.take_link(id).map_err(|e| e.to_string())?;
    let fd_link = FdLink::try_from(link).map_err(|e| e.to_string())?;
    Ok((Held::Pinned(fd_link), Attached::Replaced))
}
