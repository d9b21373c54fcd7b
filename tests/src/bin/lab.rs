//! `cargo xtask demo`: the two-site lab. Brings up two sites (HAProxy, two web app instances,
//! a SQLite database and a Switchyard DNS server with XDP each) and a client in namespaces of
//! their own, runs the story and prints its timeline. Exits non-zero when a step did not
//! happen. Everything is removed on exit, also on Ctrl-C; `--keep` leaves the lab up until then.

use std::{process::ExitCode, time::Duration};

use switchyard_tests::{
    lab::{
        Interrupt,
        addresses::{SERVICE, SITE_A, SITE_B, STATUS_PORT},
        bring_up::Lab,
        story,
        timeline::Timeline,
    },
    privileges::have_root,
};

fn main() -> ExitCode {
    let keep = std::env::args().any(|a| a == "--keep");
    if !have_root("demo") {
        return ExitCode::FAILURE;
    }
    let interrupt = Interrupt::default();
    let flag = interrupt.clone();
    ctrlc::set_handler(move || flag.raise()).expect("Ctrl-C handler");

    println!("== bringing up the lab: namespaces wan (bridge), site a, site b, client; 198.18.0.0/24 + fd00:5::/64");
    let mut lab = match Lab::new() {
        Ok(lab) => lab,
        Err(e) => {
            eprintln!("demo: the lab did not come up: {e}");
            return ExitCode::FAILURE;
        }
    };
    describe(&lab);

    println!("\n== the story (seconds since it began)");
    let mut timeline = Timeline::default();
    let result = story::run(&mut lab, &interrupt, &mut timeline);

    if let Err(e) = &result {
        println!("\ndemo: a step did not happen: {e}");
    }

    if keep && !interrupt.raised() {
        print_commands(&lab);
        while !interrupt.raised() {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    println!("\n== cleaning up");
    drop(lab);
    if result.is_ok() {
        println!("demo: every step happened");
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn describe(lab: &Lab) {
    let t = &lab.topology;
    for site in [&lab.a, &lab.b] {
        let ns = t.site(&site.plan);
        let dns = site.dns.as_ref().map(|d| d.pid()).unwrap_or_default();
        println!(
            "   site {}: namespace {}, HAProxy on {} (pid {}), web app pids {:?}, switchyard on {} (pid {dns}, XDP on wan0)",
            site.plan.name,
            ns.name,
            site.plan.vip4,
            site.haproxy.pid(),
            site.web.pids(),
            site.plan.dns4,
        );
    }
    println!("   client: namespace {} (198.18.0.100); bridge in {}", t.client.name, t.wan.name);
    println!("   database sync between the sites: table items; files in {}", lab.dir.path().display());
}

fn print_commands(lab: &Lab) {
    let client = &lab.topology.client.name;
    let bin = switchyard_tests::daemon::binary();
    println!("\nThe lab stays up until Ctrl-C. Try:");
    for site in [SITE_A, SITE_B] {
        println!("  ip netns exec {client} dig @{} {SERVICE} A +short", site.dns4);
    }
    for site in [SITE_A, SITE_B] {
        let page = format!("http://{}:{STATUS_PORT}", site.dns4);
        println!("  ip netns exec {client} curl -s {page}/status.json   # site {}'s status page: {page}/", site.name);
    }
    println!(
        "  ip netns exec {client} chromium --headless --no-sandbox --disable-gpu --screenshot=/tmp/status.png --window-size=1000,1400 http://{}:{STATUS_PORT}/",
        SITE_A.dns4
    );
    println!("  ip netns exec {client} curl -s http://{}/dbcheck", SITE_A.vip4);
    println!("  ip netns exec {client} curl -s -X POST 'http://{}/items?name=hello'", SITE_A.vip4);
    println!("  ip netns exec {client} curl -s http://{}/items", SITE_B.vip4);
    for site in [&lab.a, &lab.b] {
        if let Some(config) = site.config_path() {
            println!("  ip netns exec {client} {} status --config {}", bin.display(), config.display());
            println!("  ip netns exec {client} {} stats --config {}", bin.display(), config.display());
            println!("  {} sync status --config {}", bin.display(), config.display());
        }
        println!(
            "  ip netns exec {} curl -s 'http://127.0.0.1:8404/stats;csv'   # site {}'s HAProxy",
            lab.topology.site(&site.plan).name,
            site.plan.name
        );
    }
}
