use std::time::{Duration, Instant};

use switchyard::sync::{PeerConfig, SyncConfig, SyncNode, TableConfig};
use tokio::net::TcpListener;

use super::support::{SCHEMA, app, db_path, dump};

async fn converged(dir: &std::path::Path, expected_rows: usize) -> bool {
    let a = dump(&app(&db_path(dir, "a")));
    let b = dump(&app(&db_path(dir, "b")));
    a == b && a.len() == expected_rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_loopback_converge_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let listener_a = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listener_b = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url_a = format!("http://{}", listener_a.local_addr().unwrap());
    let url_b = format!("http://{}", listener_b.local_addr().unwrap());
    let config = |site: &str, peer: &str, url: &str| {
        let path = db_path(dir.path(), site);
        app(&path).execute_batch(SCHEMA).unwrap();
        let mut config = SyncConfig::new(site, path, super::support::KEY.to_vec())
            .table(TableConfig::new("t1"))
            .table(TableConfig::new("t2"))
            .peer(PeerConfig::new(peer, url));
        config.interval = Duration::from_millis(20);
        config
    };
    let node_a = SyncNode::open(config("a", "b", &url_b)).unwrap();
    let node_b = SyncNode::open(config("b", "a", &url_a)).unwrap();
    let serve_a = tokio::spawn({
        let n = node_a.clone();
        async move { n.serve(listener_a).await }
    });
    let serve_b = tokio::spawn({
        let n = node_b.clone();
        async move { n.serve(listener_b).await }
    });

    let writer_a = app(&db_path(dir.path(), "a"));
    let writer_b = app(&db_path(dir.path(), "b"));
    for i in 0..50 {
        writer_a.execute("INSERT INTO t1(id, a, b) VALUES (?1, 'from-a', ?1)", [i]).unwrap();
        writer_b.execute("INSERT INTO t2(id, x, z) VALUES (?1, 'from-b', ?1)", [i]).unwrap();
    }
    let shipping = (node_a.start(), node_b.start());

    let deadline = Instant::now() + Duration::from_secs(20);
    while !converged(dir.path(), 100).await {
        assert!(Instant::now() < deadline, "nodes did not converge");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A later update on b flows back to a.
    writer_b.execute("UPDATE t1 SET a = 'edited-at-b' WHERE id = 7", []).unwrap();
    while app(&db_path(dir.path(), "a"))
        .query_row("SELECT a FROM t1 WHERE id = 7", [], |r| r.get::<_, String>(0))
        .unwrap()
        != "edited-at-b"
    {
        assert!(Instant::now() < deadline, "update did not reach a");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        converged(dir.path(), 100).await || {
            tokio::time::sleep(Duration::from_millis(300)).await;
            converged(dir.path(), 100).await
        }
    );

    let status = node_a.status().await.unwrap();
    assert_eq!(status.peers[0].site_id, "b");
    assert!(status.peers[0].last_batch_received_ms.is_some());
    let json = serde_json::to_string(&status).unwrap();
    assert!(json.contains("backlog"));
    drop(shipping);
    serve_a.abort();
    serve_b.abort();
}
