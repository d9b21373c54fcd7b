//! `<run_dir>/<instance>.state.json`: the operator state across restarts. Written to a
//! temporary file and renamed, so a crash leaves either the old or the new state.

use std::path::{Path, PathBuf};

use super::{OperatorState, StateFileError};
use crate::config::ServerConfig;

pub fn path(server: &ServerConfig) -> PathBuf {
    server.run_dir.join(format!("{}.state.json", server.instance))
}

/// The saved state; empty when there is no file yet.
pub fn load(path: &Path) -> Result<OperatorState, StateFileError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|source| StateFileError::Parse { path: path.into(), source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(OperatorState::default()),
        Err(source) => Err(StateFileError::Read { path: path.into(), source }),
    }
}

pub fn save(path: &Path, state: &OperatorState) -> Result<(), StateFileError> {
    crate::json_file::write_atomically(path, state).map_err(|source| StateFileError::Save { path: path.into(), source })
}
