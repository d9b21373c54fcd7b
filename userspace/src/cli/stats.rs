//! `switchyard stats`: the XDP counters from the pinned map and the userspace server's counters
//! from the daemon, once. Exits non-zero when the XDP counters cannot be read while the daemon
//! runs with XDP on (or cannot be asked), after printing what it could read.

use super::{CliError, Target, admin_client, block_on};
use crate::{
    bpf::counters,
    config::ServerConfig,
    daemon::admin::{Request, Response},
};

/// Prints every counter, as a table or as one JSON object.
pub fn stats(target: &Target, json: bool) -> Result<(), CliError> {
    let server = target.server()?;
    let xdp = counters::read(&server.pin_dir());
    let userspace = match block_on(admin_client::request(&server.admin_socket(), &Request::Stats)) {
        Ok(Response::Stats { userspace }) => Some(userspace),
        Ok(other) => return Err(CliError::UnexpectedAnswer(format!("{other:?}"))),
        Err(e) if xdp.is_ok() => {
            eprintln!("switchyard: userspace counters unavailable: {e}");
            None
        }
        Err(e) => return Err(e.into()),
    };
    let xdp_off = xdp.is_err() && runs_without_xdp(&server);
    if json {
        let xdp_json = xdp
            .as_ref()
            .ok()
            .map(|c| c.iter().map(|(k, v)| (k.to_string(), *v)).collect::<std::collections::BTreeMap<_, _>>());
        println!("{}", serde_json::json!({ "instance": server.instance, "xdp": xdp_json, "userspace": userspace }));
    } else {
        match &xdp {
            Ok(c) => {
                println!("XDP ({})", server.pin_dir().display());
                for (name, value) in c {
                    println!("  {name:<22} {value}");
                }
            }
            Err(_) if xdp_off => println!("XDP: off (userspace answers every query)"),
            Err(_) => {}
        }
        if let Some(u) = &userspace {
            println!("userspace");
            let value = serde_json::to_value(u).expect("serialisable");
            for (name, v) in value.as_object().expect("struct") {
                println!("  {name:<22} {v}");
            }
        }
    }
    match xdp {
        Err(e) if !xdp_off => Err(CliError::PinnedMap(format!("XDP counters unreadable: {e}"))),
        _ => Ok(()),
    }
}

/// Whether the running daemon says it serves without XDP.
fn runs_without_xdp(server: &ServerConfig) -> bool {
    match block_on(admin_client::request(&server.admin_socket(), &Request::Status)) {
        Ok(Response::Status(status)) => status.xdp_mode == "off" || status.xdp_interfaces.is_empty(),
        _ => false,
    }
}
