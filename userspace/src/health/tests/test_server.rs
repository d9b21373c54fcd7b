//! A tiny HTTP server on 127.0.0.1 whose behaviour can be switched on cue.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

#[derive(Clone, Debug)]
pub enum Behavior {
    Respond {
        status: u16,
        body: String,
        location: Option<String>,
    },
    /// Accept, read the request, never answer.
    Hang,
    /// Read the request, then reset the connection.
    Reset,
    /// Answer with bytes that are not HTTP.
    Garbage,
}

impl Behavior {
    pub fn ok(body: &str) -> Self {
        Behavior::Respond { status: 200, body: body.to_string(), location: None }
    }

    pub fn status(status: u16) -> Self {
        Behavior::Respond { status, body: format!("status {status}\n"), location: None }
    }

    /// Redirects every request to itself.
    pub fn redirect_loop() -> Self {
        Behavior::Respond { status: 302, body: String::new(), location: Some("/loop".to_string()) }
    }
}

struct Shared {
    behavior: Behavior,
    /// Requests served with the current behaviour.
    served_since_set: usize,
}

pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    accept_loop: JoinHandle<()>,
}

impl TestServer {
    pub async fn start(behavior: Behavior) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Mutex::new(Shared { behavior, served_since_set: 0 }));
        let accept_shared = shared.clone();
        let accept_loop = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, accept_shared.clone()));
            }
        });
        TestServer { addr, shared, accept_loop }
    }

    pub fn set(&self, behavior: Behavior) {
        let mut shared = self.shared.lock().unwrap();
        shared.behavior = behavior;
        shared.served_since_set = 0;
    }

    pub fn served_since_set(&self) -> usize {
        self.shared.lock().unwrap().served_since_set
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops accepting; new connections are refused once the listener is gone.
    pub async fn stop(mut self) {
        self.accept_loop.abort();
        let _ = (&mut self.accept_loop).await;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

async fn serve(mut stream: TcpStream, shared: Arc<Mutex<Shared>>) {
    if !read_request_head(&mut stream).await {
        return;
    }
    let behavior = {
        let mut shared = shared.lock().unwrap();
        shared.served_since_set += 1;
        shared.behavior.clone()
    };
    match behavior {
        Behavior::Respond { status, body, location } => {
            let location = location.map(|l| format!("Location: {l}\r\n")).unwrap_or_default();
            let response = format!(
                "HTTP/1.1 {status} Test\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{location}Connection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
        Behavior::Hang => tokio::time::sleep(Duration::from_secs(3600)).await,
        Behavior::Reset => {
            let _ = stream.set_zero_linger();
            drop(stream);
        }
        Behavior::Garbage => {
            let _ = stream.write_all(b"\x16\x03\x01\x00\xffNOT HTTP AT ALL\r\n\r\n").await;
            let _ = stream.shutdown().await;
        }
    }
}

async fn read_request_head(stream: &mut TcpStream) -> bool {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        true
    };
    tokio::time::timeout(Duration::from_secs(5), read).await.unwrap_or(false)
}
