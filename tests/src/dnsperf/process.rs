//! Servers started inside the server namespace, stopped on drop by PID (and their children,
//! for servers that fork), and CPU time read from /proc.

use std::{
    fs::File,
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use crate::netns::Netns;

pub struct Running {
    child: Child,
}

impl Running {
    /// Starts `argv` in `ns`, pinned to `cpu`; its stderr goes to `log`.
    pub fn start(ns: &Netns, argv: &[String], cpu: usize, log: File) -> std::io::Result<Running> {
        // nsenter and taskset exec the server, so the child's PID is the server's.
        let child = ns
            .command("taskset")
            .arg("-c")
            .arg(cpu.to_string())
            .args(argv)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        Ok(Running { child })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` when the server has already exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        let pid = self.pid();
        let children = descendants(pid);
        signal(pid, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.exited().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.exited().is_none() {
            signal(pid, libc::SIGKILL);
            let _ = self.child.wait();
        }
        // Forked workers normally leave with their parent; make sure, by PID, that none stays.
        for c in children {
            if std::fs::metadata(format!("/proc/{c}")).is_ok() {
                signal(c, libc::SIGKILL);
            }
        }
    }
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: a plain kill(2) on a PID this bench started (or a child of it).
    unsafe { libc::kill(pid as i32, sig) };
}

/// (pid, ppid, utime + stime in clock ticks) of one process, from /proc/<pid>/stat.
fn stat(pid: u32) -> Option<(u32, u32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses; fields resume after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): ppid is field 4, utime 14, stime 15.
    Some((pid, f.get(1)?.parse().ok()?, f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?))
}

fn all() -> Vec<(u32, u32, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok()).filter_map(stat).collect()
}

/// Every process below `root`.
pub fn descendants(root: u32) -> Vec<u32> {
    let procs = all();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(procs.iter().filter(|p| p.1 == parent).map(|p| p.0));
        i += 1;
    }
    found.remove(0);
    found
}

/// CPU seconds used so far by `root` and every process below it (all their threads).
pub fn tree_cpu_seconds(root: u32) -> f64 {
    let ticks: u64 = std::iter::once(root).chain(descendants(root)).filter_map(stat).map(|p| p.2).sum();
    ticks as f64 / clock_ticks()
}

pub fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}
