//! External checks: real programs (small shell scripts the tests write) run without a shell
//! of ours, their exit status, reported load, timeout, bounded concurrency and stderr.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::health::tests::wait::{self, available};
use crate::health::{ExecCheck, HealthConfig, HealthMonitor, ProbeOutcome, StderrLog, probe_exec};

/// Writes an executable script; its first argument is a directory the tests use for state.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn check(program: &Path, args: &[&str]) -> ExecCheck {
    ExecCheck { program: program.into(), args: args.iter().map(|a| a.to_string()).collect(), label: "a/app".into() }
}

async fn run_once(check: &ExecCheck, timeout: Duration) -> (ProbeOutcome, Option<u32>) {
    let result = probe_exec(check, &Arc::new(Semaphore::new(1)), timeout, &mut StderrLog::default()).await;
    (result.outcome, result.load)
}

#[tokio::test]
async fn exit_status_decides_and_the_first_line_reports_load() {
    let dir = tempfile::tempdir().unwrap();
    let app = script(dir.path(), "app", "echo \"load=$2\"\necho \"checked $1\" >&2\nexit $1");
    let (outcome, load) = run_once(&check(&app, &["0", "350"]), Duration::from_secs(5)).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(load, Some(350));
    let (outcome, _) = run_once(&check(&app, &["3", "350"]), Duration::from_secs(5)).await;
    assert_eq!(outcome, ProbeOutcome::failed("exited with status 3: checked 3"));
    let (outcome, load) = run_once(&check(&app, &["0", "1500"]), Duration::from_secs(5)).await;
    assert!(outcome.is_ok());
    assert_eq!(load, None, "over 1000 per mille is not a load");
    // Arguments are passed as they are: no shell splits or expands them.
    let echo = script(dir.path(), "echo", "echo \"load=$#\"");
    let (_, load) = run_once(&check(&echo, &["a b", "$HOME", "*"]), Duration::from_secs(5)).await;
    assert_eq!(load, Some(3));
}

#[tokio::test]
async fn a_hanging_program_is_killed_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let hang = script(dir.path(), "hang", "echo $$ > \"$1\"\nexec sleep 30");
    let (outcome, _) = run_once(&check(&hang, &[pid_file.to_str().unwrap()]), Duration::from_millis(300)).await;
    assert_eq!(outcome, ProbeOutcome::failed("timeout after 300ms, killed"));
    let pid = std::fs::read_to_string(&pid_file).unwrap().trim().to_string();
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "process {pid} still there");
}

#[tokio::test]
async fn a_missing_program_says_so() {
    let (outcome, _) = run_once(&check(Path::new("/nonexistent/check"), &[]), Duration::from_secs(1)).await;
    assert_eq!(outcome, ProbeOutcome::failed("cannot start /nonexistent/check: No such file or directory"));
}

#[tokio::test]
async fn no_more_than_the_bound_run_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let running = dir.path().join("running");
    std::fs::create_dir(&running).unwrap();
    // Each run marks itself running, records how many were, and unmarks itself.
    let busy = script(dir.path(), "busy", "touch \"$1/$$\"\nls \"$1\" | wc -l >> \"$2\"\nsleep 0.1\nrm \"$1/$$\"");
    let counts = dir.path().join("counts");
    let mut text = "[probe]\ninterval_ms = 50\ntimeout_ms = 2000\nexec_concurrency = 2\n".to_string();
    for site in 0..6 {
        text.push_str(&format!(
            "[[site]]\nname = \"s{site}\"\n[[site.server]]\nname = \"app\"\ncheck = \"exec\"\ncommand = [{:?}, {:?}, {:?}]\n",
            busy.to_str().unwrap(),
            running.to_str().unwrap(),
            counts.to_str().unwrap()
        ));
    }
    let config: HealthConfig = toml::from_str(&text).unwrap();
    config.validate().unwrap();
    let monitor = HealthMonitor::start(&config).unwrap();
    wait::until(&monitor, "every site up", |m| (0..6).all(|i| available(m, &format!("s{i}")))).await;
    wait::until(&monitor, "30 runs", |_| std::fs::read_to_string(&counts).unwrap_or_default().lines().count() >= 30)
        .await;
    drop(monitor);
    let seen: Vec<u32> = std::fs::read_to_string(&counts).unwrap().lines().map(|l| l.trim().parse().unwrap()).collect();
    let most = seen.iter().max().copied().unwrap();
    assert!((1..=2).contains(&most), "up to {most} ran at once: {seen:?}");
}

#[tokio::test]
async fn the_site_follows_its_programs_and_their_load() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::write(&state, "0 200").unwrap();
    // Exit status and load come from a file the test rewrites.
    let app = script(dir.path(), "app", "read code load < \"$1\"\necho \"load=$load\"\nexit $code");
    let text = format!(
        "[[site]]\nname = \"a\"\n[[site.server]]\nname = \"app\"\ncheck = \"exec\"\ncommand = [{:?}, {:?}]\ninterval_ms = 30\nrise = 1\nfall = 1\n",
        app.to_str().unwrap(),
        state.to_str().unwrap()
    );
    let config: HealthConfig = toml::from_str(&text).unwrap();
    config.validate().unwrap();
    let monitor = HealthMonitor::start(&config).unwrap();
    wait::until(&monitor, "site a up with load 200", |m| available(m, "a") && m.sites()["a"].load == 200).await;
    std::fs::write(&state, "0 700").unwrap();
    wait::until(&monitor, "load 700", |m| m.sites()["a"].load == 700).await;
    let app_status = monitor.status().site("a").unwrap().server("app").unwrap().clone();
    assert_eq!((app_status.kind.as_str(), app_status.reported_load), ("exec", Some(700)));
    std::fs::write(&state, "1 700").unwrap();
    wait::until(&monitor, "site a down", |m| !available(m, "a")).await;
}

#[test]
fn a_command_must_name_its_program_by_path() {
    let text = "[[site]]\nname = \"a\"\n[[site.server]]\nname = \"app\"\ncheck = \"exec\"\ncommand = [\"check-app\"]\n";
    let error = toml::from_str::<HealthConfig>(text).unwrap().validate().unwrap_err();
    assert_eq!(error.field, "site[0] ('a').server[0].command");
    assert!(error.reason.contains("must be an absolute path"), "{error}");
    let text = "[[site]]\nname = \"a\"\n[[site.server]]\nname = \"app\"\ncheck = \"exec\"\ncommand = [\"/bin/true\"]\nurl = \"http://x/\"\n";
    let error = toml::from_str::<HealthConfig>(text).unwrap().validate().unwrap_err();
    assert_eq!(error.field, "site[0] ('a').server[0].url", "{error}");
    let text = "[[site]]\nname = \"a\"\n[site.probe]\nexec_concurrency = 3\n";
    let error = toml::from_str::<HealthConfig>(text).unwrap().validate().unwrap_err();
    assert!(error.reason.contains("set it in [probe]"), "{error}");
}
