//! Shared HMAC-SHA256 keys: loading them safely and signing/verifying.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub const TAG_LEN: usize = 32;
/// Shorter secrets are too easy to guess offline from one captured datagram.
pub const MIN_KEY_LEN: usize = 16;
/// Larger files are not key files; refuse rather than read them whole.
const MAX_KEY_FILE_LEN: u64 = 4096;
/// The id is derived from the key, so peers agree on it without config.
const KEY_ID_LABEL: &[u8] = b"switchyard peer key id v1";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("key file {path} has mode {mode:04o}; it must not be accessible by group or others (chmod 600)")]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("key file {path} is not a regular file")]
    NotAFile { path: PathBuf },
    #[error("key file {path} is larger than {MAX_KEY_FILE_LEN} bytes")]
    TooLarge { path: PathBuf },
    #[error("key in {source_name} is {len} bytes after trimming whitespace; at least {MIN_KEY_LEN} are required")]
    TooShort { source_name: String, len: usize },
    #[error("key in {source_name} is the same key as an earlier one")]
    Duplicate { source_name: String },
    #[error("no keys given")]
    Empty,
}

/// One shared secret and its 32-bit id.
#[derive(Clone)]
pub struct PeerKey {
    id: u32,
    secret: Arc<[u8]>,
}

impl fmt::Debug for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerKey").field("id", &format_args!("{:08x}", self.id)).finish_non_exhaustive()
    }
}

impl PeerKey {
    pub fn new(secret: &[u8]) -> Self {
        let id_tag = hmac_sha256(secret, KEY_ID_LABEL);
        let id = u32::from_be_bytes([id_tag[0], id_tag[1], id_tag[2], id_tag[3]]);
        Self { id, secret: Arc::from(secret) }
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    pub fn sign(&self, message: &[u8]) -> [u8; TAG_LEN] {
        hmac_sha256(&self.secret, message)
    }

    /// Constant-time comparison of the full tag.
    pub fn verify(&self, message: &[u8], tag: &[u8]) -> bool {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC accepts any key length");
        mac.update(message);
        mac.verify_slice(tag).is_ok()
    }
}

fn hmac_sha256(secret: &[u8], message: &[u8]) -> [u8; TAG_LEN] {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The keys this server uses: the first signs, all of them verify. After a reload that
/// dropped keys, those keep verifying until the rotation window ends, and the previous signing
/// key keeps signing meanwhile, so sites can be rekeyed one at a time within the window.
#[derive(Clone, Debug)]
pub struct KeyRing {
    keys: Vec<PeerKey>,
    /// Keys a reload dropped, the previous signing key first; used until `retire_at`.
    retiring: Vec<PeerKey>,
    retire_at: Option<std::time::Instant>,
}

impl KeyRing {
    /// Reads every key file; see [`read_key_file`] for the rules.
    pub fn load(paths: &[PathBuf]) -> Result<Self, KeyError> {
        let mut secrets = Vec::with_capacity(paths.len());
        for path in paths {
            secrets.push((path.display().to_string(), read_key_file(path)?));
        }
        Self::build(secrets)
    }

    /// Keys given directly (tests, or a daemon with its own secret store).
    pub fn from_secrets<S: AsRef<[u8]>>(secrets: &[S]) -> Result<Self, KeyError> {
        let named = secrets
            .iter()
            .enumerate()
            .map(|(index, secret)| (format!("key #{index}"), secret.as_ref().to_vec()))
            .collect();
        Self::build(named)
    }

    fn build(secrets: Vec<(String, Vec<u8>)>) -> Result<Self, KeyError> {
        if secrets.is_empty() {
            return Err(KeyError::Empty);
        }
        let mut keys: Vec<PeerKey> = Vec::with_capacity(secrets.len());
        for (source_name, secret) in secrets {
            if secret.len() < MIN_KEY_LEN {
                return Err(KeyError::TooShort { source_name, len: secret.len() });
            }
            let key = PeerKey::new(&secret);
            if keys.iter().any(|known| known.id == key.id && known.secret == key.secret) {
                return Err(KeyError::Duplicate { source_name });
            }
            keys.push(key);
        }
        Ok(Self { keys, retiring: Vec::new(), retire_at: None })
    }

    /// This ring after `previous` was in use: keys `previous` had and this one has not keep
    /// verifying for `window`, and `previous`'s signing key keeps signing meanwhile if this
    /// ring dropped it.
    pub fn rotated_from(mut self, previous: &KeyRing, window: std::time::Duration) -> KeyRing {
        let kept = |key: &PeerKey| self.keys.iter().any(|k| k.id == key.id && k.secret == key.secret);
        let dropped: Vec<PeerKey> = previous.verifying().filter(|k| !kept(k)).cloned().collect();
        if !dropped.is_empty() && !window.is_zero() {
            // The key previous signed with first, if it is among the dropped ones.
            let mut retiring = dropped;
            let signer = previous.signing_key().clone();
            if let Some(at) = retiring.iter().position(|k| k.id == signer.id && k.secret == signer.secret) {
                retiring.swap(0, at);
                self.retire_at = Some(std::time::Instant::now() + window);
                self.retiring = retiring;
            } else {
                self.retire_at = Some(std::time::Instant::now() + window);
                self.retiring = retiring;
                // The signing key was kept: it keeps signing, dropped keys only verify.
                self.retiring.insert(0, self.keys[0].clone());
            }
        }
        self
    }

    fn rotating(&self) -> bool {
        self.retire_at.is_some_and(|at| std::time::Instant::now() < at)
    }

    pub fn signing_key(&self) -> &PeerKey {
        if self.rotating() { &self.retiring[0] } else { &self.keys[0] }
    }

    /// Every key that verifies now.
    fn verifying(&self) -> impl Iterator<Item = &PeerKey> {
        let retiring: &[PeerKey] = if self.rotating() { &self.retiring } else { &[] };
        self.keys.iter().chain(retiring)
    }

    /// Keys carrying `id`; more than one only on a 32-bit id collision.
    pub fn keys_with_id(&self, id: u32) -> impl Iterator<Item = &PeerKey> {
        self.verifying().filter(move |key| key.id == id)
    }

    /// Ids of the keys that verify now, the signing key first.
    pub fn key_ids(&self) -> Vec<u32> {
        let mut ids = vec![self.signing_key().id];
        for id in self.verifying().map(PeerKey::id) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }
}

/// Reads one key: the file's bytes with surrounding ASCII whitespace trimmed,
/// used as the HMAC secret as they are (e.g. `openssl rand -base64 32`). The
/// file must be a regular file with no group or other permission bits.
pub fn read_key_file(path: &Path) -> Result<Vec<u8>, KeyError> {
    let io_error = |source| KeyError::Io { path: path.to_path_buf(), source };
    // Check the opened file, not the path, so a swap in between cannot fool us.
    let mut file = File::open(path).map_err(io_error)?;
    let metadata = file.metadata().map_err(io_error)?;
    if !metadata.is_file() {
        return Err(KeyError::NotAFile { path: path.to_path_buf() });
    }
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyError::TooOpen { path: path.to_path_buf(), mode });
    }
    if metadata.len() > MAX_KEY_FILE_LEN {
        return Err(KeyError::TooLarge { path: path.to_path_buf() });
    }
    let mut contents = Vec::new();
    file.by_ref().take(MAX_KEY_FILE_LEN + 1).read_to_end(&mut contents).map_err(io_error)?;
    Ok(contents.trim_ascii().to_vec())
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::io::Write;

    use super::*;

    fn key_file(contents: &str, mode: u32) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(contents.as_bytes()).unwrap();
        fs::set_permissions(file.path(), fs::Permissions::from_mode(mode)).unwrap();
        file
    }

    #[test]
    fn loads_private_key_file_and_trims_newline() {
        let file = key_file("0123456789abcdef0123\n", 0o600);
        assert_eq!(read_key_file(file.path()).unwrap(), b"0123456789abcdef0123");
        let ring = KeyRing::load(&[file.path().to_path_buf()]).unwrap();
        assert_eq!(ring.signing_key().id(), PeerKey::new(b"0123456789abcdef0123").id());
    }

    #[test]
    fn refuses_group_or_world_readable_file() {
        for mode in [0o640, 0o604, 0o660] {
            let file = key_file("0123456789abcdef0123", mode);
            let err = read_key_file(file.path()).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(&file.path().display().to_string()), "{text}");
            assert!(text.contains(&format!("{mode:04o}")), "{text}");
        }
    }

    #[test]
    fn refuses_short_and_duplicate_keys() {
        assert!(matches!(KeyRing::from_secrets(&["short"]), Err(KeyError::TooShort { .. })));
        let key = "0123456789abcdef";
        assert!(matches!(KeyRing::from_secrets(&[key, key]), Err(KeyError::Duplicate { .. })));
        assert!(matches!(KeyRing::from_secrets::<&str>(&[]), Err(KeyError::Empty)));
    }

    #[test]
    fn dropped_keys_verify_and_the_old_key_signs_until_the_window_ends() {
        let old = KeyRing::from_secrets(&["old-key-0123456789abc"]).unwrap();
        let new = KeyRing::from_secrets(&["new-key-0123456789abc"]).unwrap();
        let (old_id, new_id) = (old.signing_key().id(), new.signing_key().id());
        let ring = new.clone().rotated_from(&old, std::time::Duration::from_millis(150));
        assert_eq!(ring.signing_key().id(), old_id, "sites not rekeyed yet still take the old key");
        assert_eq!(ring.keys_with_id(old_id).count(), 1);
        assert_eq!(ring.keys_with_id(new_id).count(), 1, "the new key verifies at once");
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert_eq!(ring.signing_key().id(), new_id, "after the window the new key signs");
        assert_eq!(ring.keys_with_id(old_id).count(), 0, "and the old one no longer verifies");
        let unchanged = old.clone().rotated_from(&old, std::time::Duration::from_secs(60));
        assert_eq!(unchanged.key_ids(), vec![old_id]);
    }

    #[test]
    fn sign_and_verify() {
        let key = PeerKey::new(b"0123456789abcdef");
        let other = PeerKey::new(b"fedcba9876543210");
        let tag = key.sign(b"hello");
        assert!(key.verify(b"hello", &tag));
        assert!(!key.verify(b"hellp", &tag));
        assert!(!other.verify(b"hello", &tag));
        assert_ne!(key.id(), other.id());
    }
}
