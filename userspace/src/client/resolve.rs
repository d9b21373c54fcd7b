//! Asking one DNS server for a name's A and AAAA records, keeping the order it answered in:
//! Switchyard puts the best site first, so the order is the whole point.

use std::{
    net::{IpAddr, SocketAddr},
    path::Path,
    time::Duration,
};

use hickory_proto::{
    op::{Edns, Message, MessageType, Query, ResponseCode},
    rr::{Name, RData, RecordType},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpStream, UdpSocket},
    time::timeout,
};

use super::{
    error::{ClientError, Result},
    resolv_conf,
};

/// Which family comes first in the combined list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FamilyOrder {
    /// The A list, then the AAAA list.
    #[default]
    Ipv4First,
    Ipv6First,
}

#[derive(Clone, Debug)]
pub struct ResolverOptions {
    pub family_order: FamilyOrder,
    /// How long to wait for one UDP response (or a whole TCP exchange).
    pub timeout: Duration,
    /// UDP sends per query before giving up.
    pub tries: u32,
}

impl Default for ResolverOptions {
    fn default() -> Self {
        ResolverOptions { family_order: FamilyOrder::Ipv4First, timeout: Duration::from_secs(1), tries: 3 }
    }
}

/// The addresses of a name in the server's order, and how long they may be kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub addrs: Vec<IpAddr>,
    /// The smallest TTL among the records.
    pub ttl: Duration,
}

#[derive(Clone, Debug)]
pub struct Resolver {
    server: SocketAddr,
    options: ResolverOptions,
}

impl Resolver {
    pub fn new(server: SocketAddr) -> Resolver {
        Resolver { server, options: ResolverOptions::default() }
    }

    /// The first nameserver of /etc/resolv.conf.
    pub fn system() -> Result<Resolver> {
        resolv_conf::first_nameserver(Path::new(resolv_conf::RESOLV_CONF)).map(Resolver::new)
    }

    /// `server` when given (`IP[:PORT]`), else the system's nameserver.
    pub fn from_arg(server: Option<&str>) -> Result<Resolver> {
        match server {
            Some(s) => resolv_conf::parse_server(s).map(Resolver::new),
            None => Resolver::system(),
        }
    }

    pub fn with_options(mut self, options: ResolverOptions) -> Resolver {
        self.options = options;
        self
    }

    pub fn server(&self) -> SocketAddr {
        self.server
    }

    pub fn options(&self) -> &ResolverOptions {
        &self.options
    }

    /// A and AAAA asked at once; one family failing is fine while the other has addresses.
    pub async fn resolve(&self, name: &str) -> Result<Resolved> {
        let qname = parse_name(name)?;
        let (v4, v6) = tokio::join!(self.query(&qname, RecordType::A), self.query(&qname, RecordType::AAAA));
        let (first, second) = match self.options.family_order {
            FamilyOrder::Ipv4First => (v4, v6),
            FamilyOrder::Ipv6First => (v6, v4),
        };
        let (first, second) = match (first, second) {
            (Err(e), _) | (_, Err(e)) if matches!(e, ClientError::NxDomain { .. }) => {
                return Err(e);
            }
            (Ok(a), Ok(b)) => (a, b),
            (Ok(a), Err(e)) | (Err(e), Ok(a)) if a.addrs.is_empty() => return Err(e),
            (Ok(a), Err(_)) | (Err(_), Ok(a)) => (a, Resolved { addrs: Vec::new(), ttl: Duration::MAX }),
            (Err(e), Err(_)) => return Err(e),
        };
        let mut addrs = first.addrs;
        addrs.extend(second.addrs);
        if addrs.is_empty() {
            return Err(ClientError::NoAddresses { server: self.server, name: qname.to_string() });
        }
        Ok(Resolved { addrs, ttl: first.ttl.min(second.ttl) })
    }

    /// One question; `ttl` is `Duration::MAX` when there are no records.
    async fn query(&self, name: &Name, rtype: RecordType) -> Result<Resolved> {
        let request = request(name, rtype);
        let mut response = self.udp(&request, name).await?;
        if response.metadata.truncation {
            response = self.tcp(&request, name).await?;
        }
        self.addresses(&request, response, name)
    }

    async fn udp(&self, request: &Message, name: &Name) -> Result<Message> {
        let io = |source| ClientError::Io { server: self.server, source };
        let bind: SocketAddr =
            if self.server.is_ipv6() { "[::]:0".parse().unwrap() } else { "0.0.0.0:0".parse().unwrap() };
        let socket = UdpSocket::bind(bind).await.map_err(io)?;
        // Connected: the kernel drops datagrams from anyone but the server.
        socket.connect(self.server).await.map_err(io)?;
        let bytes = encode(request, self.server, name)?;
        let mut buf = vec![0u8; 65535];
        for _ in 0..self.options.tries.max(1) {
            socket.send(&bytes).await.map_err(io)?;
            let deadline = tokio::time::Instant::now() + self.options.timeout;
            // Skip stray datagrams (late answers to an earlier try) until the deadline.
            while let Ok(received) = tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
                let len = received.map_err(io)?;
                if let Ok(message) = Message::from_vec(&buf[..len])
                    && answers(request, &message)
                {
                    return Ok(message);
                }
            }
        }
        Err(ClientError::NoAnswer { server: self.server, name: name.to_string(), tries: self.options.tries.max(1) })
    }

    async fn tcp(&self, request: &Message, name: &Name) -> Result<Message> {
        let io = |source| ClientError::Io { server: self.server, source };
        let bytes = encode(request, self.server, name)?;
        let exchange = async {
            let mut stream = TcpStream::connect(self.server).await?;
            let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&bytes);
            stream.write_all(&framed).await?;
            let mut len = [0u8; 2];
            stream.read_exact(&mut len).await?;
            let mut answer = vec![0u8; u16::from_be_bytes(len) as usize];
            stream.read_exact(&mut answer).await?;
            Ok::<_, std::io::Error>(answer)
        };
        let answer = timeout(self.options.timeout, exchange)
            .await
            .map_err(|_| ClientError::NoAnswer { server: self.server, name: name.to_string(), tries: 1 })?
            .map_err(io)?;
        let message = Message::from_vec(&answer).map_err(|e| self.bad(name, format!("over TCP: {e}")))?;
        if !answers(request, &message) {
            return Err(self.bad(name, "over TCP: an answer to another question".into()));
        }
        Ok(message)
    }

    /// The A/AAAA records of the answer section in their order (after any CNAMEs).
    fn addresses(&self, request: &Message, response: Message, name: &Name) -> Result<Resolved> {
        match response.metadata.response_code {
            ResponseCode::NoError => {}
            ResponseCode::NXDomain => {
                return Err(ClientError::NxDomain { server: self.server, name: name.to_string() });
            }
            rcode => {
                return Err(ClientError::Rcode {
                    server: self.server,
                    name: name.to_string(),
                    rcode: rcode.to_string(),
                });
            }
        }
        let rtype = request.queries[0].query_type();
        let mut ttl = Duration::MAX;
        let mut addrs = Vec::new();
        for record in &response.answers {
            let ip = match (&record.data, rtype) {
                (RData::A(a), RecordType::A) => IpAddr::V4(a.0),
                (RData::AAAA(a), RecordType::AAAA) => IpAddr::V6(a.0),
                _ => continue,
            };
            ttl = ttl.min(Duration::from_secs(record.ttl.into()));
            addrs.push(ip);
        }
        Ok(Resolved { addrs, ttl })
    }

    fn bad(&self, name: &Name, reason: String) -> ClientError {
        ClientError::BadResponse { server: self.server, name: name.to_string(), reason }
    }
}

/// A name as given, made absolute: no search list is applied.
fn parse_name(name: &str) -> Result<Name> {
    let mut parsed =
        Name::from_utf8(name).map_err(|e| ClientError::BadName { name: name.into(), reason: e.to_string() })?;
    parsed.set_fqdn(true);
    Ok(parsed)
}

/// RD set so that a recursive resolver from resolv.conf works too; EDNS for answers over 512 bytes.
fn request(name: &Name, rtype: RecordType) -> Message {
    let mut message = Message::query();
    message.metadata.id = rand::random();
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(name.clone(), rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    message.set_edns(edns);
    message
}

fn encode(message: &Message, server: SocketAddr, name: &Name) -> Result<Vec<u8>> {
    message.to_vec().map_err(|e| ClientError::BadName { name: format!("{name} (to {server})"), reason: e.to_string() })
}

/// Whether `response` is the answer to `request`: same id, a response, same question (an error
/// such as FORMERR may come without the question).
fn answers(request: &Message, response: &Message) -> bool {
    let same_question = || {
        response.queries.len() == 1
            && response.queries[0].name() == request.queries[0].name()
            && response.queries[0].query_type() == request.queries[0].query_type()
    };
    response.metadata.id == request.metadata.id
        && response.metadata.message_type == MessageType::Response
        && (same_question()
            || (response.queries.is_empty() && response.metadata.response_code != ResponseCode::NoError))
}
