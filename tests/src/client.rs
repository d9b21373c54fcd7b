//! Real clients: a hickory-proto client over UDP/TCP from inside a namespace, and `dig`.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream, UdpSocket},
    time::Duration,
};

use hickory_proto::{
    op::{Edns, Message, Query},
    rr::{Name, RecordType},
};

use crate::netns::Netns;

/// A query with RD set, as a stub resolver sends it; `edns` adds an OPT record.
pub fn query_message(name: &str, rtype: RecordType, edns: bool) -> Message {
    let mut message = Message::query();
    message.metadata.id = rand_id();
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).expect("name"), rtype));
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(1232);
        message.set_edns(e);
    }
    message
}

fn rand_id() -> u16 {
    (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() & 0xffff) as u16
}

/// Sends `message` over UDP from inside `ns` and returns the parsed response.
pub fn udp(ns: &Netns, server: SocketAddr, message: &Message) -> Message {
    let bytes = message.to_vec().expect("encode");
    let answer = ns.enter(move || {
        let bind: SocketAddr = if server.is_ipv6() { "[::]:0".parse().unwrap() } else { "0.0.0.0:0".parse().unwrap() };
        let socket = UdpSocket::bind(bind).expect("bind");
        socket.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut buf = vec![0u8; 65535];
        // Three tries: the first packet may wait for neighbour discovery.
        for _ in 0..3 {
            socket.send_to(&bytes, server).expect("send");
            if let Ok(len) = socket.recv(&mut buf) {
                return buf[..len].to_vec();
            }
        }
        panic!("no answer from {server}");
    });
    Message::from_vec(&answer).expect("a parsable response")
}

/// Sends `message` once over UDP from a socket connected to `server`, as resolvers send: the
/// kernel hands such a socket only datagrams from `server`, so an answer sent from another
/// address of the same host is never seen. `None` when nothing came from `server` within `wait`.
pub fn udp_connected(ns: &Netns, server: SocketAddr, message: &Message, wait: Duration) -> Option<Message> {
    let bytes = message.to_vec().expect("encode");
    let answer = ns.enter(move || {
        let bind: SocketAddr = if server.is_ipv6() { "[::]:0".parse().unwrap() } else { "0.0.0.0:0".parse().unwrap() };
        let socket = UdpSocket::bind(bind).expect("bind");
        socket.connect(server).expect("connect");
        socket.set_read_timeout(Some(wait)).unwrap();
        socket.send(&bytes).expect("send");
        let mut buf = vec![0u8; 65535];
        socket.recv(&mut buf).ok().map(|len| buf[..len].to_vec())
    })?;
    Some(Message::from_vec(&answer).expect("a parsable response"))
}

/// Sends `message` over TCP from inside `ns`.
pub fn tcp(ns: &Netns, server: SocketAddr, message: &Message) -> Message {
    let answer = try_tcp(ns, server, message).unwrap_or_else(|e| panic!("TCP query to {server}: {e}"));
    Message::from_vec(&answer).expect("a parsable response")
}

/// One query over a new TCP connection from `ns`: the response's bytes, or why none came (a
/// server that closes the connection at once, say).
pub fn try_tcp(ns: &Netns, server: SocketAddr, message: &Message) -> std::io::Result<Vec<u8>> {
    let bytes = message.to_vec().expect("encode");
    ns.enter(move || {
        let mut stream = TcpStream::connect_timeout(&server, Duration::from_secs(3))?;
        stream.set_read_timeout(Some(Duration::from_secs(3)))?;
        let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&bytes);
        stream.write_all(&framed)?;
        let mut len = [0u8; 2];
        stream.read_exact(&mut len)?;
        let mut answer = vec![0u8; u16::from_be_bytes(len) as usize];
        stream.read_exact(&mut answer)?;
        Ok(answer)
    })
}

/// Runs `dig` in `ns` and returns its stdout.
pub fn dig(ns: &Netns, args: &[&str]) -> String {
    let out = ns.output("dig", args);
    assert!(out.status.success(), "dig {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}
