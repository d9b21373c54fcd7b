//! Waiting for a server's answer to become what a test expects, with a deadline.

use std::time::{Duration, Instant};

use crate::netns::Netns;

/// One A/AAAA question asked with `dig` from a client namespace.
pub struct Question<'a> {
    pub client: &'a Netns,
    pub server: String,
    pub name: &'a str,
    pub qtype: &'a str,
    /// Source address (`dig -b`), for locality views.
    pub source: Option<&'a str>,
}

impl Question<'_> {
    /// The addresses in the answer, in order; `None` when dig got no answer.
    pub fn ask(&self) -> Option<Vec<String>> {
        let server = format!("@{}", self.server);
        let mut args = vec![server.as_str(), self.name, self.qtype, "+short", "+tries=1", "+time=1"];
        if let Some(source) = self.source {
            args.extend(["-b", source]);
        }
        let out = self.client.output("dig", &args);
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect())
    }

    /// Asks until the answer is `expected`; panics with the last answer (and `context()`,
    /// e.g. the daemon's log) after `within`. Returns how long it took.
    pub fn wait_for(&self, expected: &[&str], within: Duration, context: impl Fn() -> String) -> Duration {
        let started = Instant::now();
        let mut last = None;
        while started.elapsed() < within {
            last = self.ask();
            if last.as_deref().is_some_and(|got| got == expected) {
                return started.elapsed();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "{} {} from {:?}: expected {expected:?} within {within:?}, last answer {last:?}\n{}",
            self.name,
            self.qtype,
            self.source,
            context()
        );
    }
}
