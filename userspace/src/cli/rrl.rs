//! `switchyard rrl show|set|exempt`: response rate limiting of a running daemon. Changes go
//! through the daemon, which writes the XDP program's maps and its own limiter; they last until
//! the next reload or restart, which put the config file's `[rrl]` in force again.

use clap::Subcommand;
use ipnet::IpNet;

use super::{CliError, Target, admin_client, block_on, change};
use crate::{
    bpf::counters,
    daemon::admin::{Request, Response, RrlStatus},
    rrl::{RrlChange, describe},
};

#[derive(Subcommand)]
pub enum RrlCommand {
    /// The limits in force, the exempt prefixes and the counters of both paths.
    Show {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        json: bool,
    },
    /// Change the limits (and turn limiting on); the ones not given stay.
    Set {
        /// Responses per second per client prefix.
        #[arg(long)]
        rate: Option<u32>,
        /// Responses a prefix may get at once.
        #[arg(long)]
        burst: Option<u32>,
        /// Every Nth limited response goes out truncated (TC=1); 0 drops them all.
        #[arg(long)]
        slip: Option<u32>,
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        json: bool,
    },
    /// Add or remove a prefix whose clients are never limited.
    Exempt {
        #[command(subcommand)]
        command: ExemptCommand,
    },
}

#[derive(Subcommand)]
pub enum ExemptCommand {
    /// Exempt a prefix (its host bits zero, e.g. 198.18.0.0/24).
    Add {
        /// The client prefix never limited.
        prefix: IpNet,
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        json: bool,
    },
    /// Limit a prefix exempted before like any other again.
    Remove {
        /// An exempt prefix, as `rrl show` lists it.
        prefix: IpNet,
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: RrlCommand) -> Result<(), CliError> {
    match command {
        RrlCommand::Show { target, json } => show(&target, json),
        RrlCommand::Set { rate, burst, slip, target, json } => {
            change(&target, &Request::Rrl(RrlChange::Limits { rate, burst, slip }), json)
        }
        RrlCommand::Exempt { command: ExemptCommand::Add { prefix, target, json } } => {
            change(&target, &Request::Rrl(RrlChange::ExemptAdd(prefix)), json)
        }
        RrlCommand::Exempt { command: ExemptCommand::Remove { prefix, target, json } } => {
            change(&target, &Request::Rrl(RrlChange::ExemptRemove(prefix)), json)
        }
    }
}

fn show(target: &Target, json: bool) -> Result<(), CliError> {
    let server = target.server()?;
    let status: RrlStatus = match block_on(admin_client::request(&server.admin_socket(), &Request::RrlShow))? {
        Response::Rrl(status) => *status,
        Response::Error(e) => return Err(CliError::Refused(e)),
        other => return Err(CliError::UnexpectedAnswer(format!("{other:?}"))),
    };
    // The XDP counters when the program runs (with XDP off there are none).
    let xdp: Option<Vec<(&str, u64)>> = counters::read(&server.pin_dir())
        .ok()
        .map(|all| all.into_iter().filter(|(name, _)| name.starts_with("rrl_")).collect());
    let u = &status.userspace;
    let userspace = [("rrl_dropped", u.rrl_dropped), ("rrl_slipped", u.rrl_slipped), ("rrl_exempt", u.rrl_exempt)];
    if json {
        let xdp = xdp.map(|c| c.into_iter().collect::<std::collections::BTreeMap<_, _>>());
        let userspace: std::collections::BTreeMap<_, _> = userspace.into_iter().collect();
        let value = serde_json::json!({
            "settings": status.settings,
            "xdp": xdp,
            "userspace": userspace,
            "userspace_prefixes": status.userspace_prefixes,
        });
        println!("{value}");
        return Ok(());
    }
    println!("{}", describe(&status.settings));
    match &xdp {
        Some(counters) => {
            println!("XDP");
            counters.iter().for_each(|(name, value)| println!("  {name:<14} {value}"));
        }
        None => println!("XDP: no pinned counters (XDP off, or not root)"),
    }
    match status.userspace_prefixes {
        Some(n) => println!("userspace ({n} prefixes in the daemon's table)"),
        None => println!("userspace (charges the XDP program's buckets)"),
    }
    userspace.iter().for_each(|(name, value)| println!("  {name:<14} {value}"));
    Ok(())
}
