//! reqwest's DNS hook: names resolve through [`Resolver`], in the server's order, so a plain
//! reqwest client connects to the best site first and to the next ones only when it must.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::{
    error::{ClientError, Result},
    resolve::Resolver,
};

/// Every address the server gave, in its order.
pub struct OrderedResolve(pub Resolver);

impl Resolve for OrderedResolve {
    fn resolve(&self, name: Name) -> Resolving {
        let resolver = self.0.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let resolved = resolver.resolve(&host).await?;
            // Port 0: reqwest puts in the URL's port.
            let addrs: Addrs = Box::new(resolved.addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// One address whatever the name: each attempt of the fetcher goes exactly where it chose.
pub(super) struct PinnedResolve(pub IpAddr);

impl Resolve for PinnedResolve {
    fn resolve(&self, _name: Name) -> Resolving {
        let addrs: Addrs = Box::new(std::iter::once(SocketAddr::new(self.0, 0)));
        Box::pin(std::future::ready(Ok(addrs)))
    }
}

/// A reqwest client that resolves through `resolver`, keeping its order. Proxies from the
/// environment are ignored: through a proxy the order would be the proxy's business.
pub fn http_client(resolver: Resolver, connect_timeout: Duration) -> Result<reqwest::Client> {
    base_builder(connect_timeout).dns_resolver(Arc::new(OrderedResolve(resolver))).build().map_err(ClientError::Build)
}

pub(super) fn base_builder(connect_timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder().no_proxy().connect_timeout(connect_timeout)
}
