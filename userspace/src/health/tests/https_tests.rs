//! HTTPS checks against a real TLS server with a CA made by the test: trust from a CA file,
//! the name presented apart from the address probed, mutual TLS, and failures that read as
//! sentences.

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::health::tests::tls_server::{Pki, SERVER_NAME, ServerSetup, TlsServer};
use crate::health::{ExpectStatus, HttpCheckConfig, ProbeOutcome, TlsOptions, build_client, probe_http};

const TIMEOUT: Duration = Duration::from_millis(2000);

async fn probe(config: &HttpCheckConfig) -> ProbeOutcome {
    config.validate("server").expect("valid check");
    let check = config.check();
    let client = build_client(TIMEOUT, &config.tls, check.connect_to.as_ref()).expect("client");
    probe_http(&client, &check, TIMEOUT).await
}

fn https(server: &TlsServer, pki: &Pki) -> HttpCheckConfig {
    HttpCheckConfig {
        url: server.url("/health"),
        host: Some(SERVER_NAME.to_string()),
        tls: TlsOptions { ca_file: Some(pki.path("ca.pem")), ..TlsOptions::default() },
        ..HttpCheckConfig::default()
    }
}

fn failure(outcome: ProbeOutcome) -> String {
    match outcome {
        ProbeOutcome::Failed { cause } => {
            assert!(!cause.contains("Other(") && !cause.contains("Error("), "debug text in {cause:?}");
            cause
        }
        ProbeOutcome::Ok { .. } => panic!("expected a failure"),
    }
}

#[tokio::test]
async fn the_address_is_probed_while_the_name_is_presented_and_verified() {
    let pki = Pki::new();
    let server = TlsServer::start(&pki, ServerSetup::Signed, 200, "ok").await;
    let outcome = probe(&https(&server, &pki)).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].sni.as_deref(), Some(SERVER_NAME));
    let host = format!("host: {SERVER_NAME}:{}", server.addr.port());
    assert!(seen[0].head.to_lowercase().contains(&host), "{}", seen[0].head);
}

#[tokio::test]
async fn certificate_problems_are_sentences() {
    let pki = Pki::new();
    let server = TlsServer::start(&pki, ServerSetup::Signed, 200, "ok").await;
    let public_roots = HttpCheckConfig { tls: TlsOptions::default(), ..https(&server, &pki) };
    let cause = failure(probe(&public_roots).await);
    assert_eq!(
        cause,
        "TLS handshake failed: the server's certificate is not signed by a trusted CA (set ca_file to the CA that \
         signed it)"
    );
    let wrong_name = HttpCheckConfig { host: Some("db.example.com".into()), ..https(&server, &pki) };
    let cause = failure(probe(&wrong_name).await);
    assert!(cause.contains("not valid for the name asked for (it holds www.example.com)"), "{cause}");
    let skip =
        HttpCheckConfig { tls: TlsOptions { skip_verify: true, ..TlsOptions::default() }, ..https(&server, &pki) };
    assert!(probe(&skip).await.is_ok());

    let ca_as_server = TlsServer::start(&pki, ServerSetup::CaAsServer, 200, "ok").await;
    let cause = failure(probe(&https(&ca_as_server, &pki)).await);
    assert_eq!(
        cause,
        "TLS handshake failed: the server presented a CA certificate as its own; it needs a server certificate \
         signed by that CA"
    );
}

#[tokio::test]
async fn mutual_tls_presents_the_client_certificate() {
    let pki = Pki::new();
    let server = TlsServer::start(&pki, ServerSetup::RequireClientCert, 200, "ok").await;
    let cause = failure(probe(&https(&server, &pki)).await);
    assert!(cause.starts_with("TLS handshake failed: the server wants a client certificate"), "{cause}");
    let mut with_cert = https(&server, &pki);
    with_cert.tls.client_cert = Some(pki.path("client.pem"));
    with_cert.tls.client_key = Some(pki.path("client.key"));
    let outcome = probe(&with_cert).await;
    assert!(outcome.is_ok(), "{outcome:?}");
}

#[tokio::test]
async fn plain_http_on_the_port_of_an_https_url_is_named() {
    // What an HTTP server answers to a TLS handshake it cannot read.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n").await;
        }
    });
    let check = HttpCheckConfig { url: format!("https://{addr}/health"), ..HttpCheckConfig::default() };
    let cause = failure(probe(&check).await);
    assert!(cause.contains("does not speak TLS on this port"), "{cause}");
    server.abort();
}

#[tokio::test]
async fn method_headers_status_range_and_body_regex() {
    let pki = Pki::new();
    let server = TlsServer::start(&pki, ServerSetup::Signed, 204, "state: ready\n").await;
    let mut check = https(&server, &pki);
    check.method = Some("HEAD".into());
    check.headers.insert("X-Probe".into(), "switchyard".into());
    let cause = failure(probe(&check).await);
    assert_eq!(cause, "status 204");
    check.expect_status = Some(toml::from_str::<Holder>("s = \"200-299\"").unwrap().s);
    assert!(probe(&check).await.is_ok());
    let head = &server.seen()[0].head;
    assert!(head.starts_with("HEAD /health HTTP/1.1"), "{head}");
    assert!(head.to_lowercase().contains("x-probe: switchyard"), "{head}");

    let server = TlsServer::start(&pki, ServerSetup::Signed, 200, "state: ready\n").await;
    let mut check = https(&server, &pki);
    check.body_regex = Some("state: (ready|draining)".into());
    assert!(probe(&check).await.is_ok());
    check.body_regex = Some("state: down".into());
    assert_eq!(failure(probe(&check).await), "body does not match /state: down/");
    check.body_regex = None;
    check.keyword = Some("ready".into());
    assert!(probe(&check).await.is_ok());
    check.expect_status = Some(ExpectStatus::one(201));
    assert_eq!(failure(probe(&check).await), "status 200, expected 201");
}

#[derive(serde::Deserialize)]
struct Holder {
    s: ExpectStatus,
}

#[test]
fn tls_files_that_do_not_load_are_named() {
    let pki = Pki::new();
    let tls = |ca: &str| TlsOptions { ca_file: Some(pki.path(ca)), ..TlsOptions::default() };
    let missing = build_client(TIMEOUT, &tls("missing.pem"), None).unwrap_err().to_string();
    assert!(missing.starts_with("ca_file ") && missing.contains("missing.pem: cannot read it"), "{missing}");
    let not_pem = build_client(TIMEOUT, &tls("not-a-cert.pem"), None).unwrap_err().to_string();
    assert!(not_pem.contains("holds no PEM certificate"), "{not_pem}");
    let no_key = TlsOptions {
        client_cert: Some(pki.path("client.pem")),
        client_key: Some(pki.path("not-a-cert.pem")),
        ..TlsOptions::default()
    };
    let no_key = build_client(TIMEOUT, &no_key, None).unwrap_err().to_string();
    assert!(no_key.contains("not a usable certificate and private key"), "{no_key}");
}

#[test]
fn options_that_cannot_work_are_refused() {
    let base = HttpCheckConfig { url: "https://198.18.1.11:8443/health".into(), ..HttpCheckConfig::default() };
    let cases: [(HttpCheckConfig, &str, &str); 7] = [
        (
            HttpCheckConfig { url: "https://web1.example.net/".into(), host: Some(SERVER_NAME.into()), ..base.clone() },
            "s.url",
            "write an IP address",
        ),
        (HttpCheckConfig { host: Some("198.18.1.1".into()), ..base.clone() }, "s.host", "not a host name"),
        (HttpCheckConfig { method: Some("get".into()), ..base.clone() }, "s.method", "not an HTTP method"),
        (
            HttpCheckConfig { headers: [("Host".into(), "x".into())].into(), ..base.clone() },
            "s.headers.Host",
            "set host",
        ),
        (
            HttpCheckConfig { keyword: Some("a".into()), body_regex: Some("b".into()), ..base.clone() },
            "s.body_regex",
            "not both",
        ),
        (HttpCheckConfig { body_regex: Some("(".into()), ..base.clone() }, "s.body_regex", "not a regular expression"),
        (
            HttpCheckConfig {
                url: "http://198.18.1.11/".into(),
                tls: TlsOptions { ca_file: Some("/ca.pem".into()), ..TlsOptions::default() },
                ..base.clone()
            },
            "s.ca_file",
            "only used with an https:// URL",
        ),
    ];
    for (config, field, reason) in cases {
        let error = config.validate("s").unwrap_err();
        assert_eq!(error.field, field, "{error}");
        assert!(error.reason.contains(reason), "{error}");
        assert!(!error.reason.contains('\n'), "{error}");
    }
}
