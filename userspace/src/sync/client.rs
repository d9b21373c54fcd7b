//! Sending one request to a peer: encoded, signed, posted; the reply read
//! up to the batch size limit and accepted only with a valid signature.

use super::auth::{SIGNATURE_HEADER, sign_request, verify_reply};
use super::config::PeerConfig;
use super::error::{Result, SyncError};
use super::node::SyncNode;
use super::wire::{Reply, Request, decode, encode};

/// Path every request is posted to.
pub const SYNC_PATH: &str = "/sync/v2";

impl SyncNode {
    /// Posts `request` to `peer` and returns its verified reply.
    pub async fn post(&self, peer: &PeerConfig, request: &Request) -> Result<Reply> {
        let config = &self.inner.config;
        let body = encode(request);
        if body.len() > config.max_batch_bytes {
            let size = body.len();
            return Err(SyncError::Unusable(format!(
                "a {} of {size} bytes exceeds sync.max_batch_bytes",
                request.kind()
            )));
        }
        let transport = |message: String| SyncError::Transport { site: peer.site_id.clone(), message };
        let (claims, headers) = sign_request(&config.key, &config.site_id, &body);
        let url = format!("{}{}", peer.base_url.trim_end_matches('/'), SYNC_PATH);
        let mut post = self.inner.http.post(url).header(reqwest::header::CONTENT_TYPE, "application/octet-stream");
        for (name, value) in headers {
            post = post.header(name, value);
        }
        let mut response = post.body(body).send().await.map_err(|e| transport(e.to_string()))?;
        let status = response.status().as_u16();
        let signature =
            response.headers().get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| transport(e.to_string()))? {
            if bytes.len() + chunk.len() > config.max_batch_bytes {
                return Err(transport("reply larger than sync.max_batch_bytes".into()));
            }
            bytes.extend_from_slice(&chunk);
        }
        if verify_reply(&config.key, &claims.digest, status, &bytes, &signature).is_err() {
            return Err(transport(format!("HTTP {status} reply without a valid signature (not our peer?)")));
        }
        if status != 200 {
            let message = String::from_utf8_lossy(&bytes).into_owned();
            return Err(SyncError::Rejected { site: peer.site_id.clone(), status, message });
        }
        decode(&bytes)
    }
}
