//! Checks of `[server]` and `[peers]` that only this host can answer: whether the addresses
//! the daemon binds are its own, and whether the admin socket's path fits a Unix socket.

use std::{net::IpAddr, path::Path};

use super::{Config, ConfigError};

/// Longest path a Unix socket address holds: `sun_path` is 108 bytes, ending in a NUL.
pub(super) const MAX_SOCKET_PATH: usize = 107;

impl Config {
    /// Every address the daemon binds is unspecified or one of this host's (in this network
    /// namespace): a typo or an address not configured yet is refused here, naming its key,
    /// rather than failing to bind after XDP is attached.
    pub fn check_local_addresses(&self, file: &Path) -> Result<(), ConfigError> {
        let error = |key: String, problem: String| ConfigError { file: file.display().to_string(), key, problem };
        // Every 127.0.0.0/8 address is local by Linux's routing, and with ip_nonlocal_bind on
        // (a floating address that keepalived moves here later) any address binds.
        let specific: Vec<(String, IpAddr)> = self
            .bound_addresses()
            .into_iter()
            .filter(|(_, address)| !address.is_unspecified() && !address.is_loopback() && !nonlocal_bind(address))
            .collect();
        if specific.is_empty() {
            return Ok(());
        }
        let host = crate::local_addresses::of_this_host()
            .map_err(|e| error("(host)".into(), format!("cannot list this host's addresses: {e}")))?;
        match specific.into_iter().find(|(_, address)| !host.contains(address)) {
            Some((key, address)) => {
                Err(error(key, format!("{address} is not an address of this host (in this network namespace)")))
            }
            None => Ok(()),
        }
    }

    /// The addresses the daemon binds, each with its key.
    fn bound_addresses(&self) -> Vec<(String, IpAddr)> {
        let mut bound: Vec<(String, IpAddr)> =
            self.server.listen.iter().enumerate().map(|(i, a)| (format!("server.listen[{i}]"), *a)).collect();
        bound.extend(self.server.metrics.map(|m| ("server.metrics".to_string(), m.ip())));
        bound.extend(self.peers.as_ref().map(|p| ("peers.listen".to_string(), p.listen.ip())));
        bound.extend(self.sync.as_ref().map(|s| ("sync.listen".to_string(), s.listen.ip())));
        bound
    }

    /// A path longer than a Unix socket address holds could not be bound at start (nor reached
    /// by the CLI). The instance is named: it is the part usually chosen per daemon.
    pub fn check_admin_socket(&self, file: &Path) -> Result<(), ConfigError> {
        let socket = self.server.admin_socket();
        let length = socket.as_os_str().len();
        if length <= MAX_SOCKET_PATH {
            return Ok(());
        }
        Err(ConfigError {
            file: file.display().to_string(),
            key: "server.instance".into(),
            problem: format!(
                "the admin socket {} would be {length} bytes, more than the {MAX_SOCKET_PATH} a Unix socket path \
                 holds; shorten server.instance or server.run_dir",
                socket.display()
            ),
        })
    }
}

/// Whether this namespace lets a socket bind an address it does not have
/// (`net.ipv4.ip_nonlocal_bind`, `net.ipv6.ip_nonlocal_bind`).
fn nonlocal_bind(address: &IpAddr) -> bool {
    let family = if address.is_ipv4() { "ipv4" } else { "ipv6" };
    std::fs::read_to_string(format!("/proc/sys/net/{family}/ip_nonlocal_bind")).is_ok_and(|v| v.trim() == "1")
}
