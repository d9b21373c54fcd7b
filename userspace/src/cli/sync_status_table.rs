//! `switchyard sync status` for people: this site, then one row per peer.

use std::fmt::Write;

use crate::sync::SyncStatus;

/// `now_ms` is the caller's wall clock, so ages read "how long ago".
pub fn render(s: &SyncStatus, now_ms: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "site       {}", s.site_id);
    let _ = writeln!(out, "unstamped  {} changes", s.pending_changes);
    let _ = writeln!(out, "conflicts  {}", s.conflicts_total);
    let _ = writeln!(
        out,
        "\n{:<16} {:>8} {:>10} {:>12} {:>12} {:>10}",
        "peer", "backlog", "lag_ms", "last_sent", "last_recv", "conflicts"
    );
    for peer in &s.peers {
        let _ = writeln!(
            out,
            "{:<16} {:>8} {:>10.0} {:>12} {:>12} {:>10}",
            peer.site_id,
            peer.backlog,
            peer.lag_ms,
            age(peer.last_batch_sent_ms, now_ms),
            age(peer.last_batch_received_ms, now_ms),
            peer.conflicts
        );
    }
    out
}

fn age(at_ms: Option<f64>, now_ms: f64) -> String {
    match at_ms {
        Some(at) => format!("{:.1}s ago", ((now_ms - at) / 1000.0).max(0.0)),
        None => "never".into(),
    }
}
