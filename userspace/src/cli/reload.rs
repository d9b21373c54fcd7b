//! `switchyard reload`: the daemon re-reads its config file (the same as SIGHUP).

use super::{Target, change};
use crate::daemon::admin::Request;

pub fn run(target: &Target, json: bool) -> Result<(), String> {
    change(target, &Request::Reload, json).map_err(|e| format!("reload refused, the running config keeps serving: {e}"))
}
