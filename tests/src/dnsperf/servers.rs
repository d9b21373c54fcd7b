//! The well-known authoritative servers the bench compares with: for each, its config files
//! written into a directory of its own and the command line that runs it in the foreground.

use std::{fs, io, net::Ipv4Addr, path::Path};

use super::{
    signed,
    zone::{self, ZONE},
};

/// How to run one server: argv (program first) and the settings worth reporting.
pub struct Spec {
    pub argv: Vec<String>,
    pub settings: String,
}

pub const NAMES: [&str; 5] = ["knot", "nsd", "bind9", "powerdns", "gdnsd"];

/// Writes the zone and `name`'s config (`signed::PEERS` too) under `dir` for a server listening on `addr`:53.
pub fn prepare(name: &str, dir: &Path, addr: Ipv4Addr) -> io::Result<Spec> {
    let d = dir.display();
    fs::write(dir.join(format!("{ZONE}.zone")), zone::master_file())?;
    let spec = match name {
        "knot" => {
            fs::write(
                dir.join("knot.conf"),
                format!(
                    "server:\n    rundir: \"{d}\"\n    listen: {addr}@53\n    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n\
                     log:\n  - target: stderr\n    any: warning\n\
                     database:\n    storage: \"{d}\"\n\
                     template:\n  - id: default\n    storage: \"{d}\"\n    file: \"%s.zone\"\n    zonefile-sync: -1\n    journal-content: none\n\
                     zone:\n  - domain: {ZONE}\n"
                ),
            )?;
            Spec {
                argv: argv(&["knotd", "-c", &format!("{d}/knot.conf")]),
                settings: "Knot DNS: udp-workers 1, tcp-workers 1, background-workers 1".into(),
            }
        }
        "nsd" => {
            fs::write(
                dir.join("nsd.conf"),
                format!(
                    "server:\n    ip-address: {addr}\n    port: 53\n    server-count: 1\n    reuseport: no\n    minimal-responses: yes\n\
                     \x20   username: \"\"\n    chroot: \"\"\n    database: \"\"\n    zonesdir: \"{d}\"\n    pidfile: \"{d}/nsd.pid\"\n\
                     \x20   xfrdfile: \"{d}/xfrd.state\"\n    zonelistfile: \"{d}/zone.list\"\n    xfrdir: \"{d}\"\n    logfile: \"{d}/nsd.log\"\n\
                     \x20   verbosity: 0\n\
                     remote-control:\n    control-enable: no\n\
                     zone:\n    name: {ZONE}\n    zonefile: {ZONE}.zone\n"
                ),
            )?;
            Spec {
                argv: argv(&["nsd", "-d", "-c", &format!("{d}/nsd.conf")]),
                settings:
                    "NSD: server-count 1 (one serving process, plus the xfrd and main processes), minimal-responses yes"
                        .into(),
            }
        }
        "bind9" => {
            fs::write(
                dir.join("named.conf"),
                format!(
                    "options {{\n  directory \"{d}\";\n  pid-file \"{d}/named.pid\";\n  session-keyfile \"{d}/session.key\";\n\
                     \x20 managed-keys-directory \"{d}\";\n  listen-on port 53 {{ {addr}; }};\n  listen-on-v6 {{ none; }};\n\
                     \x20 recursion no;\n  dnssec-validation no;\n  minimal-responses yes;\n  allow-query {{ any; }};\n}};\n\
                     controls {{ }};\n\
                     zone \"{ZONE}\" {{ type primary; file \"{d}/{ZONE}.zone\"; }};\n"
                ),
            )?;
            Spec {
                argv: argv(&["named", "-g", "-n", "1", "-U", "1", "-c", &format!("{d}/named.conf")]),
                settings: "BIND 9: -n 1 (one worker thread), -U 1, recursion no, minimal-responses yes".into(),
            }
        }
        "powerdns" => {
            fs::write(
                dir.join("bind.conf"),
                format!("zone \"{ZONE}\" {{ type master; file \"{d}/{ZONE}.zone\"; }};\n"),
            )?;
            fs::write(
                dir.join("pdns.conf"),
                format!(
                    "launch=bind\nbind-config={d}/bind.conf\nlocal-address={addr}\nlocal-port=53\nguardian=no\ndaemon=no\n\
                     disable-syslog=yes\nsocket-dir={d}\nwrite-pid=no\nreceiver-threads=1\ndistributor-threads=1\nloglevel=3\n"
                ),
            )?;
            Spec {
                argv: argv(&["pdns_server", &format!("--config-dir={d}")]),
                settings: "PowerDNS Authoritative, bind backend: receiver-threads 1, distributor-threads 1, packet cache on (default)".into(),
            }
        }
        "gdnsd" => {
            fs::create_dir_all(dir.join("zones"))?;
            fs::rename(dir.join(format!("{ZONE}.zone")), dir.join("zones").join(ZONE))?;
            fs::write(
                dir.join("config"),
                format!(
                    "options => {{\n  listen => [ {addr} ]\n  udp_threads => 1\n  tcp_threads => 1\n  run_dir => {d}/run\n  state_dir => {d}/state\n}}\n"
                ),
            )?;
            Spec {
                argv: argv(&["gdnsd", "-c", &d.to_string(), "start"]),
                settings: "gdnsd: udp_threads 1, tcp_threads 1".into(),
            }
        }
        signed::KNOT => signed::knot(dir, addr)?,
        signed::POWERDNS => signed::powerdns(dir, addr)?,
        other => return Err(io::Error::other(format!("unknown server {other}"))),
    };
    Ok(spec)
}

fn argv(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}
