//! One result row per server, the JSON file and the markdown table.

use serde_json::{Value, json};

use super::loadgen::Latency;

#[derive(Debug, Default, Clone)]
pub struct Row {
    pub name: String,
    pub settings: String,
    /// Why the server was not measured, when it was not.
    pub failed: Option<String>,
    pub qps: f64,
    pub avg_latency_ms: Option<f64>,
    pub latency_stddev_ms: Option<f64>,
    /// Percentiles from the fixed-rate run.
    pub fixed_rate_latency: Option<Latency>,
    pub sent: u64,
    pub completed: u64,
    pub lost: u64,
    pub noerror: u64,
    pub response_bytes: Option<u64>,
    /// The headline figure, on the same basis for every server: busy time of the server core.
    pub cpu_us_per_query: Option<f64>,
    /// What `cpu_us_per_query` counts.
    pub cpu_basis: String,
    /// User+system time of the server's processes (nothing for the XDP path's kernel work).
    pub process_cpu_us_per_query: Option<f64>,
    /// Busy time of the client core (dnsperf and the client end's packet work).
    pub client_core_us_per_query: Option<f64>,
    pub machine_kernel_us_per_query: Option<f64>,
    pub bpf_ns_per_query: Option<f64>,
    /// Share of the answers the XDP program sent itself (the rest fell back to the daemon).
    pub xdp_answered_percent: Option<f64>,
    pub client_cpu_percent: f64,
    /// Busy share of the client core over the run.
    pub client_core_percent: f64,
    pub client_bound: bool,
    /// Every full-load run's server-core CPU and qps; the row's own figures are the median run's.
    pub round_cpu_us_per_query: Vec<f64>,
    pub round_qps: Vec<f64>,
    /// The floor the row is held to (`floors::of`) and its server-core CPU as a multiple of it.
    pub floor: Option<String>,
    pub x_floor: Option<f64>,
}

impl Row {
    pub fn failed(name: &str, settings: &str, reason: String) -> Row {
        Row { name: name.into(), settings: settings.into(), failed: Some(reason), ..Row::default() }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "qps": round(self.qps, 1),
            "avg_latency_ms": self.avg_latency_ms.map(|v| round(v, 4)),
            "p50_latency_ms": self.fixed_rate_latency.map(|l| round(l.p50_ms, 4)),
            "p99_latency_ms": self.fixed_rate_latency.map(|l| round(l.p99_ms, 4)),
            "latency_qps": self.fixed_rate_latency.map(|l| l.rate),
            "latency_responses": self.fixed_rate_latency.map(|l| l.responses),
            "latency_stddev_ms": self.latency_stddev_ms.map(|v| round(v, 4)),
            "lost": self.lost,
            "sent": self.sent,
            "completed": self.completed,
            "noerror": self.noerror,
            "response_bytes": self.response_bytes,
            "cpu_us_per_query": self.cpu_us_per_query.map(|v| round(v, 3)),
            "cpu_basis": self.cpu_basis,
            "process_cpu_us_per_query": self.process_cpu_us_per_query.map(|v| round(v, 3)),
            "client_core_us_per_query": self.client_core_us_per_query.map(|v| round(v, 3)),
            "machine_kernel_us_per_query": self.machine_kernel_us_per_query.map(|v| round(v, 3)),
            "bpf_ns_per_query": self.bpf_ns_per_query.map(|v| round(v, 1)),
            "xdp_answered_percent": self.xdp_answered_percent.map(|v| round(v, 1)),
            "client_cpu_percent": round(self.client_cpu_percent, 1),
            "client_core_percent": round(self.client_core_percent, 1),
            "client_bound": self.client_bound,
            "round_cpu_us_per_query": self.round_cpu_us_per_query.iter().map(|v| round(*v, 3)).collect::<Vec<_>>(),
            "round_qps": self.round_qps.iter().map(|v| round(*v, 1)).collect::<Vec<_>>(),
            "floor": self.floor,
            "cpu_x_floor": self.x_floor.map(|v| round(v, 2)),
            "settings": self.settings,
            "failed": self.failed,
        })
    }
}

fn round(v: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (v * m).round() / m
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|v| format!("{v:.digits$}")).unwrap_or_else(|| "n/a".into())
}

pub fn markdown(rows: &[Row]) -> String {
    let mut t = String::from(
        "| server | qps | avg latency ms | p50 / p99 ms at fixed rate | lost | server core µs/query | × floor | process CPU µs/query | BPF ns/query | XDP answered % | client core µs/query | client core busy % | client-bound |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for r in rows {
        if let Some(why) = &r.failed {
            t.push_str(&format!(
                "| {} | failed: {} | | | | | | | | | | | |\n",
                r.name,
                why.replace('|', "/").replace('\n', " ")
            ));
            continue;
        }
        t.push_str(&format!(
            "| {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {} |\n",
            r.name,
            r.qps,
            opt(r.avg_latency_ms, 3),
            r.fixed_rate_latency.map(|l| format!("{:.3} / {:.3}", l.p50_ms, l.p99_ms)).unwrap_or_else(|| "n/a".into()),
            r.lost,
            opt(r.cpu_us_per_query, 2),
            opt(r.x_floor, 2),
            opt(r.process_cpu_us_per_query, 2),
            opt(r.bpf_ns_per_query, 0),
            opt(r.xdp_answered_percent, 1),
            opt(r.client_core_us_per_query, 2),
            r.client_core_percent,
            if r.client_bound { "yes" } else { "no" },
        ));
    }
    t
}

/// One server under kxdpgun.
#[derive(Debug, Default, Clone)]
pub struct GunRow {
    pub name: String,
    pub failed: Option<String>,
    pub offered_qps: u32,
    pub sent: u64,
    pub replies: u64,
    pub noerror: u64,
    pub answered_qps: f64,
    pub server_core_us_per_query: f64,
    pub process_cpu_us_per_query: f64,
    pub server_core_percent: f64,
    pub client_core_percent: f64,
    /// The floor the row is held to and its server-core CPU per answer as a multiple of it.
    pub floor: Option<String>,
    pub x_floor: Option<f64>,
}

impl GunRow {
    pub fn failed(name: &str, reason: String) -> GunRow {
        GunRow { name: name.into(), failed: Some(reason), ..GunRow::default() }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "offered_qps": self.offered_qps,
            "sent": self.sent,
            "replies": self.replies,
            "noerror": self.noerror,
            "answered_qps": round(self.answered_qps, 1),
            "server_core_us_per_query": round(self.server_core_us_per_query, 3),
            "process_cpu_us_per_query": round(self.process_cpu_us_per_query, 3),
            "server_core_percent": round(self.server_core_percent, 1),
            "client_core_percent": round(self.client_core_percent, 1),
            "floor": self.floor,
            "server_core_x_floor": self.x_floor.map(|v| round(v, 2)),
            "failed": self.failed,
        })
    }
}

pub fn gun_markdown(rows: &[GunRow]) -> String {
    let mut t = String::from(
        "| server | answered qps | replies % | server core µs/query | × floor | process CPU µs/query | server core busy % | client core busy % |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        if let Some(why) = &r.failed {
            t.push_str(&format!("| {} | failed: {} | | | | | | |\n", r.name, why.replace('|', "/").replace('\n', " ")));
            continue;
        }
        t.push_str(&format!(
            "| {} | {:.0} | {:.1} | {:.2} | {} | {:.2} | {:.0} | {:.0} |\n",
            r.name,
            r.answered_qps,
            r.replies as f64 * 100.0 / r.sent.max(1) as f64,
            r.server_core_us_per_query,
            opt(r.x_floor, 2),
            r.process_cpu_us_per_query,
            r.server_core_percent,
            r.client_core_percent,
        ));
    }
    t
}
