//! Capturing a UDP datagram as it arrives in a namespace, the way an attacker on the path would,
//! to replay it later.

use std::time::{Duration, Instant};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};

use crate::netns::Netns;

/// The payload of the first IPv4 UDP datagram to `port` seen in `ns` within `timeout`.
pub fn udp_payload(ns: &Netns, port: u16, timeout: Duration) -> Option<Vec<u8>> {
    ns.enter(move || {
        // SAFETY: plain socket(2); the descriptor is closed below.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM, (libc::ETH_P_IP as u16).to_be() as i32) };
        assert!(fd >= 0, "AF_PACKET socket: {}", std::io::Error::last_os_error());
        let tick = libc::timeval { tv_sec: 0, tv_usec: 100_000 };
        // SAFETY: a timeval of the size given, for a socket we own.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&raw const tick).cast(),
                size_of::<libc::timeval>() as u32,
            )
        };
        let deadline = Instant::now() + timeout;
        let mut buffer = vec![0u8; 65_536];
        let mut found = None;
        while found.is_none() && Instant::now() < deadline {
            // SAFETY: the buffer is ours and as long as the length given.
            let n = unsafe { libc::recv(fd, buffer.as_mut_ptr().cast(), buffer.len(), 0) };
            if n > 0 {
                found = udp_to(&buffer[..n as usize], port);
            }
        }
        // SAFETY: the descriptor opened above.
        unsafe { libc::close(fd) };
        found
    })
}

fn udp_to(ip_packet: &[u8], port: u16) -> Option<Vec<u8>> {
    let packet = SlicedPacket::from_ip(ip_packet).ok()?;
    matches!(packet.net, Some(NetSlice::Ipv4(_))).then_some(())?;
    match packet.transport? {
        TransportSlice::Udp(udp) if udp.destination_port() == port => Some(udp.payload().to_vec()),
        _ => None,
    }
}
