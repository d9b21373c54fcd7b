//! Why an operator's change is refused, and what can go wrong with the state file.

use std::{net::IpAddr, path::PathBuf};

use switchyard_common::{MAX_ADDRS, MAX_NAME_LEN};

use super::{FULL_WEIGHT, Qtype};
use crate::config::MAX_TTL;

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// Not a domain name (the reason says why).
    #[error("{0}")]
    BadName(String),
    #[error("{0} is not a configured [[service]]; only service names can be overridden")]
    NotAService(String),
    #[error("{0} is longer than the XDP path can hold ({MAX_NAME_LEN} bytes)")]
    NameTooLong(String),
    #[error("no [[view]] is named {0:?} (use \"default\" for clients without a view)")]
    UnknownView(String),
    #[error("give 1 to {MAX_ADDRS} addresses")]
    AddressCount,
    #[error("{addr} is not an address for an {qtype} record")]
    WrongFamily { addr: IpAddr, qtype: Qtype },
    #[error("{addr} is {kind}: no client can connect to it")]
    Unreachable { addr: IpAddr, kind: &'static str },
    #[error("{0} is given twice")]
    DuplicateAddress(IpAddr),
    #[error("TTL {0} is more than {MAX_TTL}, the largest RFC 2181 §8 allows")]
    TtlTooLarge(u32),
    #[error("no override for {name} {qtype} {view}")]
    NoOverride { name: String, qtype: Qtype, view: String },
    #[error("no [[site]] is named {0:?}")]
    UnknownSite(String),
    #[error("weight is a percentage: 0 to {FULL_WEIGHT}")]
    WeightRange,
    #[error(
        "a new daemon is taking over from this one (a restart or an upgrade): nothing was changed; run the command again in a moment to reach the new one"
    )]
    HandingOff,
    #[error("saved, but the control loop did not apply it within {seconds} s; see the daemon's log")]
    NotApplied { seconds: u64 },
    #[error(transparent)]
    StateFile(#[from] StateFileError),
}

#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    #[error("{}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: {source}", path.display())]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("saving {}: {source}", path.display())]
    Save { path: PathBuf, source: std::io::Error },
}
