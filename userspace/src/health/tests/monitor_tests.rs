//! The monitor end to end: real probes, site transitions, publishing.

use std::time::Duration;

use crate::health::tests::test_server::{Behavior, TestServer};
use crate::health::tests::wait::{self, available};
use crate::health::{HealthConfig, HealthError, HealthMonitor};
use crate::site::SiteState;

fn config(text: &str) -> HealthConfig {
    let config: HealthConfig = toml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    config.validate().unwrap();
    config
}

fn http_site(url: &str, probe: &str) -> String {
    format!("[[site]]\nname = \"a\"\n[[site.server]]\nname = \"web1\"\ncheck = \"http\"\nurl = \"{url}\"\n{probe}\n")
}

fn last_result(monitor: &HealthMonitor, server: &str) -> Option<String> {
    monitor.status().site("a")?.server(server)?.last_result.clone()
}

#[tokio::test]
async fn server_failure_and_recovery_follow_fall_and_rise() {
    let web = TestServer::start(Behavior::ok("ok")).await;
    let monitor =
        HealthMonitor::start(&config(&http_site(&web.url("/health"), "interval_ms = 30\nrise = 2\nfall = 3"))).unwrap();
    wait::until(&monitor, "site a available", |m| available(m, "a")).await;

    web.set(Behavior::status(503));
    wait::until(&monitor, "site a unavailable", |m| !available(m, "a")).await;
    let status = monitor.status();
    let web1 = status.site("a").unwrap().server("web1").unwrap();
    assert_eq!((web1.settings.rise, web1.settings.fall), (2, 3));
    assert!(web1.consecutive_failed >= 3, "{web1:?}");
    assert!(web.served_since_set() >= 3, "went down before 3 failed probes");
    assert_eq!(web1.last_result.as_deref(), Some("status 503"));
    assert_eq!(web1.up, Some(false));

    web.set(Behavior::ok("ok"));
    wait::until(&monitor, "site a available again", |m| available(m, "a")).await;
    assert!(web.served_since_set() >= 2, "came up before 2 good probes");
    let web1 = monitor.status().site("a").unwrap().server("web1").unwrap().clone();
    assert_eq!(web1.transitions, 3, "up, down, up");
}

#[tokio::test]
async fn hanging_server_costs_one_timeout_per_probe_and_never_stalls() {
    let web = TestServer::start(Behavior::ok("ok")).await;
    let probe = "interval_ms = 20\ntimeout_ms = 250\nrise = 1\nfall = 1";
    let monitor = HealthMonitor::start(&config(&http_site(&web.url("/health"), probe))).unwrap();
    wait::until(&monitor, "site a available", |m| available(m, "a")).await;

    web.set(Behavior::Hang);
    wait::until(&monitor, "site a unavailable", |m| !available(m, "a")).await;
    assert_eq!(last_result(&monitor, "web1").as_deref(), Some("timeout after 250ms"));
    // The loop keeps going: each hanging probe is given up after its timeout.
    wait::until(&monitor, "three more timed-out probes", |m| {
        m.status().site("a").unwrap().server("web1").unwrap().consecutive_failed >= 3
    })
    .await;
    assert!(web.served_since_set() >= 3);

    web.set(Behavior::ok("ok"));
    wait::until(&monitor, "recovery after hanging", |m| available(m, "a")).await;
}

#[tokio::test]
async fn one_server_up_is_enough() {
    let web1 = TestServer::start(Behavior::status(500)).await;
    let web2 = TestServer::start(Behavior::ok("ok")).await;
    let text = format!(
        "[probe]\ninterval_ms = 30\n[[site]]\nname = \"a\"\n\
         [[site.server]]\nname = \"web1\"\ncheck = \"http\"\nurl = \"{}\"\n\
         [[site.server]]\nname = \"web2\"\ncheck = \"tcp\"\naddress = \"{}\"\n",
        web1.url("/"),
        web2.addr()
    );
    let monitor = HealthMonitor::start(&config(&text)).unwrap();
    wait::until(&monitor, "site a available through web2", |m| available(m, "a")).await;
    assert_eq!(last_result(&monitor, "web1").as_deref(), Some("status 500"));

    web2.stop().await;
    wait::until(&monitor, "site a unavailable", |m| !available(m, "a")).await;
    let cause = last_result(&monitor, "web2").unwrap();
    assert!(cause.starts_with("connect failed"), "{cause}");
}

#[tokio::test]
async fn database_without_keyword_makes_site_unavailable() {
    let web = TestServer::start(Behavior::ok("ok")).await;
    let db_page = TestServer::start(Behavior::ok("rows from db-a: 3")).await;
    let text = format!(
        "{}[site.database]\nurl = \"{}\"\nname = \"db-a\"\ninterval_ms = 30\nrise = 1\nfall = 1\n",
        http_site(&web.url("/health"), "interval_ms = 30"),
        db_page.url("/dbcheck")
    );
    let monitor = HealthMonitor::start(&config(&text)).unwrap();
    wait::until(&monitor, "site a available", |m| available(m, "a")).await;

    db_page.set(Behavior::ok("connection to database failed"));
    wait::until(&monitor, "site a unavailable", |m| !available(m, "a")).await;
    let database = monitor.status().site("a").unwrap().database.clone().unwrap();
    assert_eq!(database.name, "db-a");
    assert_eq!(database.last_result.as_deref(), Some("keyword 'db-a' missing"));
    assert_eq!(last_result(&monitor, "web1").as_deref(), Some("ok"), "web server itself is fine");

    db_page.set(Behavior::ok("db-a"));
    wait::until(&monitor, "site a available again", |m| available(m, "a")).await;
}

const CSV_HEADER: &str = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,status,weight\n";

fn stats(web1: &str, web2: &str) -> String {
    format!(
        "{CSV_HEADER}http-in,FRONTEND,,,1,2,100,5,OPEN,\nweb,web1,0,0,1,1,,3,{web1},1\n\
         web,web-2,0,0,0,1,,3,{web2},1\nweb,BACKEND,0,0,25,30,100,6,UP,2\n"
    )
}

#[tokio::test]
async fn haproxy_view_decides_server_state() {
    let haproxy = TestServer::start(Behavior::ok(&stats("UP", "DOWN"))).await;
    let text = format!(
        "[probe]\ninterval_ms = 30\nrise = 1\nfall = 1\n[[site]]\nname = \"a\"\n\
         [[site.server]]\nname = \"web1\"\ncheck = \"haproxy\"\n\
         [[site.server]]\nname = \"web2\"\ncheck = \"haproxy\"\nhaproxy_name = \"web-2\"\n\
         [site.haproxy]\nurl = \"{}\"\nbackend = \"web\"\n",
        haproxy.url("/stats;csv")
    );
    let monitor = HealthMonitor::start(&config(&text)).unwrap();
    wait::until(&monitor, "site a available", |m| available(m, "a")).await;
    assert_eq!(last_result(&monitor, "web2").as_deref(), Some("haproxy status DOWN"));
    assert_eq!(monitor.sites()["a"].load, 250, "BACKEND scur 25 of slim 100");

    haproxy.set(Behavior::ok(&stats("MAINT", "DOWN")));
    wait::until(&monitor, "site a unavailable", |m| !available(m, "a")).await;
    assert_eq!(last_result(&monitor, "web1").as_deref(), Some("haproxy status MAINT"));

    haproxy.set(Behavior::ok(&stats("DOWN", "UP 1/3")));
    wait::until(&monitor, "web-2 going down still counts as up", |m| available(m, "a")).await;

    haproxy.set(Behavior::ok("<html>login</html>"));
    wait::until(&monitor, "site a unavailable on a bad page", |m| !available(m, "a")).await;
    let fetch = monitor.status().site("a").unwrap().haproxy.clone().unwrap();
    assert!(fetch.last_result.unwrap().contains("not a HAProxy CSV stats page"));
}

#[tokio::test]
async fn remote_sites_are_set_from_outside_and_published() {
    let web = TestServer::start(Behavior::ok("ok")).await;
    let local = http_site(&web.url("/"), "").replacen("name = \"a\"\n", "name = \"a\"\nload = 300\n", 1);
    let text = format!("{local}[[site]]\nname = \"b\"\nremote = true\n");
    let monitor = HealthMonitor::start(&config(&text)).unwrap();
    let mut changes = monitor.subscribe();
    assert_eq!(monitor.sites().len(), 2);
    assert!(!available(&monitor, "b"));

    let remote_state = SiteState { available: true, load: 120, rtt_us: 40_000 };
    monitor.set_remote("b", remote_state).unwrap();
    tokio::time::timeout(Duration::from_secs(5), changes.changed()).await.unwrap().unwrap();
    assert_eq!(monitor.sites()["b"], remote_state);

    assert!(matches!(monitor.set_remote("a", remote_state), Err(HealthError::NotRemote(_))));
    assert!(matches!(monitor.set_remote("zz", remote_state), Err(HealthError::UnknownSite(_))));

    wait::until(&monitor, "site a available", |m| available(m, "a")).await;
    let a = monitor.sites()["a"];
    assert_eq!(a.load, 300, "configured load");
    assert!(a.rtt_us > 0, "smoothed latency of successful probes");

    let json = serde_json::to_value(monitor.status()).unwrap();
    assert_eq!(json["sites"][0]["servers"][0]["settings"]["interval_ms"], 200);
    assert_eq!(json["sites"][1]["remote"], true);
}

#[tokio::test]
async fn dropping_the_monitor_stops_probing() {
    let web = TestServer::start(Behavior::ok("ok")).await;
    let monitor = HealthMonitor::start(&config(&http_site(&web.url("/"), "interval_ms = 20"))).unwrap();
    wait::until(&monitor, "site a available", |m| available(m, "a")).await;
    drop(monitor);
    tokio::time::sleep(Duration::from_millis(50)).await;
    web.set(Behavior::ok("ok"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(web.served_since_set(), 0);
}

#[tokio::test]
async fn each_change_is_logged_once_with_its_cause() {
    let capture = crate::log_capture::LogCapture::default();
    // The test runtime is single-threaded, so probe tasks log on this thread.
    let _guard = capture.install();

    let web = TestServer::start(Behavior::ok("ok")).await;
    let monitor =
        HealthMonitor::start(&config(&http_site(&web.url("/"), "interval_ms = 20\nrise = 1\nfall = 2"))).unwrap();
    wait::until(&monitor, "site a available", |m| available(m, "a")).await;
    web.set(Behavior::status(503));
    wait::until(&monitor, "site a unavailable", |m| !available(m, "a")).await;
    wait::until(&monitor, "a few more failures", |m| {
        m.status().site("a").unwrap().server("web1").unwrap().consecutive_failed >= 5
    })
    .await;

    let down = capture.lines_with(": web server down ");
    assert_eq!(down.len(), 1, "{down:?}");
    assert!(down[0].contains("status 503"), "{down:?}");
    let site_down = capture.lines_with(": site unavailable ");
    assert_eq!(site_down.len(), 1, "{site_down:?}");
    assert!(site_down[0].contains("no web server up (web1: status 503)"), "{site_down:?}");
    assert_eq!(capture.lines_with(": site available ").len(), 1);
    assert_eq!(capture.lines_with(": web server up ").len(), 1);
}

#[tokio::test]
async fn a_site_without_checks_is_always_available() {
    let monitor = HealthMonitor::start(&config("[[site]]\nname = \"a\"\na = [\"198.18.1.10\"]\nload = 100\n")).unwrap();
    let state = monitor.sites()["a"];
    assert_eq!(state, SiteState { available: true, load: 100, rtt_us: 0 });
    assert!(monitor.status().site("a").unwrap().servers.is_empty());
}
