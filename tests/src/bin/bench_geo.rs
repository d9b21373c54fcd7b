//! `cargo xtask bench geo`: geographic views on a database of GeoLite2 Country's size. Writes
//! a MaxMind DB file of SWITCHYARD_BENCH_NETWORKS networks (default 300,000: four fifths IPv4
//! /20 to /24, the rest IPv6 /32 to /48 from 2400::) over 240 countries of uneven size on seven continents,
//! neighbouring networks often in one country; then times a config load (what start, `check`
//! and every reload do) for views of one large country, one mid-sized one and one continent,
//! with the prefix counts before and after merging; then times a client's view lookup and ECS
//! scope against a pass over every prefix. Writes geo.json under SWITCHYARD_BENCH_DIR.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::Path,
    process::ExitCode,
    time::{Duration, Instant},
};

use ipnet::IpNet;
use serde_json::{Value, json};
use switchyard::{answers::Views, config::Config, geo::CONTINENTS};
use switchyard_tests::bench::report;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench geo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// xorshift64*: the same database every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const COUNTRIES: u64 = 240;

fn country_code(i: u64) -> String {
    let letter = |n: u64| char::from(b'A' + n as u8);
    format!("{}{}", letter(i / 26), letter(i % 26))
}

/// Low indices are the large countries: the square of a uniform draw.
fn draw_country(rng: &mut Rng) -> u64 {
    let u = rng.below(1000);
    u * u * COUNTRIES / 1_000_000
}

fn write_database(path: &Path, networks: u64) -> Result<(), String> {
    let mut rng = Rng(0x5eed_0123_4567_89ab);
    let mut writer = mmdb_writer::Writer::new("Bench-Country");
    let mut country = 0;
    let (mut v4, mut v6) = (u32::from(Ipv4Addr::new(1, 0, 0, 0)), 0x2400_0000u128 << 96);
    for i in 0..networks {
        if rng.below(10) >= 6 {
            country = draw_country(&mut rng);
        }
        let network = if i % 5 < 4 {
            let len = 20 + rng.below(5) as u8;
            let size = 1u32 << (32 - len);
            v4 = v4.div_ceil(size) * size + if rng.below(5) == 0 { size } else { 0 };
            let net = IpNet::new(IpAddr::V4(v4.into()), len).map_err(|e| e.to_string())?;
            v4 += size;
            net
        } else {
            let len = 32 + rng.below(17) as u8;
            let size = 1u128 << (128 - len);
            v6 = v6.div_ceil(size) * size + if rng.below(5) == 0 { size } else { 0 };
            let net = IpNet::new(IpAddr::V6(Ipv6Addr::from(v6)), len).map_err(|e| e.to_string())?;
            v6 += size;
            net
        };
        let record = json!({
            "country": { "iso_code": country_code(country) },
            "continent": { "code": CONTINENTS[(country % 7) as usize] },
        });
        writer.insert(network, &record).map_err(|e| format!("{network}: {e}"))?;
    }
    let bytes = writer.to_bytes().map_err(|e| e.to_string())?;
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Loads a config whose one view selects `selection` (`countries = [...]` or `continents = [...]`).
fn load(dir: &Path, database: &Path, selection: &str) -> (Duration, Result<Config, String>) {
    let text = format!(
        "[xdp]\nmode = \"off\"\n[[zone]]\nname = \"example.com.\"\nns = [\"ns1.example.com.\"]\n\
         soa = {{ mname = \"ns1.example.com.\", rname = \"h.example.com.\" }}\n\
         [[view]]\nname = \"v\"\n{selection}\n[geo]\nmmdb = {:?}\n",
        database.to_str().unwrap_or_default()
    );
    let file = dir.join("bench.toml");
    if let Err(e) = std::fs::write(&file, text) {
        return (Duration::ZERO, Err(e.to_string()));
    }
    let started = Instant::now();
    let loaded = Config::load_for_host(&file).map_err(|e| e.to_string());
    (started.elapsed(), loaded)
}

fn load_case(dir: &Path, database: &Path, name: &str, selection: &str) -> Value {
    let (took, loaded) = load(dir, database, selection);
    let ms = took.as_secs_f64() * 1000.0;
    match loaded {
        Ok(config) => {
            let located = config.view[0].geo_prefixes.len();
            let merged = Views::from_config(&config).prefix_count(1);
            println!("| {name} | {ms:.0} | {located} | {merged} | loaded |");
            json!({ "case": name, "load_ms": ms, "networks": located, "prefixes_merged": merged, "loaded": true })
        }
        Err(e) => {
            println!("| {name} | {ms:.0} | | | refused: {e} |");
            json!({ "case": name, "load_ms": ms, "loaded": false, "error": e })
        }
    }
}

/// Nanoseconds per client for the view and ECS scope: from the index, and from a pass over
/// every prefix.
fn lookup_times(views: &Views, clients: u64) -> (f64, f64) {
    let mut rng = Rng(7);
    let addrs: Vec<IpAddr> = (0..clients)
        .map(|i| match i % 5 {
            4 => IpAddr::V6(Ipv6Addr::from((0x2400_0000u128 << 96) | (u128::from(rng.next()) << 64) >> 8)),
            _ => IpAddr::V4(Ipv4Addr::from(0x0100_0000 + (rng.next() as u32) % 0x1000_0000)),
        })
        .collect();
    let started = Instant::now();
    let mut sum = 0u64;
    for addr in &addrs {
        sum += u64::from(views.lookup(*addr).map_or(0, |(id, _)| id)) + u64::from(views.scope(*addr));
    }
    let indexed = started.elapsed().as_nanos() as f64 / addrs.len() as f64;
    let sample = &addrs[..addrs.len().min(2000)];
    let started = Instant::now();
    for addr in sample {
        sum += pass_over_every_prefix(views.prefixes(), *addr);
    }
    let linear = started.elapsed().as_nanos() as f64 / sample.len() as f64;
    std::hint::black_box(sum);
    (indexed, linear)
}

fn pass_over_every_prefix(prefixes: &[(IpNet, u32)], addr: IpAddr) -> u64 {
    let matched = prefixes.iter().filter(|(n, _)| n.contains(&addr)).max_by_key(|(n, _)| n.prefix_len());
    let shared = prefixes
        .iter()
        .filter(|(n, _)| !n.contains(&addr))
        .filter_map(|(n, _)| match (addr, n.network()) {
            (IpAddr::V4(a), IpAddr::V4(b)) => Some((u32::from(a) ^ u32::from(b)).leading_zeros()),
            (IpAddr::V6(a), IpAddr::V6(b)) => Some((u128::from(a) ^ u128::from(b)).leading_zeros()),
            _ => None,
        })
        .max();
    u64::from(matched.map_or(0, |(_, id)| *id)) + u64::from(shared.unwrap_or(0))
}

fn run() -> Result<(), String> {
    let networks = report::env_number("SWITCHYARD_BENCH_NETWORKS", 300_000)?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let database = dir.path().join("bench-country.mmdb");
    let started = Instant::now();
    write_database(&database, networks)?;
    let size = std::fs::metadata(&database).map_err(|e| e.to_string())?.len();
    println!("database: {networks} networks, {size} bytes, written in {:.1} s", started.elapsed().as_secs_f64());

    println!("| view selects | load ms | networks | prefixes after merging | result |");
    println!("|---|---:|---:|---:|---|");
    let large = country_code(0);
    let mid = country_code(120);
    let cases = [
        ("large country", format!("countries = [{large:?}]")),
        ("mid-sized country", format!("countries = [{mid:?}]")),
        ("continent", format!("continents = [{:?}]", CONTINENTS[0])),
    ];
    let loads: Vec<Value> = cases.iter().map(|(name, sel)| load_case(dir.path(), &database, name, sel)).collect();

    let (_, loaded) = load(dir.path(), &database, &format!("countries = [{large:?}, {mid:?}]"));
    let views = Views::from_config(&loaded?);
    let (indexed, linear) = lookup_times(&views, 1_000_000);
    let prefixes = views.prefixes().len();
    println!(
        "view and ECS scope per client over {prefixes} prefixes: {indexed:.0} ns indexed, {linear:.0} ns by a pass"
    );

    let document = json!({
        "networks": networks,
        "database_bytes": size,
        "loads": loads,
        "lookup": { "prefixes": prefixes, "indexed_ns": indexed, "pass_over_every_prefix_ns": linear },
    });
    let path = report::write_json("geo.json", &document)?;
    println!("wrote {}", path.display());
    Ok(())
}
