//! What only this host can tell about the checks: that the HTTP checks' TLS files load, that
//! the external checks' programs can be run, and whether the names in URLs resolve now.

use std::net::ToSocketAddrs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::health::config::{ConfigError, HealthConfig, invalid};
use crate::health::http_probe::build_client;

impl HealthConfig {
    /// Loads every HTTP check's CA bundle, client certificate and key, as the monitor will, and
    /// finds every external check's program.
    pub fn check_files(&self) -> Result<(), ConfigError> {
        for (index, site) in self.sites.iter().enumerate() {
            for (server_index, server) in site.servers.iter().enumerate() {
                let Some(program) = server.command.first() else { continue };
                let at = format!("site[{index}] ('{}').server[{server_index}].command", site.name);
                check_program(&at, program)?;
            }
        }
        for (at, http) in self.http_checks() {
            let check = http.check();
            build_client(Duration::from_secs(1), &http.tls, check.connect_to.as_ref())
                .map_err(|e| invalid(at.clone(), e.to_string()))?;
        }
        Ok(())
    }

    /// One warning per check URL whose host name the system resolver cannot resolve now.
    /// Names are resolved again at every probe, so this is not an error: the check fails
    /// (and says so) until the name resolves.
    pub fn unresolved_hosts(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        for (at, http) in self.http_checks() {
            let Ok(url) = reqwest::Url::parse(&http.url) else { continue };
            let (Some(url::Host::Domain(name)), Some(port)) = (url.host(), url.port_or_known_default()) else {
                continue;
            };
            if let Err(e) = (name, port).to_socket_addrs() {
                warnings.push(format!(
                    "{at}.url: the name '{name}' does not resolve now ({e}); it is resolved by the system \
                     resolver at every probe and the check fails until it does"
                ));
            }
        }
        warnings
    }
}

/// The program exists, is a file and may be executed by someone.
fn check_program(at: &str, program: &str) -> Result<(), ConfigError> {
    let metadata = std::fs::metadata(program).map_err(|e| invalid(at.to_string(), format!("{program}: {e}")))?;
    if !metadata.is_file() || metadata.permissions().mode() & 0o111 == 0 {
        return Err(invalid(at.to_string(), format!("{program} is not an executable file")));
    }
    Ok(())
}
