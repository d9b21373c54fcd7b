//! HTTP(S) probes: status checks, keyword checks and bounded body reads.

use std::time::Duration;

use reqwest::{Client, StatusCode, Url, redirect};
use tokio::time::Instant;

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
/// are ignored: probes must go straight to the target.
pub fn build_client(timeout: Duration, tls_skip_verify: bool) -> Result<Client, reqwest::Error> {
    Client::builder()
        .no_proxy()
        .redirect(redirect::Policy::limited(MAX_REDIRECTS))
        .connect_timeout(timeout)
        .timeout(timeout)
        .pool_max_idle_per_host(0)
        .danger_accept_invalid_certs(tls_skip_verify)
        .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// What a successful HTTP probe must deliver.
#[derive(Clone, Debug)]
pub struct HttpExpectation {
    pub status: u16,
    /// When set, the first `KEYWORD_BODY_LIMIT` bytes must contain it.
    pub keyword: Option<String>,
}

/// GETs `url` and checks status (and keyword). The whole probe, body
/// included, is bounded by `timeout`.
pub async fn probe_http(client: &Client, url: &Url, expect: &HttpExpectation, timeout: Duration) -> ProbeOutcome {
    let started = Instant::now();
    let attempt = async {
        let response = send(client, url, timeout).await?;
        check_status(response.status(), expect.status)?;
        if let Some(keyword) = &expect.keyword {
            let body = read_limited(response, KEYWORD_BODY_LIMIT, Some(keyword.as_bytes()), timeout).await?;
            if !contains(&body, keyword.as_bytes()) {
                return Err(format!("keyword '{keyword}' missing"));
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

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|window| window == needle)
}

/// A short cause such as "connect failed: Connection refused (os error 111)".
fn describe_error(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return timeout_cause(timeout);
    }
    if error.is_redirect() {
        return "too many redirects".to_string();
    }
    let root = root_cause(error);
    if error.is_connect() {
        format!("connect failed: {root}")
    } else if error.is_body() || error.is_decode() {
        format!("body read failed: {root}")
    } else {
        format!("request failed: {root}")
    }
}

fn root_cause(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}
