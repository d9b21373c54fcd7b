//! A tiny HTTP server bound inside a namespace, switched between behaviours on cue: the web
//! servers and database pages that health checks probe. Stopped on drop.

use std::{
    collections::HashMap,
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use crate::netns::Netns;

/// What the server does with a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behavior {
    /// 200 with this body.
    Ok(String),
    /// This status with a short body.
    Status(u16),
    /// Reads the request and never answers (until the server stops).
    Hang,
    /// Accepts the connection and closes it without a response.
    Closed,
}

pub struct HttpServer {
    pub addr: SocketAddr,
    behaviors: Arc<Mutex<HashMap<String, Behavior>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Listens on `addr` inside `ns`; every path answers `Behavior::Ok("ok")` until set otherwise.
    pub fn start(ns: &Netns, addr: SocketAddr) -> HttpServer {
        let listener = ns.enter(move || TcpListener::bind(addr)).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        // Non-blocking accept so the thread notices `stop`; the socket stays in `ns`.
        listener.set_nonblocking(true).unwrap();
        let behaviors = Arc::new(Mutex::new(HashMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (b, s) = (behaviors.clone(), stop.clone());
        let thread = std::thread::spawn(move || accept_loop(listener, b, s));
        HttpServer { addr, behaviors, stop, thread: Some(thread) }
    }

    /// Adds `ip` to `ns`'s loopback interface and starts a server on it, port 8080: a web
    /// server of its own address inside the server's namespace.
    pub fn start_on_loopback(ns: &Netns, ip: &str) -> HttpServer {
        ns.ip(&["addr", "add", &format!("{ip}/32"), "dev", "lo"]);
        HttpServer::start(ns, format!("{ip}:8080").parse().expect("an IPv4 address"))
    }

    /// Sets what requests for `path` get from now on.
    pub fn set(&self, path: &str, behavior: Behavior) {
        self.behaviors.lock().unwrap().insert(path.to_string(), behavior);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept_loop(listener: TcpListener, behaviors: Arc<Mutex<HashMap<String, Behavior>>>, stop: Arc<AtomicBool>) {
    let mut connections = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let (b, s) = (behaviors.clone(), stop.clone());
                connections.push(std::thread::spawn(move || serve(stream, &b, &s)));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
        connections.retain(|c| !c.is_finished());
    }
    for c in connections {
        let _ = c.join();
    }
}

fn serve(mut stream: TcpStream, behaviors: &Mutex<HashMap<String, Behavior>>, stop: &AtomicBool) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let Some(path) = read_request_path(&mut stream) else {
        return;
    };
    let behavior = behaviors.lock().unwrap().get(&path).cloned().unwrap_or(Behavior::Ok("ok".into()));
    let (status, body) = match behavior {
        Behavior::Ok(body) => (200, body),
        Behavior::Status(code) => (code, format!("status {code}")),
        Behavior::Closed => return,
        Behavior::Hang => {
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
            }
            return;
        }
    };
    let reason = if status == 200 { "OK" } else { "Not OK" };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

/// The path of a GET request, after reading its head.
fn read_request_path(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).ok().filter(|n| *n > 0)?;
        head.extend_from_slice(&buf[..n]);
        if head.len() > 16 * 1024 {
            return None;
        }
    }
    let line = String::from_utf8_lossy(&head).lines().next()?.to_string();
    line.split_whitespace().nth(1).map(str::to_string)
}
