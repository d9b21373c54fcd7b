//! Network namespaces made by the lab, removed on drop.

use std::{
    fs::File,
    os::fd::AsRawFd,
    process::{Command, Output},
    sync::atomic::{AtomicU32, Ordering},
};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A short name unique to this process and call, usable for namespaces and interfaces
/// (interface names are limited to 15 bytes).
pub fn unique(prefix: &str) -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}{n}", std::process::id() % 100_000)
}

/// Runs `ip` with arguments, panicking with its output when it fails.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip from iproute2");
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(prefix: &str) -> Netns {
        let name = unique(prefix);
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// `ip -n NAME ...`
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        ip(&all);
    }

    /// A command that runs in this namespace only (same mounts as ours, so bpffs stays visible).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net={}", self.path())).arg("--").arg(program);
        cmd
    }

    pub fn output(&self, program: &str, args: &[&str]) -> Output {
        self.command(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"))
    }

    /// Makes the stack put full UDP and TCP checksums in what `iface` sends, as they arrive
    /// from a wire. A veth leaves them to offload otherwise: the frame then holds a partial sum,
    /// which the receiving stack trusts but the XDP program, seeing only bytes, refuses.
    pub fn full_checksums(&self, iface: &str) {
        let out = self.output("ethtool", &["-K", iface, "tx", "off"]);
        assert!(out.status.success(), "ethtool -K {iface} tx off: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Runs `f` on a thread that has entered this namespace; sockets it opens live there.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let file = File::open(self.path()).expect("namespace file");
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: a namespace fd we own; affects only this thread.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .expect("namespace thread")
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace also deletes the veth ends inside it.
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}
