//! Median and p99 of a set of timings, in milliseconds.

use serde_json::{Value, json};

pub struct Summary {
    pub trials: usize,
    pub median_ms: f64,
    pub p99_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub samples_ms: Vec<f64>,
}

/// Nearest-rank percentiles: with fewer than 100 samples p99 is the maximum, which is the
/// honest reading of so few trials.
pub fn summarize(samples_ms: &[f64]) -> Summary {
    let mut sorted = samples_ms.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = |p: f64| {
        let n = sorted.len();
        let index = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
        sorted[index]
    };
    let median = if sorted.len() % 2 == 1 {
        sorted[sorted.len() / 2]
    } else {
        (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) / 2.0
    };
    Summary {
        trials: sorted.len(),
        median_ms: median,
        p99_ms: rank(0.99),
        min_ms: sorted[0],
        max_ms: sorted[sorted.len() - 1],
        samples_ms: samples_ms.to_vec(),
    }
}

impl Summary {
    pub fn to_json(&self) -> Value {
        json!({
            "trials": self.trials,
            "median_ms": round(self.median_ms),
            "p99_ms": round(self.p99_ms),
            "min_ms": round(self.min_ms),
            "max_ms": round(self.max_ms),
            "samples_ms": self.samples_ms.iter().map(|s| round(*s)).collect::<Vec<_>>(),
        })
    }
}

/// Tenths of a millisecond: the poll interval makes finer digits noise.
pub fn round(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}
