//! The fetcher sticks to the address that works and moves on, unseen by the caller, when it fails.

use std::{net::IpAddr, sync::Mutex};

use tokio::net::TcpSocket;

use reqwest::Method;

use super::{
    fetch::{FetchOptions, Fetcher},
    resolve::Resolver,
    test_servers::{DnsStub, Web, WebStub, Zone, shared_port},
};

/// DNS lists 127.0.0.2 (site A) before 127.0.0.1 (site B).
struct Lab {
    dns: DnsStub,
    port: u16,
    /// The port held on both addresses until a web server listens there.
    sockets: Mutex<Vec<TcpSocket>>,
    a: IpAddr,
    b: IpAddr,
}

impl Lab {
    async fn new() -> Lab {
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.2".parse().unwrap(), "127.0.0.1".parse().unwrap());
        let (port, sockets) = shared_port(a);
        let zone =
            Zone { a: vec!["127.0.0.2".parse().unwrap(), "127.0.0.1".parse().unwrap()], ttl: 60, ..Zone::default() };
        Lab { dns: DnsStub::start(zone).await, port, sockets: Mutex::new(sockets), a, b }
    }

    fn fetcher(&self) -> Fetcher {
        Fetcher::new(Resolver::new(self.dns.addr), FetchOptions::default())
    }

    fn url(&self) -> String {
        format!("http://www.example.com:{}/", self.port)
    }

    fn web(&self, ip: IpAddr, web: Web) -> WebStub {
        let mut sockets = self.sockets.lock().unwrap();
        let at = sockets.iter().position(|s| s.local_addr().unwrap().ip() == ip).expect("one web server per address");
        WebStub::start(sockets.remove(at), web)
    }
}

async fn body(fetcher: &Fetcher, url: &str) -> (IpAddr, String, usize) {
    let f = fetcher.get(url).await.unwrap();
    (f.addr.ip(), f.response.text().await.unwrap(), f.skipped.len())
}

#[tokio::test]
async fn first_address_first() {
    let lab = Lab::new().await;
    let _a = lab.web(lab.a, Web::Ok("a".into()));
    let _b = lab.web(lab.b, Web::Ok("b".into()));
    let fetcher = lab.fetcher();
    assert_eq!(body(&fetcher, &lab.url()).await, (lab.a, "a".into(), 0));
    assert_eq!(fetcher.last_good("WWW.example.com"), Some(lab.a));
}

#[tokio::test]
async fn refused_moves_on_and_the_next_request_goes_straight_to_what_worked() {
    let lab = Lab::new().await;
    let _b = lab.web(lab.b, Web::Ok("b".into()));
    let fetcher = lab.fetcher();
    assert_eq!(body(&fetcher, &lab.url()).await, (lab.b, "b".into(), 1));
    assert_eq!(body(&fetcher, &lab.url()).await, (lab.b, "b".into(), 0));
}

#[tokio::test]
async fn closed_before_a_response_moves_on_and_stays_there_when_the_first_comes_back() {
    let lab = Lab::new().await;
    let a = lab.web(lab.a, Web::Ok("a".into()));
    let _b = lab.web(lab.b, Web::Ok("b".into()));
    let fetcher = lab.fetcher();
    assert_eq!(body(&fetcher, &lab.url()).await.0, lab.a);
    a.set(Web::Close);
    assert_eq!(body(&fetcher, &lab.url()).await, (lab.b, "b".into(), 1));
    a.set(Web::Ok("a".into()));
    // Keeps using the address that works until it fails.
    assert_eq!(body(&fetcher, &lab.url()).await, (lab.b, "b".into(), 0));
}

#[tokio::test]
async fn a_post_is_not_repeated_once_it_may_have_been_received() {
    let lab = Lab::new().await;
    let _a = lab.web(lab.a, Web::Close);
    let _b = lab.web(lab.b, Web::Ok("b".into()));
    let e = lab.fetcher().send(Method::POST, &lab.url(), Some(b"x".to_vec())).await.unwrap_err();
    assert!(e.to_string().contains("127.0.0.2"), "{e}");
}

#[tokio::test]
async fn a_post_moves_on_when_it_could_not_connect() {
    let lab = Lab::new().await;
    let _b = lab.web(lab.b, Web::Ok("b".into()));
    let f = lab.fetcher().send(Method::POST, &lab.url(), Some(b"x".to_vec())).await.unwrap();
    assert_eq!(f.addr.ip(), lab.b);
}

#[tokio::test]
async fn every_address_down_is_one_error_listing_them() {
    let lab = Lab::new().await;
    let e = lab.fetcher().get(&lab.url()).await.unwrap_err().to_string();
    assert!(e.contains("127.0.0.2") && e.contains("127.0.0.1") && e.contains("switchyard status"), "{e}");
}

#[tokio::test]
async fn the_plain_reqwest_client_connects_in_the_servers_order() {
    let lab = Lab::new().await;
    let _b = lab.web(lab.b, Web::Ok("b".into()));
    let client = super::http_client(Resolver::new(lab.dns.addr), std::time::Duration::from_secs(1)).unwrap();
    let response = client.get(lab.url()).send().await.unwrap();
    assert_eq!(response.remote_addr().map(|a| a.ip()), Some(lab.b));
    let _a = lab.web(lab.a, Web::Ok("a".into()));
    let response = client.get(lab.url()).send().await.unwrap();
    assert_eq!(response.remote_addr().map(|a| a.ip()), Some(lab.a));
}
