//! Geographic views: a geolocation database (a MaxMind DB file or a CSV of prefixes) turned
//! into the prefixes of the `[[view]]` tables that select countries or continents. Read at
//! start and by every reload, so a replaced file takes effect with `switchyard reload`.

mod csv_table;
mod expand;
mod mmdb;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use serde::Deserialize;

pub use expand::{Selection, expand};

/// Continent codes as GeoIP2 databases spell them (`continent.code`).
pub const CONTINENTS: [&str; 7] = ["AF", "AN", "AS", "EU", "NA", "OC", "SA"];

/// `[geo]`: where the networks of each country and continent come from; exactly one source.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoConfig {
    /// A MaxMind DB file in the GeoIP2/GeoLite2 Country (or City) layout.
    #[serde(default)]
    pub mmdb: Option<PathBuf>,
    /// A CSV file of `prefix,country[,continent]` or `first,last,country[,continent]` lines.
    #[serde(default)]
    pub csv: Option<PathBuf>,
}

impl GeoConfig {
    /// Exactly one of `mmdb` and `csv`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        match (&self.mmdb, &self.csv) {
            (Some(_), Some(_)) => Err(("geo".into(), "give either `mmdb` or `csv`, not both".into())),
            (None, None) => Err(("geo".into(), "give the database file as `mmdb` or `csv`".into())),
            _ => Ok(()),
        }
    }
}

/// Why the geolocation database gave no prefixes; the running views stay.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error("cannot read {path}: {source}")]
    Unreadable { path: String, source: std::io::Error },
    #[error("{path} is not a MaxMind DB file: {reason}")]
    NotMmdb { path: String, reason: String },
    #[error(
        "{path} ({kind}) has no network with country.iso_code or continent.code: a GeoIP2/GeoLite2 Country or City database is needed"
    )]
    WrongLayout { path: String, kind: String },
    #[error("{path}: network {network}: {reason}")]
    BadRecord { path: String, network: String, reason: String },
    #[error("{path} line {line}: {reason}")]
    BadLine { path: String, line: u64, reason: String },
    #[error(
        "no network in {path} has country {code:?} (countries are ISO 3166-1 alpha-2 codes, e.g. \"GB\", not \"UK\")"
    )]
    UnknownCountry { path: String, code: String },
}

/// One network of the database and where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located<'a> {
    pub network: ipnet::IpNet,
    pub country: Option<&'a str>,
    pub continent: Option<&'a str>,
}
