//! A real headless Chromium (Debian's chromium and chromium-driver) in a namespace, driven over
//! the WebDriver protocol: open a page, run a script in it, read its console errors.
//!
//! The protocol is a few JSON requests, sent here over plain HTTP/1.1 (one request per
//! connection; ChromeDriver's replies carry a Content-Length), so no HTTP client crate is needed.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::netns::Netns;

/// ChromeDriver's port inside the namespace (which is the test's own).
const PORT: u16 = 9515;
const STARTUP: Duration = Duration::from_secs(20);

pub struct Browser<'a> {
    ns: &'a Netns,
    driver: Child,
    session: String,
    /// Chromium's profile, removed with the browser.
    profile: tempfile::TempDir,
}

impl<'a> Browser<'a> {
    /// Starts ChromeDriver in `ns` and a headless Chromium session with a fresh profile.
    pub fn start(ns: &'a Netns) -> Browser<'a> {
        let driver = ns
            .command("chromedriver")
            .arg(format!("--port={PORT}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian package chromium-driver)");
        let profile = tempfile::tempdir().expect("browser profile dir");
        let mut browser = Browser { ns, driver, session: String::new(), profile };
        browser.wait_ready();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            // The machine's network is closed: no background fetches from Google's hosts.
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", browser.profile.path().display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let created = browser.request("POST", "/session", Some(&capabilities));
        browser.session = created["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {created}")).to_string();
        browser
    }

    pub fn open(&self, url: &str) {
        self.command("POST", "url", Some(&json!({ "url": url })));
    }

    /// Runs `body` (a function body: `return ...;`) in the page and returns its value.
    pub fn script(&self, body: &str) -> Value {
        self.command("POST", "execute/sync", Some(&json!({ "script": body, "args": [] })))
    }

    /// Polls `body` every 100 ms until it returns `true`; the time that took, or `None` after
    /// `deadline`.
    pub fn wait_for(&self, body: &str, deadline: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < deadline {
            if self.script(body) == Value::Bool(true) {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    /// Messages the page logged at error level (script errors, failed loads, console.error).
    pub fn console_errors(&self) -> Vec<String> {
        let entries = self.command("POST", "se/log", Some(&json!({ "type": "browser" })));
        (entries.as_array().into_iter().flatten())
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    fn command(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        self.request(method, &format!("/session/{}/{path}", self.session), body)
    }

    fn wait_ready(&self) {
        let start = Instant::now();
        loop {
            let ready = self.ns.enter(|| send("GET", "/status", None).ok());
            if ready.is_some_and(|r| r["ready"] == Value::Bool(true)) {
                return;
            }
            assert!(start.elapsed() < STARTUP, "chromedriver not ready after {STARTUP:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One WebDriver request; its `value`. Panics on a WebDriver error.
    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let reply = self.ns.enter(|| send(method, path, body)).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        if let Some(error) = reply.get("error") {
            panic!("{method} {path}: {error}: {}", reply["message"]);
        }
        reply
    }
}

impl Drop for Browser<'_> {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = self.ns.enter(|| send("DELETE", &path, None));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Sends one request to ChromeDriver on this thread's namespace's loopback.
fn send(method: &str, path: &str, body: Option<&Value>) -> std::io::Result<Value> {
    let address = SocketAddr::from(([127, 0, 0, 1], PORT));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    let json = read_body(&mut stream)?;
    let value: Value = serde_json::from_slice(&json).map_err(|e| std::io::Error::other(format!("{e}: {json:?}")))?;
    Ok(value["value"].clone())
}

/// The reply's body, by its Content-Length: ChromeDriver may keep the connection open after it.
fn read_body(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = reply.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&reply[..end]).to_ascii_lowercase();
            let length = (head.lines())
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| std::io::Error::other(format!("no content-length in {head}")))?;
            let start = end + 4;
            while reply.len() < start + length {
                let n = stream.read(&mut chunk)?;
                if n == 0 {
                    return Err(std::io::Error::other("reply shorter than its content-length"));
                }
                reply.extend_from_slice(&chunk[..n]);
            }
            return Ok(reply[start..start + length].to_vec());
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::other("connection closed before the reply's head"));
        }
        reply.extend_from_slice(&chunk[..n]);
    }
}
