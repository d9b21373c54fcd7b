//! The result of one probe.

use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeOutcome {
    Ok { latency: Duration },
    Failed { cause: String },
}

impl ProbeOutcome {
    pub fn failed(cause: impl Into<String>) -> Self {
        ProbeOutcome::Failed { cause: cause.into() }
    }

    pub fn is_ok(&self) -> bool {
        matches!(self, ProbeOutcome::Ok { .. })
    }

    /// "ok" or the failure cause, for logs and status.
    pub fn describe(&self) -> String {
        match self {
            ProbeOutcome::Ok { .. } => "ok".to_string(),
            ProbeOutcome::Failed { cause } => cause.clone(),
        }
    }
}

pub(crate) fn timeout_cause(timeout: Duration) -> String {
    format!("timeout after {}ms", timeout.as_millis())
}
