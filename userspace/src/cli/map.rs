//! `switchyard map list|get|set|del`: reads come from the pinned answer map, writes go through
//! the daemon (the map's single writer), which keeps them as overrides.

use std::net::IpAddr;

use clap::Subcommand;

use super::{CliError, Target, admin_client, block_on, change};
use crate::{
    bpf::answer_map::{self, DecodedEntry},
    daemon::admin::{Request, Response},
    operator::{Override, Qtype},
};

#[derive(Subcommand)]
pub enum MapCommand {
    /// Every entry of the XDP answer map.
    List {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        json: bool,
    },
    /// The entries for one name (every type and view unless given).
    Get {
        name: String,
        #[arg(value_enum)]
        qtype: Option<Qtype>,
        /// A [[view]] name, or "default".
        #[arg(long)]
        view: Option<String>,
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        json: bool,
    },
    /// Answer NAME TYPE with ADDRS (in this order) until `map del`, whatever the sites' health.
    Set {
        name: String,
        #[arg(value_enum)]
        qtype: Qtype,
        #[arg(required = true)]
        addrs: Vec<IpAddr>,
        /// A [[view]] name, or "default" for clients without a view.
        #[arg(long, default_value = "default", conflicts_with = "all_views")]
        view: String,
        /// The default view and every [[view]] at once (for emergencies).
        #[arg(long)]
        all_views: bool,
        #[arg(long, default_value_t = 30)]
        ttl: u32,
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        json: bool,
    },
    /// Remove an override: the policy's answer is back at once.
    Del {
        name: String,
        #[arg(value_enum)]
        qtype: Qtype,
        #[arg(long, default_value = "default", conflicts_with = "all_views")]
        view: String,
        /// Every view's override of NAME TYPE.
        #[arg(long)]
        all_views: bool,
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: MapCommand) -> Result<(), CliError> {
    match command {
        MapCommand::List { target, json } => print(&entries(&target)?, json),
        MapCommand::Get { name, qtype, view, target, json } => {
            let wanted = crate::config::parse_name(&name).map_err(CliError::BadName)?.to_lowercase().to_ascii();
            let view = view.map(|v| if v == "default" { None } else { Some(v) });
            let found: Vec<DecodedEntry> = entries(&target)?
                .into_iter()
                .filter(|e| e.name == wanted)
                .filter(|e| qtype.is_none_or(|q| e.qtype == q.to_string()))
                .filter(|e| view.as_ref().is_none_or(|v| &e.view == v))
                .collect();
            if found.is_empty() {
                return Err(CliError::NotInMap(wanted));
            }
            print(&found, json)
        }
        MapCommand::Set { name, qtype, addrs, view, all_views, ttl, target, json } => {
            let entry = Override { name, qtype, view: Some(view), ttl, addrs };
            let request = if all_views { Request::MapSetAllViews(entry) } else { Request::MapSet(entry) };
            change(&target, &request, json)
        }
        MapCommand::Del { name, qtype, view, all_views, target, json } => {
            let key = Override { name, qtype, view: Some(view), ttl: 0, addrs: vec![] };
            let request = if all_views { Request::MapDelAllViews(key) } else { Request::MapDel(key) };
            change(&target, &request, json)
        }
    }
}

/// The pinned map's entries, with view names when the config is known.
fn entries(target: &Target) -> Result<Vec<DecodedEntry>, CliError> {
    let server = target.server()?;
    let mut entries = answer_map::read(&server.pin_dir()).map_err(|why| {
        // The running daemon knows whether there is a map at all: say so rather than guess.
        match block_on(admin_client::request(&server.admin_socket(), &Request::Status)) {
            // The daemon lists no interface when XDP is off.
            Ok(Response::Status(status)) if status.xdp_interfaces.is_empty() => CliError::PinnedMap(format!(
                "XDP is off for instance {}: there is no answer map; userspace answers every query \
                     (`switchyard status` lists the overrides)",
                status.instance
            )),
            _ => CliError::PinnedMap(why),
        }
    })?;
    if let Some(config) = target.full_config()? {
        for entry in &mut entries {
            entry.view = match entry.view_id {
                0 => None,
                id => config.view.get(id as usize - 1).map(|v| v.name.clone()),
            };
        }
    }
    Ok(entries)
}

fn print(entries: &[DecodedEntry], json: bool) -> Result<(), CliError> {
    if json {
        println!("{}", serde_json::to_string(entries).expect("serialisable"));
        return Ok(());
    }
    println!("{:<32} {:<5} {:<12} {:>6}  {:<8}  addresses", "name", "type", "view", "ttl", "source");
    for e in entries {
        let view =
            e.view.clone().unwrap_or_else(|| if e.view_id == 0 { "default".into() } else { format!("#{}", e.view_id) });
        let source = if e.is_override { "override" } else { "policy" };
        let addrs: Vec<String> = e.addrs.iter().map(IpAddr::to_string).collect();
        let weights: Vec<String> =
            e.first_weights.iter().map(|w| format!("{} {:.1}%", w.first, w.share * 100.0)).collect();
        let weights = if weights.is_empty() { String::new() } else { format!("  (first: {})", weights.join(", ")) };
        println!(
            "{:<32} {:<5} {:<12} {:>6}  {:<8}  {}{weights}",
            e.name,
            e.qtype,
            view,
            e.ttl,
            source,
            addrs.join(" ")
        );
    }
    Ok(())
}
