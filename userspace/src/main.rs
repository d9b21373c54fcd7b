//! The `switchyard` binary: parses the command line and hands each command to the library
//! (`daemon::run`, the `cli` commands, the `client`).

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::{Parser, Subcommand};
use switchyard::{
    cli::{self, Target, map::MapCommand, site::SiteCommand},
    config::{Config, LogFormat},
};

/// Health-aware authoritative DNS for services that run at several sites.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve DNS: userspace on UDP/TCP, XDP on the configured interfaces.
    Run {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a config file without starting anything.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Show the XDP counters (from the pinned map) and the userspace server's counters.
    Stats {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        json: bool,
        /// Print each counter's rate every interval until Ctrl-C.
        #[arg(long)]
        watch: bool,
        /// Seconds between two prints with --watch.
        #[arg(long, default_value_t = 1.0)]
        interval: f64,
        /// Stop after this many prints with --watch.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Show what the running daemon serves and where XDP is attached.
    Status {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        json: bool,
    },
    /// Read the XDP answer map; set and remove answers by hand (overrides).
    Map {
        #[command(subcommand)]
        command: MapCommand,
    },
    /// Drain, undrain or weight a site.
    Site {
        #[command(subcommand)]
        command: SiteCommand,
    },
    /// Make the daemon re-read its config file (the same as SIGHUP).
    Reload {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        json: bool,
    },
    /// Detach XDP and remove the pinned maps a stopped daemon left for its successor.
    Cleanup {
        #[command(flatten)]
        target: Target,
    },
    /// Response rate limiting: show it, change the limits or the exempt prefixes live.
    Rrl {
        #[command(subcommand)]
        command: cli::rrl::RrlCommand,
    },
    /// Database sync between sites (`[sync]`).
    Sync {
        #[command(subcommand)]
        command: SyncCommand,
    },
    /// DNSSEC: make a zone's signing key, print the DS for its parent.
    Dnssec {
        #[command(subcommand)]
        command: cli::dnssec::DnssecCommand,
    },
    /// Resolve a name at a DNS server and print its addresses in the order it answered.
    Resolve(switchyard::client::cli::ResolveArgs),
    /// Fetch a URL from the first address that works, moving on to the next when one fails.
    Fetch(switchyard::client::cli::FetchArgs),
}

#[derive(Subcommand)]
enum SyncCommand {
    /// Per peer: backlog, lag, last batch, conflicts.
    Status {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A failure of a command asked for JSON is said in JSON on stdout too, except by the ones
    // whose JSON output is itself the report, written before they fail (stats, resolve, fetch).
    let prints_its_own_report = matches!(cli.command, Command::Stats { .. } | Command::Resolve(_) | Command::Fetch(_));
    let json_failure = !prints_its_own_report && std::env::args_os().skip(1).any(|arg| arg == "--json");
    match cli.command {
        Command::Run { config } => run(config),
        Command::Check { config } => check(&config),
        Command::Stats { target, json, watch: true, interval, count } => {
            report(json_failure, cli::stats_watch::run(&target, interval, json, count))
        }
        Command::Stats { target, json, .. } => report(json_failure, cli::stats::stats(&target, json)),
        Command::Map { command } => report(json_failure, cli::map::run(command)),
        Command::Site { command } => report(json_failure, cli::site::run(command)),
        Command::Rrl { command } => report(json_failure, cli::rrl::run(command)),
        Command::Reload { target, json } => report(json_failure, cli::reload::run(&target, json)),
        Command::Cleanup { target } => report(json_failure, cli::cleanup::run(&target)),
        Command::Status { target, json } => report(json_failure, cli::status::status(&target, json)),
        Command::Sync { command: SyncCommand::Status { target, json } } => {
            report(json_failure, cli::status::sync_status(&target, json))
        }
        Command::Dnssec { command } => report(json_failure, cli::dnssec::run(command)),
        Command::Resolve(args) => report(json_failure, switchyard::client::cli::resolve(&args)),
        Command::Fetch(args) => report(json_failure, switchyard::client::cli::fetch(&args)),
    }
}

fn check(path: &Path) -> ExitCode {
    match Config::load_for_host(path) {
        Ok(c) => {
            for warning in c.health_config().unresolved_hosts() {
                eprintln!("switchyard: warning: {warning}");
            }
            let (zones, services, views, sites) = (c.zone.len(), c.service.len(), c.view.len(), c.site.len());
            println!("{}: ok ({zones} zones, {services} services, {views} views, {sites} sites)", path.display());
            for line in switchyard::answers::Views::from_config(&c).describe() {
                println!("  {line}");
            }
            for warning in xdp_warnings(&c) {
                eprintln!("switchyard: warning: {warning}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => config_error(e),
    }
}

/// What attaching XDP as configured would warn of on this host (a veth whose peer cannot
/// receive native XDP replies); interfaces this host does not have are not looked at.
fn xdp_warnings(config: &Config) -> Vec<String> {
    if config.xdp.mode == switchyard::config::XdpMode::Off {
        return Vec::new();
    }
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return Vec::new() };
    runtime.block_on(async {
        let mut warnings = Vec::new();
        for iface in &config.xdp.interfaces {
            warnings.extend(switchyard::bpf::veth::attach_mode(iface, config.xdp.mode).await.1);
        }
        warnings
    })
}

fn config_error(e: switchyard::config::ConfigError) -> ExitCode {
    eprintln!("switchyard: {e}");
    ExitCode::from(2)
}

/// Exit status and, on failure, the error on stderr; with `--json` also as a JSON object on
/// stdout (`{"ok": false, "error": ...}`), so that a script reading stdout sees the failure.
fn report(json_failure: bool, result: Result<(), impl std::fmt::Display>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchyard: {e}");
            if json_failure {
                println!("{}", serde_json::json!({ "ok": false, "error": e.to_string() }));
            }
            ExitCode::FAILURE
        }
    }
}

fn run(path: PathBuf) -> ExitCode {
    let config = match Config::load_for_host(&path) {
        Ok(c) => c,
        Err(e) => return config_error(e),
    };
    init_logging(config.server.log_format);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let result = runtime.block_on(switchyard::daemon::run(config, path));
    // Blocking tasks still running (a probe's name lookup, a database call) are not waited for.
    runtime.shutdown_timeout(std::time::Duration::from_millis(50));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchyard: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The log filter without `SWITCHYARD_LOG`. The DNS library's warnings about the contents of
/// a message are left out: a client chooses those, so malformed queries would flood the log.
const DEFAULT_LOG: &str = "info,hickory_proto=error";

/// Logs to standard error, filtered by `SWITCHYARD_LOG` (default `DEFAULT_LOG`); colours only
/// when standard error is a terminal, so files and journald get plain text.
fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("SWITCHYARD_LOG").unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().with_current_span(false).init(),
    }
}
