//! Debian packages the tests and the lab need, installed with apt-get when a command is missing.

use std::process::Command;

use crate::{Result, run};

/// (command that must exist, package that provides it)
pub type Needs = [(&'static str, &'static str)];

/// `ethtool` makes the veth ends that send queries put full checksums in them (see the README);
/// `zonemaster-cli` is the zone checker of `tests/tests/zonemaster.rs`.
pub const TESTS: [(&str, &str); 5] = [
    ("dig", "bind9-dnsutils"),
    ("ip", "iproute2"),
    ("sqlite3", "sqlite3"),
    ("ethtool", "ethtool"),
    ("zonemaster-cli", "zonemaster-cli"),
];
/// The status page's test drives Debian's Chromium through ChromeDriver (installed without
/// recommended packages: a headless browser needs none of them).
pub const BROWSER: [(&str, &str); 2] = [("chromium", "chromium"), ("chromedriver", "chromium-driver")];
pub const LAB: [(&str, &str); 3] = [("dig", "bind9-dnsutils"), ("ip", "iproute2"), ("ethtool", "ethtool")];

/// The real resolvers the tests put in front of the server (unbound, BIND's named) and the
/// reference server they compare it with (Knot); their own services are kept stopped (the tests
/// start them inside client namespaces).
pub const TEST_SERVERS: [&str; 3] = ["unbound", "knot", "bind9"];
const TEST_UNITS: [&str; 4] = ["unbound", "unbound-resolvconf", "knot", "named"];

/// What the two-site lab runs per site besides the daemon: the load balancer. Its service is
/// kept stopped; the lab starts its own haproxy inside each site's namespace.
pub const LAB_SERVERS: [&str; 1] = ["haproxy"];
const LAB_UNITS: [&str; 1] = ["haproxy"];

fn has(command: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {command}")]).output().is_ok_and(|o| o.status.success())
}

pub fn ensure(needs: &Needs) -> Result {
    install_missing(needs, &[])
}

/// As `ensure`, without the packages' recommended ones.
pub fn ensure_lean(needs: &Needs) -> Result {
    install_missing(needs, &["--no-install-recommends"])
}

fn install_missing(needs: &Needs, options: &[&str]) -> Result {
    let missing: Vec<&str> = needs.iter().filter(|(cmd, _)| !has(cmd)).map(|(_, pkg)| *pkg).collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing {}", missing.join(" "));
    run(Command::new("apt-get").args(["update", "-q"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-q"])
        .args(options)
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// What `bench dnsperf` needs: the load generators (dnsperf, kxdpgun), ethtool (to set up the
/// veth ends) and the servers it is compared with (pdnsutil, which secures the signed PowerDNS
/// zone, comes with pdns-server; the bind backend keeps its keys in SQLite itself).
pub const DNSPERF: [&str; 9] =
    ["dnsperf", "knot-dnsutils", "ethtool", "knot", "nsd", "bind9", "pdns-server", "pdns-backend-bind", "gdnsd"];

/// What `bench rrl` needs: the flood (kxdpgun), the other client (dnsperf), ethtool.
pub const RRL_BENCH: [(&str, &str); 3] = [("kxdpgun", "knot-dnsutils"), ("dnsperf", "dnsperf"), ("ethtool", "ethtool")];

const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim_end().ends_with(" installed"))
}

/// Installs server packages without letting their services start: the bench starts each
/// server itself, inside a namespace, and nothing may hold port 53 on the host.
pub fn ensure_servers(packages: &[&str]) -> Result {
    ensure_stopped(packages, &["knot", "nsd", "named", "pdns", "gdnsd"])
}

/// The lab's load balancer, installed like the bench's servers; only its own unit is stopped.
pub fn ensure_lab_servers() -> Result {
    ensure_stopped(&LAB_SERVERS, &LAB_UNITS)
}

/// The tests' resolver, installed like the bench's servers.
pub fn ensure_test_servers() -> Result {
    ensure_stopped(&TEST_SERVERS, &TEST_UNITS)
}

/// Installs `packages` with service starts refused, then stops and disables `units` (only those).
fn ensure_stopped(packages: &[&str], units: &[&str]) -> Result {
    let missing: Vec<&str> = packages.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing {} (services kept stopped)", missing.join(" "));
    // Only a policy file written here is removed again; an existing one (e.g. a container's) stays.
    let ours = !std::path::Path::new(POLICY_RC_D).exists();
    if ours {
        write_policy().map_err(|e| format!("{POLICY_RC_D}: {e}"))?;
    }
    let result = run(Command::new("apt-get").args(["update", "-q"])).and_then(|()| {
        run(Command::new("apt-get")
            .args(["install", "-y", "-q"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"))
    });
    if ours {
        let _ = std::fs::remove_file(POLICY_RC_D);
    }
    stop_services(units);
    result
}

fn write_policy() -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(POLICY_RC_D, "#!/bin/sh\n# Keep services from starting while packages install.\nexit 101\n")?;
    std::fs::set_permissions(POLICY_RC_D, std::fs::Permissions::from_mode(0o755))
}

/// Belt and braces: the named units must stay stopped and not start at boot, whether systemd
/// or an init script (containers without systemd) would run them.
fn stop_services(units: &[&str]) {
    let systemd = std::path::Path::new("/run/systemd/system").exists();
    for unit in units {
        if systemd {
            let _ = Command::new("systemctl").args(["disable", "--now", "-q", unit]).status();
        } else if std::path::Path::new(&format!("/etc/init.d/{unit}")).exists() {
            let _ = Command::new(format!("/etc/init.d/{unit}")).arg("stop").output();
            let _ = Command::new("update-rc.d").args([unit, "disable"]).output();
        }
    }
}
