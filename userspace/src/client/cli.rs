//! `switchyard resolve` and `switchyard fetch`: the client library from the command line.

use std::time::{Duration, Instant};

use super::{
    error::ClientError,
    fetch::{FetchOptions, Fetched, Fetcher},
    resolve::{FamilyOrder, Resolver, ResolverOptions},
};

#[derive(clap::Args)]
pub struct ServerArgs {
    /// DNS server to ask, IP[:PORT] ([IPv6]:PORT); default: the first nameserver in /etc/resolv.conf.
    #[arg(long)]
    pub server: Option<String>,
    /// AAAA addresses before A ones.
    #[arg(long)]
    pub prefer_ipv6: bool,
}

impl ServerArgs {
    fn resolver(&self) -> Result<Resolver, ClientError> {
        let family_order = if self.prefer_ipv6 { FamilyOrder::Ipv6First } else { FamilyOrder::Ipv4First };
        let resolver = Resolver::from_arg(self.server.as_deref())?;
        Ok(resolver.with_options(ResolverOptions { family_order, ..ResolverOptions::default() }))
    }
}

#[derive(clap::Args)]
pub struct ResolveArgs {
    /// The name to resolve, e.g. www.example.com (no search domains are applied).
    pub name: String,
    #[command(flatten)]
    pub server: ServerArgs,
    /// One JSON object: name, server, addresses, ttl.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct FetchArgs {
    /// http:// or https:// URL; its host is resolved at the DNS server.
    pub url: String,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Requests to make, one after the other.
    #[arg(long, default_value_t = 1)]
    pub count: u32,
    /// Pause between requests.
    #[arg(long, default_value_t = 1000)]
    pub interval_ms: u64,
    /// Per address, before moving on to the next one.
    #[arg(long, default_value_t = 1000)]
    pub connect_timeout_ms: u64,
    /// One JSON object per request (with the body when there is one request).
    #[arg(long)]
    pub json: bool,
}

fn block_on<T>(f: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime").block_on(f)
}

/// Prints the addresses in the server's order, one per line.
pub fn resolve(args: &ResolveArgs) -> Result<(), ClientError> {
    let resolver = args.server.resolver()?;
    let resolved = block_on(resolver.resolve(&args.name))?;
    if args.json {
        let json = serde_json::json!({
            "name": args.name,
            "server": resolver.server().to_string(),
            "addresses": resolved.addrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "ttl": resolved.ttl.as_secs(),
        });
        println!("{json}");
    } else {
        for addr in &resolved.addrs {
            println!("{addr}");
        }
    }
    Ok(())
}

/// One request: status, address and body; several: a line each. Fails when any request failed.
pub fn fetch(args: &FetchArgs) -> Result<(), ClientError> {
    let options =
        FetchOptions { connect_timeout: Duration::from_millis(args.connect_timeout_ms), ..FetchOptions::default() };
    let fetcher = Fetcher::new(args.server.resolver()?, options);
    let count = args.count.max(1);
    let errors = block_on(async {
        let mut errors = 0;
        for n in 1..=count {
            if n > 1 {
                tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
            }
            let started = Instant::now();
            let result = match fetcher.get(&args.url).await {
                Ok(f) => read(f).await,
                Err(e) => Err(e),
            };
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            if result.is_err() {
                errors += 1;
            }
            print_result(args, n, count, ms, result);
        }
        errors
    });
    if errors > 0 { Err(ClientError::RequestsFailed { failed: errors, count }) } else { Ok(()) }
}

struct Outcome {
    status: u16,
    addr: std::net::SocketAddr,
    skipped: Vec<(std::net::SocketAddr, String)>,
    body: String,
}

async fn read(fetched: Fetched) -> Result<Outcome, ClientError> {
    let Fetched { response, addr, skipped } = fetched;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(|source| ClientError::Body { addr, source })?;
    Ok(Outcome { status, addr, skipped, body })
}

fn print_result(args: &FetchArgs, n: u32, count: u32, ms: f64, result: Result<Outcome, ClientError>) {
    match (result, args.json) {
        (Ok(o), true) => {
            let skipped: Vec<_> =
                o.skipped.iter().map(|(a, e)| serde_json::json!({ "addr": a.to_string(), "error": e })).collect();
            let mut json = serde_json::json!({ "n": n, "status": o.status, "addr": o.addr.to_string(), "ms": ms, "bytes": o.body.len(), "skipped": skipped });
            if count == 1 {
                json["body"] = o.body.into();
            }
            println!("{json}");
        }
        (Err(e), true) => println!("{}", serde_json::json!({ "n": n, "ms": ms, "error": e.to_string() })),
        (Ok(o), false) => {
            for (addr, e) in &o.skipped {
                eprintln!("switchyard: skipped {addr}: {e}");
            }
            if count == 1 {
                println!("status {} from {}", o.status, o.addr);
                print!("{}", o.body);
                if !o.body.ends_with('\n') && !o.body.is_empty() {
                    println!();
                }
            } else {
                println!("{n} status {} from {} {} bytes {ms:.1} ms", o.status, o.addr, o.body.len());
            }
        }
        (Err(e), false) => println!("{n} error: {e} ({ms:.1} ms)"),
    }
}
