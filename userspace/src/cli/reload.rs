//! `switchyard reload`: the daemon re-reads its config file (the same as SIGHUP).

use super::{CliError, Target, change};
use crate::daemon::admin::Request;

pub fn run(target: &Target, json: bool) -> Result<(), CliError> {
    change(target, &Request::Reload, json).map_err(|e| CliError::ReloadRefused(Box::new(e)))
}
