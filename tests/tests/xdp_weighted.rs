//! Weighted first answer: queries from thousands of client subnets put to the XDP program and
//! the userspace server. Both give the same bytes; each client's first site follows the weights
//! within a tolerance from the sample size; the other addresses follow in order; clients of one
//! subnet get one answer.

mod xdp_common;

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use hickory_proto::{
    op::Message,
    rr::{RData, RecordType},
};
use switchyard::{
    answers::{AnswerTable, Views},
    bpf::test_run::XDP_TX,
    policy::{Policy, PolicyConfig, ServiceConfig},
    site::{SiteAddresses, SiteState},
};
use switchyard_tests::{
    frames::{check_response, query, udp_frame},
    privileges::have_root,
    xdp_harness::XdpHarness,
};
use xdp_common::*;

const NAME: &str = "www.example.com.";
/// Site a has two addresses, b one, c three; weights 5 : 3 : 2.
const SITES: [(&str, &[&str], u32); 3] = [
    ("a", &["198.18.21.1", "198.18.21.2"], 5),
    ("b", &["198.18.22.1"], 3),
    ("c", &["198.18.23.1", "198.18.23.2", "198.18.23.3"], 2),
];
const STORED: [&str; 6] = ["198.18.21.1", "198.18.21.2", "198.18.22.1", "198.18.23.1", "198.18.23.2", "198.18.23.3"];

/// The table the daemon would build: policy decisions for three available sites.
fn weighted_table() -> AnswerTable {
    let mut sites = BTreeMap::new();
    for (name, a, _) in SITES {
        let v4 = a.iter().map(|s| s.parse().unwrap()).collect();
        let v6 = a.iter().map(|s| v6_of(s.parse().unwrap())).collect();
        sites.insert(name.to_string(), SiteAddresses { a: v4, aaaa: v6 });
    }
    let mut service = ServiceConfig::new(NAME, &["a", "b", "c"]);
    service.first_weights = SITES.iter().map(|(name, _, w)| (name.to_string(), *w)).collect();
    let mut policy = Policy::new(&PolicyConfig { services: vec![service] }, &sites).expect("policy");
    let up = SiteState { available: true, load: 0, rtt_us: 0 };
    let states = SITES.iter().map(|(name, _, _)| (name.to_string(), up)).collect();
    AnswerTable::from_policy(&policy.evaluate(&states), &Views::default())
}

/// fd00:21::1 for 198.18.21.1: the same site layout for AAAA.
fn v6_of(v4: Ipv4Addr) -> Ipv6Addr {
    let [_, _, site, host] = v4.octets();
    Ipv6Addr::new(0xfd00, u16::from(site), 0, 0, 0, 0, 0, u16::from(host))
}

/// Client `i`'s address: a different /24 (or /56) per `i`, spread over the unicast space.
fn client(i: u32, v6: bool, host: u8) -> IpAddr {
    let subnet = i.wrapping_mul(2_654_435_761) >> 8;
    let [_, x, y, z] = subnet.to_be_bytes();
    if v6 {
        let segments =
            [0x2001, 0x0db8, u16::from_be_bytes([x, y]), u16::from_be_bytes([z, 0]), 0, 0, 0, u16::from(host)];
        IpAddr::V6(Ipv6Addr::from(segments))
    } else {
        // 1.0.0.0 to 126.255.255.255: sources the program takes (not 0/8, loopback, multicast
        // or reserved).
        IpAddr::V4(Ipv4Addr::new(1 + x % 126, y, z, host))
    }
}

/// Asks both paths from `client`; returns the answer's addresses as IPv4 (AAAA mapped back).
fn ask(h: &mut XdpHarness, client: IpAddr, id: u16) -> Vec<Ipv4Addr> {
    let (rtype, server) = match client {
        IpAddr::V4(_) => (RecordType::A, SERVER_V4.parse().unwrap()),
        IpAddr::V6(_) => (RecordType::AAAA, SERVER_V6.parse().unwrap()),
    };
    let dns = query(id, NAME, rtype, None);
    let frame = udp_frame(None, client, server, 33333, 53, &dns);
    let run = h.run(&frame).expect("test run");
    assert_eq!(run.action, XDP_TX, "XDP answers {client}");
    let reply = check_response(&frame, &run.frame).expect("well-formed response");
    assert_eq!(Some(&reply), h.userspace(&dns, client).as_ref(), "XDP and userspace differ for {client}");
    let message = Message::from_vec(&reply).expect("parse reply");
    message
        .answers
        .iter()
        .map(|r| match &r.data {
            RData::A(a) => a.0,
            RData::AAAA(aaaa) => {
                let s = aaaa.0.segments();
                Ipv4Addr::new(198, 18, s[1] as u8, s[7] as u8)
            }
            other => panic!("unexpected record {other:?}"),
        })
        .collect()
}

/// The order a client whose first site is `site` must get: that site's addresses, then the
/// others in stored order.
fn expected_order(site: usize) -> Vec<Ipv4Addr> {
    let first: Vec<Ipv4Addr> = SITES[site].1.iter().map(|s| s.parse().unwrap()).collect();
    let rest = STORED.iter().map(|s| s.parse().unwrap()).filter(|a| !first.contains(a));
    first.iter().copied().chain(rest).collect()
}

fn site_of(addr: Ipv4Addr) -> usize {
    SITES.iter().position(|(_, addrs, _)| addrs.contains(&addr.to_string().as_str())).expect("a site's address")
}

#[test]
fn xdp_and_userspace_spread_first_answers_by_weight() {
    if !have_root("xdp_and_userspace_spread_first_answers_by_weight") {
        return;
    }
    let table = weighted_table();
    let mut h = XdpHarness::new(&zone(), table, Views::default());
    let (v4_clients, v6_clients) = (3000u32, 1000u32);
    let mut firsts = [0u32; 3];
    for i in 0..v4_clients + v6_clients {
        let v6 = i >= v4_clients;
        let answer = ask(&mut h, client(i, v6, 7), i as u16);
        let site = site_of(answer[0]);
        assert_eq!(answer, expected_order(site), "order for client {}", client(i, v6, 7));
        if i % 50 == 0 {
            assert_eq!(ask(&mut h, client(i, v6, 200), i as u16), answer, "same subnet, same answer");
        }
        firsts[site] += 1;
    }
    let total_weight: u32 = SITES.iter().map(|s| s.2).sum();
    let n = f64::from(v4_clients + v6_clients);
    for (site, &(name, _, weight)) in SITES.iter().enumerate() {
        let p = f64::from(weight) / f64::from(total_weight);
        // Five standard deviations of a binomial count: a fair hash fails this about once in
        // two million runs.
        let tolerance = 5.0 * (n * p * (1.0 - p)).sqrt();
        let got = f64::from(firsts[site]);
        assert!(
            (got - n * p).abs() <= tolerance,
            "site {name}: first for {got} of {n} clients, expected {:.0} ± {tolerance:.0}",
            n * p
        );
    }
    eprintln!("weighted first answer over {n} client subnets (weights 5:3:2): {firsts:?}");
}
