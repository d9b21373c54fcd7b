//! The signed rows: Switchyard answering DO=1 queries from XDP with the zone signed online, and
//! the two signed peers, Knot DNS with automatic signing and PowerDNS with live signing, both
//! with keys they make themselves (ECDSA P-256, one combined key like Switchyard's). Their
//! queries carry DO=1 (dnsperf -D, kxdpgun's `D` flag), and before load each must show that its
//! answers carry an RRSIG.

use std::{io, net::Ipv4Addr, path::Path, process::Command};

use super::servers::Spec;
use super::zone::ZONE;
use crate::netns::Netns;

pub const SWITCHYARD: &str = "switchyard-xdp-signed";
pub const KNOT: &str = "knot-signed";
pub const POWERDNS: &str = "powerdns-signed";
/// The signed peers, run like the unsigned ones (`servers::prepare`).
pub const PEERS: [&str; 2] = [KNOT, POWERDNS];

/// Rows whose queries ask for signatures.
pub fn is_signed(name: &str) -> bool {
    name == SWITCHYARD || PEERS.contains(&name)
}

/// Knot DNS signing the zone itself at load, with a key of its own making.
pub fn knot(dir: &Path, addr: Ipv4Addr) -> io::Result<Spec> {
    let d = dir.display();
    std::fs::write(
        dir.join("knot.conf"),
        format!(
            "server:\n    rundir: \"{d}\"\n    listen: {addr}@53\n    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n\
             log:\n  - target: stderr\n    any: warning\n\
             database:\n    storage: \"{d}\"\n\
             policy:\n  - id: p256\n    algorithm: ecdsap256sha256\n    single-type-signing: on\n\
             template:\n  - id: default\n    storage: \"{d}\"\n    file: \"%s.zone\"\n    zonefile-sync: -1\n    journal-content: none\n\
             zone:\n  - domain: {ZONE}\n    dnssec-signing: on\n    dnssec-policy: p256\n"
        ),
    )?;
    Ok(Spec {
        argv: ["knotd", "-c", &format!("{d}/knot.conf")].map(String::from).to_vec(),
        settings: "Knot DNS, automatic signing (dnssec-signing on; policy: ecdsap256sha256, single-type-signing, \
                   NSEC; the whole zone signed at load): udp-workers 1, tcp-workers 1, background-workers 1"
            .into(),
    })
}

/// PowerDNS with the bind backend and its DNSSEC database: `pdnsutil secure-zone` makes the key,
/// the server signs answers as it serves them (signature cache and packet cache on, the defaults).
pub fn powerdns(dir: &Path, addr: Ipv4Addr) -> io::Result<Spec> {
    let d = dir.display();
    std::fs::write(dir.join("bind.conf"), format!("zone \"{ZONE}\" {{ type master; file \"{d}/{ZONE}.zone\"; }};\n"))?;
    std::fs::write(
        dir.join("pdns.conf"),
        format!(
            "launch=bind\nbind-config={d}/bind.conf\nbind-dnssec-db={d}/dnssec.db\n\
             default-ksk-algorithm=ecdsa256\ndefault-zsk-algorithm=\n\
             local-address={addr}\nlocal-port=53\nguardian=no\ndaemon=no\n\
             disable-syslog=yes\nsocket-dir={d}\nwrite-pid=no\nreceiver-threads=1\ndistributor-threads=1\nloglevel=3\n"
        ),
    )?;
    let config_dir = format!("--config-dir={d}");
    pdnsutil(&[&config_dir, "create-bind-db", &format!("{d}/dnssec.db")])?;
    pdnsutil(&[&config_dir, "secure-zone", ZONE])?;
    Ok(Spec {
        argv: ["pdns_server", &config_dir].map(String::from).to_vec(),
        settings: "PowerDNS Authoritative, live signing (bind backend with its DNSSEC database, pdnsutil secure-zone: \
                   one ECDSA P-256 CSK, NSEC): receiver-threads 1, distributor-threads 1, packet cache and signature cache on (default)"
            .into(),
    })
}

fn pdnsutil(args: &[&str]) -> io::Result<()> {
    let out = Command::new("pdnsutil").args(args).output()?;
    if out.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "pdnsutil {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

/// Whether dig's answer section (`+noall +answer`) holds an RRSIG covering `rtype`.
pub fn has_rrsig_over(answer: &str, rtype: &str) -> bool {
    answer.lines().filter(|l| !l.starts_with(';')).any(|l| {
        let fields: Vec<&str> = l.split_whitespace().collect();
        fields.get(3) == Some(&"RRSIG") && fields.get(4) == Some(&rtype)
    })
}

/// One `dig +dnssec` for `name` `rtype`: Ok when the answer carries its RRSIG, else what came back.
pub fn check_signed(client: &Netns, server: Ipv4Addr, name: &str, rtype: &str) -> Result<(), String> {
    let out = client
        .output("dig", &[&format!("@{server}"), name, rtype, "+dnssec", "+noall", "+answer", "+time=1", "+tries=1"]);
    let answer = String::from_utf8_lossy(&out.stdout);
    if has_rrsig_over(&answer, rtype) {
        Ok(())
    } else {
        Err(format!("no RRSIG over {name} {rtype} with DO=1 (answer: {})", answer.trim().replace('\n', " / ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_rrsig_over_the_asked_type_only() {
        let answer = "s04242.example.com.\t300\tIN\tA\t198.19.16.243\n\
                      s04242.example.com.\t300\tIN\tRRSIG\tA 13 3 300 20261216000000 20261202000000 4242 example.com. abc=\n";
        assert!(has_rrsig_over(answer, "A"));
        assert!(!has_rrsig_over(answer, "AAAA"));
        assert!(!has_rrsig_over("s04242.example.com.\t300\tIN\tA\t198.19.16.243\n", "A"));
        assert!(!has_rrsig_over(";; s.example.com. 300 IN RRSIG A 13\n", "A"));
    }

    #[test]
    fn the_signed_rows_are_known_by_name() {
        assert!(is_signed(SWITCHYARD) && is_signed(KNOT) && is_signed(POWERDNS));
        assert!(!is_signed("knot") && !is_signed("switchyard-xdp"));
    }
}
