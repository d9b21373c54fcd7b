//! The story's timeline: each line stamped with the seconds since the story began, printed as
//! it happens and kept for the summary.

use std::time::{Duration, Instant};

pub struct Timeline {
    started: Instant,
    lines: Vec<String>,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline { started: Instant::now(), lines: Vec::new() }
    }
}

impl Timeline {
    /// Something the story did or saw.
    pub fn note(&mut self, text: &str) {
        self.push(format!("        {text}"));
    }

    /// A step that happened.
    pub fn ok(&mut self, text: &str) {
        self.push(format!("  ok    {text}"));
    }

    /// A step that did not happen.
    pub fn fail(&mut self, text: &str) {
        self.push(format!("  FAIL  {text}"));
    }

    fn push(&mut self, text: String) {
        let line = format!("[{:>7.3} s]{text}", self.started.elapsed().as_secs_f64());
        println!("{line}");
        self.lines.push(line);
    }

    pub fn lines(&self) -> &[String] {
        &self.lines
    }
}

/// "0.312 s"
pub fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}
