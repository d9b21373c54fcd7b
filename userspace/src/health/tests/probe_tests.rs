//! Single probes against misbehaving targets: each costs at most one timeout.

use std::time::Duration;

use tokio::time::Instant;

use crate::health::tests::test_server::{Behavior, TestServer};
use crate::health::{HttpCheckConfig, ProbeOutcome, plain_client, probe_http, probe_tcp};

const TIMEOUT: Duration = Duration::from_millis(400);
/// Scheduling slack on a busy 2-core machine; the bound is what matters.
const SLACK: Duration = Duration::from_millis(1500);

async fn probe(server: &TestServer, keyword: Option<&str>) -> (ProbeOutcome, Duration) {
    probe_url(&server.url("/health"), keyword).await
}

async fn probe_url(url: &str, keyword: Option<&str>) -> (ProbeOutcome, Duration) {
    let client = plain_client(TIMEOUT, false).unwrap();
    let config =
        HttpCheckConfig { url: url.to_string(), keyword: keyword.map(String::from), ..HttpCheckConfig::default() };
    let started = Instant::now();
    let outcome = probe_http(&client, &config.check(), TIMEOUT).await;
    (outcome, started.elapsed())
}

fn cause(outcome: &ProbeOutcome) -> &str {
    match outcome {
        ProbeOutcome::Failed { cause } => cause,
        ProbeOutcome::Ok { .. } => panic!("expected a failure, got {outcome:?}"),
    }
}

#[tokio::test]
async fn healthy_server_passes() {
    let server = TestServer::start(Behavior::ok("ok db-a")).await;
    let (outcome, _) = probe(&server, None).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    let (outcome, _) = probe(&server, Some("db-a")).await;
    assert!(outcome.is_ok(), "{outcome:?}");
}

#[tokio::test]
async fn unexpected_status_fails_with_the_status() {
    let server = TestServer::start(Behavior::status(503)).await;
    let (outcome, _) = probe(&server, None).await;
    assert_eq!(cause(&outcome), "status 503");
}

#[tokio::test]
async fn hanging_server_costs_exactly_one_timeout() {
    let server = TestServer::start(Behavior::Hang).await;
    let (outcome, elapsed) = probe(&server, None).await;
    assert_eq!(cause(&outcome), "timeout after 400ms");
    assert!(elapsed >= TIMEOUT, "gave up early: {elapsed:?}");
    assert!(elapsed < TIMEOUT + SLACK, "took {elapsed:?}");
}

#[tokio::test]
async fn reset_garbage_and_redirect_loop_fail_fast() {
    let cases =
        [(Behavior::Reset, None), (Behavior::Garbage, None), (Behavior::redirect_loop(), Some("too many redirects"))];
    for (behavior, expected_cause) in cases {
        let server = TestServer::start(behavior.clone()).await;
        let (outcome, elapsed) = probe(&server, None).await;
        let cause = cause(&outcome);
        eprintln!("{behavior:?} -> {cause}");
        assert!(!cause.is_empty());
        if let Some(expected) = expected_cause {
            assert_eq!(cause, expected, "{behavior:?}");
        }
        assert!(elapsed < TIMEOUT + SLACK, "{behavior:?} took {elapsed:?}");
    }
}

#[tokio::test]
async fn ok_without_keyword_fails() {
    let server = TestServer::start(Behavior::ok("database says hello")).await;
    let (outcome, _) = probe(&server, Some("db-a")).await;
    assert_eq!(cause(&outcome), "keyword 'db-a' missing");
}

#[tokio::test]
async fn keyword_beyond_the_body_limit_is_not_found() {
    let mut body = "x".repeat(crate::health::KEYWORD_BODY_LIMIT);
    body.push_str("db-a");
    let server = TestServer::start(Behavior::ok(&body)).await;
    let (outcome, _) = probe(&server, Some("db-a")).await;
    assert_eq!(cause(&outcome), "keyword 'db-a' missing");

    let mut body = "x".repeat(crate::health::KEYWORD_BODY_LIMIT - 10);
    body.push_str("db-a");
    server.set(Behavior::ok(&body));
    let (outcome, _) = probe(&server, Some("db-a")).await;
    assert!(outcome.is_ok(), "{outcome:?}");
}

#[tokio::test]
async fn refused_connection_fails_fast() {
    let server = TestServer::start(Behavior::ok("ok")).await;
    let addr = server.addr();
    let url = server.url("/health");
    server.stop().await;

    let outcome = probe_tcp(addr, TIMEOUT).await;
    assert!(cause(&outcome).starts_with("connect failed"), "{outcome:?}");

    let (outcome, _) = probe_url(&url, None).await;
    assert_eq!(cause(&outcome), "connect failed: nothing listens there (connection refused)");
}

#[tokio::test]
async fn tcp_probe_succeeds_on_a_listening_port() {
    let server = TestServer::start(Behavior::Hang).await;
    let outcome = probe_tcp(server.addr(), TIMEOUT).await;
    assert!(outcome.is_ok(), "{outcome:?}");
}
