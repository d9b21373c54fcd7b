//! `switchyard dnssec`: make a zone's signing key, and print what its parent publishes.

use std::path::PathBuf;

use hickory_proto::{
    dnssec::rdata::DNSSECRData,
    rr::{Name, RData, Record},
};

use crate::{
    config::{Config, ConfigError, parse_name},
    dnssec::{KeyError, SigningAlgorithm, SigningKeyFile, ZoneSigner, signer::SignError},
};

#[derive(clap::Subcommand)]
pub enum DnssecCommand {
    /// Write a new combined signing key (mode 0600) to a file that does not exist yet.
    Keygen {
        #[arg(long, value_enum)]
        algorithm: KeygenAlgorithm,
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the DS (SHA-256) and DNSKEY of each key of a signed zone, in zone-file form, for its parent.
    Ds {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        zone: String,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum KeygenAlgorithm {
    Ecdsap256sha256,
    Ed25519,
}

#[derive(Debug, thiserror::Error)]
pub enum DnssecCliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error("{zone} is not a zone of this config")]
    NoSuchZone { zone: String },
    #[error("zone {zone} has no [zone.dnssec] table: it is not signed")]
    NotSigned { zone: String },
    #[error("--zone: {0}")]
    BadName(String),
}

pub fn run(command: DnssecCommand) -> Result<(), DnssecCliError> {
    match command {
        DnssecCommand::Keygen { algorithm, out } => {
            let algorithm = match algorithm {
                KeygenAlgorithm::Ecdsap256sha256 => SigningAlgorithm::Ecdsap256sha256,
                KeygenAlgorithm::Ed25519 => SigningAlgorithm::Ed25519,
            };
            SigningKeyFile::generate(algorithm)?.write_new(&out)?;
            println!("{}: new {} key written", out.display(), algorithm.name());
            Ok(())
        }
        DnssecCommand::Ds { config, zone } => {
            let loaded = Config::load(&config)?;
            // The same checks as before a start: a key listed twice under two names is refused.
            loaded.check_dnssec_keys(&config)?;
            for line in parent_records(&loaded, &zone)? {
                println!("{line}");
            }
            Ok(())
        }
    }
}

/// The DS and DNSKEY lines of `zone`, as the parent zone's operator enters them: per key a
/// comment naming its tag and file, its DS, its DNSKEY.
pub fn parent_records(config: &Config, zone: &str) -> Result<Vec<String>, DnssecCliError> {
    let wanted = parse_name(zone).map_err(DnssecCliError::BadName)?;
    let configured = (config.zone.iter())
        .find(|z| parse_name(&z.name).is_ok_and(|n| n == wanted))
        .ok_or_else(|| DnssecCliError::NoSuchZone { zone: zone.to_string() })?;
    let dnssec = configured.dnssec.as_ref().ok_or_else(|| DnssecCliError::NotSigned { zone: zone.to_string() })?;
    let name: Name = wanted.to_lowercase();
    let signer = ZoneSigner::load(&name, dnssec)?;
    let record = |data| Record::from_rdata(name.clone(), configured.ttl, RData::DNSSEC(data)).to_string();
    let paths = dnssec.key_paths();
    let mut lines = Vec::new();
    for (i, ((ds, dnskey), path)) in signer.ds_records()?.into_iter().zip(signer.dnskeys()).zip(&paths).enumerate() {
        // Which DS is which key: during a rollover the parent changes from one to the other.
        lines.push(format!("; key {} of {}: key tag {}, {}", i + 1, paths.len(), ds.key_tag(), path.display()));
        lines.push(record(DNSSECRData::DS(ds)));
        lines.push(record(DNSSECRData::DNSKEY(dnskey.clone())));
    }
    Ok(lines)
}
