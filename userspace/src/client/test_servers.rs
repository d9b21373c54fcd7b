//! A tiny DNS server and tiny web servers on loopback, for the client's unit tests.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::{Arc, Mutex},
};

use hickory_proto::{
    op::{Message, ResponseCode},
    rr::{
        RData, Record, RecordType,
        rdata::{A, AAAA},
    },
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpSocket, TcpStream, UdpSocket},
    task::JoinHandle,
};

#[derive(Clone, Default)]
pub struct Zone {
    pub a: Vec<Ipv4Addr>,
    pub aaaa: Vec<Ipv6Addr>,
    pub ttl: u32,
    /// UDP answers come back empty with TC set; TCP has them all.
    pub truncate_udp: bool,
    pub nxdomain: bool,
}

/// Answers every name from `zone` over UDP and TCP on one port; stops on drop.
pub struct DnsStub {
    pub addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl DnsStub {
    pub async fn start(zone: Zone) -> DnsStub {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        let tcp = TcpListener::bind(addr).await.unwrap();
        let zone = Arc::new(zone);
        let z = zone.clone();
        let udp_task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((len, peer)) = udp.recv_from(&mut buf).await {
                let reply = respond(&z, &buf[..len], true);
                let _ = udp.send_to(&reply, peer).await;
            }
        });
        let tcp_task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = tcp.accept().await {
                let mut len = [0u8; 2];
                let mut request = Vec::new();
                if stream.read_exact(&mut len).await.is_ok() {
                    request.resize(u16::from_be_bytes(len) as usize, 0);
                    if stream.read_exact(&mut request).await.is_ok() {
                        let reply = respond(&zone, &request, false);
                        let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                        framed.extend_from_slice(&reply);
                        let _ = stream.write_all(&framed).await;
                    }
                }
            }
        });
        DnsStub { addr, tasks: vec![udp_task, tcp_task] }
    }
}

impl Drop for DnsStub {
    fn drop(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
    }
}

fn respond(zone: &Zone, request: &[u8], udp: bool) -> Vec<u8> {
    let request = Message::from_vec(request).unwrap();
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    let query = request.queries[0].clone();
    let name = query.name().clone();
    let rtype = query.query_type();
    response.add_query(query);
    if zone.nxdomain {
        response.metadata.response_code = ResponseCode::NXDomain;
    } else if udp && zone.truncate_udp {
        response.metadata.truncation = true;
    } else {
        let records: Vec<RData> = match rtype {
            RecordType::A => zone.a.iter().map(|ip| RData::A(A(*ip))).collect(),
            RecordType::AAAA => zone.aaaa.iter().map(|ip| RData::AAAA(AAAA(*ip))).collect(),
            _ => Vec::new(),
        };
        for data in records {
            response.add_answer(Record::from_rdata(name.clone(), zone.ttl, data));
        }
    }
    response.to_vec().unwrap()
}

/// What a stub web server does with a request.
#[derive(Clone, Debug)]
pub enum Web {
    Ok(String),
    /// Reads the request, then closes without a response.
    Close,
}

/// A web server on a bound socket; stops on drop.
pub struct WebStub {
    pub behavior: Arc<Mutex<Web>>,
    task: JoinHandle<()>,
}

impl WebStub {
    pub fn start(socket: TcpSocket, behavior: Web) -> WebStub {
        let listener = socket.listen(64).unwrap();
        let behavior = Arc::new(Mutex::new(behavior));
        let b = behavior.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let web = b.lock().unwrap().clone();
                tokio::spawn(serve(stream, web));
            }
        });
        WebStub { behavior, task }
    }

    pub fn set(&self, web: Web) {
        *self.behavior.lock().unwrap() = web;
    }
}

impl Drop for WebStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut stream: TcpStream, web: Web) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(n) if n > 0 => head.extend_from_slice(&buf[..n]),
            _ => return,
        }
    }
    if let Web::Ok(body) = web {
        let response = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        let _ = stream.write_all(response.as_bytes()).await;
    }
}

/// One port, bound on 127.0.0.1 and on `other` (any 127/8 address is local on Linux) and held
/// by the two sockets until they listen (`WebStub::start`): no other test can take it
/// meanwhile, and a connection to a side that never listens is refused.
pub fn shared_port(other: IpAddr) -> (u16, Vec<TcpSocket>) {
    loop {
        let first = TcpSocket::new_v4().unwrap();
        first.bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        let port = first.local_addr().unwrap().port();
        let second = TcpSocket::new_v4().unwrap();
        if second.bind(SocketAddr::new(other, port)).is_ok() {
            return (port, vec![first, second]);
        }
    }
}
