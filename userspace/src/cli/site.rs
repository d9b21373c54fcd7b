//! `switchyard site drain|undrain|weight`: operator settings of a site, kept by the daemon.

use clap::Subcommand;

use super::{CliError, Target, change};
use crate::daemon::admin::Request;

#[derive(Subcommand)]
pub enum SiteCommand {
    /// Treat SITE as unavailable whatever its checks say, until `undrain`.
    Drain {
        site: String,
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        json: bool,
    },
    /// Let SITE's checks decide again.
    Undrain {
        site: String,
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        json: bool,
    },
    /// Percent of SITE's spare capacity to count on (0..=100, default 100). Orders sites only
    /// for services with `by_load`.
    Weight {
        site: String,
        weight: u32,
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: SiteCommand) -> Result<(), CliError> {
    match command {
        SiteCommand::Drain { site, target, json } => change(&target, &Request::SiteDrain { site, drained: true }, json),
        SiteCommand::Undrain { site, target, json } => {
            change(&target, &Request::SiteDrain { site, drained: false }, json)
        }
        SiteCommand::Weight { site, weight, target, json } => {
            change(&target, &Request::SiteWeight { site, weight }, json)
        }
    }
}
