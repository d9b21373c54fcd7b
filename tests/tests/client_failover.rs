//! The client library end to end: a loop in the client namespace resolves the service at the
//! Switchyard daemon and fetches from the sites' web servers every 20 ms. Site A's server first
//! closes connections without answering, then site B's stops listening; the loop moves to the
//! other site each time and its caller never sees an error.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use switchyard::client::{FetchOptions, Fetcher, Resolver};
use switchyard_tests::{
    answers::Question,
    daemon::{self, Daemon},
    http_server::{Behavior, HttpServer},
    privileges::have_root,
    topology::Pair,
    two_sites::TwoSites,
};

const SUBNET: u8 = 41;
const WEB_A: &str = "198.18.41.11";
const WEB_B: &str = "198.18.41.12";
const PORT: u16 = 8080;
const DEADLINE: Duration = Duration::from_secs(5);

/// What the caller of the library saw for one request.
#[derive(Debug)]
enum Seen {
    Ok { addr: IpAddr, body: String },
    Error(String),
}

/// Fetches every 20 ms until `stop`, recording each outcome.
fn client_loop(dns: SocketAddr, url: &str, seen: &Mutex<Vec<Seen>>, stop: &AtomicBool) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(async {
        let fetcher = Fetcher::new(Resolver::new(dns), FetchOptions::default());
        while !stop.load(Ordering::SeqCst) {
            let outcome = match fetcher.get(url).await {
                Ok(f) => match f.response.text().await {
                    Ok(body) => Seen::Ok { addr: f.addr.ip(), body },
                    Err(e) => Seen::Error(format!("body from {}: {e}", f.addr)),
                },
                Err(e) => Seen::Error(e.to_string()),
            };
            seen.lock().unwrap().push(outcome);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}

/// Waits until the last `n` requests all went to `addr`.
fn wait_for_streak(seen: &Mutex<Vec<Seen>>, addr: IpAddr, n: usize, what: &str) {
    let started = Instant::now();
    while started.elapsed() < DEADLINE {
        {
            let seen = seen.lock().unwrap();
            if seen.len() >= n
                && seen[seen.len() - n..].iter().all(|s| matches!(s, Seen::Ok { addr: a, .. } if *a == addr))
            {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let seen = seen.lock().unwrap();
    panic!(
        "{what}: no {n} requests in a row to {addr} within {DEADLINE:?}; last: {:?}",
        &seen[seen.len().saturating_sub(10)..]
    );
}

#[test]
fn requests_move_to_the_next_site_without_an_error_for_the_caller() {
    if !have_root("requests_move_to_the_next_site_without_an_error_for_the_caller") {
        return;
    }
    let pair = Pair::new(SUBNET);
    // The sites' web servers live on extra addresses in the server namespace, reached over the pair.
    pair.server.ip(&["addr", "add", &format!("{WEB_A}/32"), "dev", "lo"]);
    pair.server.ip(&["addr", "add", &format!("{WEB_B}/32"), "dev", "lo"]);
    let web_a = HttpServer::start(&pair.server, SocketAddr::new(WEB_A.parse().unwrap(), PORT));
    let mut web_b = Some(HttpServer::start(&pair.server, SocketAddr::new(WEB_B.parse().unwrap(), PORT)));
    web_a.set("/", Behavior::Ok("site a".into()));
    web_b.as_ref().unwrap().set("/", Behavior::Ok("site b".into()));
    let daemon = Daemon::start(
        &pair.server,
        &TwoSites {
            pair: &pair,
            site_a: WEB_A,
            site_b: WEB_B,
            health_a: web_a.url("/health"),
            health_b: web_b.as_ref().unwrap().url("/health"),
            database_a: None,
            fast_probes: true,
        }
        .toml(),
    );
    let a = Question::www(&pair, "A");
    a.wait_for(&[WEB_A, WEB_B], DEADLINE, || daemon.log());

    let (site_a, site_b): (IpAddr, IpAddr) = (WEB_A.parse().unwrap(), WEB_B.parse().unwrap());
    let dns = SocketAddr::new(pair.server_v4.into(), 53);
    let url = format!("http://www.example.com:{PORT}/");
    let seen = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let client = s.spawn(|| pair.client.enter(|| client_loop(dns, &url, &seen, &stop)));
        let steps = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_for_streak(&seen, site_a, 10, "the first site in the answer");
            // Accepts, reads the request, closes: DNS still lists A first (its health page is fine).
            web_a.set("/", Behavior::Closed);
            wait_for_streak(&seen, site_b, 10, "after site A closed connections");
            web_a.set("/", Behavior::Ok("site a".into()));
            // Nothing listens any more: connections are refused.
            drop(web_b.take());
            wait_for_streak(&seen, site_a, 10, "after site B stopped");
        }));
        stop.store(true, Ordering::SeqCst);
        client.join().expect("client thread");
        if let Err(panic) = steps {
            std::panic::resume_unwind(panic);
        }
    });

    let seen = seen.into_inner().unwrap();
    let errors: Vec<_> = seen.iter().filter_map(|s| if let Seen::Error(e) = s { Some(e) } else { None }).collect();
    assert!(errors.is_empty(), "{} of {} requests failed for the caller: {errors:?}", errors.len(), seen.len());
    let mut switches: Vec<IpAddr> = Vec::new();
    for s in &seen {
        let Seen::Ok { addr, body } = s else { unreachable!() };
        assert_eq!(body, if *addr == site_a { "site a" } else { "site b" }, "the body comes from the address reported");
        if switches.last() != Some(addr) {
            switches.push(*addr);
        }
    }
    assert_eq!(
        switches,
        vec![site_a, site_b, site_a],
        "the address used: A until it failed, then B until it failed, then A"
    );

    // Site B is down for DNS too now: the CLI sees only A.
    a.wait_for(&[WEB_A], DEADLINE, || daemon.log());
    cli_sees_site_a(&pair, &url);
}

/// `switchyard resolve` and `switchyard fetch` from the client namespace.
fn cli_sees_site_a(pair: &Pair, url: &str) {
    let server = pair.server_v4.to_string();
    let run = |args: &[&str]| {
        let out = pair.client.output(daemon::binary().to_str().unwrap(), args);
        assert!(out.status.success(), "switchyard {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let resolved: serde_json::Value =
        serde_json::from_str(&run(&["resolve", "www.example.com", "--server", &server, "--json"])).unwrap();
    assert_eq!(resolved["addresses"], serde_json::json!([WEB_A]), "{resolved}");
    assert_eq!(run(&["fetch", url, "--server", &server]), format!("status 200 from {WEB_A}:{PORT}\nsite a\n"));
    let lines = run(&["fetch", url, "--server", &server, "--count", "3", "--interval-ms", "10", "--json"]);
    let requests: Vec<serde_json::Value> = lines.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(requests.len(), 3, "{lines}");
    for r in &requests {
        assert_eq!(
            (r["status"].as_u64(), r["addr"].as_str()),
            (Some(200), Some(format!("{WEB_A}:{PORT}").as_str())),
            "{r}"
        );
    }
}
