//! What can go wrong for a command that talks to a running daemon or reads its pinned maps.

use std::path::PathBuf;

use super::admin_client::AdminError;
use crate::config::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{}: {source}", path.display())]
    ReadConfig { path: PathBuf, source: std::io::Error },
    #[error(
        "{}: [server] is unreadable (the running daemon can still be reached with --instance NAME, \
         and --run-dir DIR when its run_dir is not the default): {source}",
        path.display()
    )]
    ServerSection { path: PathBuf, source: toml::de::Error },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("--instance {instance:?}: {problem}")]
    BadInstance { instance: String, problem: String },
    #[error(transparent)]
    Admin(#[from] AdminError),
    /// The daemon refused the request; its own words.
    #[error("{0}")]
    Refused(String),
    #[error("unexpected answer: {0}")]
    UnexpectedAnswer(String),
    /// Not a domain name (the reason says why).
    #[error("{0}")]
    BadName(String),
    #[error("no entry for {0} in the answer map (`switchyard map list` shows them all)")]
    NotInMap(String),
    /// A pinned map could not be read (the reason names it).
    #[error("{0}")]
    PinnedMap(String),
    #[error("--interval {0}: give seconds above 0, e.g. 0.5")]
    BadInterval(f64),
    #[error("--interval must be above 0 (seconds, e.g. 0.5)")]
    ZeroInterval,
    #[error("writing the output: {0}")]
    Output(std::io::Error),
    #[error("reload refused, the running config keeps serving: {0}")]
    ReloadRefused(Box<CliError>),
    #[error(
        "nothing reloaded: this daemon re-reads {served}, not {given} (--config only names the daemon \
         to reach): edit {served}, or restart the daemon with the other file",
        served = served.display(), given = given.display()
    )]
    OtherConfigFile { given: PathBuf, served: PathBuf },
}
