//! `switchyard status` and `switchyard sync status`: what the running daemon says about itself.

use super::{CliError, Target, admin_client, block_on, status_table, sync_status_table};
use crate::daemon::admin::{Request, Response};

/// Sites, checks and peers, as a table or as JSON.
pub fn status(target: &Target, json: bool) -> Result<(), CliError> {
    let server = target.server()?;
    match block_on(admin_client::request(&server.admin_socket(), &Request::Status))? {
        Response::Status(s) if json => {
            println!("{}", serde_json::to_string(&s).expect("serialisable"))
        }
        Response::Status(s) => print!("{}", status_table::render(&s)),
        other => return Err(CliError::UnexpectedAnswer(format!("{other:?}"))),
    }
    Ok(())
}

/// Database sync per peer, as a table or as JSON.
pub fn sync_status(target: &Target, json: bool) -> Result<(), CliError> {
    let server = target.server()?;
    match block_on(admin_client::request(&server.admin_socket(), &Request::SyncStatus))? {
        Response::SyncStatus(s) if json => {
            println!("{}", serde_json::to_string(&s).expect("serialisable"))
        }
        Response::SyncStatus(s) => print!("{}", sync_status_table::render(&s, crate::sync::wall_now_ms())),
        Response::Error(e) => return Err(CliError::Refused(e)),
        other => return Err(CliError::UnexpectedAnswer(format!("{other:?}"))),
    }
    Ok(())
}
