//! Hand-built Ethernet frames carrying DNS queries, and checks of the frames XDP sends back,
//! parsed with etherparse (headers, checksums) and hickory-proto (DNS) — not with our code.

use std::net::IpAddr;

use etherparse::{NetHeaders, PacketBuilder, PacketHeaders, TransportHeader, VlanId};
use hickory_proto::{
    op::{Edns, Message, OpCode, Query},
    rr::{
        Name, RecordType,
        rdata::opt::{ClientSubnet, EdnsOption},
    },
};

pub const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
pub const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// The server's addresses in the frames, and the broadcast address of its IPv4 subnet (/24).
pub const SERVER_V4: &str = "198.18.0.1";
pub const SERVER_V6: &str = "fd00::1";
pub const SERVER_SUBNET_BROADCAST: &str = "198.18.0.255";

/// The EDNS part of a query.
#[derive(Clone, Debug, Default)]
pub struct EdnsSpec {
    pub dnssec_ok: bool,
    pub version: u8,
    /// A DNS COOKIE option (client cookie only), as resolvers send.
    pub cookie: bool,
    pub client_subnet: Option<(IpAddr, u8)>,
    /// An empty NSID option: the query asks for the server's identifier.
    pub nsid: bool,
}

/// A standard query: RD set, one question.
pub fn query(id: u16, name: &str, rtype: RecordType, edns: Option<&EdnsSpec>) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.id = id;
    m.metadata.recursion_desired = true;
    m.metadata.op_code = OpCode::Query;
    m.add_query(Query::query(Name::from_ascii(name).expect("test name"), rtype));
    if let Some(spec) = edns {
        let mut e = Edns::new();
        e.set_max_payload(1232);
        e.set_version(spec.version);
        e.set_dnssec_ok(spec.dnssec_ok);
        if spec.cookie {
            e.options_mut().insert(EdnsOption::Unknown(10, vec![1, 2, 3, 4, 5, 6, 7, 8]));
        }
        if spec.nsid {
            e.options_mut().insert(EdnsOption::Unknown(3, Vec::new()));
        }
        if let Some((addr, len)) = spec.client_subnet {
            e.options_mut().insert(EdnsOption::Subnet(ClientSubnet::new(addr, len, 0)));
        }
        m.set_edns(e);
    }
    m.to_vec().expect("encode query")
}

/// Ethernet (optionally one 802.1Q tag) / IPv4 or IPv6 / UDP frame around `payload`.
pub fn udp_frame(vlan: Option<u16>, src: IpAddr, dst: IpAddr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC);
    let mut frame = Vec::new();
    match (vlan, src, dst) {
        (None, IpAddr::V4(s), IpAddr::V4(d)) => {
            eth.ipv4(s.octets(), d.octets(), 64).udp(sport, dport).write(&mut frame, payload)
        }
        (None, IpAddr::V6(s), IpAddr::V6(d)) => {
            eth.ipv6(s.octets(), d.octets(), 64).udp(sport, dport).write(&mut frame, payload)
        }
        (Some(v), IpAddr::V4(s), IpAddr::V4(d)) => eth
            .single_vlan(VlanId::try_new(v).unwrap())
            .ipv4(s.octets(), d.octets(), 64)
            .udp(sport, dport)
            .write(&mut frame, payload),
        (Some(v), IpAddr::V6(s), IpAddr::V6(d)) => eth
            .single_vlan(VlanId::try_new(v).unwrap())
            .ipv6(s.octets(), d.octets(), 64)
            .udp(sport, dport)
            .write(&mut frame, payload),
        _ => panic!("mixed address families"),
    }
    .expect("build frame");
    frame
}

/// Checks a frame XDP transmitted in answer to `query_frame`: addresses and ports swapped, lengths
/// and checksums right. Returns the DNS message it carries.
pub fn check_response(query_frame: &[u8], response: &[u8]) -> Result<Vec<u8>, String> {
    let q = PacketHeaders::from_ethernet_slice(query_frame).map_err(|e| format!("query: {e}"))?;
    let r = PacketHeaders::from_ethernet_slice(response).map_err(|e| format!("response: {e}"))?;
    let (Some(q_link), Some(r_link)) = (q.link.and_then(|l| l.ethernet2()), r.link.and_then(|l| l.ethernet2())) else {
        return Err("no ethernet header".into());
    };
    if (r_link.source, r_link.destination) != (q_link.destination, q_link.source) {
        return Err("MAC addresses not swapped".into());
    }
    if q.link_exts.len() != r.link_exts.len() {
        return Err("VLAN tag not kept".into());
    }
    let (Some(TransportHeader::Udp(q_udp)), Some(TransportHeader::Udp(r_udp))) = (&q.transport, &r.transport) else {
        return Err("not UDP".into());
    };
    if (r_udp.source_port, r_udp.destination_port) != (q_udp.destination_port, q_udp.source_port) {
        return Err("ports not swapped".into());
    }
    let payload = r.payload.slice();
    if r_udp.length as usize != 8 + payload.len() {
        return Err(format!("UDP length {} for {} payload bytes", r_udp.length, payload.len()));
    }
    let expected_udp = match (&q.net, &r.net) {
        (Some(NetHeaders::Ipv4(qi, _)), Some(NetHeaders::Ipv4(ri, _))) => {
            if (ri.source, ri.destination) != (qi.destination, qi.source) {
                return Err("IPv4 addresses not swapped".into());
            }
            // Summed over the raw bytes: a re-serialised header would drop the reserved flag bit.
            let l3 = 14 + 4 * r.link_exts.len();
            if !ones_complement_sum_is_zero(&response[l3..l3 + 20]) {
                return Err("IPv4 header checksum wrong".into());
            }
            if ri.total_len as usize != 20 + 8 + payload.len() {
                return Err("IPv4 total length wrong".into());
            }
            r_udp.calc_checksum_ipv4(ri, payload).map_err(|e| e.to_string())?
        }
        (Some(NetHeaders::Ipv6(qi, _)), Some(NetHeaders::Ipv6(ri, _))) => {
            if (ri.source, ri.destination) != (qi.destination, qi.source) {
                return Err("IPv6 addresses not swapped".into());
            }
            if ri.payload_length as usize != 8 + payload.len() {
                return Err("IPv6 payload length wrong".into());
            }
            r_udp.calc_checksum_ipv6(ri, payload).map_err(|e| e.to_string())?
        }
        _ => return Err("IP version changed".into()),
    };
    if r_udp.checksum != expected_udp {
        return Err(format!("UDP checksum {:#06x}, expected {expected_udp:#06x}", r_udp.checksum));
    }
    Ok(payload.to_vec())
}

/// RFC 1071: a header whose checksum is right sums to 0xFFFF over all its 16-bit words.
pub fn ones_complement_sum_is_zero(header: &[u8]) -> bool {
    let mut sum: u32 = header.chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum == 0xffff
}
