//! One core for the server, one for the client, including the kernel's packet work.
//!
//! On a veth pair a frame is received by the NAPI poll of the receiving end, which by default
//! runs as a softirq on whichever core sent it: the server's receive path would be paid by the
//! client's core, and the XDP responder would run there too. Threaded NAPI turns each end's poll
//! into a kernel thread ("napi/<interface>-<id>") that can be pinned: the server end's to the
//! server core, the client end's to the client core. Every server then pays its own receive
//! path, and the busy time of the server core is its whole cost per query.
//!
//! A veth end only polls with NAPI when it has an XDP program or GRO on, and only for frames
//! from a peer without TSO. The client end always carries the pass program (see `Pair`), which
//! also turns TSO off on the server end; TSO on the client end is turned off here, for servers
//! without XDP. Busy time comes from /proc/stat, sampled per timer tick (this kernel has no IRQ
//! time accounting), so it is exact only over many ticks: runs of seconds, not milliseconds.

use std::process::Command;

use crate::{netns::Netns, topology::Pair};

use super::process::clock_ticks;

/// Sets up both ends: GRO on (NAPI without XDP), TSO off on the client end, and threaded NAPI.
pub fn prepare(pair: &Pair) -> Result<(), String> {
    ethtool(&pair.client, &["-K", &pair.client_if, "tso", "off"])?;
    // GRO keeps each end's NAPI (and its thread) while XDP programs come and go (kxdpgun).
    ethtool(&pair.client, &["-K", &pair.client_if, "gro", "on"])?;
    ethtool(&pair.server, &["-K", &pair.server_if, "gro", "on"])?;
    for (ns, iface) in [(&pair.server, &pair.server_if), (&pair.client, &pair.client_if)] {
        // sysfs shows a namespace's interfaces only when mounted from inside it, which
        // `ip netns exec` does.
        let status = Command::new("ip")
            .args(["netns", "exec", &ns.name, "sh", "-c"])
            .arg(format!("echo 1 > /sys/class/net/{iface}/threaded"))
            .status()
            .map_err(|e| format!("ip netns exec: {e}"))?;
        if !status.success() {
            return Err(format!("cannot switch {iface} to threaded NAPI"));
        }
    }
    Ok(())
}

fn ethtool(ns: &Netns, args: &[&str]) -> Result<(), String> {
    let out = ns.output("ethtool", args);
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ethtool {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Pins the NAPI threads of both ends to their cores. Called before each measurement, so a
/// thread the kernel recreated (interface reconfigured) is pinned too. Returns how many threads
/// were pinned per end.
pub fn pin_napi_threads(pair: &Pair, server_cpu: usize, client_cpu: usize) -> Result<(usize, usize), String> {
    let server = pin_threads_of(&pair.server_if, server_cpu)?;
    let client = pin_threads_of(&pair.client_if, client_cpu)?;
    if server == 0 || client == 0 {
        return Err(format!("NAPI threads: {server} for {}, {client} for {}", pair.server_if, pair.client_if));
    }
    Ok((server, client))
}

fn pin_threads_of(iface: &str, cpu: usize) -> Result<usize, String> {
    // Thread names are cut at 15 bytes; interface names here are at most 10.
    let wanted: String = format!("napi/{iface}-").chars().take(15).collect();
    let mut pinned = 0;
    for entry in std::fs::read_dir("/proc").map_err(|e| e.to_string())?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if !comm.trim_end().starts_with(&wanted) {
            continue;
        }
        let status = Command::new("taskset")
            .args(["-p", "-c", &cpu.to_string(), &pid.to_string()])
            .stdout(std::process::Stdio::null())
            .status()
            .map_err(|e| format!("taskset: {e}"))?;
        if !status.success() {
            return Err(format!("cannot pin {} ({pid}) to CPU {cpu}", comm.trim_end()));
        }
        pinned += 1;
    }
    Ok(pinned)
}

/// Seconds `cpu` has been busy (everything but idle and iowait) since boot.
pub fn busy_seconds(cpu: usize) -> Result<f64, String> {
    let text = std::fs::read_to_string("/proc/stat").map_err(|e| format!("/proc/stat: {e}"))?;
    let label = format!("cpu{cpu} ");
    let line = text.lines().find(|l| l.starts_with(&label)).ok_or(format!("/proc/stat has no cpu{cpu} line"))?;
    let f: Vec<u64> = line.split_whitespace().skip(1).filter_map(|n| n.parse().ok()).collect();
    if f.len() < 7 {
        return Err(format!("/proc/stat: unexpected line {line:?}"));
    }
    // user nice system idle iowait irq softirq; steal is the hypervisor's, not ours
    let total: u64 = f.iter().take(7).sum();
    let idle = f[3] + f[4];
    Ok((total - idle) as f64 / clock_ticks())
}
