//! The database's sources: the page fetched here, HAProxy's check of it read from the stats,
//! and both combined.

use crate::health::tests::test_server::{Behavior, TestServer};
use crate::health::tests::wait::{self, available};
use crate::health::{CheckStatus, DatabaseSource, DatabaseStatus, HealthConfig, HealthMonitor};

const HEADER: &str = "# pxname,svname,scur,slim,status,check_status,check_code,last_chk,check_desc\n";
const PASSED: &str = "L7OK,200,,Layer7 check passed";
const NO_MATCH: &str = "L7RSP,,HTTP content check did not match,Layer7 invalid response";

/// A stats page: backend `web` with one server UP, backend `dbcheck` with these server rows
/// (`name,status,check_status,check_code,last_chk,check_desc`).
fn stats(dbcheck: &[&str]) -> String {
    let mut page = format!("{HEADER}web,web1,0,,UP,{PASSED}\nweb,BACKEND,0,100,UP,,,,\n");
    for row in dbcheck {
        let (server, columns) = row.split_once(',').unwrap();
        page.push_str(&format!("dbcheck,{server},0,,{columns}\n"));
    }
    page.push_str("dbcheck,BACKEND,0,,UP,,,,\n");
    page
}

/// Site a: one web server checked through HAProxy, and a `[site.database]` with `database`.
fn config(stats_url: &str, database: &str) -> HealthConfig {
    let text = format!(
        "[probe]\ninterval_ms = 30\nrise = 1\nfall = 1\n[[site]]\nname = \"a\"\n\
         [[site.server]]\nname = \"web1\"\ncheck = \"haproxy\"\n\
         [site.haproxy]\nurl = \"{stats_url}\"\nbackend = \"web\"\n\
         [site.database]\nname = \"db-a\"\n{database}\n"
    );
    let config: HealthConfig = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    config.validate().unwrap();
    config
}

fn database(monitor: &HealthMonitor) -> DatabaseStatus {
    monitor.status().site("a").unwrap().database_state.clone().unwrap()
}

/// The database's HAProxy source at site a.
fn from_haproxy(monitor: &HealthMonitor) -> CheckStatus {
    monitor.status().site("a").unwrap().database_haproxy.clone().unwrap()
}

#[tokio::test]
async fn database_follows_the_haproxy_backend_that_checks_its_page() {
    let haproxy = TestServer::start(Behavior::ok(&stats(&[&format!("web1,UP,{PASSED}")]))).await;
    let monitor = HealthMonitor::start(&config(&haproxy.url("/stats;csv"), "haproxy_backend = \"dbcheck\"")).unwrap();
    wait::until(&monitor, "site a available", |m| available(m, "a")).await;
    let status = monitor.status().site("a").unwrap().clone();
    assert!(status.database.is_none(), "no page fetched here");
    let check = status.database_haproxy.unwrap();
    assert_eq!((check.kind.as_str(), check.target.as_str()), ("database_haproxy", "dbcheck"));
    assert_eq!(check.haproxy_servers[0].last_check().as_deref(), Some("L7OK 200"));
    assert_eq!(database(&monitor).decided_by, [DatabaseSource::Haproxy]);

    // HAProxy's check no longer finds the keyword: once HAProxy marks its servers DOWN the
    // site is unavailable, and the cause carries HAProxy's own last check.
    haproxy.set(Behavior::ok(&stats(&[&format!("web1,UP 1/2,{NO_MATCH}"), &format!("web2,DOWN,{NO_MATCH}")])));
    wait::until(&monitor, "UP 1/2 seen", |m| from_haproxy(m).haproxy_servers[0].status == "UP 1/2").await;
    assert!(available(&monitor, "a"), "UP 1/2: HAProxy still counts the server up");
    haproxy.set(Behavior::ok(&stats(&[&format!("web1,DOWN,{NO_MATCH}"), &format!("web2,DOWN,{NO_MATCH}")])));
    wait::until(&monitor, "site a unavailable", |m| !available(m, "a")).await;
    let down = database(&monitor);
    assert!(!down.up);
    assert_eq!(down.decided_by, [DatabaseSource::Haproxy]);
    let web1_down = "web1 DOWN, L7RSP (Layer7 invalid response: HTTP content check did not match)";
    assert_eq!(
        down.cause,
        format!(
            "haproxy backend dbcheck: no server UP ({web1_down}; web2 DOWN, L7RSP (Layer7 invalid response: HTTP content check did not match))"
        )
    );
    let why = monitor.explain("a").unwrap();
    assert!(
        why.starts_with("database db-a down, decided by haproxy backend dbcheck: no server UP (web1 DOWN"),
        "{why}"
    );

    // Coming back: DOWN 1/2 is still down; UP again brings the site back.
    haproxy.set(Behavior::ok(&stats(&[&format!("web1,DOWN 1/2,{PASSED}")])));
    wait::until(&monitor, "DOWN 1/2 seen", |m| from_haproxy(m).haproxy_servers[0].status == "DOWN 1/2").await;
    assert!(!available(&monitor, "a"), "DOWN 1/2: HAProxy does not count the server up yet");
    haproxy.set(Behavior::ok(&stats(&[&format!("web1,UP,{PASSED}")])));
    wait::until(&monitor, "site a available again", |m| available(m, "a")).await;
}

#[tokio::test]
async fn maintenance_nolb_and_unchecked_servers_do_not_vouch_for_the_database() {
    let haproxy = TestServer::start(Behavior::ok(&stats(&[&format!("web1,UP,{PASSED}")]))).await;
    let monitor = HealthMonitor::start(&config(&haproxy.url("/stats;csv"), "haproxy_backend = \"dbcheck\"")).unwrap();
    wait::until(&monitor, "site a available", |m| available(m, "a")).await;
    let cases = [
        ("web1,MAINT,,,,", "no server UP (web1 MAINT)"),
        (
            "web1,NOLB,L7OKC,404,,Layer7 check conditionally passed",
            "no server UP (web1 NOLB, L7OKC 404 (Layer7 check conditionally passed))",
        ),
        ("web1,no check,,,,", "no server UP (web1 no check)"),
    ];
    for (row, cause) in cases {
        haproxy.set(Behavior::ok(&stats(&[row])));
        wait::until(&monitor, "site a unavailable", |m| !available(m, "a")).await;
        assert_eq!(database(&monitor).cause, format!("haproxy backend dbcheck: {cause}"));
        haproxy.set(Behavior::ok(&stats(&[&format!("web1,UP,{PASSED}")])));
        wait::until(&monitor, "site a available", |m| available(m, "a")).await;
    }
    // A stats page without the backend (a typo in either config) fails loudly.
    haproxy.set(Behavior::ok(&format!("{HEADER}web,web1,0,,UP,{PASSED}\n")));
    wait::until(&monitor, "site a unavailable", |m| !available(m, "a")).await;
    assert_eq!(database(&monitor).cause, "haproxy backend dbcheck: backend 'dbcheck' not in HAProxy stats");
    assert!(monitor.status().site("a").unwrap().server("web1").unwrap().up.unwrap(), "the web backend is fine");
}

#[tokio::test]
async fn combined_sources_all_need_both_and_any_needs_either() {
    let haproxy = TestServer::start(Behavior::ok(&stats(&[&format!("web1,UP,{PASSED}")]))).await;
    let page = TestServer::start(Behavior::ok("database server: db-a")).await;
    let both = |combine: &str| {
        let sources =
            format!("url = \"{}\"\nhaproxy_backend = \"dbcheck\"\ncombine = \"{combine}\"", page.url("/dbcheck"));
        config(&haproxy.url("/stats;csv"), &sources)
    };
    let all = HealthMonitor::start(&both("all")).unwrap();
    let any = HealthMonitor::start(&both("any")).unwrap();
    for monitor in [&all, &any] {
        wait::until(monitor, "site a available", |m| available(m, "a")).await;
        assert_eq!(database(monitor).decided_by, [DatabaseSource::Page, DatabaseSource::Haproxy]);
    }

    // HAProxy's check fails, the page passes here.
    haproxy.set(Behavior::ok(&stats(&[&format!("web1,DOWN,{NO_MATCH}")])));
    wait::until(&all, "all: site a unavailable", |m| !available(m, "a")).await;
    assert_eq!(database(&all).decided_by, [DatabaseSource::Haproxy]);
    wait::until(&any, "any: HAProxy's DOWN seen", |m| from_haproxy(m).up == Some(false)).await;
    assert!(available(&any, "a"));
    assert_eq!(database(&any).decided_by, [DatabaseSource::Page]);
    assert!(database(&any).cause.starts_with("page http://"), "{}", database(&any).cause);

    // Now the page fails too: both down, both decided.
    page.set(Behavior::ok("database error"));
    wait::until(&any, "any: site a unavailable", |m| !available(m, "a")).await;
    let down = database(&any);
    assert_eq!(down.decided_by, [DatabaseSource::Page, DatabaseSource::Haproxy]);
    assert!(down.cause.contains("keyword 'db-a' missing; haproxy backend dbcheck: no server UP"), "{}", down.cause);

    // HAProxy back alone: enough for any, not for all (the page decides there).
    haproxy.set(Behavior::ok(&stats(&[&format!("web1,UP,{PASSED}")])));
    wait::until(&any, "any: site a available", |m| available(m, "a")).await;
    assert_eq!(database(&any).decided_by, [DatabaseSource::Haproxy]);
    wait::until(&all, "all: only the page decides", |m| database(m).decided_by == [DatabaseSource::Page]).await;
    assert!(!available(&all, "a"));
}
