//! `switchyard status` and `switchyard sync status`: what the running daemon says about itself.

use super::{Target, block_on, status_table, sync_status_table};
use crate::daemon::admin::{self, Request, Response};

/// Sites, checks and peers, as a table or as JSON.
pub fn status(target: &Target, json: bool) -> Result<(), String> {
    let server = target.server()?;
    match block_on(admin::request(&server.admin_socket(), &Request::Status))? {
        Response::Status(s) if json => {
            println!("{}", serde_json::to_string(&s).expect("serialisable"))
        }
        Response::Status(s) => print!("{}", status_table::render(&s)),
        other => return Err(format!("unexpected answer: {other:?}")),
    }
    Ok(())
}

/// Database sync per peer, as a table or as JSON.
pub fn sync_status(target: &Target, json: bool) -> Result<(), String> {
    let server = target.server()?;
    match block_on(admin::request(&server.admin_socket(), &Request::SyncStatus))? {
        Response::SyncStatus(s) if json => {
            println!("{}", serde_json::to_string(&s).expect("serialisable"))
        }
        Response::SyncStatus(s) => print!("{}", sync_status_table::render(&s, wall_clock_ms())),
        Response::Error(e) => return Err(e),
        other => return Err(format!("unexpected answer: {other:?}")),
    }
    Ok(())
}

fn wall_clock_ms() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}
