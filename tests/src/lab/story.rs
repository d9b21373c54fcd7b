//! The scripted story: both sites up, a write travelling from A to B, then site A's web
//! servers, each site's database in turn and site A's DNS server failing one after the other
//! (and coming back), while a client keeps using the service. Each step waits for what it
//! expects, with a deadline.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use super::{
    Interrupt,
    addresses::{DatabaseCheck, SERVICE, SITE_A, SITE_B, STATUS_PORT, SitePlan},
    bring_up::Lab,
    client_loop::ClientLoop,
    daemon_config, http,
    timeline::{Timeline, secs},
};
use crate::answers::Question;

/// How long any one step may take to show.
pub const DEADLINE: Duration = Duration::from_secs(5);

type Step = Result<(), String>;

/// Runs the story on a lab that is up. On failure the timeline has a FAIL line and the error
/// carries the DNS servers' recent logs.
pub fn run(lab: &mut Lab, interrupt: &Interrupt, tl: &mut Timeline) -> Step {
    let result = steps(lab, interrupt, tl);
    if let Err(e) = &result {
        tl.fail(e);
        if !interrupt.raised() {
            return Err(format!("{e}\n{}", lab.logs()));
        }
    }
    result
}

fn steps(lab: &mut Lab, interrupt: &Interrupt, tl: &mut Timeline) -> Step {
    let both = [SITE_A.vip4, SITE_B.vip4];
    let b_only = [SITE_B.vip4];
    let dns_both = [&SITE_A, &SITE_B];

    // Answers alone could mislead here: with every site down the daemon answers all of them.
    let took = wait_available(lab, interrupt)?;
    tl.note(&format!("both DNS servers see sites a and b available {}", at(&dns_both, &took)));
    let took = wait_answers(lab, interrupt, &dns_both, &both)?;
    tl.ok(&format!("both sites up: A then B {}", at(&dns_both, &took)));
    let aaaa = ask(lab, &SITE_A, "AAAA").unwrap_or_default();
    tl.note(&format!("AAAA at dns-a: {}", aaaa.join(" ")));

    let client =
        ClientLoop::start(&lab.topology.client, vec![SITE_A.dns4.parse().unwrap(), SITE_B.dns4.parse().unwrap()])?;
    tl.note("client loop started: resolve at dns-a (else dns-b), GET /items from the first address that works");

    write_travels(lab, interrupt, tl)?;
    status_pages(lab, tl)?;

    // Site A's web servers stop: HAProxy marks them down, the daemon reads that from its stats.
    let pids = lab.a.web.pids();
    lab.a.web.stop();
    tl.note(&format!("site A's web servers stopped (pids {pids:?})"));
    let took = wait_answers(lab, interrupt, &dns_both, &b_only)?;
    tl.ok(&format!("B only {}", at(&dns_both, &took)));
    let (site, ns) = lab.site_mut(&SITE_A);
    site.web.start(ns)?;
    tl.note("site A's web servers started again");
    let took = wait_answers(lab, interrupt, &dns_both, &both)?;
    tl.ok(&format!("A then B again {}", at(&dns_both, &took)));

    // Each site's database breaks in turn: the check page loses its keyword. Site A's DNS server
    // fetches that page itself, site B's reads HAProxy's check of it from HAProxy's stats.
    database_breaks(lab, interrupt, tl, &SITE_A)?;
    database_breaks(lab, interrupt, tl, &SITE_B)?;

    // Site A's DNS server dies: its heartbeats stop, site B's server drops site A.
    lab.a.kill_dns();
    tl.note("site A's DNS server killed (SIGKILL)");
    let took = wait_answers(lab, interrupt, &[&SITE_B], &b_only)?;
    tl.ok(&format!("B only {}", at(&[&SITE_B], &took)));

    let (site, ns) = lab.site_mut(&SITE_A);
    site.start_dns(ns);
    tl.note("site A's DNS server started again");
    let took = wait_available(lab, interrupt)?;
    tl.note(&format!("both DNS servers see sites a and b available {}", at(&dns_both, &took)));
    let took = wait_answers(lab, interrupt, &dns_both, &both)?;
    tl.ok(&format!("everything back: A then B {}", at(&dns_both, &took)));

    let counts = client.counts();
    drop(client);
    let served: Vec<String> = counts.served.iter().map(|(addr, n)| format!("{addr} ×{n}")).collect();
    let summary = format!(
        "client kept working: {} rounds, {} ok, {} errors (served by {})",
        counts.rounds,
        counts.ok,
        counts.errors,
        served.join(", ")
    );
    if counts.errors > 0 || counts.ok == 0 {
        return Err(format!("{summary}; last error: {}", counts.last_error.unwrap_or_default()));
    }
    tl.ok(&summary);
    for site in [&lab.a, &lab.b] {
        if let Some(dns) = &site.dns {
            tl.note(&format!("dns-{}: {} A answers from XDP", site.plan.name, dns.xdp_counter("answered_v4")));
        }
    }
    Ok(())
}

/// Breaks `site`'s database, waits until both DNS servers answer with the other site only,
/// shows what decided at the site's own DNS server, then repairs it and waits for both sites.
fn database_breaks(lab: &Lab, interrupt: &Interrupt, tl: &mut Timeline, site: &SitePlan) -> Step {
    let dns_both = [&SITE_A, &SITE_B];
    let other = site.other();
    let (name, upper) = (site.db_name(), site.upper());
    lab.site(site).db.break_it()?;
    let page = dbcheck(lab, site);
    tl.note(&format!("site {upper}'s database broken (table renamed); /dbcheck at {upper}: {page}"));
    if page.contains(&name) {
        return Err(format!("the database check page still names {name}"));
    }
    let took = wait_answers(lab, interrupt, &dns_both, &[other.vip4])?;
    let expected = expected_detection(site);
    tl.ok(&format!("keyword {name} missing → {} only {}; {expected}", other.upper(), at(&dns_both, &took)));
    tl.note(&format!("dns-{}: {}", site.name, database_state(lab, site)?));
    lab.site(site).db.repair()?;
    tl.note(&format!("site {upper}'s database repaired; /dbcheck at {upper}: {}", dbcheck(lab, site)));
    let took = wait_answers(lab, interrupt, &dns_both, &[SITE_A.vip4, SITE_B.vip4])?;
    tl.ok(&format!("A then B again {}", at(&dns_both, &took)));
    Ok(())
}

/// "detection bound 0.700 s at dns-a, 0.800 s at dns-b (page fetched by dns-a)": the own DNS
/// server's bound, and one heartbeat period more at the other site's.
fn expected_detection(site: &SitePlan) -> String {
    let own = daemon_config::database_detection(site);
    let other = own + Duration::from_millis(daemon_config::PEER_PERIOD_MS);
    let how = match site.database_check {
        DatabaseCheck::Page => format!("page fetched by dns-{}", site.name),
        DatabaseCheck::Haproxy => format!("HAProxy's check read by dns-{}", site.name),
    };
    format!("detection bound {} at dns-{}, {} at dns-{} ({how})", secs(own), site.name, secs(other), site.other().name)
}

/// The database line of the site's own DNS server's status: its state, which source decided
/// and why (for HAProxy, its own last check of each server).
fn database_state(lab: &Lab, site: &SitePlan) -> Result<String, String> {
    let dns = lab.site(site).dns.as_ref().ok_or_else(|| format!("site {}'s DNS server is not running", site.name))?;
    let status: serde_json::Value = serde_json::from_str(&dns.cli(&["status", "--json"])).map_err(|e| e.to_string())?;
    let sites = status["sites"].as_array().cloned().unwrap_or_default();
    let database = sites
        .iter()
        .find(|s| s["name"] == site.name)
        .map(|s| s["database_state"].clone())
        .filter(|d| !d.is_null())
        .ok_or_else(|| format!("dns-{}: no database in the status: {status}", site.name))?;
    let state = if database["up"] == true { "ok" } else { "down" };
    let decided: Vec<&str> =
        database["decided_by"].as_array().into_iter().flatten().filter_map(|s| s.as_str()).collect();
    Ok(format!(
        "database {} {state}, decided by {}: {}",
        database["name"].as_str().unwrap_or_default(),
        decided.join(" and "),
        database["cause"].as_str().unwrap_or_default()
    ))
}

/// A row written through site A's load balancer shows up through site B's.
fn write_travels(lab: &Lab, interrupt: &Interrupt, tl: &mut Timeline) -> Step {
    let name = format!("written-at-a-{}", std::process::id());
    let vip = |site: &SitePlan| SocketAddr::new(site.vip4.parse().unwrap(), 80);
    let (status, id) = http::request_in(&lab.topology.client, "POST", vip(&SITE_A), &format!("/items?name={name}"))?;
    if status != 200 {
        return Err(format!("POST /items at site A: status {status}: {id}"));
    }
    tl.note(&format!("wrote item {} ({name}) at site A", id.trim()));
    let started = Instant::now();
    loop {
        if let Ok((200, body)) = http::request_in(&lab.topology.client, "GET", vip(&SITE_B), "/items")
            && body.contains(&name)
        {
            tl.ok(&format!("the write at site A is visible at site B after {}", secs(started.elapsed())));
            return Ok(());
        }
        check_time(started, interrupt, || format!("the write at site A ({name}) not visible at site B"))?;
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Each DNS server's status page shows the other site's DNS server alive and the database sync
/// with the other site.
fn status_pages(lab: &Lab, tl: &mut Timeline) -> Step {
    for site in [&SITE_A, &SITE_B] {
        let other = site.other().name;
        let address = SocketAddr::new(site.dns4.parse().unwrap(), STATUS_PORT);
        let (code, body) = http::request_in(&lab.topology.client, "GET", address, "/status.json")?;
        let page: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| format!("status.json at {address}: {e}"))?;
        let peer = &page["peers"]["peers"][0];
        let sync_peer = &page["sync"]["peers"][0];
        if code != 200 || peer["site"] != other || peer["alive"] != true || sync_peer["site_id"] != other {
            return Err(format!(
                "dns-{}'s status page does not show {other} alive and synced: {code} {body}",
                site.name
            ));
        }
        tl.note(&format!(
            "dns-{}'s status page: peer {other} alive, sync backlog {}, lag {} ms",
            site.name, sync_peer["backlog"], sync_peer["lag_ms"]
        ));
    }
    Ok(())
}

/// Asks each site's DNS server until every one answers `expected`; how long each took.
fn wait_answers(
    lab: &Lab,
    interrupt: &Interrupt,
    servers: &[&SitePlan],
    expected: &[&str],
) -> Result<Vec<Duration>, String> {
    let started = Instant::now();
    let mut took: Vec<Option<Duration>> = vec![None; servers.len()];
    let mut last = vec![None; servers.len()];
    loop {
        for (i, site) in servers.iter().enumerate() {
            if took[i].is_some() {
                continue;
            }
            last[i] = ask(lab, site, "A");
            if last[i].as_deref().is_some_and(|got: &[String]| got == expected) {
                took[i] = Some(started.elapsed());
            }
        }
        if took.iter().all(Option::is_some) {
            return Ok(took.into_iter().flatten().collect());
        }
        check_time(started, interrupt, || {
            let seen: Vec<String> = servers.iter().zip(&last).map(|(s, l)| format!("dns-{}: {l:?}", s.name)).collect();
            format!("expected {expected:?}, last answers {}", seen.join(", "))
        })?;
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until each DNS server's status says both sites are available; how long each took.
fn wait_available(lab: &Lab, interrupt: &Interrupt) -> Result<Vec<Duration>, String> {
    let started = Instant::now();
    let mut took = Vec::new();
    for site in [&lab.a, &lab.b] {
        let dns = site.dns.as_ref().ok_or_else(|| format!("site {}'s DNS server is not running", site.plan.name))?;
        loop {
            let status: serde_json::Value =
                serde_json::from_str(&dns.cli(&["status", "--json"])).map_err(|e| e.to_string())?;
            let available = |name: &str| {
                status["sites"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|s| s["name"] == name && s["state"]["available"] == true)
            };
            if available(SITE_A.name) && available(SITE_B.name) {
                took.push(started.elapsed());
                break;
            }
            check_time(started, interrupt, || {
                format!("dns-{}: not both sites available: {}", site.plan.name, status["sites"])
            })?;
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(took)
}

fn ask(lab: &Lab, site: &SitePlan, qtype: &str) -> Option<Vec<String>> {
    Question { client: &lab.topology.client, server: site.dns4.to_string(), name: SERVICE, qtype, source: None }.ask()
}

fn check_time(started: Instant, interrupt: &Interrupt, what: impl FnOnce() -> String) -> Step {
    if interrupt.raised() {
        return Err("interrupted".into());
    }
    if started.elapsed() > DEADLINE {
        return Err(format!("not within {}: {}", secs(DEADLINE), what()));
    }
    Ok(())
}

/// "at dns-a after 0.312 s, at dns-b after 0.405 s"
fn at(servers: &[&SitePlan], took: &[Duration]) -> String {
    let parts: Vec<String> =
        servers.iter().zip(took).map(|(s, t)| format!("dns-{} after {}", s.name, secs(*t))).collect();
    format!("(at {})", parts.join(", at "))
}

/// The database check page at `site`'s load balancer, on one line.
fn dbcheck(lab: &Lab, site: &SitePlan) -> String {
    let vip = SocketAddr::new(site.vip4.parse().unwrap(), 80);
    match http::request_in(&lab.topology.client, "GET", vip, "/dbcheck") {
        Ok((status, body)) => format!("{status} {:?}", body.trim().replace('\n', "; ")),
        Err(e) => e,
    }
}
