//! `switchyard reload`: the daemon re-reads its config file (the same as SIGHUP).

use std::path::Path;

use super::{CliError, Target, admin_client, block_on, change};
use crate::daemon::admin::{Request, Response};

/// Only the daemon's own refusal says that the running config keeps serving: a daemon that
/// could not be reached (or found) is reported as such.
///
/// `--config` names the daemon to reach; the daemon re-reads its own file. When that is
/// another file, nothing is reloaded and the error names both: the operator edited a file the
/// daemon does not read.
pub fn run(target: &Target, json: bool) -> Result<(), CliError> {
    if let Some(given) = &target.config {
        let server = target.server()?;
        if let Response::Status(status) = block_on(admin_client::request(&server.admin_socket(), &Request::Status))?
            && let Some(served) = status.config_file
            && !same_file(given, &served)
        {
            return Err(CliError::OtherConfigFile { given: given.clone(), served });
        }
    }
    change(target, &Request::Reload, json).map_err(|e| match e {
        CliError::Refused(_) => CliError::ReloadRefused(Box::new(e)),
        other => other,
    })
}

/// Whether two paths name one file: the same file once links are resolved, or the same
/// absolute path when one cannot be resolved here.
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => std::path::absolute(a).ok() == std::path::absolute(b).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_itself_through_a_link_and_a_relative_path_but_not_another() {
        let dir = tempfile::tempdir().unwrap();
        let (live, other) = (dir.path().join("live.toml"), dir.path().join("other.toml"));
        std::fs::write(&live, "").unwrap();
        std::fs::write(&other, "").unwrap();
        let link = dir.path().join("current.toml");
        std::os::unix::fs::symlink(&live, &link).unwrap();
        assert!(same_file(&link, &live));
        assert!(same_file(&dir.path().join(".").join("live.toml"), &live));
        assert!(!same_file(&other, &live));
        assert!(!same_file(&dir.path().join("gone.toml"), &live), "a missing file is not the served one");
    }
}
