//! `switchyard sync status` for people: this site, one row per peer, the
//! anti-entropy checks, and the quarantine.

use std::fmt::Write;

use crate::sync::SyncStatus;

/// `now_ms` is the caller's wall clock, so ages read "how long ago".
pub fn render(s: &SyncStatus, now_ms: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "site         {}", s.site_id);
    let _ = writeln!(out, "incarnation  {}", s.incarnation);
    let _ = writeln!(out, "unstamped    {} changes", s.pending_changes);
    let _ = writeln!(out, "conflicts    {}", s.conflicts_total);
    let _ = writeln!(out, "quarantined  {} now, {} in all", s.quarantined_now, s.quarantined_total);
    let refused: Vec<String> = s.rejected.iter().filter(|(_, n)| *n > 0).map(|(r, n)| format!("{r} {n}")).collect();
    if !refused.is_empty() {
        let _ = writeln!(out, "refused      {}", refused.join(", "));
    }
    let _ = writeln!(
        out,
        "\n{:<16} {:>8} {:>10} {:>12} {:>12} {:>10} {:>12} {:>9} {:>8}",
        "peer", "backlog", "lag_ms", "last_sent", "last_recv", "conflicts", "last_check", "divergent", "repairs"
    );
    for peer in &s.peers {
        let _ = writeln!(
            out,
            "{:<16} {:>8} {:>10.0} {:>12} {:>12} {:>10} {:>12} {:>9} {:>8}",
            peer.site_id,
            peer.backlog,
            peer.lag_ms,
            age(peer.last_batch_sent_ms, now_ms),
            age(peer.last_batch_received_ms, now_ms),
            peer.conflicts,
            age(peer.last_check_ms, now_ms),
            peer.divergent_rows,
            peer.repairs_total,
        );
    }
    for peer in &s.peers {
        if let Some(result) = &peer.last_check_result {
            let _ = writeln!(out, "{}: last check: {result}", peer.site_id);
        }
        if peer.state_transfer {
            let _ = writeln!(out, "{}: sending our full state (a database was restored or recreated)", peer.site_id);
        }
        if let Some(error) = &peer.last_error {
            let _ = writeln!(out, "{}: {error}", peer.site_id);
        }
    }
    if !s.quarantine.is_empty() {
        let _ = writeln!(out, "\nquarantine (newest first):");
        for q in &s.quarantine {
            let from = if q.peer.is_empty() { "local".to_string() } else { format!("from {}", q.peer) };
            let _ = writeln!(out, "  {}.{} ({from}, {} tries): {}", q.table, q.key, q.attempts, q.reason);
        }
    }
    out
}

fn age(at_ms: Option<f64>, now_ms: f64) -> String {
    match at_ms {
        Some(at) => format!("{:.1}s ago", ((now_ms - at) / 1000.0).max(0.0)),
        None => "never".into(),
    }
}
