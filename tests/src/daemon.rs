//! The `switchyard` daemon started by the lab inside a namespace, stopped on drop.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::netns::Netns;

/// The daemon binary: `SWITCHYARD_BIN` (set by `cargo xtask`), else next to the test binary.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SWITCHYARD_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().expect("deps dir");
    let dir = if dir.ends_with("deps") { dir.parent().unwrap() } else { dir };
    dir.join("switchyard")
}

pub struct Daemon {
    child: Child,
    pub config: PathBuf,
    log: Arc<Mutex<String>>,
    /// Set by `stop`: the pins (and XDP on the interfaces) stay for the next daemon.
    keep_pins: bool,
    /// Set by `end_keeping_operator_state`: the operator's state file stays for the next daemon.
    keep_operator_state: bool,
    /// The config the daemon started with: what names its files (pin root, instance, run dir)
    /// cannot change by a reload, and tests rewrite `config` (unparsable, too) while it runs.
    started_with: String,
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// Writes `toml` to a file, starts `switchyard run` in `ns` and waits until it is ready.
    pub fn start(ns: &Netns, toml: &str) -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("switchyard.toml");
        std::fs::write(&config, toml).expect("write config");
        let mut child = ns
            .command(binary().to_str().unwrap())
            .args(["run", "--config"])
            .arg(&config)
            .env("SWITCHYARD_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start switchyard");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let started_with = toml.to_string();
        let mut daemon =
            Daemon { child, config, log, keep_pins: false, keep_operator_state: false, started_with, _dir: dir };
        daemon.wait_ready();
        daemon
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let log = self.log();
            if log.contains(" ready ") || log.contains(r#""message":"ready""#) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("switchyard exited with {status} before it was ready:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("switchyard not ready after 30 s:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs `switchyard ARGS --config <this daemon's config>` and returns stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(binary()).args(args).arg("--config").arg(&self.config).output().expect("switchyard cli");
        assert!(out.status.success(), "switchyard {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// `switchyard stats --json`.
    pub fn stats(&self) -> serde_json::Value {
        serde_json::from_str(&self.cli(&["stats", "--json"])).expect("stats json")
    }

    /// One XDP counter by name.
    pub fn xdp_counter(&self, name: &str) -> u64 {
        self.stats()["xdp"][name].as_u64().unwrap_or_else(|| panic!("no XDP counter {name}"))
    }

    /// One userspace counter by name.
    pub fn userspace_counter(&self, name: &str) -> u64 {
        self.stats()["userspace"][name].as_u64().unwrap_or_else(|| panic!("no userspace counter {name}"))
    }

    /// SIGTERM, then wait; returns the exit status. What the daemon leaves for its successor
    /// (pinned maps, XDP on its interfaces) stays; dropping a `Daemon` removes it.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.keep_pins = true;
        self.terminate()
    }

    /// SIGTERM, then wait; how long the daemon took to exit. Dropping it removes its pins.
    pub fn time_sigterm(&mut self) -> Duration {
        let started = Instant::now();
        self.terminate();
        started.elapsed()
    }

    /// Waits for the daemon to exit by itself (a successor took over), leaving its pins to the
    /// successor; returns the exit status.
    pub fn replaced(mut self) -> std::process::ExitStatus {
        self.keep_pins = true;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the replaced daemon did not exit:\n{}", self.log());
    }

    /// Ends the daemon as dropping it does, but leaves the operator's state file for the next
    /// daemon with this config to read (a restart without a hand-off).
    pub fn end_keeping_operator_state(mut self) {
        self.keep_operator_state = true;
    }

    /// The daemon's pin directory, from the config it started with.
    pub fn pin_dir(&self) -> PathBuf {
        self.pin_dir_if_valid().expect("the daemon started, so its config was valid")
    }

    /// The pin directory of the config the daemon started with, or None when that config was
    /// refused (a daemon that never started): the drop, which may run while a test unwinds,
    /// must not panic.
    fn pin_dir_if_valid(&self) -> Option<PathBuf> {
        Some(switchyard::config::Config::parse(&self.started_with, "daemon.toml").ok()?.server.pin_dir())
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        if let Ok(Some(status)) = self.child.try_wait() {
            return status;
        }
        // SAFETY: signalling our own child by PID.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = self.child.kill();
        self.child.wait().expect("wait")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.terminate();
        if !self.keep_pins {
            if let Some(pins) = self.pin_dir_if_valid() {
                let _ = switchyard::bpf::pins::remove_all(&pins);
            }
            self.remove_state_files();
        }
    }
}

impl Daemon {
    /// The runtime state, zone serials and (unless kept) operator state the daemon left in its
    /// run_dir.
    fn remove_state_files(&self) {
        remove_run_files(&self.started_with, !self.keep_operator_state);
    }
}

/// Removes the runtime state, zone serials and operator state a daemon run with config `toml`
/// leaves in its run_dir: for a test that stopped its daemon for good (`Daemon::stop` keeps
/// them for a successor).
pub fn remove_state_files(toml: &str) {
    remove_run_files(toml, true);
}

fn remove_run_files(toml: &str, operator_state: bool) {
    let Ok(config) = switchyard::config::Config::parse(toml, "daemon.toml") else { return };
    let _ = std::fs::remove_file(switchyard::daemon::runtime_state::path(&config.server));
    let _ = std::fs::remove_file(switchyard::daemon::zone_serials::path(&config.server));
    if operator_state {
        let _ = std::fs::remove_file(switchyard::operator::state_path(&config.server));
    }
}
