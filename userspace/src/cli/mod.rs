//! The operator's commands that talk to a running daemon or read its pinned maps: its answer
//! map, its sites, reloads, status, counters and their rates, database sync status.

pub mod admin_client;
pub mod cleanup;
pub mod dnssec;
mod error;
pub mod map;
pub mod reload;
pub mod rrl;
pub mod site;
pub mod stats;
pub mod stats_watch;
pub mod status;
pub mod status_table;
pub mod sync_status_table;

use std::path::{Path, PathBuf};

pub use self::error::CliError;
use crate::{
    config::{Config, ConfigError, ServerConfig, check_instance_name},
    daemon::admin::{Request, Response},
};

/// Which running daemon to talk to.
#[derive(clap::Args)]
pub struct Target {
    /// Read instance name and paths from this config.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Instance name (when no config is given).
    #[arg(long, default_value = "default", conflicts_with = "config")]
    pub instance: String,
    /// The daemon's `run_dir`, where its admin socket is (when no config is given; default
    /// /run/switchyard).
    #[arg(long, conflicts_with = "config")]
    pub run_dir: Option<PathBuf>,
    /// The daemon's `pin_root` (when no config is given; default /sys/fs/bpf/switchyard).
    #[arg(long, conflicts_with = "config")]
    pub pin_root: Option<PathBuf>,
}

impl Target {
    /// Only `[server]` is read, so that the daemon can be reached (e.g. to reload) while
    /// another part of the file is broken: the daemon reports that part itself.
    ///
    /// The instance name is checked as the config's is: it names paths (`cleanup` deletes
    /// under `pin_root` by it), so ".." or "a/b" must never get that far.
    pub fn server(&self) -> Result<ServerConfig, CliError> {
        let Some(path) = &self.config else {
            check_instance_name(&self.instance)
                .map_err(|problem| CliError::BadInstance { instance: self.instance.clone(), problem })?;
            let defaults = ServerConfig::default();
            return Ok(ServerConfig {
                instance: self.instance.clone(),
                run_dir: self.run_dir.clone().unwrap_or(defaults.run_dir.clone()),
                pin_root: self.pin_root.clone().unwrap_or(defaults.pin_root.clone()),
                ..defaults
            });
        };
        let server = server_section(path)?;
        check_instance_name(&server.instance).map_err(|problem| ConfigError {
            file: path.display().to_string(),
            key: "server.instance".into(),
            problem,
        })?;
        Ok(server)
    }

    /// The whole config when one was given (for view names).
    pub fn full_config(&self) -> Result<Option<Config>, CliError> {
        Ok(self.config.as_ref().map(|path| Config::load(path)).transpose()?)
    }
}

/// `[server]` of the config at `path` (its defaults when the file has none).
fn server_section(path: &Path) -> Result<ServerConfig, CliError> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::ReadConfig { path: path.into(), source })?;
    let unreadable = |source| CliError::ServerSection { path: path.into(), source };
    let table: toml::Table = toml::from_str(&text).map_err(unreadable)?;
    match table.get("server") {
        Some(server) => server.clone().try_into().map_err(unreadable),
        None => Ok(ServerConfig::default()),
    }
}

/// Sends a request that changes something and prints what the daemon did.
pub fn change(target: &Target, request: &Request, json: bool) -> Result<(), CliError> {
    let server = target.server()?;
    match block_on(admin_client::request(&server.admin_socket(), request))? {
        Response::Done(message) if json => {
            println!("{}", serde_json::json!({ "ok": true, "message": message }))
        }
        Response::Done(message) => println!("{message}"),
        Response::Error(e) => return Err(CliError::Refused(e)),
        other => return Err(CliError::UnexpectedAnswer(format!("{other:?}"))),
    }
    Ok(())
}

pub fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime").block_on(f)
}

#[cfg(test)]
mod tests;
