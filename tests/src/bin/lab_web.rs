//! The lab's web app: a small stateless HTTP server whose only state is its site's SQLite
//! database, so any instance behind the load balancer can answer any request.
//!
//! usage: switchyard-lab-web LISTEN_ADDR DB_PATH INSTANCE_NAME
//!
//! GET /health            200 while the process runs
//! GET /dbcheck           200 with the database server's name read from the database
//! GET /items             the rows of `items`, one `id name site` line each
//! POST /items?name=NAME  inserts a row and answers its id

use std::{
    io::{BufRead, BufReader, Write},
    net::{TcpListener, TcpStream},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use rusqlite::Connection;

struct App {
    db: String,
    instance: String,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, db, instance] = args.as_slice() else {
        eprintln!("usage: switchyard-lab-web LISTEN_ADDR DB_PATH INSTANCE_NAME");
        std::process::exit(2);
    };
    let listener = TcpListener::bind(listen).unwrap_or_else(|e| {
        eprintln!("switchyard-lab-web: bind {listen}: {e}");
        std::process::exit(1);
    });
    let app = std::sync::Arc::new(App { db: db.clone(), instance: instance.clone() });
    for stream in listener.incoming().flatten() {
        let app = app.clone();
        std::thread::spawn(move || serve(&app, stream));
    }
}

fn serve(app: &App, mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let Some((method, target)) = read_request(&stream) else {
        return;
    };
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let (status, body) = match (method.as_str(), path) {
        ("GET", "/health") => (200, format!("ok {}\n", app.instance)),
        ("GET", "/dbcheck") => reply(app.dbcheck()),
        ("GET", "/items") => reply(app.items()),
        ("POST", "/items") => match param(query, "name") {
            Some(name) => reply(app.insert(&name)),
            None => (400, "POST /items needs ?name=\n".into()),
        },
        _ => (404, "not found\n".into()),
    };
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        _ => "Internal Server Error",
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nX-Served-By: {}\r\nConnection: close\r\n\r\n{body}",
        body.len(),
        app.instance
    );
    let _ = stream.write_all(response.as_bytes());
}

/// A database error is a 500 whose body names the error but never the server's name, so the
/// keyword check fails.
fn reply(result: rusqlite::Result<String>) -> (u16, String) {
    match result {
        Ok(body) => (200, body),
        Err(e) => (500, format!("database error: {e}\n")),
    }
}

impl App {
    /// A fresh connection per request: nothing is cached between requests.
    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(&self.db, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        conn.busy_timeout(Duration::from_secs(2))?;
        Ok(conn)
    }

    fn dbcheck(&self) -> rusqlite::Result<String> {
        let server: String = self.open()?.query_row("SELECT server FROM dbinfo WHERE id = 1", [], |r| r.get(0))?;
        Ok(format!("database server: {server}\nserved by: {}\n", self.instance))
    }

    fn items(&self) -> rusqlite::Result<String> {
        let conn = self.open()?;
        let mut stmt = conn.prepare("SELECT id, name, site FROM items ORDER BY created_ms, id")?;
        let rows = stmt.query_map([], |r| {
            Ok(format!("{} {} {}\n", r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
        })?;
        rows.collect()
    }

    fn insert(&self, name: &str) -> rusqlite::Result<String> {
        let conn = self.open()?;
        let site: String = conn.query_row("SELECT site FROM dbinfo WHERE id = 1", [], |r| r.get(0))?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        // Ids carry the site so that two sites never insert the same key.
        let id = format!("{site}-{}-{}", now.as_nanos(), std::process::id());
        conn.execute(
            "INSERT INTO items(id, name, site, created_ms) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![id, name, site, now.as_millis() as i64],
        )?;
        Ok(format!("{id}\n"))
    }
}

/// The request line's method and target; the headers are read and ignored (no bodies).
fn read_request(stream: &TcpStream) -> Option<(String, String)> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header == "\r\n" || header == "\n" {
            break;
        }
    }
    Some((method, target))
}

/// One query parameter, percent-decoded (`+` is a space).
fn param(query: &str, key: &str) -> Option<String> {
    query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == key).map(|(_, v)| decode(v))
}

fn decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
