//! HMAC-SHA256 envelope around a serialised batch. The MAC covers the exact
//! payload bytes, so no canonical JSON form is needed.

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::batch::Batch;
use super::error::{Result, SyncError};

type HmacSha256 = Hmac<Sha256>;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    payload: String,
    mac: String,
}

fn mac_for(key: &[u8], payload: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(payload);
    mac
}

/// Serialises and signs a batch for the wire.
pub fn seal(batch: &Batch, key: &[u8]) -> Vec<u8> {
    let payload = serde_json::to_string(batch).expect("batch serialises");
    let mac = hex::encode(mac_for(key, payload.as_bytes()).finalize().into_bytes());
    serde_json::to_vec(&Envelope { payload, mac }).expect("envelope serialises")
}

/// Verifies the signature (in constant time) before parsing the batch.
pub fn open(bytes: &[u8], key: &[u8]) -> Result<Batch> {
    let envelope: Envelope =
        serde_json::from_slice(bytes).map_err(|e| SyncError::Malformed(format!("envelope: {e}")))?;
    let tag = hex::decode(&envelope.mac).map_err(|_| SyncError::BadSignature)?;
    mac_for(key, envelope.payload.as_bytes()).verify_slice(&tag).map_err(|_| SyncError::BadSignature)?;
    serde_json::from_str(&envelope.payload).map_err(|e| SyncError::Malformed(format!("batch: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty_batch() -> Batch {
        Batch { schema_version: 1, sender: "a".into(), from_seq: 0, to_seq: 0, frontier_hlc: 0, changes: vec![] }
    }

    #[test]
    fn round_trips_and_rejects_other_keys() {
        let sealed = seal(&empty_batch(), b"secret");
        assert_eq!(open(&sealed, b"secret").unwrap(), empty_batch());
        assert!(matches!(open(&sealed, b"other"), Err(SyncError::BadSignature)));
    }

    #[test]
    fn rejects_tampered_payload() {
        let sealed = String::from_utf8(seal(&empty_batch(), b"k")).unwrap();
        let tampered = sealed.replace(r#"\"sender\":\"a\""#, r#"\"sender\":\"b\""#);
        assert_ne!(sealed, tampered);
        assert!(matches!(open(tampered.as_bytes(), b"k"), Err(SyncError::BadSignature)));
    }
}
