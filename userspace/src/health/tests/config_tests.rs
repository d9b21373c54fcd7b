use std::time::Duration;

use crate::health::{CheckKind, HealthConfig, ProbeSettings};

const EXAMPLE: &str = r#"
[probe]
interval_ms = 250

[[site]]
name = "a"
a = ["198.18.1.10"]
aaaa = ["fd00:1::10"]

[[site.server]]
name = "web1"
check = "http"
url = "http://198.18.1.11:8080/health"
expect_status = 200

[[site.server]]
name = "web2"
check = "tcp"
address = "198.18.1.12:8080"
fall = 3

[[site.server]]
name = "web3"
check = "haproxy"
haproxy_name = "web-3"

[site.database]
url = "http://198.18.1.11:8080/dbcheck"
name = "db-a"

[site.haproxy]
url = "http://198.18.1.1:8404/stats;csv"
backend = "web"

[site.probe]
timeout_ms = 150

[[site]]
name = "b"
remote = true
a = ["198.18.2.10"]
"#;

fn parse(text: &str) -> HealthConfig {
    toml::from_str(text).expect("parses")
}

#[test]
fn example_parses_validates_and_layers_probe_settings() {
    let config = parse(EXAMPLE);
    config.validate().unwrap();
    let site = &config.sites[0];
    assert_eq!(site.servers[1].check, CheckKind::Tcp);
    assert_eq!(site.servers[2].haproxy_name(), "web-3");
    assert_eq!(site.database.as_ref().unwrap().effective_keyword(), Some("db-a"));

    let settings = config.site_settings(site);
    assert_eq!(settings.interval, Duration::from_millis(250), "from [probe]");
    assert_eq!(settings.timeout, Duration::from_millis(150), "from [site.probe]");
    assert_eq!(settings.with(site.servers[1].overrides()).fall, 3, "from the server");
    assert_eq!(settings.rise, 2, "built-in default");
    assert!(config.sites[1].remote);

    let addresses = config.site_addresses();
    assert_eq!(addresses["a"].aaaa.len(), 1);
    assert_eq!(addresses["b"].a[0].to_string(), "198.18.2.10");
}

#[test]
fn defaults_detect_failure_plus_one_interval_well_under_a_second() {
    let defaults = ProbeSettings::default();
    let worst = defaults.worst_case_detection();
    assert_eq!(worst, Duration::from_millis(600));
    assert!(worst + defaults.interval < Duration::from_millis(1000));
}

#[test]
fn unknown_fields_are_rejected() {
    let err = toml::from_str::<HealthConfig>("[[site]]\nname = \"a\"\ninterval = 5\n").unwrap_err();
    assert!(err.to_string().contains("interval"), "{err}");
    let err = toml::from_str::<HealthConfig>(
        "[[site]]\nname = \"a\"\n[[site.server]]\nname = \"w\"\ncheck = \"tcp\"\nadres = \"1.2.3.4:80\"\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("adres"), "{err}");
}

/// A site with a web server, a `[site.database]` with `body` and, if `haproxy`, a `[site.haproxy]`.
fn database(body: &str, haproxy: bool) -> String {
    let stats =
        if haproxy { "[site.haproxy]\nurl = \"http://127.0.0.1:8404/stats;csv\"\nbackend = \"web\"\n" } else { "" };
    format!(
        "[[site]]\nname = \"a\"\n[[site.server]]\nname = \"w\"\ncheck = \"tcp\"\naddress = \"1.2.3.4:80\"\n\
         [site.database]\n{body}\n{stats}"
    )
}

#[test]
fn the_database_comes_from_the_page_haproxy_or_both_combined() {
    let only_haproxy = parse(&database("name = \"db-b\"\nhaproxy_backend = \"dbcheck\"\nrise = 1", true));
    only_haproxy.validate().unwrap();
    let db = only_haproxy.sites[0].database.as_ref().unwrap();
    assert_eq!((db.url.as_deref(), db.haproxy_backend.as_deref(), db.combine), (None, Some("dbcheck"), None));
    for combine in ["all", "any"] {
        let both = database(
            &format!("url = \"http://x/db\"\nname = \"db\"\nhaproxy_backend = \"dbcheck\"\ncombine = \"{combine}\""),
            true,
        );
        parse(&both).validate().unwrap();
    }
    let err = toml::from_str::<HealthConfig>(&database("url = \"http://x/db\"\ncombine = \"both\"", true)).unwrap_err();
    assert!(err.to_string().contains("unknown variant `both`, expected `all` or `any`"), "{err}");
}

fn validation_error(text: &str) -> String {
    parse(text).validate().unwrap_err().to_string()
}

#[test]
fn validation_names_the_field() {
    let server = |body: &str| format!("[[site]]\nname = \"a\"\n[[site.server]]\nname = \"w\"\n{body}\n");
    let cases = [
        (server("check = \"tcp\""), "site[0] ('a').server[0].address", "required"),
        (server("check = \"http\""), "site[0] ('a').server[0].url", "required"),
        (server("check = \"http\"\nurl = \"ftp://x/\""), ".server[0].url", "scheme 'ftp'"),
        (server("check = \"http\"\nurl = \"http://x/\"\nexpect_status = 42"), ".expect_status", "not an HTTP status"),
        (server("check = \"tcp\"\naddress = \"1.2.3.4:80\"\nurl = \"http://x/\""), ".server[0].url", "not used"),
        (server("check = \"haproxy\""), ".server[0].check", "[site.haproxy]"),
        (server("check = \"tcp\"\naddress = \"1.2.3.4:80\"\ninterval_ms = 1"), "site[0].server[0].interval_ms", ""),
        (server("check = \"tcp\"\naddress = \"1.2.3.4:80\"\nrise = 0"), "site[0].server[0].rise", ""),
        ("[[site]]\nname = \"a\"\n[site.database]\nurl = \"http://x/db\"\nname = \"db\"\n".to_string(), "site[0] ('a').server", "at least one server"),
        ("[[site]]\nname = \"a\"\nremote = true\n[[site.server]]\nname = \"w\"\ncheck = \"tcp\"\naddress = \"1.2.3.4:80\"\n".to_string(), ".server", "remote"),
        ("[[site]]\nname = \"a\"\nremote = true\n[[site]]\nname = \"a\"\nremote = true\n".to_string(), "site[1].name", "duplicate"),
        ("[[site]]\nname = \"a\"\nremote = true\nload = 1200\n".to_string(), ".load", "1000"),
        (format!("{}[site.database]\nurl = \"http://x/db\"\n", server("check = \"tcp\"\naddress = \"1.2.3.4:80\"")), ".database.keyword", "keyword, body_regex or name"),
        ("[probe]\nfall = 0\n".to_string(), "probe.fall", ""),
        (database("haproxy_backend = \"dbcheck\"", false), ".database.haproxy_backend", "needs a [site.haproxy] table"),
        (database("name = \"db\"", true), "site[0] ('a').database.url", "set url (the database page, checked here) or haproxy_backend"),
        (database("url = \"http://x/db\"\nname = \"db\"\nhaproxy_backend = \"dbcheck\"", true), "site[0] ('a').database.combine", "both url (the database page, checked here) and haproxy_backend (HAProxy's backend 'dbcheck') are set: say how to combine them, combine = \"all\" (both must pass) or combine = \"any\" (either is enough)"),
        (database("url = \"http://x/db\"\nname = \"db\"\ncombine = \"all\"", true), ".database.combine", "only used when both url and haproxy_backend are set"),
        (database("haproxy_backend = \"dbcheck\"\ncombine = \"any\"", true), ".database.combine", "only used when both"),
        (database("haproxy_backend = \"dbcheck\"\nkeyword = \"db-a\"", true), ".database.keyword", "only used with url: HAProxy's `http-check expect string` checks the page"),
        (database("haproxy_backend = \"dbcheck\"\ninterval_ms = 50", true), ".database.interval_ms", "[site.haproxy]'s fetches"),
        (database("haproxy_backend = \" \"", true), ".database.haproxy_backend", "must not be empty"),
    ];
    for (text, field, reason) in cases {
        let err = validation_error(&text);
        assert!(err.contains(field) && err.contains(reason), "expected '{field}' / '{reason}' in: {err}\n{text}");
    }
}
