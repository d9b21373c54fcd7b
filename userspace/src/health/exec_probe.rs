//! External checks (`check = "exec"`, as gdnsd's extmon): a program run with its arguments
//! (no shell) every interval, up when it exits 0 within the timeout. A first line of output
//! `load=N` (per mille) reports the server's load. Its standard error goes to the log, a few
//! lines a minute at most.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::health::outcome::{ProbeOutcome, timeout_cause};

/// Most bytes of standard output read (only its first line is used).
const STDOUT_LIMIT: u64 = 4096;
/// Most bytes of standard error read per run, and of one of its lines kept.
const STDERR_LIMIT: u64 = 16 * 1024;
const STDERR_LINE_LIMIT: usize = 512;
/// Standard error lines logged per check and minute; the rest are counted.
const STDERR_LINES_PER_MINUTE: u32 = 10;
/// The default bound on external checks running at once (`[probe] exec_concurrency`).
pub const DEFAULT_EXEC_CONCURRENCY: usize = 8;

/// One external check.
#[derive(Clone, Debug)]
pub struct ExecCheck {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// "site/server", for the log lines of its standard error.
    pub label: String,
}

/// What one run said: up or down (and why), and the load it reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecResult {
    pub outcome: ProbeOutcome,
    pub load: Option<u32>,
}

/// Runs the program once, after taking a slot of `slots`; the run (not the wait for a slot) is
/// bounded by `timeout`, after which the program is killed.
pub async fn probe_exec(
    check: &ExecCheck,
    slots: &Arc<Semaphore>,
    timeout: Duration,
    log: &mut StderrLog,
) -> ExecResult {
    let Ok(_slot) = slots.acquire().await else {
        return ExecResult { outcome: ProbeOutcome::failed("the health monitor is stopping"), load: None };
    };
    let started = Instant::now();
    let mut child = match Command::new(&check.program)
        .args(&check.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            let cause = format!("cannot start {}: {}", check.program.display(), strip_os_error(&e.to_string()));
            return ExecResult { outcome: ProbeOutcome::failed(cause), load: None };
        }
    };
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let run = async {
        let (first_line, errors, status) = tokio::join!(first_line(stdout), stderr_lines(stderr), child.wait());
        (first_line, errors, status)
    };
    let (first_line, errors, status) = match tokio::time::timeout(timeout, run).await {
        Ok(done) => done,
        Err(_) => {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(1), child.wait()).await;
            return ExecResult {
                outcome: ProbeOutcome::failed(format!("{}, killed", timeout_cause(timeout))),
                load: None,
            };
        }
    };
    for line in &errors {
        log.line(&check.label, line);
    }
    let load = first_line.as_deref().and_then(|line| parse_load(line, &check.label, log));
    let outcome = match status {
        Ok(status) if status.success() => ProbeOutcome::Ok { latency: started.elapsed() },
        Ok(status) => ProbeOutcome::failed(describe_exit(status, errors.first())),
        Err(e) => ProbeOutcome::failed(format!("cannot wait for {}: {e}", check.program.display())),
    };
    ExecResult { outcome, load }
}

/// "exited with status 2: database unreachable" or "killed by signal 9".
fn describe_exit(status: std::process::ExitStatus, first_error: Option<&String>) -> String {
    use std::os::unix::process::ExitStatusExt;
    let how = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "ended without a status".to_string(),
    };
    match first_error {
        Some(line) => format!("{how}: {line}"),
        None => how,
    }
}

/// `load=N`, N per mille 0..=1000; anything else on the first line is no load (and logged).
fn parse_load(line: &str, label: &str, log: &mut StderrLog) -> Option<u32> {
    let value = line.trim().strip_prefix("load=")?;
    match value.trim().parse::<u32>() {
        Ok(load) if load <= 1000 => Some(load),
        _ => {
            log.line(label, &format!("first line {line:?} ignored: load=N wants N per mille, 0 to 1000"));
            None
        }
    }
}

async fn first_line(stdout: impl AsyncRead + Unpin) -> Option<String> {
    // Past the limit the program may block on a full pipe: then its timeout ends it.
    let mut bytes = Vec::new();
    let _ = stdout.take(STDOUT_LIMIT).read_to_end(&mut bytes).await;
    String::from_utf8_lossy(&bytes).lines().next().map(str::to_string)
}

async fn stderr_lines(stderr: impl AsyncRead + Unpin) -> Vec<String> {
    let mut lines = Vec::new();
    let mut reader = BufReader::new(stderr.take(STDERR_LIMIT)).lines();
    while let Ok(Some(line)) = reader.next_line().await {
        if lines.len() < STDERR_LINES_PER_MINUTE as usize {
            lines.push(line.chars().take(STDERR_LINE_LIMIT).collect());
        }
    }
    lines
}

fn strip_os_error(text: &str) -> String {
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text.to_string(),
    }
}

/// Logs a check's standard error lines, at most `STDERR_LINES_PER_MINUTE` a minute; says how
/// many were left out when the next minute starts.
#[derive(Debug)]
pub struct StderrLog {
    window_started: Instant,
    logged: u32,
    suppressed: u64,
}

impl Default for StderrLog {
    fn default() -> Self {
        StderrLog { window_started: Instant::now(), logged: 0, suppressed: 0 }
    }
}

impl StderrLog {
    pub fn line(&mut self, check: &str, line: &str) {
        if self.window_started.elapsed() >= Duration::from_secs(60) {
            if self.suppressed > 0 {
                tracing::warn!(check, suppressed = self.suppressed, "external check: more output left out of the log");
            }
            *self = StderrLog::default();
        }
        if self.logged < STDERR_LINES_PER_MINUTE {
            self.logged += 1;
            tracing::warn!(check, output = line, "external check said");
        } else {
            self.suppressed += 1;
        }
    }

    /// Lines left out in the current minute.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn stderr_is_logged_a_few_lines_a_minute() {
        let mut log = StderrLog::default();
        for i in 0..15 {
            log.line("a/app", &format!("line {i}"));
        }
        assert_eq!((log.logged, log.suppressed()), (STDERR_LINES_PER_MINUTE, 5));
        tokio::time::advance(Duration::from_secs(61)).await;
        log.line("a/app", "after a minute");
        assert_eq!((log.logged, log.suppressed()), (1, 0));
    }
}
