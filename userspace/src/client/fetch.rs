//! Requests that survive a site going away: use the address that last worked until it fails,
//! then the next one in the server's order, so the caller sees no error while any address works.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use reqwest::{Method, Url, redirect};

use super::{
    error::{ClientError, Result},
    failover::{classify, may_move_on},
    reqwest_dns::{PinnedResolve, base_builder},
    resolve::Resolver,
};

#[derive(Clone, Debug)]
pub struct FetchOptions {
    /// Per address: short, since the next address is waiting.
    pub connect_timeout: Duration,
    /// Whole request at one address, headers included; a timeout is not retried elsewhere.
    pub timeout: Option<Duration>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions { connect_timeout: Duration::from_secs(1), timeout: Some(Duration::from_secs(10)) }
    }
}

/// A response and where it came from.
#[derive(Debug)]
pub struct Fetched {
    pub response: reqwest::Response,
    pub addr: SocketAddr,
    /// Addresses tried before `addr` for this request, with why each failed.
    pub skipped: Vec<(SocketAddr, String)>,
}

/// Addresses of one host, and the one that last worked.
struct HostState {
    addrs: Vec<IpAddr>,
    expires: Instant,
    last_good: Option<IpAddr>,
}

pub struct Fetcher {
    resolver: Resolver,
    options: FetchOptions,
    hosts: Mutex<HashMap<String, HostState>>,
    /// One client per address: its pooled connections all go there.
    clients: Mutex<HashMap<IpAddr, reqwest::Client>>,
}

impl Fetcher {
    pub fn new(resolver: Resolver, options: FetchOptions) -> Fetcher {
        Fetcher { resolver, options, hosts: Mutex::new(HashMap::new()), clients: Mutex::new(HashMap::new()) }
    }

    pub async fn get(&self, url: &str) -> Result<Fetched> {
        self.send(Method::GET, url, None).await
    }

    /// Sends the request to the address that last worked for its host (else the first one), and
    /// on to the next while attempts fail before any response, as far as `method` allows.
    /// Redirects are returned, not followed: they may lead to another host.
    pub async fn send(&self, method: Method, url: &str, body: Option<Vec<u8>>) -> Result<Fetched> {
        let url = Url::parse(url).map_err(|e| ClientError::BadUrl { url: url.into(), reason: e.to_string() })?;
        let port = url.port_or_known_default().ok_or_else(|| ClientError::BadUrl {
            url: url.to_string(),
            reason: "no port and no default one for the scheme".into(),
        })?;
        let Some(host_str) = url.host_str() else {
            return Err(ClientError::BadUrl { url: url.to_string(), reason: "no host".into() });
        };
        // An address in the URL is used as it is; a name goes through DNS.
        let (host, order) = match host_str.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            Ok(ip) => (None, vec![ip]),
            Err(_) => {
                let host = host_str.to_ascii_lowercase();
                let order = self.order(&host).await?;
                (Some(host), order)
            }
        };
        let mut skipped = Vec::new();
        for ip in order {
            let addr = SocketAddr::new(ip, port);
            let mut request = self.client(ip)?.request(method.clone(), url.clone());
            if let Some(body) = &body {
                request = request.body(body.clone());
            }
            match request.send().await {
                Ok(response) => {
                    if let Some(host) = &host {
                        self.remember(host, ip);
                    }
                    return Ok(Fetched { response, addr, skipped });
                }
                Err(e) if may_move_on(classify(&e), &method) => skipped.push((addr, error_chain(&e))),
                Err(e) => {
                    return Err(ClientError::Request { addr, detail: error_chain(&e) });
                }
            }
        }
        if let Some(host) = &host {
            // Ask DNS again next time: the sites it gave are all gone.
            if let Some(state) = self.hosts.lock().unwrap().get_mut(host) {
                state.expires = Instant::now();
            }
        }
        let tried = skipped.iter().map(|(a, e)| format!("{a}: {e}")).collect::<Vec<_>>().join("; ");
        Err(ClientError::AllAddressesFailed { host: url.host_str().unwrap_or_default().into(), tried })
    }

    /// The address that last worked for `host`, if any.
    pub fn last_good(&self, host: &str) -> Option<IpAddr> {
        self.hosts.lock().unwrap().get(&host.to_ascii_lowercase()).and_then(|s| s.last_good)
    }

    /// The DNS order (cached for its TTL), turned to start at the address that last worked.
    async fn order(&self, host: &str) -> Result<Vec<IpAddr>> {
        let cached = {
            let hosts = self.hosts.lock().unwrap();
            hosts.get(host).filter(|s| s.expires > Instant::now()).map(|s| (s.addrs.clone(), s.last_good))
        };
        let (addrs, last_good) = match cached {
            Some(c) => c,
            None => {
                let resolved = self.resolver.resolve(host).await?;
                let expires = Instant::now() + resolved.ttl.min(Duration::from_secs(3600));
                let mut hosts = self.hosts.lock().unwrap();
                let state =
                    hosts.entry(host.to_string()).or_insert(HostState { addrs: Vec::new(), expires, last_good: None });
                state.addrs = resolved.addrs;
                state.expires = expires;
                (state.addrs.clone(), state.last_good)
            }
        };
        Ok(rotate(addrs, last_good))
    }

    fn remember(&self, host: &str, ip: IpAddr) {
        if let Some(state) = self.hosts.lock().unwrap().get_mut(host) {
            state.last_good = Some(ip);
        }
    }

    fn client(&self, ip: IpAddr) -> Result<reqwest::Client> {
        let mut clients = self.clients.lock().unwrap();
        if let Some(c) = clients.get(&ip) {
            return Ok(c.clone());
        }
        let mut builder = base_builder(self.options.connect_timeout)
            .dns_resolver(Arc::new(PinnedResolve(ip)))
            .redirect(redirect::Policy::none());
        if let Some(t) = self.options.timeout {
            builder = builder.timeout(t);
        }
        let client = builder.build().map_err(ClientError::Build)?;
        clients.insert(ip, client.clone());
        Ok(client)
    }
}

/// `addrs` starting at `first` and wrapping around; unchanged when DNS no longer lists `first`.
fn rotate(mut addrs: Vec<IpAddr>, first: Option<IpAddr>) -> Vec<IpAddr> {
    if let Some(i) = first.and_then(|f| addrs.iter().position(|a| *a == f)) {
        addrs.rotate_left(i);
    }
    addrs
}

/// The error with its causes on one line: reqwest's own message alone is often just
/// "error sending request".
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_starts_at_the_address_that_last_worked() {
        let [a, b, c]: [IpAddr; 3] =
            ["192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap(), "2001:db8::1".parse().unwrap()];
        assert_eq!(rotate(vec![a, b, c], None), vec![a, b, c]);
        assert_eq!(rotate(vec![a, b, c], Some(b)), vec![b, c, a]);
        // DNS dropped the address: its order again.
        assert_eq!(rotate(vec![a, c], Some(b)), vec![a, c]);
    }
}
