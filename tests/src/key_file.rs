//! Key files for peers and sync, written as the daemon requires them: private (mode 0600).

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

/// Writes `secret` (and a newline) to `dir/name`, readable by the owner only.
pub fn write(dir: &Path, name: &str, secret: &str) -> Result<PathBuf, String> {
    let path = dir.join(name);
    std::fs::write(&path, format!("{secret}\n")).map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}
