//! `switchyard reload`: the daemon re-reads its config file (the same as SIGHUP).

use super::{CliError, Target, change};
use crate::daemon::admin::Request;

/// Only the daemon's own refusal says that the running config keeps serving: a daemon that
/// could not be reached (or found) is reported as such.
pub fn run(target: &Target, json: bool) -> Result<(), CliError> {
    change(target, &Request::Reload, json).map_err(|e| match e {
        CliError::Refused(_) => CliError::ReloadRefused(Box::new(e)),
        other => other,
    })
}
