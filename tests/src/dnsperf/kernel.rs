//! Kernel-side CPU: the machine's system/irq/softirq time from /proc/stat, and the kernel's own
//! run-time statistics of the XDP program (kernel.bpf_stats_enabled).

use super::process::clock_ticks;

const BPF_STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";

/// Seconds all CPUs spent in system, irq and softirq context so far.
pub fn machine_kernel_seconds() -> f64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let f: Vec<u64> = line.split_whitespace().skip(1).filter_map(|n| n.parse().ok()).collect();
    // user nice system idle iowait irq softirq ...
    let ticks = f.get(2).unwrap_or(&0) + f.get(5).unwrap_or(&0) + f.get(6).unwrap_or(&0);
    ticks as f64 / clock_ticks()
}

/// Turns BPF run-time statistics on while alive and restores the previous setting on drop.
pub struct BpfStats {
    previous: Option<String>,
}

impl BpfStats {
    pub fn enable() -> BpfStats {
        let previous = std::fs::read_to_string(BPF_STATS).ok();
        let _ = std::fs::write(BPF_STATS, "1");
        BpfStats { previous }
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        if let Some(p) = &self.previous {
            let _ = std::fs::write(BPF_STATS, p.trim());
        }
    }
}

/// (run_time_ns, run_cnt) of the program with this id.
pub fn program_runtime(id: u32) -> Option<(u64, u64)> {
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .find(|p| p.id() == id)
        .map(|p| (p.run_time().as_nanos() as u64, p.run_count()))
}

/// Id of the XDP program attached to `iface`, from `ip -d link show` run in the namespace.
pub fn attached_xdp_id(ip_link_output: &str) -> Option<u32> {
    let at = ip_link_output.find("prog/xdp id ")? + "prog/xdp id ".len();
    ip_link_output[at..].split_whitespace().next()?.parse().ok()
}
