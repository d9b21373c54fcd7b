//! How often and how fast the XDP answer map was rewritten, for the metrics.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::bpf::writer::WriteStats;

#[derive(Default)]
pub struct RewriteCounters {
    pub rewrites: AtomicU64,
    pub failures: AtomicU64,
    pub entries_written: AtomicU64,
    pub entries_removed: AtomicU64,
    pub overrides_kept: AtomicU64,
    pub micros_total: AtomicU64,
    pub last_micros: AtomicU64,
}

impl RewriteCounters {
    pub fn record(&self, stats: &WriteStats) {
        let micros = stats.elapsed.as_micros() as u64;
        self.rewrites.fetch_add(1, Ordering::Relaxed);
        self.entries_written.fetch_add(stats.written as u64, Ordering::Relaxed);
        self.entries_removed.fetch_add(stats.removed as u64, Ordering::Relaxed);
        self.overrides_kept.fetch_add(stats.overrides_kept as u64, Ordering::Relaxed);
        self.micros_total.fetch_add(micros, Ordering::Relaxed);
        self.last_micros.store(micros, Ordering::Relaxed);
    }
}
