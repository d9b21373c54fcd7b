//! What an HTTP(S) check sends and what the answer must be, as configured on a web server
//! (`[[site.server]] check = "http"`) or on the database page (`[site.database] url`): method,
//! headers, the name presented instead of the address probed (`host`), accepted statuses, a
//! body match, and the TLS trust and client identity.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};

use crate::health::config::{ConfigError, invalid};
use crate::health::expect_status::ExpectStatus;

/// The fields of one HTTP check, as written in its table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HttpCheckConfig {
    pub url: String,
    /// Presented as TLS SNI and `Host`, and verified in the certificate, while the connection
    /// goes to the URL's address.
    pub host: Option<String>,
    pub method: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub expect_status: Option<ExpectStatus>,
    /// The first `KEYWORD_BODY_LIMIT` bytes of the body must contain it.
    pub keyword: Option<String>,
    /// ... or match this regular expression.
    pub body_regex: Option<String>,
    pub tls: TlsOptions,
}

/// Whom a check trusts and who it says it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM bundle of the CAs trusted instead of the public ones.
    pub ca_file: Option<PathBuf>,
    /// PEM certificate (chain) and key presented to servers that ask for one (mutual TLS).
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// Accept any certificate.
    pub skip_verify: bool,
}

/// What the body must hold.
#[derive(Clone, Debug)]
pub enum BodyMatch {
    Keyword(String),
    Regex(regex::bytes::Regex),
}

/// A check ready to run.
#[derive(Clone, Debug)]
pub struct HttpCheck {
    /// What is requested: the configured URL, its host replaced by `host` when set.
    pub url: Url,
    /// Where the connection goes when `host` is set (the URL's own address and port).
    pub connect_to: Option<(String, SocketAddr)>,
    pub method: Method,
    pub headers: HeaderMap,
    pub expect: ExpectStatus,
    pub body: Option<BodyMatch>,
}

impl BodyMatch {
    pub fn matches(&self, body: &[u8]) -> bool {
        match self {
            BodyMatch::Keyword(keyword) => contains(body, keyword.as_bytes()),
            BodyMatch::Regex(regex) => regex.is_match(body),
        }
    }

    /// "keyword 'db-a' missing" or "body does not match /ok|up/".
    pub fn failure(&self) -> String {
        match self {
            BodyMatch::Keyword(keyword) => format!("keyword '{keyword}' missing"),
            BodyMatch::Regex(regex) => format!("body does not match /{}/", regex.as_str()),
        }
    }

    /// Reading may stop once this is in the body; a regex needs the whole (bounded) body.
    pub fn stop_at(&self) -> Option<&[u8]> {
        match self {
            BodyMatch::Keyword(keyword) => Some(keyword.as_bytes()),
            BodyMatch::Regex(_) => None,
        }
    }
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|window| window == needle)
}

impl HttpCheckConfig {
    /// Checks every field without touching files (`TlsOptions` are read by `build_client`).
    /// `at` is the table, e.g. "site[0] ('a').server[1]".
    pub fn validate(&self, at: &str) -> Result<(), ConfigError> {
        let url = check_url(&format!("{at}.url"), &self.url)?;
        if let Some(host) = &self.host {
            check_host(at, host, &url)?;
        }
        if let Some(method) = &self.method
            && (method.is_empty() || method.to_uppercase() != *method || Method::from_bytes(method.as_bytes()).is_err())
        {
            return Err(invalid(format!("{at}.method"), format!("{method:?} is not an HTTP method such as \"GET\"")));
        }
        for (name, value) in &self.headers {
            check_header(at, name, value)?;
        }
        if let Some(problem) = self.expect_status.as_ref().and_then(ExpectStatus::problem) {
            return Err(invalid(format!("{at}.expect_status"), problem));
        }
        if self.keyword.is_some() && self.body_regex.is_some() {
            return Err(invalid(format!("{at}.body_regex"), "set keyword or body_regex, not both"));
        }
        if self.keyword.as_deref() == Some("") {
            return Err(invalid(format!("{at}.keyword"), "must not be empty"));
        }
        if let Some(pattern) = &self.body_regex {
            regex::bytes::Regex::new(pattern).map_err(|e| {
                let why = e.to_string().lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
                invalid(format!("{at}.body_regex"), format!("not a regular expression: {why}"))
            })?;
        }
        self.tls.validate(at, url.scheme() == "https")
    }

    /// The check to run; expects a validated config.
    pub fn check(&self) -> HttpCheck {
        let configured = Url::parse(&self.url).expect("validated URL");
        let (url, connect_to) = match &self.host {
            Some(host) => {
                let address = url_address(&configured).expect("validated: with host, the URL holds an address");
                let mut url = configured.clone();
                url.set_host(Some(host)).expect("validated host name");
                (url, Some((host.clone(), address)))
            }
            None => (configured, None),
        };
        let method =
            self.method.as_deref().map_or(Method::GET, |m| Method::from_bytes(m.as_bytes()).expect("validated"));
        let headers = self
            .headers
            .iter()
            .map(|(name, value)| {
                let name = HeaderName::from_bytes(name.as_bytes()).expect("validated header name");
                (name, HeaderValue::from_str(value).expect("validated header value"))
            })
            .collect();
        let body = match (&self.body_regex, &self.keyword) {
            (Some(pattern), _) => Some(BodyMatch::Regex(regex::bytes::Regex::new(pattern).expect("validated regex"))),
            (None, Some(keyword)) => Some(BodyMatch::Keyword(keyword.clone())),
            (None, None) => None,
        };
        HttpCheck { url, connect_to, method, headers, expect: self.expect_status.clone().unwrap_or_default(), body }
    }
}

impl TlsOptions {
    fn validate(&self, at: &str, https: bool) -> Result<(), ConfigError> {
        let files = [("ca_file", &self.ca_file), ("client_cert", &self.client_cert), ("client_key", &self.client_key)];
        for (field, path) in files {
            if path.is_some() && !https {
                return Err(invalid(format!("{at}.{field}"), "only used with an https:// URL"));
            }
        }
        match (&self.client_cert, &self.client_key) {
            (Some(_), None) => return Err(invalid(format!("{at}.client_key"), "client_cert needs its key")),
            (None, Some(_)) => return Err(invalid(format!("{at}.client_cert"), "client_key needs its certificate")),
            _ => {}
        }
        if self.skip_verify && self.ca_file.is_some() {
            return Err(invalid(
                format!("{at}.tls_skip_verify"),
                "accepts any certificate, so ca_file would not be used: set one of them",
            ));
        }
        Ok(())
    }
}

fn check_url(field: &str, url: &str) -> Result<Url, ConfigError> {
    let parsed = Url::parse(url).map_err(|e| invalid(field.to_string(), format!("'{url}': {e}")))?;
    match parsed.scheme() {
        "http" | "https" => Ok(parsed),
        other => Err(invalid(field.to_string(), format!("scheme '{other}' is not http or https"))),
    }
}

/// With `host`, the URL says where to connect: it must hold an address, not a name.
fn check_host(at: &str, host: &str, url: &Url) -> Result<(), ConfigError> {
    let valid = !host.is_empty()
        && host.parse::<IpAddr>().is_err()
        && url::Host::parse(host).is_ok_and(|parsed| matches!(parsed, url::Host::Domain(_)));
    if !valid {
        return Err(invalid(format!("{at}.host"), format!("{host:?} is not a host name such as \"www.example.com\"")));
    }
    if url_address(url).is_none() {
        return Err(invalid(
            format!("{at}.url"),
            format!(
                "with host set, the URL says which address to probe: write an IP address (e.g. \
                 https://198.18.1.11:8443/health), not '{}'",
                url.host_str().unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

fn check_header(at: &str, name: &str, value: &str) -> Result<(), ConfigError> {
    let field = format!("{at}.headers.{name}");
    let header = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| invalid(field.clone(), format!("{name:?} is not a header name")))?;
    if header == reqwest::header::HOST {
        return Err(invalid(field, "set host = \"...\" instead: it is also the name TLS presents and verifies"));
    }
    HeaderValue::from_str(value).map_err(|_| invalid(field, "the value holds characters a header cannot carry"))?;
    Ok(())
}

/// The URL's IP address and port, when its host is an address.
fn url_address(url: &Url) -> Option<SocketAddr> {
    let ip = match url.host()? {
        url::Host::Ipv4(ip) => IpAddr::V4(ip),
        url::Host::Ipv6(ip) => IpAddr::V6(ip),
        url::Host::Domain(_) => return None,
    };
    Some(SocketAddr::new(ip, url.port_or_known_default()?))
}
