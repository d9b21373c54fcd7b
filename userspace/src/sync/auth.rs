//! Authentication that comes before memory. A request's headers name the
//! sending site, the body's length and SHA-256 digest, and an HMAC-SHA256 over
//! all three with the shared key. The receiver checks the headers before it
//! reads a byte of the body, so a stranger's upload costs it nothing; the body,
//! once read (at most the announced length), must match the digest.
//!
//! Replies are signed over the request's digest and their own, so a reply can
//! neither be forged nor taken from another request.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::error::{Result, SyncError};

type HmacSha256 = Hmac<Sha256>;

pub const SITE_HEADER: &str = "x-switchyard-site";
pub const DIGEST_HEADER: &str = "x-switchyard-digest";
pub const SIGNATURE_HEADER: &str = "x-switchyard-signature";

/// A request's claims, authenticated by its signature (the body still has to
/// match the digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub site: String,
    pub length: u64,
    pub digest: [u8; 32],
}

pub fn digest(body: &[u8]) -> [u8; 32] {
    Sha256::digest(body).into()
}

fn request_mac(key: &[u8], claims: &Claims) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(b"switchyard-sync-request/2\n");
    mac.update(claims.site.as_bytes());
    mac.update(b"\n");
    mac.update(&claims.length.to_be_bytes());
    mac.update(&claims.digest);
    mac
}

fn reply_mac(key: &[u8], request_digest: &[u8; 32], status: u16, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(b"switchyard-sync-reply/2\n");
    mac.update(request_digest);
    mac.update(&status.to_be_bytes());
    mac.update(&digest(body));
    mac
}

/// The three headers for a request from `site` carrying `body`.
pub fn sign_request(key: &[u8], site: &str, body: &[u8]) -> (Claims, [(&'static str, String); 3]) {
    let claims = Claims { site: site.to_string(), length: body.len() as u64, digest: digest(body) };
    let signature = hex::encode(request_mac(key, &claims).finalize().into_bytes());
    let headers = [
        (SITE_HEADER, claims.site.clone()),
        (DIGEST_HEADER, hex::encode(claims.digest)),
        (SIGNATURE_HEADER, signature),
    ];
    (claims, headers)
}

/// Checks the signature over the claims (in constant time).
pub fn verify_claims(key: &[u8], claims: &Claims, signature_hex: &str) -> Result<()> {
    let tag = hex::decode(signature_hex).map_err(|_| SyncError::BadSignature)?;
    request_mac(key, claims).verify_slice(&tag).map_err(|_| SyncError::BadSignature)
}

/// Checks that the body read is the one the signature covers.
pub fn verify_body(claims: &Claims, body: &[u8]) -> Result<()> {
    if body.len() as u64 != claims.length || digest(body) != claims.digest {
        return Err(SyncError::BadSignature);
    }
    Ok(())
}

pub fn parse_digest(hex_text: &str) -> Option<[u8; 32]> {
    hex::decode(hex_text).ok()?.try_into().ok()
}

pub fn sign_reply(key: &[u8], request_digest: &[u8; 32], status: u16, body: &[u8]) -> String {
    hex::encode(reply_mac(key, request_digest, status, body).finalize().into_bytes())
}

pub fn verify_reply(
    key: &[u8],
    request_digest: &[u8; 32],
    status: u16,
    body: &[u8],
    signature_hex: &str,
) -> Result<()> {
    let tag = hex::decode(signature_hex).map_err(|_| SyncError::BadSignature)?;
    reply_mac(key, request_digest, status, body).verify_slice(&tag).map_err(|_| SyncError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_verifies_only_with_its_key_site_length_and_body() {
        let (claims, headers) = sign_request(b"secret", "a", b"body");
        let signature = &headers[2].1;
        verify_claims(b"secret", &claims, signature).unwrap();
        verify_body(&claims, b"body").unwrap();
        assert!(verify_claims(b"other", &claims, signature).is_err());
        let other_site = Claims { site: "b".into(), ..claims.clone() };
        assert!(verify_claims(b"secret", &other_site, signature).is_err());
        let longer = Claims { length: 5, ..claims.clone() };
        assert!(verify_claims(b"secret", &longer, signature).is_err());
        assert!(verify_body(&claims, b"bodY").is_err());
        assert!(verify_claims(b"secret", &claims, "zz").is_err());
    }

    #[test]
    fn a_reply_is_bound_to_its_request() {
        let request = digest(b"request");
        let signature = sign_reply(b"k", &request, 200, b"ack");
        verify_reply(b"k", &request, 200, b"ack", &signature).unwrap();
        assert!(verify_reply(b"k", &digest(b"another"), 200, b"ack", &signature).is_err());
        assert!(verify_reply(b"k", &request, 409, b"ack", &signature).is_err());
        assert!(verify_reply(b"k", &request, 200, b"nak", &signature).is_err());
    }
}
