//! The status page in a real headless browser (Debian's Chromium): it loads without errors,
//! shows every service's answer and every site's checks, and shows a site going down, and its
//! answers moving, within a couple of seconds and without a reload.

use std::{net::SocketAddr, time::Duration};

use switchyard::config::fixture::ConfigText;
use switchyard_tests::{
    answers::Question,
    browser::Browser,
    daemon::Daemon,
    http_server::{Behavior, HttpServer},
    netns::unique,
    privileges::have_root,
    topology::Pair,
};

const A: &str = "198.18.10.1";
const B: &str = "198.18.20.1";
const DEADLINE: Duration = Duration::from_secs(5);
/// The page polls every second: what the daemon knows must be on screen two polls later.
const PAGE_FOLLOWS: Duration = Duration::from_millis(2500);

fn config(pair: &Pair, metrics: SocketAddr, web_a: &HttpServer, web_b: &HttpServer) -> String {
    let metrics = format!("metrics = \"{metrics}\"");
    ConfigText::new()
        .server(&unique("sp"), &[r#"listen = ["0.0.0.0"]"#, &metrics])
        .xdp(&pair.server_if, "native")
        .zone()
        .view("near-b", &["198.18.200.0/24"])
        .fast_probes()
        .site("a", &[A], &["fd00:10::1"])
        .http_server("web-a1", &web_a.url("/health"))
        .site("b", &[B], &["fd00:20::1"])
        .http_server("web-b1", &web_b.url("/health"))
        .service("www.example.com.", 5, &["a", "b"])
        .line(r#"views = { near-b = ["b", "a"] }"#)
        .build()
}

/// Script expressions over what the page shows. Site `site`'s state in the sites table:
fn site_state(site: &str) -> String {
    format!(r#"document.querySelector('#sites tr[data-site="{site}"]')?.dataset.state"#)
}

/// The sites www answers (A) in `view`, as the answers table lists them.
fn answer_sites(view: &str) -> String {
    format!(r#"document.querySelector('#answers tr[data-view="{view}"][data-family="A"]')?.dataset.sites"#)
}

/// The state of the last bar in a timeline row.
fn timeline_last(subject: &str) -> String {
    format!(r#"[...document.querySelectorAll('#timeline g[data-subject="{subject}"] rect')].pop()?.dataset.state"#)
}

fn value(expression: &str) -> String {
    format!("return {expression} ?? null;")
}

fn is(expression: &str, expected: &str) -> String {
    format!("return {expression} === '{expected}';")
}

#[test]
fn status_page_shows_a_site_going_down_in_a_real_browser() {
    if !have_root("status_page_shows_a_site_going_down_in_a_real_browser") {
        return;
    }
    let pair = Pair::new(81);
    pair.server.ip(&["addr", "add", "198.18.81.11/32", "dev", "lo"]);
    pair.server.ip(&["addr", "add", "198.18.81.12/32", "dev", "lo"]);
    let web_a = HttpServer::start(&pair.server, "198.18.81.11:8080".parse::<SocketAddr>().unwrap());
    let web_b = HttpServer::start(&pair.server, "198.18.81.12:8080".parse::<SocketAddr>().unwrap());
    let metrics: SocketAddr = format!("{}:9153", pair.server_v4).parse().unwrap();
    let daemon = Daemon::start(&pair.server, &config(&pair, metrics, &web_a, &web_b));
    let a = Question::www(&pair, "A");
    a.wait_for(&[A, B], DEADLINE, || daemon.log());

    let browser = Browser::start(&pair.client);
    browser.open(&format!("http://{metrics}/"));
    let text = || browser.script("return document.body.innerText;");
    assert!(browser.wait_for(&is(&site_state("a"), "up"), DEADLINE).is_some(), "site a up on the page: {}", text());
    assert_eq!(browser.script(&value(&answer_sites("default"))), "a,b");
    assert_eq!(browser.script(&value(&answer_sites("near-b"))), "b,a", "every view's answer is listed");
    let checks = browser.script(
        r#"return [...document.querySelectorAll('#sites li')].map(li => li.dataset.check + '=' + li.dataset.state);"#,
    );
    assert_eq!(checks, serde_json::json!(["web-a1=up", "web-b1=up"]));
    assert_eq!(browser.script(&value(&timeline_last("site a"))), "up");

    // Site a's web server fails: once the daemon says so, the open page follows by itself.
    web_a.set("/health", Behavior::Status(503));
    a.wait_for(&[B], DEADLINE, || daemon.log());
    let down = browser.wait_for(&is(&site_state("a"), "down"), PAGE_FOLLOWS);
    assert!(down.is_some(), "site a down on the page within {PAGE_FOLLOWS:?} of the answer moving: {}", text());
    eprintln!("the page showed site a down {:?} after the answer moved", down.unwrap());
    assert!(browser.wait_for(&is(&answer_sites("default"), "b"), PAGE_FOLLOWS).is_some(), "{}", text());
    assert_eq!(browser.script(&value(&timeline_last("site a"))), "down");
    assert_eq!(browser.script(&value(&timeline_last("www.example.com. A default"))), "b");
    let failed = browser.script(r#"return document.querySelector('#sites li[data-check="web-a1"]').textContent;"#);
    assert!(failed.as_str().unwrap().contains("status 503"), "the failing check says why: {failed}");

    web_a.set("/health", Behavior::Ok("ok".into()));
    a.wait_for(&[A, B], DEADLINE, || daemon.log());
    let up = browser.wait_for(&is(&site_state("a"), "up"), PAGE_FOLLOWS);
    assert!(up.is_some(), "site a back up on the page: {}", text());

    // An answer set by hand shows in the row it replaces.
    daemon.cli(&["map", "set", "www.example.com", "A", "192.0.2.9"]);
    let row =
        r#"document.querySelector('#answers tr[data-view="default"][data-family="A"]')?.children[4]?.textContent"#;
    let by_hand = format!("return ({row} ?? '').startsWith('set by hand: 192.0.2.9');");
    assert!(browser.wait_for(&by_hand, PAGE_FOLLOWS).is_some(), "the override on the page: {}", text());
    let errors = browser.console_errors();
    assert!(errors.is_empty(), "the page logged errors: {errors:?}");
}
