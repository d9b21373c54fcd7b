//! `cargo xtask demo`: a self-contained lab. Creates a server and a client namespace joined by a
//! veth pair, starts Switchyard with XDP on the server end, and shows a query answered in the
//! kernel and one answered in userspace. Removes everything on exit, also on Ctrl-C.

use std::{
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use switchyard_tests::{client, daemon::Daemon, privileges::have_root, topology::Pair};

fn config(pair: &Pair) -> String {
    format!(
        r#"
[server]
instance = "demo"
dns_port = 53

[xdp]
interfaces = ["{iface}"]
mode = "native"

[[zone]]
name = "example.com."
ns = ["ns1.example.com."]
soa = {{ mname = "ns1.example.com.", rname = "hostmaster.example.com." }}

[[service]]
name = "www.example.com."
ttl = 30
a = ["198.18.10.1", "198.18.20.1"]
aaaa = ["fd00:10::1", "fd00:20::1"]

[[service]]
name = "ns1.example.com."
a = ["{server}"]
"#,
        iface = pair.server_if,
        server = pair.server_v4
    )
}

fn main() -> ExitCode {
    let keep = std::env::args().any(|a| a == "--keep");
    if !have_root("demo") {
        return ExitCode::FAILURE;
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst)).expect("Ctrl-C handler");

    println!("== building the lab: namespaces {{server, client}}, one veth pair, 198.18.0.0/24 + fd00::/64");
    let pair = Pair::new(0);
    let daemon = Daemon::start(&pair.server, &config(&pair));
    println!("   switchyard running in {} (pid {}), XDP on {}", pair.server.name, daemon.pid(), pair.server_if);

    let server = format!("@{}", pair.server_v4);
    let mut ok = true;
    let a = client::dig(&pair.client, &[&server, "www.example.com", "A", "+noall", "+answer"]);
    println!("\n== dig www.example.com A (from {})\n{}", pair.client.name, a.trim_end());
    let xdp_answered = daemon.xdp_counter("answered_v4");
    println!("   answered in the kernel by XDP: {xdp_answered}, seen by the userspace socket: {}", daemon.userspace_counter("udp"));
    ok &= xdp_answered == 1 && a.contains("198.18.10.1");

    let soa = client::dig(&pair.client, &[&server, "example.com", "SOA", "+noall", "+answer"]);
    println!("\n== dig example.com SOA\n{}", soa.trim_end());
    let userspace = daemon.userspace_counter("answered");
    println!("   answered by the userspace server: {userspace}");
    ok &= userspace == 1 && soa.contains("hostmaster.example.com.");

    println!("\n== switchyard stats\n{}", daemon.cli(&["stats"]).trim_end());

    if keep && ok {
        println!("\nThe lab stays up until Ctrl-C. Try:");
        println!("  ip netns exec {} dig {server} www.example.com AAAA", pair.client.name);
        println!("  ip netns exec {} kdig {server} www.example.com A", pair.client.name);
        println!("  {} stats --config {}", switchyard_tests::daemon::binary().display(), daemon.config.display());
        while !interrupted.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    println!("\n== cleaning up");
    drop(daemon);
    drop(pair);
    if ok {
        println!("demo: every step happened");
        ExitCode::SUCCESS
    } else {
        println!("demo: a step did not happen (see above)");
        ExitCode::FAILURE
    }
}
