//! Signing spread over the cores (ECDSA and Ed25519 signing is CPU-bound) on threads that
//! yield to the rest of the daemon: the threads that answer queries and write the maps come
//! first.

/// Fewer items than this are done at once on the caller's thread.
const SPREAD_FROM: usize = 64;

/// `work` done on every item, the results in the items' order: spread over the cores on
/// threads `niceness` nice levels below the caller's, or on the caller's thread for a few.
pub fn over_cores<T: Sync, R: Send>(items: &[T], niceness: i32, work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() < SPREAD_FROM {
        return items.iter().map(&work).collect();
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = items.len().div_ceil(threads);
    let work = &work;
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    lower_this_threads_priority(niceness);
                    part.iter().map(work).collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("a signing thread panicked")).collect()
    })
}

/// Raises the calling thread's nice value by `niceness` (on Linux the nice value is per
/// thread). Lowering one's own priority needs no privilege; a failure leaves it as it is.
pub(crate) fn lower_this_threads_priority(niceness: i32) {
    // SAFETY: getpriority and setpriority on the calling thread (who = 0) touch no memory.
    unsafe {
        let current = libc::getpriority(libc::PRIO_PROCESS, 0);
        libc::setpriority(libc::PRIO_PROCESS, 0, (current + niceness).min(19));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_is_done_once_and_in_order() {
        for count in [0, 5, SPREAD_FROM, 1_000] {
            let items: Vec<usize> = (0..count).collect();
            let done = over_cores(&items, 1, |i| i * 2);
            assert_eq!(done, items.iter().map(|i| i * 2).collect::<Vec<_>>(), "{count} items");
        }
    }

    #[test]
    fn a_worker_thread_runs_below_the_thread_that_started_it() {
        // SAFETY: getpriority of the calling thread touches no memory.
        let nice = || unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let before = nice();
        let items = vec![(); SPREAD_FROM];
        let seen = over_cores(&items, 3, |_| nice());
        assert!(seen.iter().all(|n| *n == (before + 3).min(19)), "{seen:?}");
        assert_eq!(nice(), before, "only the workers' own priority changes");
    }
}
