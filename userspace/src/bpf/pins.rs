//! The pin directory `<pin_root>/<instance>/`: the maps (one file each, named as in the
//! object) and `links/<interface>`, the XDP attachments. Pins outlive the daemon, so that the
//! next one adopts the maps and replaces the program without the interface ever being left
//! without one.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use aya::maps::MapData;
use switchyard_common::map_names;
use tracing::info;

use super::datapath::DatapathError;

/// The maps pinned for the operator's commands and for the next daemon (`AYA_LOGS` carries the
/// program's log lines).
pub const PINNED_MAPS: [&str; 18] = [
    map_names::ANSWERS,
    map_names::ANSWER_TAILS,
    map_names::COUNTERS,
    map_names::CONFIG,
    map_names::VIEWS_V4,
    map_names::VIEWS_V6,
    map_names::STAMP,
    map_names::OWN_MACS,
    map_names::LOCAL_V4,
    map_names::LOCAL_V6,
    map_names::LOCAL_SUMMARY,
    map_names::RRL_CONFIG,
    map_names::RRL_BUCKETS,
    map_names::RRL_EXEMPT_V4,
    map_names::RRL_EXEMPT_V6,
    "AYA_LOGS",
    map_names::COOKIES,
    map_names::SIGNATURES,
];

/// Where the loaded responder of the object with this content is pinned: a daemon whose object
/// is the one pinned there uses that program instead of loading (and verifying) it again.
pub fn program_path(pin_dir: &Path, object: &[u8]) -> PathBuf {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(object);
    pin_dir.join(format!("program-{}", hex::encode(&digest[..8])))
}

/// Removes the program pins other than `keep`.
pub fn remove_other_programs(pin_dir: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(pin_dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_program = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("program-"));
        if is_program && path != keep {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Where the link attaching the program to `iface` is pinned.
pub fn link_path(pin_dir: &Path, iface: &str) -> PathBuf {
    pin_dir.join("links").join(iface)
}

/// The interfaces a pinned link exists for.
pub fn pinned_links(pin_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(pin_dir.join("links")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries.flatten().filter_map(|e| e.file_name().into_string().ok()).collect();
    names.sort();
    names
}

/// Whether a map pinned by an earlier daemon can be adopted by this object.
#[derive(Debug, PartialEq, Eq)]
pub enum Fit {
    /// Nothing pinned yet: the map is created and pinned.
    Absent,
    /// Same type, key, value, capacity and flags: adopted with its contents.
    Adopt,
    /// Another layout (an upgrade changed it, or `max_entries` did): a new map replaces it.
    Replace(String),
}

/// Compares each pinned map with the object's definition (capacities as overridden).
pub fn fits(
    pin_dir: &Path,
    object: &[u8],
    max_entries: &HashMap<&str, u32>,
) -> Result<Vec<(&'static str, Fit)>, DatapathError> {
    let parsed = aya_obj::Object::parse(object).map_err(|e| DatapathError::Object(e.to_string()))?;
    let mut fits = Vec::new();
    for name in PINNED_MAPS {
        let wanted = parsed.maps.get(name).ok_or_else(|| DatapathError::Object(format!("no map {name}")))?;
        let path = pin_dir.join(name);
        let fit = match MapData::from_pin(&path) {
            Err(_) if !path.exists() => Fit::Absent,
            Err(e) => Fit::Replace(format!("cannot open the pin: {e}")),
            Ok(pinned) => {
                let info = pinned.info().map_err(|e| DatapathError::Map(name, e))?;
                let capacity = max_entries.get(name).copied().unwrap_or(wanted.max_entries());
                let kind = info.map_type().map(|t| t as u32).unwrap_or(u32::MAX);
                let have = (kind, info.key_size(), info.value_size(), info.max_entries(), info.map_flags());
                let want = (wanted.map_type(), wanted.key_size(), wanted.value_size(), capacity, wanted.map_flags());
                if have == want {
                    Fit::Adopt
                } else {
                    Fit::Replace(format!("pinned (type, key, value, entries, flags) {have:?}, this program {want:?}"))
                }
            }
        };
        fits.push((name, fit));
    }
    for group in KEPT_TOGETHER {
        keep_or_replace_together(&mut fits, group);
    }
    Ok(fits)
}

/// Maps that make one structure, which a daemon adopts whole or makes new whole, so that it
/// never writes part of a structure whose other part a running program reads from another
/// map: the answer table's heads and tails (the heads' sequence numbers cover the tails only
/// for a program that reads both), and the local addresses with their summary (whose filter
/// and generation speak for the address maps beside them).
const KEPT_TOGETHER: [&[&str]; 2] = [
    &[map_names::ANSWERS, map_names::ANSWER_TAILS],
    &[map_names::LOCAL_V4, map_names::LOCAL_V6, map_names::LOCAL_SUMMARY],
];

/// Unless every map of `group` can be adopted, or none is pinned yet, all of them are made new.
fn keep_or_replace_together(fits: &mut [(&'static str, Fit)], group: &[&str]) {
    let in_group = |name: &str| group.contains(&name);
    let fits_of = || fits.iter().filter(|(name, _)| in_group(name)).map(|(_, fit)| fit);
    if fits_of().all(|fit| *fit == Fit::Adopt) || fits_of().all(|fit| *fit == Fit::Absent) {
        return;
    }
    let why = format!(
        "kept or made new with {}: {:?}",
        group.join(", "),
        fits.iter().filter(|(name, _)| in_group(name)).collect::<Vec<_>>()
    );
    for (_, fit) in fits.iter_mut().filter(|(name, _)| in_group(name)) {
        *fit = Fit::Replace(why.clone());
    }
}

/// Pins `map` at `path`, replacing what is pinned there in one rename, so that readers of the
/// pin always find a map.
pub fn replace_pin(map: &aya::maps::Map, path: &Path) -> Result<(), DatapathError> {
    // bpffs refuses names with a dot.
    let fresh = path.with_file_name(format!("{}-new", path.file_name().and_then(|f| f.to_str()).unwrap_or("map")));
    let _ = std::fs::remove_file(&fresh);
    let name = map_names_of(path);
    map.pin(&fresh).map_err(|source| DatapathError::Pin { name, path: fresh.clone(), source })?;
    std::fs::rename(&fresh, path).map_err(|e| DatapathError::Io(path.into(), e))
}

/// Pins `program` at `path` in one rename, like `replace_pin`.
pub fn replace_program_pin(program: &mut aya::programs::Xdp, path: &Path) -> Result<(), DatapathError> {
    let fresh = path.with_file_name(format!("{}-new", path.file_name().and_then(|f| f.to_str()).unwrap_or("program")));
    let _ = std::fs::remove_file(&fresh);
    program.pin(&fresh).map_err(|source| DatapathError::Pin { name: "program", path: fresh.clone(), source })?;
    std::fs::rename(&fresh, path).map_err(|e| DatapathError::Io(path.into(), e))
}

fn map_names_of(path: &Path) -> &'static str {
    let file = path.file_name().and_then(|f| f.to_str()).unwrap_or_default();
    PINNED_MAPS.into_iter().find(|n| *n == file).unwrap_or("map")
}

/// Removes every pin of an instance: the links (which detaches the program from their
/// interfaces), the maps and the directory. What `switchyard cleanup` and the tests run.
pub fn remove_all(pin_dir: &Path) -> Result<(), DatapathError> {
    if !pin_dir.exists() {
        return Ok(());
    }
    let links = pin_dir.join("links");
    for iface in pinned_links(pin_dir) {
        let path = link_path(pin_dir, &iface);
        super::link_detach::detach_and_unpin(&path).map_err(|e| DatapathError::Io(path, e))?;
    }
    if links.exists() {
        std::fs::remove_dir(&links).map_err(|e| DatapathError::Io(links, e))?;
    }
    for name in PINNED_MAPS {
        let path = pin_dir.join(name);
        if path.exists() {
            std::fs::remove_file(&path).map_err(|e| DatapathError::Io(path, e))?;
        }
    }
    remove_other_programs(pin_dir, Path::new(""));
    // The shared parent stays: removing it could race another instance creating its directory.
    std::fs::remove_dir(pin_dir).map_err(|e| DatapathError::Io(pin_dir.into(), e))?;
    info!(pin_dir = %pin_dir.display(), "pins removed");
    Ok(())
}

const BPFFS: &str = "/sys/fs/bpf";
const BPF_FS_MAGIC: i64 = 0xcafe4a11;

/// Mounts bpffs at /sys/fs/bpf when the pin directory lives there and nothing is mounted yet
/// (as on a fresh machine); pins elsewhere must already be on a bpffs. Then creates the
/// directory and its `links/`.
pub fn prepare(pin_dir: &Path) -> Result<(), DatapathError> {
    ensure_bpffs(pin_dir)?;
    let links = pin_dir.join("links");
    std::fs::create_dir_all(&links).map_err(|e| DatapathError::Io(links, e))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(heads: Fit, tails: Fit) -> Vec<(&'static str, Fit)> {
        let mut fits =
            vec![(map_names::ANSWERS, heads), (map_names::COUNTERS, Fit::Adopt), (map_names::ANSWER_TAILS, tails)];
        keep_or_replace_together(&mut fits, &[map_names::ANSWERS, map_names::ANSWER_TAILS]);
        fits
    }

    fn replaced(fits: &[(&'static str, Fit)], name: &str) -> bool {
        fits.iter().any(|(n, fit)| *n == name && matches!(fit, Fit::Replace(_)))
    }

    #[test]
    fn the_answer_tables_halves_are_adopted_or_made_new_together() {
        for (heads, tails) in [
            (Fit::Adopt, Fit::Replace("another size".into())),
            (Fit::Replace("another layout".into()), Fit::Adopt),
            (Fit::Adopt, Fit::Absent),
            (Fit::Replace("another layout".into()), Fit::Absent),
        ] {
            let case = format!("{heads:?} and {tails:?}");
            let fits = pair(heads, tails);
            assert!(replaced(&fits, map_names::ANSWERS) && replaced(&fits, map_names::ANSWER_TAILS), "{case}");
            assert!(!replaced(&fits, map_names::COUNTERS), "other maps are left alone: {case}");
        }
        let both_adopted = pair(Fit::Adopt, Fit::Adopt);
        assert_eq!((&both_adopted[0].1, &both_adopted[2].1), (&Fit::Adopt, &Fit::Adopt));
        let neither_pinned = pair(Fit::Absent, Fit::Absent);
        assert_eq!((&neither_pinned[0].1, &neither_pinned[2].1), (&Fit::Absent, &Fit::Absent));
    }

    #[test]
    fn local_addresses_and_their_summary_are_adopted_or_made_new_together() {
        let mut fits = vec![
            (map_names::LOCAL_V4, Fit::Adopt),
            (map_names::LOCAL_V6, Fit::Adopt),
            (map_names::LOCAL_SUMMARY, Fit::Absent),
            (map_names::ANSWERS, Fit::Adopt),
        ];
        for group in KEPT_TOGETHER {
            keep_or_replace_together(&mut fits, group);
        }
        for name in [map_names::LOCAL_V4, map_names::LOCAL_V6, map_names::LOCAL_SUMMARY] {
            assert!(replaced(&fits, name), "{name}: {fits:?}");
        }
        assert!(!replaced(&fits, map_names::ANSWERS), "another group is left alone");
    }
}
