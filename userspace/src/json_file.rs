//! State files the daemon keeps across restarts (operator state, runtime state, zone serials),
//! written so that a reader or a crash never finds half of one.

use std::path::Path;

/// Writes `value` as JSON to a temporary file beside `path`, then renames it into place
/// (making the directory first).
pub fn write_atomically(path: &Path, value: &impl serde::Serialize) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(value).expect("serialisable"))?;
    std::fs::rename(&tmp, path)
}
