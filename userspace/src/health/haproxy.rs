//! Reading HAProxy's CSV stats page (`/stats;csv`).
//!
//! The first line is the header, `# pxname,svname,qcur,…`; each further line
//! is one frontend, backend or server. Columns are looked up by name, so
//! field order and added columns across HAProxy versions do not matter.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Every backend on one stats page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsPage {
    backends: BTreeMap<String, BackendView>,
}

/// What HAProxy says about one backend.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackendView {
    /// Server name → what HAProxy reports about it.
    pub servers: BTreeMap<String, ServerView>,
    /// Backend `scur` / `slim` in per-mille, when HAProxy reports a limit.
    pub load: Option<u32>,
}

/// One server line of a backend: its state and HAProxy's own last health check.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerView {
    pub name: String,
    /// The `status` column, e.g. "UP", "UP 1/2", "DOWN 1/2", "MAINT", "NOLB", "no check".
    pub status: String,
    /// `check_status`, e.g. "L7OK", "L7RSP", "L4CON" ("* " while a check runs is dropped).
    #[serde(default)]
    pub check_status: Option<String>,
    /// `check_code`: the HTTP status of the last layer 7 check.
    #[serde(default)]
    pub check_code: Option<String>,
    /// `check_desc`, e.g. "Layer7 invalid response".
    #[serde(default)]
    pub check_desc: Option<String>,
    /// `last_chk`, e.g. "HTTP content check did not match".
    #[serde(default)]
    pub last_chk: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StatsError {
    #[error("not a HAProxy CSV stats page (header must start with '# pxname,svname')")]
    NotStatsCsv,
    #[error("HAProxy stats lack column '{0}'")]
    MissingColumn(&'static str),
    #[error("HAProxy stats CSV: {0}")]
    Csv(String),
    #[error("backend '{0}' not in HAProxy stats")]
    NoSuchBackend(String),
}

/// HAProxy status values under which a server takes traffic: "UP", "UP n/m"
/// (up but failing checks, not yet down) and "no check" (serving without
/// checks). DOWN, "DOWN n/m" (coming up), MAINT, DRAIN and NOLB count as down.
pub fn status_is_up(status: &str) -> bool {
    let status = status.trim();
    status == "UP" || status.starts_with("UP ") || status == "no check"
}

/// Whether HAProxy's own health check currently passes for the server: "UP" or "UP n/m".
/// Unlike `status_is_up`, "no check" does not count: nothing vouches for what the check
/// would have looked at (for a database backend, the database).
pub fn check_passes(status: &str) -> bool {
    let status = status.trim();
    status == "UP" || status.starts_with("UP ")
}

/// Reads every backend and its servers from a stats CSV page.
pub fn parse_stats(csv_text: &str) -> Result<StatsPage, StatsError> {
    let text = csv_text.trim_start_matches('\u{feff}');
    let body = text.strip_prefix("# ").or_else(|| text.strip_prefix('#')).ok_or(StatsError::NotStatsCsv)?;
    if !body.starts_with("pxname,svname") {
        return Err(StatsError::NotStatsCsv);
    }
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(body.as_bytes());
    let headers = reader.headers().map_err(|e| StatsError::Csv(e.to_string()))?.clone();
    let columns = Columns::find(&headers)?;
    let mut page = StatsPage::default();
    for record in reader.records() {
        let record = record.map_err(|e| StatsError::Csv(e.to_string()))?;
        let Some(backend) = record.get(columns.pxname) else {
            continue;
        };
        let name = record.get(columns.svname).unwrap_or_default();
        // Frontends have no servers; a proxy that is only a frontend is not a backend.
        if name == "FRONTEND" {
            continue;
        }
        let view = page.backends.entry(backend.to_string()).or_default();
        if name == "BACKEND" {
            view.load = per_mille(columns.number(&record, columns.scur), columns.number(&record, columns.slim));
        } else {
            view.servers.insert(name.to_string(), columns.server(&record, name));
        }
    }
    Ok(page)
}

impl StatsPage {
    pub fn backend(&self, name: &str) -> Result<&BackendView, StatsError> {
        self.backends.get(name).ok_or_else(|| StatsError::NoSuchBackend(name.to_string()))
    }
}

/// Where each column we read is on this page.
struct Columns {
    pxname: usize,
    svname: usize,
    status: usize,
    scur: Option<usize>,
    slim: Option<usize>,
    check_status: Option<usize>,
    check_code: Option<usize>,
    check_desc: Option<usize>,
    last_chk: Option<usize>,
}

impl Columns {
    fn find(headers: &csv::StringRecord) -> Result<Columns, StatsError> {
        let optional = |name: &str| headers.iter().position(|h| h == name);
        let column = |name: &'static str| optional(name).ok_or(StatsError::MissingColumn(name));
        Ok(Columns {
            pxname: column("pxname")?,
            svname: column("svname")?,
            status: column("status")?,
            scur: optional("scur"),
            slim: optional("slim"),
            check_status: optional("check_status"),
            check_code: optional("check_code"),
            check_desc: optional("check_desc"),
            last_chk: optional("last_chk"),
        })
    }

    fn number(&self, record: &csv::StringRecord, index: Option<usize>) -> Option<u64> {
        index.and_then(|i| record.get(i)).and_then(|v| v.parse::<u64>().ok())
    }

    fn server(&self, record: &csv::StringRecord, name: &str) -> ServerView {
        let text = |index: Option<usize>| {
            index.and_then(|i| record.get(i)).map(str::trim).filter(|v| !v.is_empty()).map(str::to_string)
        };
        ServerView {
            name: name.to_string(),
            status: record.get(self.status).unwrap_or_default().to_string(),
            // "* L7OK": a check is running right now; the result shown is the last one.
            check_status: text(self.check_status).map(|s| s.trim_start_matches("* ").to_string()),
            // 0 is no HTTP status: HAProxy shows it while a check has no code (yet).
            check_code: text(self.check_code).filter(|code| code != "0"),
            check_desc: text(self.check_desc),
            last_chk: text(self.last_chk),
        }
    }
}

impl ServerView {
    /// HAProxy's last check of the server, e.g. "L7RSP (Layer7 invalid response: HTTP content
    /// check did not match)" or "L7OK 200"; `None` when the server is not checked.
    pub fn last_check(&self) -> Option<String> {
        let status = self.check_status.as_deref()?;
        let mut text = status.to_string();
        if let Some(code) = &self.check_code {
            text.push_str(&format!(" {code}"));
        }
        let details: Vec<&str> = [&self.check_desc, &self.last_chk].into_iter().flatten().map(String::as_str).collect();
        if !details.is_empty() && !status.ends_with("OK") {
            text.push_str(&format!(" ({})", details.join(": ")));
        }
        Some(text)
    }

    /// "web1 DOWN, L7RSP (…)": the server, its status and HAProxy's last check.
    pub fn describe(&self) -> String {
        match self.last_check() {
            Some(check) => format!("{} {}, {check}", self.name, self.status),
            None => format!("{} {}", self.name, self.status),
        }
    }
}

fn per_mille(current: Option<u64>, limit: Option<u64>) -> Option<u32> {
    match (current, limit) {
        (Some(current), Some(limit)) if limit > 0 => Some((current.saturating_mul(1000) / limit).min(1000) as u32),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
