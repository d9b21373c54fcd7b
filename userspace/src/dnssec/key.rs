//! The combined signing key file: one line, `<algorithm> <PKCS#8 private key in hex>`, mode
//! 0600 or stricter, as `switchyard dnssec keygen` writes it.

use std::{
    fs::OpenOptions,
    io::Write,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

use hickory_proto::dnssec::{
    SigningKey,
    crypto::{EcdsaSigningKey, Ed25519SigningKey},
    rdata::DNSKEY,
};
use rustls_pki_types::PrivatePkcs8KeyDer;

use super::SigningAlgorithm;
use crate::peers::{KeyError as FileError, read_key_file};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("key file {path}: expected one line `<ecdsap256sha256|ed25519> <hex PKCS#8 key>`")]
    Format { path: PathBuf },
    #[error("key file {path} holds a {found} key, but the zone is configured for {wanted}")]
    WrongAlgorithm { path: PathBuf, found: &'static str, wanted: &'static str },
    #[error("key file {path}: not a valid {algorithm} private key: {problem}")]
    BadKey { path: PathBuf, algorithm: &'static str, problem: String },
    #[error("{path} exists already; a key file is never overwritten")]
    Exists { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("a signed zone needs at least one key")]
    NoKeys,
    #[error("cannot generate a {algorithm} key: {problem}")]
    Generate { algorithm: &'static str, problem: String },
}

/// A private key and its algorithm, as stored in a key file.
pub struct SigningKeyFile {
    pub algorithm: SigningAlgorithm,
    pkcs8: Vec<u8>,
}

impl SigningKeyFile {
    /// A new random key.
    pub fn generate(algorithm: SigningAlgorithm) -> Result<SigningKeyFile, KeyError> {
        let generated = match algorithm {
            SigningAlgorithm::Ecdsap256sha256 => EcdsaSigningKey::generate_pkcs8(algorithm.dnssec()),
            SigningAlgorithm::Ed25519 => Ed25519SigningKey::generate_pkcs8(),
        };
        let der = generated.map_err(|e| KeyError::Generate { algorithm: algorithm.name(), problem: e.to_string() })?;
        Ok(SigningKeyFile { algorithm, pkcs8: der.secret_pkcs8_der().to_vec() })
    }

    /// Writes the key to a new file with mode 0600; an existing file is left as it is.
    pub fn write_new(&self, path: &Path) -> Result<(), KeyError> {
        let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                KeyError::Exists { path: path.to_path_buf() }
            } else {
                KeyError::Write { path: path.to_path_buf(), source }
            }
        })?;
        let line = format!("{} {}\n", self.algorithm.name(), hex::encode(&self.pkcs8));
        file.write_all(line.as_bytes()).map_err(|source| KeyError::Write { path: path.to_path_buf(), source })
    }

    /// Reads a key file (refused when group or others may read it) and checks the key in it.
    pub fn read(path: &Path) -> Result<SigningKeyFile, KeyError> {
        let contents = read_key_file(path)?;
        let format = || KeyError::Format { path: path.to_path_buf() };
        let text = std::str::from_utf8(&contents).map_err(|_| format())?;
        let (name, key) = text.split_once(' ').ok_or_else(format)?;
        let algorithm = SigningAlgorithm::from_name(name).ok_or_else(format)?;
        let pkcs8 = hex::decode(key.trim()).map_err(|_| format())?;
        let file = SigningKeyFile { algorithm, pkcs8 };
        file.signing_key(path)?;
        Ok(file)
    }

    /// Reads a key file and checks that it holds a key of `wanted`.
    pub fn read_for(path: &Path, wanted: SigningAlgorithm) -> Result<SigningKeyFile, KeyError> {
        let file = SigningKeyFile::read(path)?;
        if file.algorithm != wanted {
            let (found, wanted) = (file.algorithm.name(), wanted.name());
            return Err(KeyError::WrongAlgorithm { path: path.to_path_buf(), found, wanted });
        }
        Ok(file)
    }

    /// The key, ready to sign; `path` names the file in errors.
    pub fn signing_key(&self, path: &Path) -> Result<Box<dyn SigningKey>, KeyError> {
        let der = PrivatePkcs8KeyDer::from(self.pkcs8.clone());
        let key: Result<Box<dyn SigningKey>, _> = match self.algorithm {
            SigningAlgorithm::Ecdsap256sha256 => {
                EcdsaSigningKey::from_pkcs8(&der, self.algorithm.dnssec()).map(|k| Box::new(k) as Box<dyn SigningKey>)
            }
            SigningAlgorithm::Ed25519 => {
                Ed25519SigningKey::from_pkcs8(&der).map(|k| Box::new(k) as Box<dyn SigningKey>)
            }
        };
        key.map_err(|e| KeyError::BadKey {
            path: path.to_path_buf(),
            algorithm: self.algorithm.name(),
            problem: e.to_string(),
        })
    }

    /// The tag validators know this key by (RFC 4034 appendix B).
    pub fn key_tag(&self, path: &Path) -> Result<u16, KeyError> {
        SigningKeyFile::tag_of(&self.dnskey(path)?, path, self.algorithm)
    }

    /// The tag of `dnskey`, the DNSKEY of the key in `path`.
    pub fn tag_of(dnskey: &DNSKEY, path: &Path, algorithm: SigningAlgorithm) -> Result<u16, KeyError> {
        let problem = |e: hickory_proto::ProtoError| e.to_string();
        dnskey.calculate_key_tag().map_err(|e| KeyError::BadKey {
            path: path.to_path_buf(),
            algorithm: algorithm.name(),
            problem: problem(e),
        })
    }

    /// The DNSKEY of a combined signing key: zone key and secure entry point (flags 257).
    pub fn dnskey(&self, path: &Path) -> Result<DNSKEY, KeyError> {
        let key = self.signing_key(path)?;
        let public = key.to_public_key().map_err(|e| KeyError::BadKey {
            path: path.to_path_buf(),
            algorithm: self.algorithm.name(),
            problem: e.to_string(),
        })?;
        Ok(DNSKEY::new(true, true, false, public))
    }
}
