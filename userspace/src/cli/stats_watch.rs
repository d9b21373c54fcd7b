//! `switchyard stats --watch`: every counter's rate per interval, until Ctrl-C (or `--count`).

use std::{
    collections::BTreeMap,
    io::Write,
    time::{Duration, Instant},
};

use super::{CliError, Target, admin_client, block_on};
use crate::{
    bpf::counters,
    config::ServerConfig,
    daemon::admin::{Request, Response},
};

/// "xdp.answered_v4", "userspace.udp", ...: every counter the daemon has, flattened.
pub fn collect(server: &ServerConfig) -> Result<BTreeMap<String, u64>, CliError> {
    let mut all = BTreeMap::new();
    let xdp = counters::read(&server.pin_dir());
    if let Ok(values) = &xdp {
        all.extend(values.iter().map(|(name, v)| (format!("xdp.{name}"), *v)));
    }
    match block_on(admin_client::request(&server.admin_socket(), &Request::Stats)) {
        Ok(Response::Stats { userspace }) => {
            let value = serde_json::to_value(&userspace).expect("serialisable");
            for (name, v) in value.as_object().expect("struct") {
                all.insert(format!("userspace.{name}"), v.as_u64().unwrap_or(0));
            }
        }
        Ok(other) => return Err(CliError::UnexpectedAnswer(format!("{other:?}"))),
        Err(e) if xdp.is_ok() => eprintln!("switchyard: userspace counters unavailable: {e}"),
        Err(e) => return Err(e.into()),
    }
    Ok(all)
}

/// `--interval` is in seconds.
pub fn run(target: &Target, interval: f64, json: bool, count: Option<u64>) -> Result<(), CliError> {
    let interval = Duration::try_from_secs_f64(interval).map_err(|_| CliError::BadInterval(interval))?;
    watch(&target.server()?, interval, json, count)
}

pub fn watch(server: &ServerConfig, interval: Duration, json: bool, count: Option<u64>) -> Result<(), CliError> {
    if interval.is_zero() {
        return Err(CliError::ZeroInterval);
    }
    let mut before = collect(server)?;
    let mut at = Instant::now();
    let mut printed = 0;
    while count.is_none_or(|c| printed < c) {
        std::thread::sleep(interval);
        let now = collect(server)?;
        let elapsed = at.elapsed().as_secs_f64();
        at = Instant::now();
        let rates: BTreeMap<&String, f64> = now
            .iter()
            .map(|(name, v)| (name, v.saturating_sub(before.get(name).copied().unwrap_or(0)) as f64 / elapsed))
            .collect();
        let mut text = String::new();
        if json {
            text = format!("{}\n", serde_json::json!({ "interval_s": elapsed, "rates": rates, "totals": now }));
        } else {
            text.push_str(&format!("--- {elapsed:.2} s\n"));
            for (name, rate) in &rates {
                text.push_str(&format!("  {name:<30} {rate:>12.1}/s  {:>14}\n", now[*name]));
            }
        }
        // The reader went away (`| head`): the watch ends there, as a pipeline expects; any
        // other write error (a full disk) is reported.
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(CliError::Output(e)),
        }
        before = now;
        printed += 1;
    }
    Ok(())
}
