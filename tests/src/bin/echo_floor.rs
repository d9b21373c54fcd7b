//! The userspace floor of the throughput benchmark: one thread that takes DNS queries in
//! batches (recvmmsg), sets QR in each and sends it back unchanged otherwise (sendmmsg). No
//! parsing, no lookup, no answer built: what any userspace UDP responder must at least do.
//!
//! Usage: switchyard-bench-echo-floor ADDRESS:PORT

use std::{
    io::{IoSlice, IoSliceMut},
    net::UdpSocket,
    os::fd::AsRawFd,
    process::ExitCode,
};

use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg};

const BATCH: usize = 64;
const SLOT: usize = 1232;

fn main() -> ExitCode {
    let Some(address) = std::env::args().nth(1) else {
        eprintln!("usage: switchyard-bench-echo-floor ADDRESS:PORT");
        return ExitCode::FAILURE;
    };
    let socket = match UdpSocket::bind(&address) {
        Ok(socket) => socket,
        Err(e) => {
            eprintln!("echo floor: bind {address}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let fd = socket.as_raw_fd();
    let mut slots = vec![[0u8; SLOT]; BATCH];
    let mut received = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let mut sent = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    loop {
        // (slot, length, sender) of each datagram; blocks until at least one arrived.
        let batch: Vec<(usize, usize, SockaddrStorage)> = {
            let mut buffers: Vec<[IoSliceMut; 1]> = slots.iter_mut().map(|s| [IoSliceMut::new(s)]).collect();
            match recvmmsg(fd, &mut received, buffers.iter_mut(), MsgFlags::MSG_WAITFORONE, None) {
                Ok(results) => results.enumerate().filter_map(|(i, m)| Some((i, m.bytes, m.address?))).collect(),
                Err(e) => {
                    eprintln!("echo floor: receive: {e}");
                    continue;
                }
            }
        };
        for &(slot, len, _) in &batch {
            if len > 2 {
                slots[slot][2] |= 0x80;
            }
        }
        let buffers: Vec<[IoSlice; 1]> =
            batch.iter().map(|&(slot, len, _)| [IoSlice::new(&slots[slot][..len])]).collect();
        let addresses: Vec<Option<SockaddrStorage>> = batch.iter().map(|&(_, _, to)| Some(to)).collect();
        if let Err(e) = sendmmsg(fd, &mut sent, buffers.iter(), &addresses, [], MsgFlags::empty()) {
            eprintln!("echo floor: send: {e}");
        }
    }
}
