//! `switchyard cleanup`: removes what a stopped daemon leaves in the kernel on purpose (its
//! pinned maps and the XDP program on its interfaces, kept for the next daemon), for when no
//! next daemon is coming.

use super::{CliError, Target};
use crate::bpf::pins;

pub fn run(target: &Target) -> Result<(), CliError> {
    let server = target.server()?;
    let socket = server.admin_socket();
    if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
        return Err(CliError::Refused(format!(
            "a daemon answers on {}: stop it first (cleanup would take XDP away from it)",
            socket.display()
        )));
    }
    let pin_dir = server.pin_dir();
    let _ = std::fs::remove_file(&socket);
    let exists = pin_dir.try_exists().map_err(|e| CliError::PinnedMap(format!("{}: {e}", pin_dir.display())))?;
    if !exists {
        println!("{}: nothing to clean up (no pins: XDP was off, or cleaned up already)", pin_dir.display());
        return Ok(());
    }
    pins::remove_all(&pin_dir).map_err(|e| CliError::PinnedMap(e.to_string()))?;
    println!("{}: XDP detached, pins removed", pin_dir.display());
    Ok(())
}
