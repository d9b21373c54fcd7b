//! DNSSEC online signing of the zones that have a `[zone.dnssec]` table: one combined signing
//! key (CSK) per zone, RRSIGs made when an RRset is first served and kept until they near
//! expiry, and Compact Denial of Existence (RFC 9824) for names and types that do not exist.

mod cache;
pub mod config;
pub mod denial;
pub mod key;
pub mod response;
pub mod signer;
pub mod spread;
pub mod status;

pub use self::{
    config::{DnssecConfig, SigningAlgorithm},
    key::{KeyError, SigningKeyFile},
    signer::ZoneSigner,
};

use std::sync::Arc;

use hickory_proto::rr::Name;

/// Whether and how a zone's answers are signed.
pub enum ZoneSigning {
    Unsigned,
    Signed(Arc<ZoneSigner>),
    /// Configured for signing, but its key could not be loaded (the file changed after the
    /// config was checked): DO=1 queries get SERVFAIL rather than an unsigned answer.
    Unavailable(String),
}

impl ZoneSigning {
    pub fn for_zone(zone: &Name, config: Option<&DnssecConfig>) -> ZoneSigning {
        let Some(config) = config else { return ZoneSigning::Unsigned };
        match ZoneSigner::load(zone, config) {
            Ok(signer) => ZoneSigning::Signed(Arc::new(signer)),
            Err(e) => {
                tracing::error!(zone = %zone, error = %e, "zone cannot be signed: DNSSEC queries get SERVFAIL");
                ZoneSigning::Unavailable(e.to_string())
            }
        }
    }

    pub fn signer(&self) -> Option<&Arc<ZoneSigner>> {
        match self {
            ZoneSigning::Signed(signer) => Some(signer),
            _ => None,
        }
    }

    pub fn is_signed(&self) -> bool {
        !matches!(self, ZoneSigning::Unsigned)
    }
}

#[cfg(test)]
mod tests;
