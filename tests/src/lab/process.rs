//! A process the lab starts inside a namespace: output to a log file, stopped by PID on drop.

use std::{
    fs::File,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use crate::netns::Netns;

pub struct Process {
    child: Child,
    pub name: String,
    pub log: PathBuf,
}

impl Process {
    /// Starts `program ARGS` in `ns`, stdout and stderr appended to `log`.
    pub fn start(ns: &Netns, name: &str, program: &Path, args: &[&str], log: PathBuf) -> Result<Process, String> {
        let out =
            File::options().create(true).append(true).open(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = ns.command(program.to_str().ok_or("program path is not UTF-8")?);
        cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
        // SAFETY: prctl only, async-signal-safe. nsenter execs the program, so the setting
        // carries over: the process goes when the lab does, even if the lab is killed.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| format!("start {name}: {e}"))?;
        Ok(Process { child, name: name.to_string(), log })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it still runs; a process that exited has its log's tail in the error.
    pub fn check_running(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("{} exited ({status}): {}", self.name, tail(&self.log, 5))),
            Err(e) => Err(format!("{}: {e}", self.name)),
        }
    }

    /// SIGTERM, then SIGKILL after two seconds.
    pub fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // SAFETY: signalling our own child by its PID.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The last `lines` lines of a log file, joined with " | ".
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join(" | ")
}
