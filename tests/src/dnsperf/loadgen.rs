//! dnsperf run from the client namespace, its summary parsed, its own CPU use measured.

use std::{
    io::Read,
    net::Ipv4Addr,
    path::Path,
    process::{Command, Stdio},
    time::Instant,
};

use crate::netns::Netns;

#[derive(Clone)]
pub struct Load {
    pub seconds: u32,
    pub clients: u32,
    pub outstanding: u32,
    pub max_qps: Option<u32>,
    /// Queries with an EDNS OPT record (dnsperf -e).
    pub edns: bool,
    /// Queries with DO=1 (dnsperf -D, which implies EDNS): for the signed rows.
    pub dnssec: bool,
    pub cpu: usize,
}

/// Length of the fixed-rate latency run.
const LATENCY_SECONDS: u32 = 3;

/// Response latency percentiles at a fixed offered rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub rate: u32,
    pub responses: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub sent: u64,
    pub completed: u64,
    pub lost: u64,
    pub qps: f64,
    pub avg_latency_s: Option<f64>,
    pub latency_stddev_s: Option<f64>,
    pub response_bytes: Option<u64>,
    pub noerror: u64,
    /// Wall time dnsperf ran, and the CPU it used (user + system), both in seconds.
    pub wall_s: f64,
    pub client_cpu_s: f64,
    pub output: String,
}

impl Load {
    pub fn describe(&self) -> String {
        let q = self.max_qps.map(|q| format!(" -Q {q}")).unwrap_or_default();
        let e = if self.dnssec {
            " -D"
        } else if self.edns {
            " -e"
        } else {
            ""
        };
        format!(
            "dnsperf -l {} -c {} -q {}{q}{e}, one thread, pinned to CPU {}",
            self.seconds, self.clients, self.outstanding, self.cpu
        )
    }

    fn command(&self, client: &Netns, server: Ipv4Addr, queries: &Path, seconds: u32, max_qps: Option<u32>) -> Command {
        let mut cmd = client.command("taskset");
        cmd.args(["-c", &self.cpu.to_string(), "dnsperf", "-s", &server.to_string(), "-d"]).arg(queries).args([
            "-l",
            &seconds.to_string(),
            "-c",
            &self.clients.to_string(),
            "-q",
            &self.outstanding.to_string(),
            "-T",
            "1",
        ]);
        if let Some(q) = max_qps {
            cmd.args(["-Q", &q.to_string()]);
        }
        if self.dnssec {
            cmd.arg("-D");
        } else if self.edns {
            cmd.arg("-e");
        }
        cmd
    }

    /// Latency at a fixed offered rate, from the per-response lines of a verbose run (dnsperf
    /// 2.10 reports no percentiles). At full load latency mostly measures the queue that `-q`
    /// allows, so the percentiles are taken at a rate every server here sustains.
    pub fn latency(&self, client: &Netns, server: Ipv4Addr, queries: &Path, rate: u32) -> Result<Latency, String> {
        let out = self
            .command(client, server, queries, LATENCY_SECONDS, Some(rate))
            .arg("-v")
            .output()
            .map_err(|e| format!("dnsperf: {e}"))?;
        if !out.status.success() {
            return Err(format!("dnsperf -v failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        let mut seconds = response_latencies(&String::from_utf8_lossy(&out.stdout));
        if seconds.is_empty() {
            return Err("dnsperf -v reported no response".into());
        }
        seconds.sort_by(f64::total_cmp);
        let at = |p: f64| seconds[((seconds.len() - 1) as f64 * p).round() as usize] * 1e3;
        Ok(Latency { rate, responses: seconds.len() as u64, p50_ms: at(0.50), p99_ms: at(0.99) })
    }

    pub fn run(&self, client: &Netns, server: Ipv4Addr, queries: &Path) -> Result<Summary, String> {
        let mut cmd = self.command(client, server, queries, self.seconds, self.max_qps);
        let started = Instant::now();
        let mut child =
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(|e| format!("dnsperf: {e}"))?;
        let mut output = String::new();
        child.stdout.take().unwrap().read_to_string(&mut output).map_err(|e| format!("dnsperf output: {e}"))?;
        let mut err = String::new();
        let _ = child.stderr.take().unwrap().read_to_string(&mut err);
        // wait4 rather than wait: it also returns the CPU time dnsperf used.
        let mut status = 0;
        // SAFETY: zeroed rusage is a valid out-parameter.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: waiting for our own child by PID.
        let rc = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
        let wall_s = started.elapsed().as_secs_f64();
        if rc < 0 || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            return Err(format!("dnsperf failed (status {status}): {}{}", err.trim(), output.trim()));
        }
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        let mut s = parse(&output);
        s.wall_s = wall_s;
        s.client_cpu_s = tv(usage.ru_utime) + tv(usage.ru_stime);
        s.output = output;
        Ok(s)
    }
}

/// Seconds per answered query from dnsperf -v lines such as "> NOERROR www.example.com A 0.000120";
/// timeouts ("> T ...") carry no latency and are left out (they count as lost).
pub fn response_latencies(text: &str) -> Vec<f64> {
    text.lines()
        .filter_map(|l| l.strip_prefix("> NOERROR "))
        .filter_map(|l| l.split_whitespace().last()?.parse().ok())
        .collect()
}

/// The first number after `label` on its line.
fn number_after<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let line = text.lines().find(|l| l.trim_start().starts_with(label))?;
    line[line.find(label)? + label.len()..].split_whitespace().next()
}

/// dnsperf 2.x's end-of-run statistics.
pub fn parse(text: &str) -> Summary {
    let int = |label| number_after(text, label).and_then(|n| n.parse::<u64>().ok());
    let float = |label| number_after(text, label).and_then(|n| n.parse::<f64>().ok());
    let noerror = text
        .lines()
        .find(|l| l.trim_start().starts_with("Response codes:"))
        .and_then(|l| l.split("NOERROR").nth(1)?.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let response_bytes = text
        .lines()
        .find(|l| l.trim_start().starts_with("Average packet size:"))
        .and_then(|l| l.split("response").nth(1)?.trim().parse().ok());
    Summary {
        sent: int("Queries sent:").unwrap_or(0),
        completed: int("Queries completed:").unwrap_or(0),
        lost: int("Queries lost:").unwrap_or(0),
        qps: float("Queries per second:").unwrap_or(0.0),
        avg_latency_s: float("Average Latency (s):"),
        latency_stddev_s: float("Latency StdDev (s):"),
        response_bytes,
        noerror,
        ..Summary::default()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_latencies_of_answered_queries_only() {
        let text = "[Status] Sending queries\n> NOERROR www.example.com A 0.000485\n> T www.example.com AAAA\n\
                    > NOERROR n1.example.com AAAA 0.001200\n> SERVFAIL x.example.com A 0.000100\n";
        assert_eq!(super::response_latencies(text), vec![0.000485, 0.0012]);
    }

    #[test]
    fn parses_dnsperf_2_10_statistics() {
        let s = super::parse(
            "Statistics:\n\n  Queries sent:         200\n  Queries completed:    198 (99.00%)\n  Queries lost:         2 (1.00%)\n\n\
             \x20 Response codes:       NOERROR 198 (100.00%)\n  Average packet size:  request 36, response 100\n\
             \x20 Run time (s):         1.000\n  Queries per second:   198.000\n\n\
             \x20 Average Latency (s):  0.000120 (min 0.000010, max 0.002000)\n  Latency StdDev (s):   0.000050\n",
        );
        assert_eq!((s.sent, s.completed, s.lost, s.noerror, s.response_bytes), (200, 198, 2, 198, Some(100)));
        assert_eq!((s.qps, s.avg_latency_s, s.latency_stddev_s), (198.0, Some(0.00012), Some(0.00005)));
    }
}
