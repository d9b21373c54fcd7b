//! kxdpgun (knot-dnsutils): a query generator that sends and receives through AF_XDP on the client
//! end, far cheaper per query than dnsperf, so the server rather than the client sets the rate.
//! It attaches its own XDP program to the client end while it runs.

use std::{net::Ipv4Addr, path::Path};

use crate::netns::Netns;

pub struct Gun {
    pub seconds: u32,
    /// Offered queries per second.
    pub qps: u32,
    pub cpu: usize,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct GunSummary {
    pub sent: u64,
    pub replies: u64,
    pub noerror: u64,
}

impl Gun {
    pub fn describe(&self) -> String {
        format!(
            "kxdpgun -t {} -Q {} -F {cpu}, one thread per queue (1 on veth), pinned to CPU {cpu}",
            self.seconds,
            self.qps,
            cpu = self.cpu
        )
    }

    pub fn run(&self, client: &Netns, iface: &str, server: Ipv4Addr, queries: &Path) -> Result<GunSummary, String> {
        let out = client
            .command("taskset")
            // -F: kxdpgun pins its threads itself, from CPU 0 unless told otherwise.
            .args([
                "-c",
                &self.cpu.to_string(),
                "kxdpgun",
                "-F",
                &self.cpu.to_string(),
                "-t",
                &self.seconds.to_string(),
            ])
            .args(["-Q", &self.qps.to_string(), "-I", iface, "-i"])
            .arg(queries)
            .arg(server.to_string())
            .output()
            .map_err(|e| format!("kxdpgun: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(format!("kxdpgun failed ({}): {}", out.status, text.trim()));
        }
        let summary = parse(&text);
        if summary.sent == 0 {
            return Err(format!("kxdpgun sent nothing: {}", text.trim()));
        }
        Ok(summary)
    }
}

/// kxdpgun 3.2's end-of-run lines ("total queries: N (P pps)", "total replies: N ...",
/// "responded NOERROR: N").
pub fn parse(text: &str) -> GunSummary {
    let count = |label: &str| {
        text.lines()
            .find_map(|l| l.trim_start().strip_prefix(label))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    GunSummary { sent: count("total queries:"), replies: count("total replies:"), noerror: count("responded NOERROR:") }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_kxdpgun_3_2_totals() {
        let s = super::parse(
            "using interface kxc, XDP threads 1, UDP, native mode\nthread#00: sent 300010, received 300010\n\
             total queries:     300010 (100003 pps)\ntotal replies:     299000 (99667 pps) (99%)\n\
             average DNS reply size: 65 B\nresponded NOERROR:   298000\nduration: 3 s\n",
        );
        assert_eq!((s.sent, s.replies, s.noerror), (300010, 299000, 298000));
    }
}
