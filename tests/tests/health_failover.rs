//! Health-driven failover end to end: two sites whose web servers and database page are tiny
//! HTTP servers in the DNS server's namespace, switched on cue; a real client (dig, through the
//! XDP path) sees the answers follow.

use std::{net::SocketAddr, time::Duration};

use switchyard::config::fixture::ConfigText;
use switchyard_tests::{
    answers::Question,
    daemon::Daemon,
    http_server::{Behavior, HttpServer},
    netns::unique,
    privileges::have_root,
    topology::Pair,
};

const DEADLINE: Duration = Duration::from_secs(5);
const A: &str = "198.18.10.1";
const B: &str = "198.18.20.1";

fn config(pair: &Pair, web_a: &HttpServer, web_b: &HttpServer) -> String {
    ConfigText::new()
        .server(&unique("hf"), &[r#"listen = ["0.0.0.0", "::"]"#])
        .xdp(&pair.server_if, "native")
        .zone()
        .view("near-b", &["198.18.200.0/24"])
        .fast_probes()
        .site("a", &[A], &["fd00:10::1"])
        .http_server("web-a1", &web_a.url("/health"))
        .database(&web_a.url("/db"), "db-a")
        .site("b", &[B], &["fd00:20::1"])
        .http_server("web-b1", &web_b.url("/health"))
        .service("www.example.com.", 5, &["a", "b"])
        .line(r#"views = { near-b = ["b", "a"] }"#)
        .build()
}

#[test]
fn answers_follow_web_servers_and_database_of_both_sites() {
    if !have_root("answers_follow_web_servers_and_database_of_both_sites") {
        return;
    }
    let pair = Pair::new(31);
    // The sites' web servers live on extra addresses in the DNS server's namespace.
    pair.server.ip(&["addr", "add", "198.18.31.11/32", "dev", "lo"]);
    pair.server.ip(&["addr", "add", "198.18.31.12/32", "dev", "lo"]);
    // Replies to near-b clients that userspace answers go back over the pair.
    pair.server.ip(&["route", "add", "198.18.200.0/24", "dev", &pair.server_if]);
    pair.add_client_address("198.18.200.2/24");
    let web_a = HttpServer::start(&pair.server, "198.18.31.11:8080".parse::<SocketAddr>().unwrap());
    let web_b = HttpServer::start(&pair.server, "198.18.31.12:8080".parse::<SocketAddr>().unwrap());
    web_a.set("/db", Behavior::Ok("connected to db-a".into()));
    let daemon = Daemon::start(&pair.server, &config(&pair, &web_a, &web_b));
    // On a failure: the decisions, and what XDP and userspace each answered from which map.
    let log = || format!("{}\n{}\n{}", daemon.log(), daemon.cli(&["stats"]), daemon.cli(&["map", "list"]));

    let ask = |qtype, source| Question {
        client: &pair.client,
        server: pair.server_v4.to_string(),
        name: "www.example.com",
        qtype,
        source,
    };
    let (a, aaaa, near_b) = (ask("A", None), ask("AAAA", None), ask("A", Some("198.18.200.2")));

    a.wait_for(&[A, B], DEADLINE, log);
    near_b.wait_for(&[B, A], DEADLINE, log);

    web_a.set("/health", Behavior::Status(503));
    a.wait_for(&[B], DEADLINE, log);
    aaaa.wait_for(&["fd00:20::1"], DEADLINE, log);
    let status: serde_json::Value = serde_json::from_str(&daemon.cli(&["status", "--json"])).unwrap();
    let site_a = &status["sites"][0];
    assert_eq!((site_a["name"].as_str(), site_a["state"]["available"].as_bool()), (Some("a"), Some(false)), "{status}");
    assert_eq!(site_a["servers"][0]["last_result"], "status 503", "{status}");
    assert!(daemon.cli(&["status"]).contains("web-a1"), "the people's table lists the checks");

    web_a.set("/health", Behavior::Ok("ok".into()));
    web_b.set("/health", Behavior::Hang);
    a.wait_for(&[A], DEADLINE, log);

    web_b.set("/health", Behavior::Ok("ok".into()));
    a.wait_for(&[A, B], DEADLINE, log);

    web_a.set("/db", Behavior::Ok("database unreachable".into()));
    a.wait_for(&[B], DEADLINE, log);
    web_a.set("/db", Behavior::Ok("connected to db-a".into()));
    a.wait_for(&[A, B], DEADLINE, log);

    web_a.set("/health", Behavior::Closed);
    a.wait_for(&[B], DEADLINE, log);
    web_b.set("/health", Behavior::Status(503));
    a.wait_for(&[A, B], DEADLINE, log); // every site down: answer_all

    web_a.set("/health", Behavior::Ok("ok".into()));
    web_b.set("/health", Behavior::Ok("ok".into()));
    near_b.wait_for(&[B, A], DEADLINE, log);
    a.wait_for(&[A, B], DEADLINE, log);

    // The last decision is served from the rewritten XDP map, not by the userspace socket.
    let (xdp_before, udp_before) = (daemon.xdp_counter("answered_v4"), daemon.userspace_counter("udp"));
    assert_eq!(a.ask().as_deref(), Some(&[A.to_string(), B.to_string()][..]));
    assert_eq!(daemon.xdp_counter("answered_v4"), xdp_before + 1, "answered in XDP");
    assert_eq!(daemon.userspace_counter("udp"), udp_before, "userspace saw nothing");
    assert!(
        log().contains("answer changed") && log().contains("site a unavailable"),
        "decisions are logged with their cause"
    );
}
