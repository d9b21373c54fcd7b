//! `<run_dir>/<instance>.runtime.json`: what a daemon knew when it stopped or handed over —
//! each check's verdict, each site's state, each peer's boot id and liveness — so that the
//! next daemon starts from there instead of from nothing: neither its own answers nor the
//! other sites' views of it move across a restart. Fresh probes and heartbeats then confirm
//! or change it as usual. A state older than `MAX_AGE` is ignored.

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::{config::ServerConfig, health::Restored, peers::SavedPeer};

/// A saved state older than this describes a world that has moved on: not restored.
pub const MAX_AGE: Duration = Duration::from_secs(60);

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RuntimeState {
    pub saved_unix_ms: u64,
    pub health: Restored,
    pub peers: Vec<SavedPeer>,
}

pub fn path(server: &ServerConfig) -> PathBuf {
    server.run_dir.join(format!("{}.runtime.json", server.instance))
}

/// The state saved at `path` if there is a recent one.
pub fn load(path: &Path) -> Option<RuntimeState> {
    let text = std::fs::read_to_string(path).ok()?;
    let state: RuntimeState = match serde_json::from_str(&text) {
        Ok(state) => state,
        Err(e) => {
            warn!(file = %path.display(), error = %e, "runtime state unreadable; starting from nothing");
            return None;
        }
    };
    let age = Duration::from_millis(unix_ms().saturating_sub(state.saved_unix_ms));
    if age > MAX_AGE {
        info!(file = %path.display(), age_s = age.as_secs(), "runtime state too old; starting from nothing");
        return None;
    }
    info!(
        file = %path.display(),
        age_ms = age.as_millis() as u64,
        checks = state.health.checks.len(),
        peers = state.peers.len(),
        "runtime state restored"
    );
    Some(state)
}

/// Saves `state` (stamped now) through a temporary file and a rename.
pub fn save(path: &Path, mut state: RuntimeState) {
    state.saved_unix_ms = unix_ms();
    if let Err(e) = crate::json_file::write_atomically(path, &state) {
        warn!(file = %path.display(), error = %e, "runtime state not saved");
    }
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
