//! The system resolver's nameserver, for when no server is given.

use std::{
    net::{IpAddr, SocketAddr},
    path::Path,
};

use super::error::{ClientError, Result};

pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// The first `nameserver` line of a resolv.conf, port 53.
pub fn first_nameserver(path: &Path) -> Result<SocketAddr> {
    let text = std::fs::read_to_string(path).map_err(|source| ClientError::ResolvConf { path: path.into(), source })?;
    parse(&text).ok_or_else(|| ClientError::NoNameserver { path: path.into() })
}

fn parse(text: &str) -> Option<SocketAddr> {
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            return None;
        }
        // A zone index (fe80::1%eth0) cannot be kept in an IpAddr; skip such lines.
        let ip: IpAddr = words.next()?.parse().ok()?;
        Some(SocketAddr::new(ip, 53))
    })
}

/// `IP` or `IP:PORT` (`[IPv6]:PORT`), port 53 by default.
pub fn parse_server(given: &str) -> Result<SocketAddr> {
    if let Ok(addr) = given.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bare = given.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)).map_err(|_| ClientError::BadServer { given: given.into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_nameserver_line_wins_and_comments_are_ignored() {
        let text = "# generated\nsearch example.com\n;nameserver 192.0.2.9\nnameserver fe80::1%eth0\nnameserver 192.0.2.1\nnameserver 192.0.2.2\n";
        assert_eq!(parse(text), Some("192.0.2.1:53".parse().unwrap()));
        assert_eq!(parse("search example.com\n"), None);
    }

    #[test]
    fn server_with_and_without_port() {
        assert_eq!(parse_server("192.0.2.1").unwrap(), "192.0.2.1:53".parse().unwrap());
        assert_eq!(parse_server("192.0.2.1:5353").unwrap(), "192.0.2.1:5353".parse().unwrap());
        assert_eq!(parse_server("fd00::1").unwrap(), "[fd00::1]:53".parse().unwrap());
        assert_eq!(parse_server("[fd00::1]").unwrap(), "[fd00::1]:53".parse().unwrap());
        assert_eq!(parse_server("[fd00::1]:5300").unwrap(), "[fd00::1]:5300".parse().unwrap());
        assert!(matches!(parse_server("ns1.example.com"), Err(ClientError::BadServer { .. })));
    }
}
