//! A client that keeps asking one server while something changes on it: UDP queries the XDP
//! path answers (A, AAAA), UDP queries only userspace answers (a name that does not exist),
//! and TCP, one at a time, each with a single try. A query without an answer within the
//! timeout is lost; an answer the check refuses is wrong.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream, UdpSocket},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use hickory_proto::{op::Message, rr::RecordType};

use crate::{client::query_message, netns::Netns};

/// One query of the mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A over UDP: XDP answers it.
    A,
    /// AAAA over UDP: XDP answers it.
    Aaaa,
    /// A name that does not exist, over UDP: userspace answers NXDOMAIN.
    Missing,
    /// A over TCP: userspace.
    Tcp,
}

const MIX: [Kind; 4] = [Kind::A, Kind::Aaaa, Kind::Missing, Kind::Tcp];
const TIMEOUT: Duration = Duration::from_secs(1);
const PAUSE: Duration = Duration::from_millis(2);

#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub sent: u64,
    pub lost: u64,
    pub wrong: u64,
    /// The first problems, for the failure message.
    pub problems: Vec<String>,
}

pub struct QueryLoop {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Tally>>,
}

/// Whether an answer to a query of `Kind` for `name` is right.
pub type Check = fn(Kind, &Message) -> Result<(), String>;

impl QueryLoop {
    /// Starts asking `server` about `name` (and `missing`) from `ns` until `finish`.
    pub fn start(ns: &Netns, server: SocketAddr, name: &'static str, missing: &'static str, check: Check) -> QueryLoop {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let path = ns.path();
        let thread = std::thread::spawn(move || {
            let file = std::fs::File::open(path).expect("namespace");
            // SAFETY: a namespace fd we own; affects only this thread, which lives in it.
            let rc = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            run(&flag, server, name, missing, check)
        });
        QueryLoop { stop, thread: Some(thread) }
    }

    /// Stops after the query in flight; what happened.
    pub fn finish(mut self) -> Tally {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().expect("running").join().expect("query loop")
    }
}

fn run(stop: &AtomicBool, server: SocketAddr, name: &str, missing: &str, check: Check) -> Tally {
    let socket = UdpSocket::bind("0.0.0.0:0").expect("bind");
    socket.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut tally = Tally::default();
    let mut round = 0usize;
    while !stop.load(Ordering::SeqCst) {
        let kind = MIX[round % MIX.len()];
        round += 1;
        let (qname, qtype) = match kind {
            Kind::A | Kind::Tcp => (name, RecordType::A),
            Kind::Aaaa => (name, RecordType::AAAA),
            Kind::Missing => (missing, RecordType::A),
        };
        let mut query = query_message(qname, qtype, false);
        query.metadata.id = round as u16;
        tally.sent += 1;
        let answer = if kind == Kind::Tcp { ask_tcp(server, &query) } else { ask_udp(&socket, server, &query) };
        let problem = match answer {
            Err(e) => {
                tally.lost += 1;
                Some(format!("query {round} ({kind:?}) lost: {e}"))
            }
            Ok(message) => check(kind, &message).err().map(|e| {
                tally.wrong += 1;
                format!("query {round} ({kind:?}) wrong: {e}")
            }),
        };
        if let Some(problem) = problem
            && tally.problems.len() < 10
        {
            tally.problems.push(problem);
        }
        std::thread::sleep(PAUSE);
    }
    tally
}

fn ask_udp(socket: &UdpSocket, server: SocketAddr, query: &Message) -> Result<Message, String> {
    socket.send_to(&query.to_vec().unwrap(), server).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 4096];
    // A late answer to an earlier query is skipped; reads are bounded by the timeout.
    for _ in 0..8 {
        let len = socket.recv(&mut buf).map_err(|e| e.to_string())?;
        if let Ok(message) = Message::from_vec(&buf[..len])
            && message.metadata.id == query.metadata.id
        {
            return Ok(message);
        }
    }
    Err("only late answers".into())
}

fn ask_tcp(server: SocketAddr, query: &Message) -> Result<Message, String> {
    let mut stream = TcpStream::connect_timeout(&server, TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
    let bytes = query.to_vec().unwrap();
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    stream.write_all(&framed).map_err(|e| e.to_string())?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).map_err(|e| e.to_string())?;
    let mut answer = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut answer).map_err(|e| e.to_string())?;
    Message::from_vec(&answer).map_err(|e| e.to_string())
}
