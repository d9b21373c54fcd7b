//! Tests that need root: fail loudly under CI, skip with a clear message elsewhere.

/// True when we may create namespaces and load BPF. Under `CI=true` without root this panics,
/// so that a CI run cannot pass by skipping.
pub fn have_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: needs root (CAP_BPF, CAP_NET_ADMIN) and CI=true: refusing to skip");
    }
    eprintln!("SKIPPED {test}: needs root (CAP_BPF, CAP_NET_ADMIN); run `sudo cargo xtask test`");
    false
}
