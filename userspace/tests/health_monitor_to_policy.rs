//! Public API only: a daemon-like config feeds the monitor, whose published
//! site states drive the policy.

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;
use switchyard::config::fixture::ConfigText;
use switchyard::health::{HealthMonitor, ProbeOverrides, SiteConfig};
use switchyard::policy::{Family, Policy, PolicyConfig, ServiceConfig, diff};
use switchyard::site::SiteMap;
use tokio::net::TcpListener;

/// How a daemon's own top-level config can embed both parts.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DaemonConfig {
    #[serde(default)]
    probe: ProbeOverrides,
    site: Vec<SiteConfig>,
    service: Vec<ServiceConfig>,
}

async fn wait_for(rx: &mut tokio::sync::watch::Receiver<SiteMap>, what: &str, f: impl Fn(&SiteMap) -> bool) {
    tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|map| f(map)))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .expect("monitor alive");
}

#[tokio::test]
async fn site_failure_moves_answers_to_the_other_site() {
    let web_a = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let web_b = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let text = ConfigText::new()
        .table("[probe]", &["interval_ms = 20", "rise = 1", "fall = 1"])
        .site("a", &["198.18.1.10"], &[])
        .tcp_server("web1", &web_a.local_addr().unwrap().to_string())
        .site("b", &["198.18.2.10"], &["fd00:2::10"])
        .tcp_server("web1", &web_b.local_addr().unwrap().to_string())
        .service("www.example.com", 30, &["a", "b"])
        .build();
    let config: DaemonConfig = toml::from_str(&text).unwrap();
    let health = switchyard::health::HealthConfig { probe: config.probe, sites: config.site };
    let policy_config = PolicyConfig { services: config.service };
    let mut policy = Policy::new(&policy_config, &health.site_addresses()).unwrap();
    let monitor = HealthMonitor::start(&health).unwrap();
    let mut rx = monitor.subscribe();

    wait_for(&mut rx, "both sites available", |m| m.values().all(|s| s.available)).await;
    let both = policy.evaluate(&monitor.sites());
    let a: IpAddr = "198.18.1.10".parse().unwrap();
    let b: IpAddr = "198.18.2.10".parse().unwrap();
    assert_eq!(both.addrs("www.example.com", Family::A, None), [a, b]);

    drop(web_a);
    wait_for(&mut rx, "site a unavailable", |m| !m["a"].available).await;
    let failed = policy.evaluate(&monitor.sites());
    assert_eq!(failed.addrs("www.example.com", Family::A, None), [b]);
    let changed: Vec<Family> = diff(&both, &failed).iter().map(|c| c.key.family).collect();
    assert_eq!(changed, [Family::A], "AAAA only ever had site b");
}
