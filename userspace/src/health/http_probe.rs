//! HTTP(S) probes: the check's request, its status and body match, bounded body reads.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::{Certificate, Client, Identity, StatusCode, Url, redirect};
use tokio::time::Instant;

use crate::health::expect_status::ExpectStatus;
use crate::health::http_check::{HttpCheck, TlsOptions, contains};
use crate::health::http_error::describe_error;
use crate::health::outcome::{ProbeOutcome, timeout_cause};

/// How much of a body is searched for the database keyword.
pub const KEYWORD_BODY_LIMIT: usize = 64 * 1024;
/// Largest HAProxy stats page read.
pub const STATS_BODY_LIMIT: usize = 4 * 1024 * 1024;
/// Allows a /health → /health/ hop; a loop fails fast as "too many redirects".
const MAX_REDIRECTS: usize = 3;

/// One client per check. Idle connections are not kept so that every probe
/// opens a fresh connection, as a client would, and a dead listener behind a
/// live keep-alive connection is not missed. Proxies from the environment
/// are ignored: probes must go straight to the target. A name in the URL is
/// resolved by the system resolver (getaddrinfo: /etc/hosts, then DNS as
/// /etc/nsswitch.conf says) at every probe; `connect_to` pins the name to an
/// address instead.
pub fn build_client(
    timeout: Duration,
    tls: &TlsOptions,
    connect_to: Option<&(String, SocketAddr)>,
) -> Result<Client, ClientError> {
    let mut builder = Client::builder()
        .no_proxy()
        .redirect(redirect::Policy::limited(MAX_REDIRECTS))
        .connect_timeout(timeout)
        .timeout(timeout)
        .pool_max_idle_per_host(0)
        .danger_accept_invalid_certs(tls.skip_verify)
        .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")));
    if let Some((host, address)) = connect_to {
        builder = builder.resolve(host, *address);
    }
    if let Some(path) = &tls.ca_file {
        let pem = read_file("ca_file", path)?;
        let certificates = Certificate::from_pem_bundle(&pem).map_err(|_| ClientError::NoCertificate(path.clone()))?;
        if certificates.is_empty() {
            return Err(ClientError::NoCertificate(path.clone()));
        }
        builder = builder.tls_built_in_root_certs(false);
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    if let (Some(cert), Some(key)) = (&tls.client_cert, &tls.client_key) {
        let mut pem = read_file("client_cert", cert)?;
        pem.push(b'\n');
        pem.extend(read_file("client_key", key)?);
        let identity = Identity::from_pem(&pem).map_err(|e| ClientError::Identity {
            cert: cert.clone(),
            key: key.clone(),
            why: crate::health::http_error::root_cause(&e),
        })?;
        builder = builder.identity(identity);
    }
    builder.build().map_err(|e| ClientError::Build(crate::health::http_error::root_cause(&e)))
}

fn read_file(field: &'static str, path: &Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|source| ClientError::Read { field, path: path.to_path_buf(), source })
}

/// Why an HTTP check's client could not be made: its TLS files.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{field} {}: cannot read it: {source}", path.display())]
    Read { field: &'static str, path: PathBuf, source: std::io::Error },
    #[error("ca_file {}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)", .0.display())]
    NoCertificate(PathBuf),
    #[error("client_cert {} and client_key {}: not a usable certificate and private key in PEM: {why}", cert.display(), key.display())]
    Identity { cert: PathBuf, key: PathBuf, why: String },
    #[error("cannot set up the HTTP client: {0}")]
    Build(String),
}

/// A client without a pinned name or TLS files: the HAProxy stats fetch's.
pub fn plain_client(timeout: Duration, tls_skip_verify: bool) -> Result<Client, ClientError> {
    build_client(timeout, &TlsOptions { skip_verify: tls_skip_verify, ..TlsOptions::default() }, None)
}

/// Sends the check's request and checks status and body. The whole probe, body
/// included, is bounded by `timeout`.
pub async fn probe_http(client: &Client, check: &HttpCheck, timeout: Duration) -> ProbeOutcome {
    let started = Instant::now();
    let attempt = async {
        let request = client.request(check.method.clone(), check.url.clone()).headers(check.headers.clone());
        let response = request.send().await.map_err(|e| describe_error(&e, timeout))?;
        let status = response.status();
        if !check.expect.accepts(status.as_u16()) {
            return Err(status_failure(status, &check.expect));
        }
        if let Some(body_match) = &check.body {
            let body = read_limited(response, KEYWORD_BODY_LIMIT, body_match.stop_at(), timeout).await?;
            if !body_match.matches(&body) {
                return Err(body_match.failure());
            }
        }
        Ok(())
    };
    match tokio::time::timeout(timeout, attempt).await {
        Err(_) => ProbeOutcome::failed(timeout_cause(timeout)),
        Ok(Err(cause)) => ProbeOutcome::failed(cause),
        Ok(Ok(())) => ProbeOutcome::Ok { latency: started.elapsed() },
    }
}

/// "status 503" when 200 was expected, else "status 503, expected 200-299".
fn status_failure(status: StatusCode, expect: &ExpectStatus) -> String {
    if *expect == ExpectStatus::default() {
        format!("status {}", status.as_u16())
    } else {
        format!("status {}, expected {expect}", status.as_u16())
    }
}

/// GETs `url` expecting 200 and returns at most `limit` bytes of body.
pub async fn fetch_text(
    client: &Client,
    url: &Url,
    limit: usize,
    timeout: Duration,
) -> Result<(String, Duration), String> {
    let started = Instant::now();
    let attempt = async {
        let response = send(client, url, timeout).await?;
        check_status(response.status(), 200)?;
        let body = read_limited(response, limit, None, timeout).await?;
        String::from_utf8(body).map_err(|_| "body is not UTF-8".to_string())
    };
    match tokio::time::timeout(timeout, attempt).await {
        Err(_) => Err(timeout_cause(timeout)),
        Ok(Err(cause)) => Err(cause),
        Ok(Ok(text)) => Ok((text, started.elapsed())),
    }
}

async fn send(client: &Client, url: &Url, timeout: Duration) -> Result<reqwest::Response, String> {
    client.get(url.clone()).send().await.map_err(|e| describe_error(&e, timeout))
}

fn check_status(actual: StatusCode, expected: u16) -> Result<(), String> {
    if actual.as_u16() == expected { Ok(()) } else { Err(format!("status {}", actual.as_u16())) }
}

/// Reads the body up to `limit` bytes, stopping early once `stop_at` is seen.
async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
    stop_at: Option<&[u8]>,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while body.len() < limit {
        let Some(chunk) = response.chunk().await.map_err(|e| describe_error(&e, timeout))? else {
            break;
        };
        let searched_up_to = body.len();
        let take = chunk.len().min(limit - body.len());
        body.extend_from_slice(&chunk[..take]);
        if let Some(needle) = stop_at {
            // Only the new bytes, plus an overlap for a match across chunks.
            let from = searched_up_to.saturating_sub(needle.len().saturating_sub(1));
            if contains(&body[from..], needle) {
                break;
            }
        }
    }
    Ok(body)
}
