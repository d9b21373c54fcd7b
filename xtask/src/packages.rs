//! Debian packages the tests and the lab need, installed with apt-get when a command is missing.

use std::process::Command;

use crate::{Result, run};

/// (command that must exist, package that provides it)
pub type Needs = [(&'static str, &'static str)];

pub const TESTS: [(&str, &str); 2] = [("dig", "bind9-dnsutils"), ("ip", "iproute2")];
pub const LAB: [(&str, &str); 2] = TESTS;

fn has(command: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {command}")]).output().is_ok_and(|o| o.status.success())
}

pub fn ensure(needs: &Needs) -> Result {
    let missing: Vec<&str> = needs.iter().filter(|(cmd, _)| !has(cmd)).map(|(_, pkg)| *pkg).collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing {}", missing.join(" "));
    run(Command::new("apt-get").args(["update", "-q"]))?;
    run(Command::new("apt-get").args(["install", "-y", "-q"]).args(&missing).env("DEBIAN_FRONTEND", "noninteractive"))
}
