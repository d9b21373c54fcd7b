//! Site rules: at least K of N web servers up, and inverted checks.

use crate::health::tests::test_server::{Behavior, TestServer};
use crate::health::tests::wait::{self, available};
use crate::health::{HealthConfig, HealthMonitor};

fn monitor(text: &str) -> HealthMonitor {
    let config: HealthConfig = toml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    config.validate().unwrap();
    HealthMonitor::start(&config).unwrap()
}

fn server(name: &str, url: &str, extra: &str) -> String {
    format!(
        "[[site.server]]\nname = \"{name}\"\ncheck = \"http\"\nurl = \"{url}\"\ninterval_ms = 20\nrise = 1\nfall = 1\n{extra}\n"
    )
}

#[tokio::test]
async fn a_site_needs_k_of_its_n_servers() {
    let webs = [
        TestServer::start(Behavior::ok("ok")).await,
        TestServer::start(Behavior::ok("ok")).await,
        TestServer::start(Behavior::ok("ok")).await,
    ];
    let mut text = "[[site]]\nname = \"a\"\nmin_servers_up = 2\n".to_string();
    for (i, web) in webs.iter().enumerate() {
        text.push_str(&server(&format!("web{i}"), &web.url("/"), ""));
    }
    let monitor = monitor(&text);
    wait::until(&monitor, "site a available", |m| available(m, "a")).await;
    webs[0].set(Behavior::status(503));
    wait::until(&monitor, "web0 down", |m| m.status().site("a").unwrap().server("web0").unwrap().up == Some(false))
        .await;
    assert!(available(&monitor, "a"), "two of three are enough");
    webs[1].set(Behavior::status(503));
    wait::until(&monitor, "site a unavailable", |m| !available(m, "a")).await;
    let cause = monitor.explain("a").unwrap();
    assert!(cause.starts_with("1 of 3 web servers up, 2 needed (web0: status 503; web1: status 503)"), "{cause}");
    assert_eq!(monitor.status().site("a").unwrap().servers_needed, 2);
    webs[0].set(Behavior::ok("ok"));
    wait::until(&monitor, "site a available again", |m| available(m, "a")).await;
}

#[tokio::test]
async fn an_inverted_check_is_up_while_its_probe_fails() {
    let web = TestServer::start(Behavior::ok("ok")).await;
    // A maintenance page: present (200) means the site must not get traffic.
    let maintenance = TestServer::start(Behavior::status(404)).await;
    let text = format!(
        "[[site]]\nname = \"a\"\nmin_servers_up = 2\n{}{}",
        server("web1", &web.url("/"), ""),
        server("not-in-maintenance", &maintenance.url("/maintenance"), "invert = true")
    );
    let monitor = monitor(&text);
    wait::until(&monitor, "site a available", |m| available(m, "a")).await;
    let status = monitor.status();
    let check = status.site("a").unwrap().server("not-in-maintenance").unwrap();
    assert!(check.inverted);
    assert_eq!(
        status.site("a").unwrap().state.rtt_us,
        status.site("a").unwrap().server("web1").unwrap().rtt_ewma_us.unwrap()
    );
    maintenance.set(Behavior::ok("down for maintenance"));
    wait::until(&monitor, "site a unavailable", |m| !available(m, "a")).await;
    let cause = monitor.explain("a").unwrap();
    assert!(cause.contains("not-in-maintenance: the check passed, and it is inverted"), "{cause}");
}

#[test]
fn k_must_fit_the_servers() {
    let text = "[[site]]\nname = \"a\"\nmin_servers_up = 3\n[[site.server]]\nname = \"w\"\ncheck = \"tcp\"\naddress = \"198.18.1.1:80\"\n";
    let error = toml::from_str::<HealthConfig>(text).unwrap().validate().unwrap_err();
    assert_eq!(error.field, "site[0] ('a').min_servers_up");
    assert_eq!(error.reason, "must be 1 to the number of servers (1)");
}
