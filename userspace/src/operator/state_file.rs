//! `<run_dir>/<instance>.state.json`: the operator state across restarts. Written to a
//! temporary file and renamed, so a crash leaves either the old or the new state.

use std::path::{Path, PathBuf};

use super::OperatorState;
use crate::config::ServerConfig;

pub fn path(server: &ServerConfig) -> PathBuf {
    server.run_dir.join(format!("{}.state.json", server.instance))
}

/// The saved state; empty when there is no file yet.
pub fn load(path: &Path) -> Result<OperatorState, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(OperatorState::default()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

pub fn save(path: &Path, state: &OperatorState) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("saving {}: {e}", path.display());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_vec_pretty(state).expect("serialisable");
    std::fs::write(&tmp, text).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}
