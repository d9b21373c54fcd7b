//! Ctrl-C ends a bench through the normal error path, so that namespaces and daemons are
//! removed by their drops instead of being left behind.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

pub fn install() {
    let _ = ctrlc::set_handler(|| REQUESTED.store(true, Ordering::SeqCst));
}

pub fn check() -> Result<(), String> {
    if REQUESTED.load(Ordering::SeqCst) { Err("interrupted".into()) } else { Ok(()) }
}
