//! The server cookie secrets while the daemon runs: generated at random and rotated every
//! `[cookies] rotate_secs`, or read from `secret_file` (shared by the nodes of an anycast set)
//! at start and on reload. The secret before the current one keeps verifying, so a rotation
//! costs no client its cookie. What the keeper publishes goes to the userspace server and to
//! the XDP program's `COOKIES` map, with the wall-clock offset the program needs (refreshed
//! every second: the wall clock may be stepped or slewed).

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use aya::maps::{Array, MapData};
use switchyard_common::{COOKIES_ENABLED, COOKIES_HAS_PREVIOUS, CookieConfig, key_words};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::{
    bpf::{datapath::Datapath, stamp::monotonic_ns},
    config::{CookiesSection, SecretFileError, read_secret_file},
    dns::authority::Authority,
};

/// How often the published value is refreshed (the wall-clock offset) and rotation is due.
const REFRESH: Duration = Duration::from_secs(1);

/// The secrets and where they come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secrets {
    enabled: bool,
    current: [u8; 16],
    previous: Option<[u8; 16]>,
    source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Generated { rotate: Duration, rotated_at: Instant },
    File(PathBuf),
}

impl Secrets {
    pub fn from_config(section: &CookiesSection) -> Result<Secrets, SecretFileError> {
        let (current, previous, source) = match &section.secret_file {
            Some(path) => {
                let shared = read_secret_file(path)?;
                (shared.current, shared.previous, Source::File(path.clone()))
            }
            None => (rand::random(), None, Source::Generated { rotate: section.rotate(), rotated_at: Instant::now() }),
        };
        Ok(Secrets { enabled: section.enabled, current, previous, source })
    }

    /// Follows a reloaded `[cookies]`: a secret file is read again (a new secret in it makes
    /// ours the previous one, unless the file names the previous itself); generated secrets
    /// keep going with the new period; a change of source keeps the old secret as previous.
    pub fn reload(&mut self, section: &CookiesSection) -> Result<(), SecretFileError> {
        self.enabled = section.enabled;
        match (&section.secret_file, &mut self.source) {
            (Some(path), _) => {
                let shared = read_secret_file(path)?;
                if shared.current != self.current {
                    self.previous = shared.previous.or(Some(self.current));
                    self.current = shared.current;
                    info!(file = %path.display(), "cookie secret changed");
                } else if shared.previous.is_some() {
                    self.previous = shared.previous;
                }
                self.source = Source::File(path.clone());
            }
            (None, Source::Generated { rotate, .. }) => *rotate = section.rotate(),
            (None, Source::File(_)) => {
                self.source = Source::Generated { rotate: section.rotate(), rotated_at: Instant::now() };
                self.rotate_to(rand::random());
            }
        }
        Ok(())
    }

    /// Makes a new generated secret when the period is over; true when it did.
    pub fn rotate_if_due(&mut self, now: Instant) -> bool {
        let Source::Generated { rotate, rotated_at } = &mut self.source else { return false };
        if now.duration_since(*rotated_at) < *rotate {
            return false;
        }
        *rotated_at = now;
        self.rotate_to(rand::random());
        true
    }

    fn rotate_to(&mut self, secret: [u8; 16]) {
        self.previous = Some(self.current);
        self.current = secret;
    }

    /// The value both paths read, with the wall-clock offset as of now.
    pub fn published(&self) -> CookieConfig {
        let mut flags = if self.enabled { COOKIES_ENABLED } else { 0 };
        if self.previous.is_some() {
            flags |= COOKIES_HAS_PREVIOUS;
        }
        CookieConfig {
            flags,
            _pad: 0,
            wall_offset_ns: wall_offset_ns(),
            current: key_words(&self.current),
            previous: key_words(&self.previous.unwrap_or_default()),
        }
    }
}

/// CLOCK_REALTIME minus CLOCK_MONOTONIC in nanoseconds (wrapping): added to
/// `bpf_ktime_get_ns` it gives the wall clock.
pub fn wall_offset_ns() -> u64 {
    let realtime = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (realtime.as_nanos() as u64).wrapping_sub(monotonic_ns())
}

/// Publishes the secrets to the userspace server and the XDP map, rotating them when due.
pub struct CookieKeeper {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

struct Shared {
    secrets: Mutex<Secrets>,
    authority: Arc<Authority>,
    map: Mutex<Option<Array<MapData, CookieConfig>>>,
}

impl Shared {
    fn publish(&self) {
        let value = self.secrets.lock().expect("cookie secrets").published();
        self.authority.set_cookies(value);
        if let Some(map) = self.map.lock().expect("cookie map").as_mut()
            && let Err(e) = map.set(0, value, 0)
        {
            warn!(error = %e, "cookie secrets not written to the XDP map");
        }
    }
}

impl CookieKeeper {
    /// Publishes now, then every second until dropped; to the XDP program as well once
    /// `follow_datapath` handed over its map.
    pub fn start(secrets: Secrets, authority: Arc<Authority>) -> CookieKeeper {
        let shared = Arc::new(Shared { secrets: Mutex::new(secrets), authority, map: Mutex::new(None) });
        shared.publish();
        let task = tokio::spawn({
            let shared = shared.clone();
            async move {
                loop {
                    tokio::time::sleep(REFRESH).await;
                    if shared.secrets.lock().expect("cookie secrets").rotate_if_due(Instant::now()) {
                        info!("cookie secret rotated");
                    }
                    shared.publish();
                }
            }
        });
        CookieKeeper { shared, task }
    }

    /// Writes the cookie map of this datapath from now on: a new one's (at start, or a reload
    /// that loaded a program) is taken; none with XDP off.
    pub fn follow_datapath(&self, datapath: Option<&mut Datapath>) {
        let mut map = self.shared.map.lock().expect("cookie map");
        match datapath.map(Datapath::take_cookie_map) {
            None => *map = None,
            Some(None) => {}
            Some(Some(Ok(taken))) => *map = Some(taken),
            Some(Some(Err(e))) => warn!(error = %e, "the XDP cookie map cannot be written; XDP keeps the last secrets"),
        }
        drop(map);
        self.shared.publish();
    }

    /// The value both paths read now.
    pub fn published(&self) -> CookieConfig {
        self.shared.secrets.lock().expect("cookie secrets").published()
    }

    /// The secrets as they stand, for `restore` to put back (a reload taken back).
    pub fn saved(&self) -> Secrets {
        self.shared.secrets.lock().expect("cookie secrets").clone()
    }

    /// Puts back secrets `saved` gave, published at once: a reload that drew or read new ones
    /// is undone without a secret of its own.
    pub fn restore(&self, secrets: Secrets) {
        *self.shared.secrets.lock().expect("cookie secrets") = secrets;
        self.shared.publish();
    }

    /// Applies a reloaded `[cookies]` at once.
    pub fn reload(&self, section: &CookiesSection) -> Result<(), SecretFileError> {
        self.shared.secrets.lock().expect("cookie secrets").reload(section)?;
        self.shared.publish();
        Ok(())
    }
}

impl Drop for CookieKeeper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn generated(rotate_secs: u64) -> CookiesSection {
        CookiesSection { enabled: true, rotate_secs: Some(rotate_secs), secret_file: None }
    }

    #[test]
    fn generated_secrets_rotate_keeping_the_previous_one() {
        let mut secrets = Secrets::from_config(&generated(600)).unwrap();
        let first = secrets.current;
        assert_eq!(secrets.published().flags, COOKIES_ENABLED, "no previous secret yet");
        let start = Instant::now();
        assert!(!secrets.rotate_if_due(start + Duration::from_secs(599)));
        assert!(secrets.rotate_if_due(start + Duration::from_secs(601)));
        assert_ne!(secrets.current, first);
        assert_eq!(secrets.previous, Some(first));
        let published = secrets.published();
        assert_eq!(published.flags, COOKIES_ENABLED | COOKIES_HAS_PREVIOUS);
        assert_eq!((published.current, published.previous), (key_words(&secrets.current), key_words(&first)));
        let second = secrets.current;
        assert!(secrets.rotate_if_due(start + Duration::from_secs(1202)));
        assert_eq!(secrets.previous, Some(second), "the oldest secret is gone");
    }

    #[test]
    fn a_secret_file_is_followed_on_reload() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "{}", "11".repeat(16)).unwrap();
        let section = CookiesSection { enabled: true, rotate_secs: None, secret_file: Some(file.path().into()) };
        let mut secrets = Secrets::from_config(&section).unwrap();
        assert_eq!((secrets.current, secrets.previous), ([0x11; 16], None));
        assert!(!secrets.rotate_if_due(Instant::now() + Duration::from_secs(86_400 * 365)), "no rotation of its own");
        std::fs::write(file.path(), format!("{}\n", "22".repeat(16))).unwrap();
        secrets.reload(&section).unwrap();
        assert_eq!((secrets.current, secrets.previous), ([0x22; 16], Some([0x11; 16])));
        std::fs::write(file.path(), "not a secret\n").unwrap();
        assert!(secrets.reload(&section).is_err());
        assert_eq!(secrets.current, [0x22; 16], "a bad file changes nothing");
    }

    #[test]
    fn disabled_publishes_no_enabled_flag_and_the_offset_is_the_wall_clock() {
        let section = CookiesSection { enabled: false, ..CookiesSection::default() };
        let published = Secrets::from_config(&section).unwrap().published();
        assert_eq!(published.flags & COOKIES_ENABLED, 0);
        let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as u32;
        let seen = published.wall_seconds(monotonic_ns());
        assert!(seen.wrapping_sub(wall) <= 1, "wall clock {wall}, through the offset {seen}");
    }
}
