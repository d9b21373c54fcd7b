//! Reading HAProxy's CSV stats page (`/stats;csv`).
//!
//! The first line is the header, `# pxname,svname,qcur,…`; each further line
//! is one frontend, backend or server. Columns are looked up by name, so
//! field order and added columns across HAProxy versions do not matter.

use std::collections::BTreeMap;

/// What HAProxy says about one backend.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackendView {
    /// Server name → HAProxy `status` column (e.g. "UP", "DOWN 1/2", "MAINT").
    pub servers: BTreeMap<String, String>,
    /// Backend `scur` / `slim` in per-mille, when HAProxy reports a limit.
    pub load: Option<u32>,
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

/// Extracts `backend`'s servers and load from a stats CSV page.
pub fn parse_backend(csv_text: &str, backend: &str) -> Result<BackendView, StatsError> {
    let text = csv_text.trim_start_matches('\u{feff}');
    let body = text.strip_prefix("# ").or_else(|| text.strip_prefix('#')).ok_or(StatsError::NotStatsCsv)?;
    if !body.starts_with("pxname,svname") {
        return Err(StatsError::NotStatsCsv);
    }
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(body.as_bytes());
    let headers = reader.headers().map_err(|e| StatsError::Csv(e.to_string()))?.clone();
    let column = |name: &'static str| headers.iter().position(|h| h == name).ok_or(StatsError::MissingColumn(name));
    let (pxname, svname, status) = (column("pxname")?, column("svname")?, column("status")?);
    let (scur, slim) = (column("scur").ok(), column("slim").ok());

    let mut view = BackendView::default();
    let mut found = false;
    for record in reader.records() {
        let record = record.map_err(|e| StatsError::Csv(e.to_string()))?;
        if record.get(pxname) != Some(backend) {
            continue;
        }
        found = true;
        let name = record.get(svname).unwrap_or_default();
        if name == "BACKEND" {
            let number = |index: Option<usize>| index.and_then(|i| record.get(i)).and_then(|v| v.parse::<u64>().ok());
            view.load = per_mille(number(scur), number(slim));
        } else if name != "FRONTEND" {
            view.servers.insert(name.to_string(), record.get(status).unwrap_or_default().to_string());
        }
    }
    if found { Ok(view) } else { Err(StatsError::NoSuchBackend(backend.to_string())) }
}

fn per_mille(current: Option<u64>, limit: Option<u64>) -> Option<u32> {
    match (current, limit) {
        (Some(current), Some(limit)) if limit > 0 => Some((current.saturating_mul(1000) / limit).min(1000) as u32),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,\n";

    fn page(rows: &[&str]) -> String {
        let mut text = HEADER.to_string();
        for row in rows {
            text.push_str(row);
            text.push('\n');
        }
        text
    }

    #[test]
    fn reads_server_statuses_of_the_named_backend() {
        let text = page(&[
            "http-in,FRONTEND,,,3,10,2000,50,0,0,0,0,0,,,,,OPEN,,,,",
            "web,web1,0,0,1,5,,20,0,0,,0,,0,0,0,0,UP,1,1,0,",
            "web,web2,0,0,0,5,,20,0,0,,0,,0,0,0,0,DOWN,1,1,0,",
            "web,web3,0,0,0,5,,20,0,0,,0,,0,0,0,0,MAINT,1,1,0,",
            "web,web4,0,0,0,5,,20,0,0,,0,,0,0,0,0,UP 1/3,1,1,0,",
            "web,web5,0,0,0,5,,20,0,0,,0,,0,0,0,0,DOWN 1/2,1,1,0,",
            "web,web6,0,0,0,5,,20,0,0,,0,,0,0,0,0,DRAIN,1,1,0,",
            "web,BACKEND,0,0,250,10,1000,40,0,0,0,0,,0,0,0,0,UP,2,2,0,",
            "other,web1,0,0,0,5,,20,0,0,,0,,0,0,0,0,DOWN,1,1,0,",
        ]);
        let view = parse_backend(&text, "web").unwrap();
        let up: Vec<(&str, bool)> = view.servers.iter().map(|(n, s)| (n.as_str(), status_is_up(s))).collect();
        assert_eq!(
            up,
            [("web1", true), ("web2", false), ("web3", false), ("web4", true), ("web5", false), ("web6", false)]
        );
        assert_eq!(view.servers["web3"], "MAINT");
        assert_eq!(view.load, Some(250));
    }

    #[test]
    fn quoted_fields_and_column_order_are_handled() {
        let text = "# pxname,svname,check_desc,status\nweb,\"web1\",\"Layer7 check passed, code 200\",UP\nweb,web2,x,\"MAINT\"\n";
        let view = parse_backend(text, "web").unwrap();
        assert_eq!(view.servers["web1"], "UP");
        assert_eq!(view.servers["web2"], "MAINT");
        assert_eq!(view.load, None, "no scur/slim columns");
    }

    #[test]
    fn rejects_pages_that_are_not_stats_csv() {
        assert_eq!(parse_backend("<html>login</html>", "web"), Err(StatsError::NotStatsCsv));
        assert_eq!(parse_backend("", "web"), Err(StatsError::NotStatsCsv));
        assert_eq!(
            parse_backend("# pxname,svname,scur\nweb,web1,0\n", "web"),
            Err(StatsError::MissingColumn("status"))
        );
        assert_eq!(
            parse_backend(&page(&["web,web1,0,0,1,5,,20,0,0,,0,,0,0,0,0,UP,1,1,0,"]), "api"),
            Err(StatsError::NoSuchBackend("api".into()))
        );
    }

    #[test]
    fn load_is_capped_and_needs_a_limit() {
        assert_eq!(per_mille(Some(5), Some(0)), None);
        assert_eq!(per_mille(Some(50), Some(10)), Some(1000));
        assert_eq!(per_mille(Some(1), Some(3)), Some(333));
        assert_eq!(per_mille(None, Some(3)), None);
    }
}
