//! The resolver keeps the server's order, falls back to TCP on truncation, and says what failed.

use std::{net::IpAddr, time::Duration};

use super::{
    error::ClientError,
    resolve::{FamilyOrder, Resolver, ResolverOptions},
    test_servers::{DnsStub, Zone},
};

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn zone() -> Zone {
    Zone {
        // Deliberately not sorted: the order is the server's decision.
        a: vec!["198.18.20.1".parse().unwrap(), "198.18.10.1".parse().unwrap(), "198.18.30.1".parse().unwrap()],
        aaaa: vec!["fd00:20::1".parse().unwrap(), "fd00:10::1".parse().unwrap()],
        ttl: 5,
        ..Zone::default()
    }
}

#[tokio::test]
async fn keeps_the_servers_order_a_list_first() {
    let dns = DnsStub::start(zone()).await;
    let resolved = Resolver::new(dns.addr).resolve("www.example.com").await.unwrap();
    assert_eq!(resolved.addrs, ips(&["198.18.20.1", "198.18.10.1", "198.18.30.1", "fd00:20::1", "fd00:10::1"]));
    assert_eq!(resolved.ttl, Duration::from_secs(5));
}

#[tokio::test]
async fn ipv6_first_when_asked() {
    let dns = DnsStub::start(zone()).await;
    let options = ResolverOptions { family_order: FamilyOrder::Ipv6First, ..ResolverOptions::default() };
    let resolved = Resolver::new(dns.addr).with_options(options).resolve("www.example.com.").await.unwrap();
    assert_eq!(resolved.addrs, ips(&["fd00:20::1", "fd00:10::1", "198.18.20.1", "198.18.10.1", "198.18.30.1"]));
}

#[tokio::test]
async fn truncated_udp_answers_are_asked_again_over_tcp() {
    let dns = DnsStub::start(Zone { truncate_udp: true, ..zone() }).await;
    let resolved = Resolver::new(dns.addr).resolve("www.example.com").await.unwrap();
    assert_eq!(resolved.addrs, ips(&["198.18.20.1", "198.18.10.1", "198.18.30.1", "fd00:20::1", "fd00:10::1"]));
}

#[tokio::test]
async fn one_family_is_enough() {
    let dns = DnsStub::start(Zone { aaaa: Vec::new(), ..zone() }).await;
    let resolved = Resolver::new(dns.addr).resolve("www.example.com").await.unwrap();
    assert_eq!(resolved.addrs, ips(&["198.18.20.1", "198.18.10.1", "198.18.30.1"]));
}

#[tokio::test]
async fn no_addresses_and_nxdomain_are_errors_that_say_so() {
    let dns = DnsStub::start(Zone::default()).await;
    let e = Resolver::new(dns.addr).resolve("www.example.com").await.unwrap_err();
    assert!(matches!(e, ClientError::NoAddresses { .. }), "{e}");
    assert!(e.to_string().contains("switchyard status"), "{e}");

    let dns = DnsStub::start(Zone { nxdomain: true, ..zone() }).await;
    let e = Resolver::new(dns.addr).resolve("nope.example.com").await.unwrap_err();
    assert!(matches!(e, ClientError::NxDomain { .. }), "{e}");
}

#[tokio::test]
async fn a_silent_server_times_out_with_advice() {
    // Bound but never read: the queries go unanswered.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let options = ResolverOptions { timeout: Duration::from_millis(50), tries: 2, ..ResolverOptions::default() };
    let e =
        Resolver::new(silent.local_addr().unwrap()).with_options(options).resolve("www.example.com").await.unwrap_err();
    assert!(matches!(e, ClientError::NoAnswer { tries: 2, .. }), "{e}");
    assert!(e.to_string().contains("--server"), "{e}");
}
