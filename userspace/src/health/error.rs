//! What can go wrong starting or feeding the health monitor.

use crate::health::config::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("invalid health config: {0}")]
    Config(#[from] ConfigError),
    #[error("check {check}: {source}")]
    HttpClient { check: String, source: crate::health::http_probe::ClientError },
    #[error("unknown site '{0}'")]
    UnknownSite(String),
    #[error("site '{0}' is probed here; only remote sites can be set")]
    NotRemote(String),
}
