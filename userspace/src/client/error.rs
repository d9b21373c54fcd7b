//! What can go wrong for a client, each with what to do next.

use std::{net::SocketAddr, path::PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no nameserver in {path}: give one with --server IP[:PORT]")]
    NoNameserver { path: PathBuf },
    #[error("cannot read {path}: {source}; give a nameserver with --server IP[:PORT]")]
    ResolvConf { path: PathBuf, source: std::io::Error },
    #[error("bad nameserver {given:?}: expected IP or IP:PORT (IPv6 with a port as [IP]:PORT)")]
    BadServer { given: String },
    #[error("bad name {name:?}: {reason}")]
    BadName { name: String, reason: String },
    #[error("bad URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error(
        "no answer from {server} for {name} after {tries} tries: check that the server runs and is reachable, or try another --server"
    )]
    NoAnswer { server: SocketAddr, name: String, tries: u32 },
    #[error("talking to {server}: {source}; check the address and port of the nameserver")]
    Io { server: SocketAddr, source: std::io::Error },
    #[error("{server} sent an unusable response for {name}: {reason}; check that it is a DNS server")]
    BadResponse { server: SocketAddr, name: String, reason: String },
    #[error("{name} does not exist (NXDOMAIN from {server}): check the spelling and the zone")]
    NxDomain { server: SocketAddr, name: String },
    #[error(
        "{server} answered {rcode} for {name}: check that it is authoritative for the name, or ask a resolver instead"
    )]
    Rcode { server: SocketAddr, name: String, rcode: String },
    #[error("{server} has no A or AAAA records for {name}: no site can serve it now; check `switchyard status`")]
    NoAddresses { server: SocketAddr, name: String },
    #[error("every address of {host} failed ({tried}): no site answers; check `switchyard status` and the web servers")]
    AllAddressesFailed { host: String, tried: String },
    #[error(
        "request to {addr} failed: {detail}; not tried at another address, since the server may have acted on it or the request itself is at fault"
    )]
    Request { addr: SocketAddr, detail: String },
    #[error("cannot build the HTTP client: {0}")]
    Build(reqwest::Error),
    #[error("reading the body from {addr}: {source}")]
    Body { addr: SocketAddr, source: reqwest::Error },
    #[error("{failed} of {count} requests failed")]
    RequestsFailed { failed: u32, count: u32 },
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;
