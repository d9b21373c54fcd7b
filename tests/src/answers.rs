//! Waiting for a server's answer to become what a test expects, with a deadline.

use std::time::{Duration, Instant};

use crate::{netns::Netns, topology::Pair};

/// One A/AAAA question asked with `dig` from a client namespace.
pub struct Question<'a> {
    pub client: &'a Netns,
    pub server: String,
    pub name: &'a str,
    pub qtype: &'a str,
    /// Source address (`dig -b`), for locality views.
    pub source: Option<&'a str>,
}

impl<'a> Question<'a> {
    /// `qtype` for www.example.com from the pair's client to its server's IPv4 address.
    pub fn www(pair: &'a Pair, qtype: &'a str) -> Question<'a> {
        Question {
            client: &pair.client,
            server: pair.server_v4.to_string(),
            name: "www.example.com",
            qtype,
            source: None,
        }
    }

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

    /// Asks until the answer is `expected`; panics when a question asked once `within` has
    /// passed still gets another answer, listing the asks it made (when each started, how long
    /// it took, what came back) and `context()`, e.g. the daemon's log. Returns how long it took.
    ///
    /// The verdict waits for an ask that began after the deadline: dig sometimes takes seconds
    /// to exit after its answer arrived on a loaded machine, and an answer the server gave
    /// before it changed its mind says nothing about whether it did so in time.
    pub fn wait_for(&self, expected: &[&str], within: Duration, context: impl Fn() -> String) -> Duration {
        let started = Instant::now();
        let mut asks = Vec::new();
        loop {
            let at = started.elapsed();
            let got = self.ask();
            if got.as_deref().is_some_and(|got| got == expected) {
                return started.elapsed();
            }
            asks.push((at, started.elapsed() - at, got));
            if at >= within {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "{} {} from {:?}: expected {expected:?} within {within:?}, got:\n{}\n{}",
            self.name,
            self.qtype,
            self.source,
            summary(&asks),
            context()
        );
    }
}

/// The asks of a failed wait, one line per run of equal answers: when the first of them started,
/// how long the slowest took, and the answer.
fn summary(asks: &[(Duration, Duration, Option<Vec<String>>)]) -> String {
    let mut lines: Vec<(Duration, usize, Duration, &Option<Vec<String>>)> = Vec::new();
    for (at, took, got) in asks {
        match lines.last_mut() {
            Some((_, count, slowest, answer)) if *answer == got => {
                *count += 1;
                *slowest = (*slowest).max(*took);
            }
            _ => lines.push((*at, 1, *took, got)),
        }
    }
    let lines: Vec<String> = lines
        .iter()
        .map(|(at, count, slowest, answer)| {
            format!("  from {at:.2?}: {count} asks (slowest {slowest:.2?}) answered {answer:?}")
        })
        .collect();
    lines.join("\n")
}
