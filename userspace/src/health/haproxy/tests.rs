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
    let stats = parse_stats(&text).unwrap();
    let view = stats.backend("web").unwrap();
    let up: Vec<(&str, bool)> = view.servers.iter().map(|(n, s)| (n.as_str(), status_is_up(&s.status))).collect();
    assert_eq!(
        up,
        [("web1", true), ("web2", false), ("web3", false), ("web4", true), ("web5", false), ("web6", false)]
    );
    assert_eq!(view.servers["web3"].status, "MAINT");
    assert_eq!(view.load, Some(250));
    assert_eq!(stats.backend("other").unwrap().servers["web1"].status, "DOWN", "same server name, other backend");
    assert_eq!(stats.backend("http-in"), Err(StatsError::NoSuchBackend("http-in".into())), "a frontend only");
}

#[test]
fn quoted_fields_and_column_order_are_handled() {
    let text =
        "# pxname,svname,check_desc,status\nweb,\"web1\",\"Layer7 check passed, code 200\",UP\nweb,web2,x,\"MAINT\"\n";
    let stats = parse_stats(text).unwrap();
    let view = stats.backend("web").unwrap();
    assert_eq!(view.servers["web1"].status, "UP");
    assert_eq!(view.servers["web1"].check_desc.as_deref(), Some("Layer7 check passed, code 200"));
    assert_eq!(view.servers["web2"].status, "MAINT");
    assert_eq!(view.load, None, "no scur/slim columns");
}

/// The columns HAProxy 2.6 fills for a database check backend (`http-check expect string`),
/// in its own order, with the columns in between left out.
const DB_HEADER: &str = "# pxname,svname,scur,slim,status,check_status,check_code,check_duration,last_chk,check_desc\n";

fn db_page(rows: &[&str]) -> String {
    format!("{DB_HEADER}{}\ndbcheck,BACKEND,0,,UP,,,,,\n", rows.join("\n"))
}

/// One server of the database backend as HAProxy reports it, and whether the database counts
/// as available through it.
fn db_server(row: &str) -> (ServerView, bool) {
    let stats = parse_stats(&db_page(&[row])).unwrap();
    let server = stats.backend("dbcheck").unwrap().servers["web1"].clone();
    let passes = check_passes(&server.status);
    (server, passes)
}

#[test]
fn database_backend_states_as_haproxy_reports_them() {
    let (up, passes) = db_server("dbcheck,web1,0,,UP,L7OK,200,1,,Layer7 check passed");
    assert!(passes);
    assert_eq!(up.last_check().as_deref(), Some("L7OK 200"));
    assert_eq!(up.describe(), "web1 UP, L7OK 200");

    let (checking, passes) = db_server("dbcheck,web1,0,,UP,* L7OK,200,0,,Layer7 check passed");
    assert!(passes);
    assert_eq!(checking.check_status.as_deref(), Some("L7OK"), "a check in progress shows the last result");
    let (no_code, _) = db_server("dbcheck,web1,0,,UP,* L7OK,0,0,,Layer7 check passed");
    assert_eq!(no_code.last_check().as_deref(), Some("L7OK"), "code 0 is no HTTP status");

    // The keyword went missing: HAProxy's check fails at once, the server goes down after `fall`.
    let (going_down, passes) =
        db_server("dbcheck,web1,0,,UP 1/2,L7RSP,,0,HTTP content check did not match,Layer7 invalid response");
    assert!(passes, "UP 1/2: one failed check of two, still up");
    assert_eq!(
        going_down.last_check().as_deref(),
        Some("L7RSP (Layer7 invalid response: HTTP content check did not match)")
    );
    let (down, passes) =
        db_server("dbcheck,web1,0,,DOWN,L7RSP,,0,HTTP content check did not match,Layer7 invalid response");
    assert!(!passes);
    assert_eq!(down.describe(), "web1 DOWN, L7RSP (Layer7 invalid response: HTTP content check did not match)");

    // The keyword is back: one passing check of two, still down.
    let (coming_up, passes) = db_server("dbcheck,web1,0,,DOWN 1/2,L7OK,200,0,,Layer7 check passed");
    assert!(!passes, "DOWN 1/2 is still down");
    assert_eq!(coming_up.last_check().as_deref(), Some("L7OK 200"));

    let (refused, passes) = db_server("dbcheck,web1,0,,DOWN,L4CON,,0,Connection refused,Layer4 connection problem");
    assert!(!passes);
    assert_eq!(refused.last_check().as_deref(), Some("L4CON (Layer4 connection problem: Connection refused)"));

    let (maint, passes) = db_server("dbcheck,web1,0,,MAINT,,,,,");
    assert!(!passes);
    assert_eq!((maint.last_check(), maint.describe()), (None, "web1 MAINT".to_string()));

    // `http-check disable-on-404`: answering, but taken out of the balancing.
    let (nolb, passes) = db_server("dbcheck,web1,0,,NOLB,L7OKC,404,0,,Layer7 check conditionally passed");
    assert!(!passes);
    assert_eq!(nolb.status, "NOLB");
    assert!(!db_server("dbcheck,web1,0,,NOLB 1/2,L7OKC,404,0,,x").1);

    // No `check` on the server line: HAProxy serves it, but nobody looked at the database.
    let (unchecked, passes) = db_server("dbcheck,web1,0,,no check,,,,,");
    assert!(!passes, "no check says nothing about the database");
    assert!(status_is_up("no check"), "while a web server without checks still takes traffic");
    assert_eq!(unchecked.last_check(), None);
    assert_eq!(unchecked.describe(), "web1 no check");
}

#[test]
fn rejects_pages_that_are_not_stats_csv() {
    assert_eq!(parse_stats("<html>login</html>"), Err(StatsError::NotStatsCsv));
    assert_eq!(parse_stats(""), Err(StatsError::NotStatsCsv));
    assert_eq!(parse_stats("# pxname,svname,scur\nweb,web1,0\n"), Err(StatsError::MissingColumn("status")));
    let stats = parse_stats(&page(&["web,web1,0,0,1,5,,20,0,0,,0,,0,0,0,0,UP,1,1,0,"])).unwrap();
    assert_eq!(stats.backend("api"), Err(StatsError::NoSuchBackend("api".into())));
}

#[test]
fn load_is_capped_and_needs_a_limit() {
    assert_eq!(per_mille(Some(5), Some(0)), None);
    assert_eq!(per_mille(Some(50), Some(10)), Some(1000));
    assert_eq!(per_mille(Some(1), Some(3)), Some(333));
    assert_eq!(per_mille(None, Some(3)), None);
}
