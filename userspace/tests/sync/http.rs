//! Sync nodes over real HTTP on loopback: convergence, exact values, and the
//! endpoint refusing what it must before it spends memory on it.

use std::time::{Duration, Instant};

use switchyard::sync::{
    PeerConfig, Request, SYNC_PATH, SyncConfig, SyncNode, TableConfig, Value, encode, sign_request,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::support::{SCHEMA, app, count, db_path, dump};

const KEY: &[u8] = b"test-shared-key-0123";

struct Pair {
    a: SyncNode,
    b: SyncNode,
    url_b: String,
    _servers: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Sites a and b serving on loopback; `tune` adjusts both configs.
async fn pair(dir: &std::path::Path, tune: impl Fn(&mut SyncConfig)) -> Pair {
    let listener_a = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listener_b = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url_a = format!("http://{}", listener_a.local_addr().unwrap());
    let url_b = format!("http://{}", listener_b.local_addr().unwrap());
    let config = |site: &str, peer: &str, url: &str| {
        let path = db_path(dir, site);
        app(&path).execute_batch(SCHEMA).unwrap();
        let mut config = SyncConfig::new(site, path, KEY.to_vec())
            .table(TableConfig::new("t1"))
            .table(TableConfig::new("t2"))
            .peer(PeerConfig::new(peer, url));
        config.interval = Duration::from_millis(20);
        tune(&mut config);
        config
    };
    let a = SyncNode::open(config("a", "b", &url_b)).unwrap();
    let b = SyncNode::open(config("b", "a", &url_a)).unwrap();
    let servers = vec![
        tokio::spawn({
            let n = a.clone();
            async move { n.serve(listener_a).await }
        }),
        tokio::spawn({
            let n = b.clone();
            async move { n.serve(listener_b).await }
        }),
    ];
    Pair { a, b, url_b, _servers: servers }
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within 20 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_loopback_converge_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = pair(dir.path(), |_| {}).await;
    let writer_a = app(&db_path(dir.path(), "a"));
    let writer_b = app(&db_path(dir.path(), "b"));
    for i in 0..50 {
        writer_a.execute("INSERT INTO t1(id, a, b) VALUES (?1, 'from-a', ?1)", [i]).unwrap();
        writer_b.execute("INSERT INTO t2(id, x, z) VALUES (?1, 'from-b', ?1)", [i]).unwrap();
    }
    let _shipping = (nodes.a.start(), nodes.b.start());
    let converged = || {
        let (a, b) = (dump(&app(&db_path(dir.path(), "a"))), dump(&app(&db_path(dir.path(), "b"))));
        a == b && a.len() == 100
    };
    until("nodes converge", converged).await;

    // A later update on b flows back to a.
    writer_b.execute("UPDATE t1 SET a = 'edited-at-b' WHERE id = 7", []).unwrap();
    until("the update reaches a", || count(&writer_a, "SELECT count(*) FROM t1 WHERE a = 'edited-at-b'") == 1).await;
    until("both sites equal again", converged).await;

    let status = nodes.a.status().await.unwrap();
    assert_eq!(status.peers[0].site_id, "b");
    assert!(status.peers[0].last_batch_received_ms.is_some());
    assert_eq!(status.peers[0].incarnation, Some(nodes.b.status().await.unwrap().incarnation));
    assert!(serde_json::to_string(&status).unwrap().contains("backlog"));
}

/// `SELECT quote(...)` of every row, the way an operator compares two sites.
fn quoted(conn: &rusqlite::Connection) -> Vec<Value> {
    let mut stmt = conn
        .prepare("SELECT quote(id) || '|' || quote(x) || '|' || quote(y) || '|' || quote(z) FROM t2 ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sqlite_value_replicates_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = pair(dir.path(), |_| {}).await;
    let _shipping = (nodes.a.start(), nodes.b.start());
    let writer = app(&db_path(dir.path(), "a"));
    writer
        .execute_batch(
            "INSERT INTO t2(id, x, y, z) VALUES
                (1, CAST(x'fffe41' AS TEXT), x'00ff10', 9223372036854775807),
                (2, 'plain ünïcödé', NULL, -9223372036854775808),
                (3, 9e999, -9e999, 0.1),
                (4, '', x'', 1e-300),
                (5, 'after the bad bytes', 'still flowing', 5);",
        )
        .unwrap();
    let reader = app(&db_path(dir.path(), "b"));
    until("all five rows arrive", || count(&reader, "SELECT count(*) FROM t2") == 5).await;
    assert_eq!(quoted(&reader), quoted(&writer));
    let first: Value = reader.query_row("SELECT x FROM t2 WHERE id = 1", [], |r| r.get(0)).unwrap();
    assert_eq!(first, Value::Text(vec![0xff, 0xfe, b'A']), "TEXT that is not UTF-8 keeps its bytes and its type");
    assert_eq!(count(&reader, "SELECT typeof(y) = 'blob' FROM t2 WHERE id = 1"), 1);

    // And back: a BLOB update at b.
    reader.execute("UPDATE t2 SET y = x'deadbeef' WHERE id = 5", []).unwrap();
    until("the blob reaches a", || count(&writer, "SELECT count(*) FROM t2 WHERE y = x'deadbeef'") == 1).await;
    assert_eq!(nodes.a.status().await.unwrap().quarantined_total, 0);
}

/// Sends raw request headers and reads whatever answer comes, without sending any body.
async fn headers_only(url: &str, headers: &[(&str, String)], length: u64) -> String {
    let address = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    let mut text = format!("POST {SYNC_PATH} HTTP/1.1\r\nHost: {address}\r\nContent-Length: {length}\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    stream.write_all(text.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer)).await.expect("an answer").unwrap();
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_and_oversized_requests_are_refused_before_the_body() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = pair(dir.path(), |c| c.max_batch_bytes = 1024 * 1024).await;
    let huge = 200 * 1024 * 1024;
    let answer = headers_only(&nodes.url_b, &[], huge).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");

    let (_, mut signed) = sign_request(b"not-the-key", "a", b"whatever");
    let answer = headers_only(&nodes.url_b, &signed.iter().map(|(n, v)| (*n, v.clone())).collect::<Vec<_>>(), 8).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "wrong key: {answer}");

    signed[0].1 = "mallory".into();
    let answer = headers_only(&nodes.url_b, &signed.iter().map(|(n, v)| (*n, v.clone())).collect::<Vec<_>>(), 8).await;
    assert!(answer.starts_with("HTTP/1.1 403"), "unknown site: {answer}");

    // Signed with the key but announcing more than max_batch_bytes: 413, body never read.
    let body = vec![0u8; 2 * 1024 * 1024];
    let (_, signed) = sign_request(KEY, "a", &body);
    let headers: Vec<(&str, String)> = signed.iter().map(|(n, v)| (*n, v.clone())).collect();
    let answer = headers_only(&nodes.url_b, &headers, body.len() as u64).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    let rejected = nodes.b.status().await.unwrap().rejected;
    let count_of = |reason: &str| rejected.iter().find(|(r, _)| r == reason).map_or(0, |(_, n)| *n);
    assert_eq!((count_of("unauthenticated"), count_of("too_large")), (3, 1), "{rejected:?}");
}

async fn post_raw(url: &str, headers: &[(&'static str, String)], body: Vec<u8>) -> u16 {
    let client = reqwest::Client::new();
    let mut post = client.post(format!("{url}{SYNC_PATH}"));
    for (name, value) in headers {
        post = post.header(*name, value);
    }
    post.body(body).send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_body_and_a_clock_far_ahead_are_refused_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = pair(dir.path(), |c| c.max_clock_ahead = Duration::from_secs(5)).await;
    app(&db_path(dir.path(), "a")).execute("INSERT INTO t1(id, a) VALUES (1, 'x')", []).unwrap();
    let mut batch = nodes.a.with_replica(|r| r.build_batch("b")).await.unwrap();

    let body = encode(&Request::Batch(batch.clone()));
    let (_, headers) = sign_request(KEY, "a", &body);
    let mut tampered = body.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert_eq!(post_raw(&nodes.url_b, &headers, tampered).await, 401);

    batch.frontier_hlc = i64::MAX;
    let body = encode(&Request::Batch(batch));
    let (_, headers) = sign_request(KEY, "a", &body);
    assert_eq!(post_raw(&nodes.url_b, &headers, body).await, 422);

    let status = nodes.b.status().await.unwrap();
    let count_of = |reason: &str| status.rejected.iter().find(|(r, _)| r == reason).map_or(0, |(_, n)| *n);
    assert_eq!(count_of("clock_ahead"), 1);
    assert_eq!(count_of("unauthenticated"), 1);
    assert!(status.clock_hlc < i64::MAX / 2, "the clock was not pinned");
    assert_eq!(count(&app(&db_path(dir.path(), "b")), "SELECT count(*) FROM t1"), 0);
}
