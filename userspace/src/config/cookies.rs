//! `[cookies]`: DNS server cookies (RFC 7873, RFC 9018).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Config, ConfigError};

/// Shortest and longest rotation period of a generated secret.
pub const ROTATE_SECS: std::ops::RangeInclusive<u64> = 600..=30 * 86_400;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CookiesSection {
    /// Answer COOKIE options (on by default, as BIND, Knot and NSD do); off, the option is
    /// ignored and replies carry none.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Seconds between two generated secrets (random at start); the one before stays valid.
    /// Not with `secret_file`.
    #[serde(default)]
    pub rotate_secs: Option<u64>,
    /// A secret shared by every node of an anycast set: 32 hex digits on the first line,
    /// optionally the previous secret on the second. Read at start and on reload.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

pub const DEFAULT_ROTATE_SECS: u64 = 86_400;

fn default_enabled() -> bool {
    true
}

impl Default for CookiesSection {
    fn default() -> CookiesSection {
        CookiesSection { enabled: true, rotate_secs: None, secret_file: None }
    }
}

impl CookiesSection {
    /// The rotation period of generated secrets.
    pub fn rotate(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.rotate_secs.unwrap_or(DEFAULT_ROTATE_SECS))
    }

    pub(super) fn validate(&self) -> Result<(), (String, String)> {
        if let Some(secs) = self.rotate_secs {
            if self.secret_file.is_some() {
                let why = "applies to generated secrets; with secret_file the secret changes when the file does \
                           (then reload)";
                return Err(("cookies.rotate_secs".into(), why.into()));
            }
            if !ROTATE_SECS.contains(&secs) {
                let (min, max) = (ROTATE_SECS.start(), ROTATE_SECS.end());
                return Err(("cookies.rotate_secs".into(), format!("must be {min} to {max}")));
            }
        }
        Ok(())
    }
}

/// A secret file's contents: the current secret and, optionally, the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedSecret {
    pub current: [u8; 16],
    pub previous: Option<[u8; 16]>,
}

/// Why a secret file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} line {line}: expected 32 hex digits (a 16-byte secret), found {found} characters")]
    Length { path: PathBuf, line: usize, found: usize },
    #[error("{path} line {line}: not hex: {source}")]
    NotHex { path: PathBuf, line: usize, source: hex::FromHexError },
    #[error("{path}: expected one or two lines (the secret, then optionally the previous one), found {0}", .lines)]
    Lines { path: PathBuf, lines: usize },
}

/// Reads a secret file: non-empty lines, the current secret first.
pub fn read_secret_file(path: &Path) -> Result<SharedSecret, SecretFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| SecretFileError::Read { path: path.into(), source })?;
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if lines.is_empty() || lines.len() > 2 {
        return Err(SecretFileError::Lines { path: path.into(), lines: lines.len() });
    }
    let mut secrets = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.len() != 32 {
            return Err(SecretFileError::Length { path: path.into(), line: i + 1, found: line.len() });
        }
        let mut secret = [0u8; 16];
        hex::decode_to_slice(line, &mut secret).map_err(|source| SecretFileError::NotHex {
            path: path.into(),
            line: i + 1,
            source,
        })?;
        secrets.push(secret);
    }
    Ok(SharedSecret { current: secrets[0], previous: secrets.get(1).copied() })
}

impl Config {
    /// The cookie secret file, when one is named, reads as a secret.
    pub fn check_cookie_secret(&self, file: &Path) -> Result<(), ConfigError> {
        let Some(path) = &self.cookies.secret_file else { return Ok(()) };
        read_secret_file(path).map(|_| ()).map_err(|e| ConfigError {
            file: file.display().to_string(),
            key: "cookies.secret_file".into(),
            problem: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::config::fixture;

    fn minimal() -> String {
        fixture::ConfigText::new().zone().build()
    }

    fn with_cookies(section: &str) -> Result<Config, ConfigError> {
        Config::parse(&format!("{}\n[cookies]\n{section}\n", minimal()), "t.toml")
    }

    #[test]
    fn on_by_default_with_a_daily_rotation() {
        let config = Config::parse(&minimal(), "t.toml").unwrap();
        assert!(config.cookies.enabled);
        assert_eq!(config.cookies.rotate().as_secs(), 86_400);
        assert!(!with_cookies("enabled = false").unwrap().cookies.enabled);
    }

    #[test]
    fn bad_values_are_refused_with_the_key() {
        let e = with_cookies("rotate_secs = 5").unwrap_err().to_string();
        assert!(e.contains("cookies.rotate_secs: must be 600 to 2592000"), "{e}");
        let e = with_cookies("rotate_secs = 3600\nsecret_file = \"/etc/x\"").unwrap_err().to_string();
        assert!(e.contains("cookies.rotate_secs: applies to generated secrets"), "{e}");
        let e = with_cookies("enable = true").unwrap_err().to_string();
        assert!(e.contains("unknown field `enable`"), "{e}");
    }

    #[test]
    fn secret_files_hold_one_or_two_hex_secrets() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "000102030405060708090a0b0c0d0e0f\n\nf0f1f2f3f4f5f6f7f8f9fafbfcfdfeff").unwrap();
        let read = read_secret_file(file.path()).unwrap();
        assert_eq!(read.current, core::array::from_fn(|i| i as u8));
        assert_eq!(read.previous, Some(core::array::from_fn(|i| 0xf0 + i as u8)));
        for (text, says) in [
            ("0001", "expected 32 hex digits"),
            ("zz0102030405060708090a0b0c0d0e0f", "not hex"),
            ("", "expected one or two lines"),
            (
                "000102030405060708090a0b0c0d0e0f\n000102030405060708090a0b0c0d0e0f\n000102030405060708090a0b0c0d0e0f",
                "found 3",
            ),
        ] {
            let mut bad = tempfile::NamedTempFile::new().unwrap();
            write!(bad, "{text}").unwrap();
            let e = read_secret_file(bad.path()).unwrap_err().to_string();
            assert!(e.contains(says), "{text:?}: {e}");
        }
        let config = with_cookies("secret_file = \"/nonexistent/cookie.key\"").unwrap();
        let e = config.check_cookie_secret(Path::new("t.toml")).unwrap_err().to_string();
        assert!(e.contains("cookies.secret_file: cannot read /nonexistent/cookie.key"), "{e}");
    }
}
