//! `[server]` and `[xdp]` checks that need no host: the instance name, the DNS port and listen
//! addresses, the metrics, heartbeat and sync addresses beside them, view names and the number of
//! XDP interfaces.

use std::net::{IpAddr, SocketAddr};

use switchyard_common::MAX_XDP_INTERFACES;

use super::{Config, DEFAULT_VIEW_NAME, ServerConfig, XdpMode};

type Problem = (String, String);

/// The instance names a directory under `pin_root` and a socket in `run_dir`: a plain name,
/// so that it can never point at a parent directory ("..") or elsewhere ("a/b").
pub fn check_instance_name(instance: &str) -> Result<(), String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if instance.is_empty() || !instance.chars().all(plain) {
        return Err("use letters, digits, '-' and '_' only".into());
    }
    Ok(())
}

impl ServerConfig {
    /// The DNS port, the listen addresses and the metrics address.
    pub(super) fn validate_sockets(&self) -> Result<(), Problem> {
        if self.dns_port == 0 {
            return Err(("server.dns_port".into(), "must be 1 to 65535".into()));
        }
        self.validate_listen()?;
        self.validate_metrics()
    }

    fn validate_listen(&self) -> Result<(), Problem> {
        if self.listen.is_empty() {
            let problem = "at least one address is required (\"0.0.0.0\" and \"::\" are all of this host's)";
            return Err(("server.listen".into(), problem.into()));
        }
        for (i, address) in self.listen.iter().enumerate() {
            let key = format!("server.listen[{i}]");
            if is_link_local(address) {
                let problem = format!(
                    "{address} is link-local: binding it needs an interface, which server.listen cannot name; \
                     use a global or unique-local (fd00::/8) address, or \"::\""
                );
                return Err((key, problem));
            }
            // A second socket on the same address and port (or on every address of the family,
            // through an unspecified one) would fail to bind at start.
            let Some(first) = self.listen[..i].iter().position(|a| overlap(*a, *address)) else {
                continue;
            };
            let other = self.listen[first];
            if other == *address {
                return Err((key, format!("{address} is server.listen[{first}] already")));
            }
            let (wide, narrow) = if other.is_unspecified() { (other, *address) } else { (*address, other) };
            let problem = format!(
                "{address} overlaps server.listen[{first}] ({other}): {wide} takes every address of its family, \
                 {narrow} among them; keep one of the two"
            );
            return Err((key, problem));
        }
        Ok(())
    }

    /// The metrics endpoint is a TCP socket like the DNS server's: on a listen address (or
    /// overlapping one through an unspecified address) and the DNS port, one of them could not bind.
    fn validate_metrics(&self) -> Result<(), Problem> {
        match self.metrics {
            Some(metrics) => self.clear_of_dns("server.metrics", metrics),
            None => Ok(()),
        }
    }

    /// `address` (a socket of the key `key`) must not take the DNS port on a listen address
    /// (the DNS server binds both UDP and TCP there), or one of the two could not bind. The DNS
    /// sockets on `::` are IPv6 only; the others on `::` take IPv4 too.
    pub(super) fn clear_of_dns(&self, key: &str, address: SocketAddr) -> Result<(), Problem> {
        if address.port() != self.dns_port {
            return Ok(());
        }
        let clash = |listen: &IpAddr| clash(*listen, false, address.ip(), true);
        match self.listen.iter().position(clash) {
            Some(i) => Err((
                key.into(),
                format!("{address} is where the DNS server listens (server.listen[{i}], dns_port); use another port"),
            )),
            None => Ok(()),
        }
    }
}

impl Config {
    /// The heartbeat socket (UDP) and the sync endpoint (TCP) beside the DNS server's sockets,
    /// and the sync endpoint beside the metrics endpoint (both TCP): a clash would let the
    /// config pass and the daemon fail to bind at start or reload.
    pub(super) fn validate_port_clashes(&self) -> Result<(), Problem> {
        if let Some(peers) = &self.peers {
            self.server.clear_of_dns("peers.listen", peers.listen)?;
        }
        if let Some(sync) = &self.sync {
            self.server.clear_of_dns("sync.listen", sync.listen)?;
            if let Some(metrics) = self.server.metrics
                && metrics.port() == sync.listen.port()
                && clash(metrics.ip(), true, sync.listen.ip(), true)
            {
                let problem =
                    format!("{} is where the metrics endpoint listens (server.metrics); use another port", sync.listen);
                return Err(("sync.listen".into(), problem));
            }
        }
        Ok(())
    }
}

/// fe80::/10, whose addresses mean something only on one interface.
fn is_link_local(address: &IpAddr) -> bool {
    matches!(address, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

/// Whether a socket bound to `address` by the standard library (no IPV6_V6ONLY) takes every
/// address of both families: `::`.
fn takes_both(address: IpAddr) -> bool {
    matches!(address, IpAddr::V6(v6) if v6.is_unspecified())
}

/// Whether sockets bound to `a` and `b` on one port would take one address: `overlap`, or `::`
/// taking IPv4 too where the socket on it is dual-stack (`a_dual`, `b_dual`).
fn clash(a: IpAddr, a_dual: bool, b: IpAddr, b_dual: bool) -> bool {
    overlap(a, b) || (a_dual && takes_both(a) && b.is_ipv4()) || (b_dual && takes_both(b) && a.is_ipv4())
}

/// Whether sockets bound to `a` and `b` on one port would take the same address, so that both
/// cannot be bound (an unspecified address takes every address of its family).
pub fn overlap(a: IpAddr, b: IpAddr) -> bool {
    a == b || (a.is_ipv4() == b.is_ipv4() && (a.is_unspecified() || b.is_unspecified()))
}

impl Config {
    /// A `[[view]]` named like the built-in default view could not be told from it by
    /// `switchyard map --view` or on the status page.
    pub(super) fn validate_view_names(&self) -> Result<(), Problem> {
        match self.view.iter().position(|v| v.name == DEFAULT_VIEW_NAME) {
            Some(i) => Err((
                format!("view[{i}].name"),
                format!("{DEFAULT_VIEW_NAME:?} is the built-in view of clients no [[view]] selects; use another name"),
            )),
            None => Ok(()),
        }
    }

    /// The program keeps one slot per interface it is attached to (`OwnMacs`).
    pub(super) fn validate_xdp_interfaces(&self) -> Result<(), Problem> {
        let count = self.xdp.interfaces.len();
        if self.xdp.mode != XdpMode::Off && count > MAX_XDP_INTERFACES {
            let problem =
                format!("lists {count} interfaces; the XDP program can be attached to {MAX_XDP_INTERFACES} at most");
            return Err(("xdp.interfaces".into(), problem));
        }
        Ok(())
    }
}
