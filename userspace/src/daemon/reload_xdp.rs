//! The XDP part of a reload, once the userspace server serves the new answers: interfaces
//! added or removed, the attach mode changed, XDP turned on or off, and a new answer map size.
//!
//! An interface is never left answering from an older table than userspace's: a mode change
//! detaches and attaches again (userspace answers in between, as it does for every frame XDP
//! passes), and a new map size loads a successor program with a new map and swaps it into the
//! links atomically, as a restarted daemon of another layout does.

use tracing::{info, warn};

use super::reload::ReloadError;
use crate::{
    answers::{AnswerController, Views},
    bpf::{datapath::Datapath, link_detach, pins, veth},
    config::{Config, XdpMode},
};

/// Brings `datapath` from the old config's XDP settings to the new one's.
pub async fn apply(
    datapath: &mut Option<Datapath>,
    answers: &mut AnswerController,
    views: &Views,
    (old, new): (&Config, &Config),
    cookies: switchyard_common::CookieConfig,
) -> Result<(), ReloadError> {
    let Some(mut dp) = datapath.take() else {
        // Off before: everything is set up as at start (nothing when still off).
        match super::start::datapath(new, views, answers, cookies).await {
            Ok(started) => *datapath = started,
            Err(e) => {
                // What it pinned and attached before it failed would outlive it.
                if let Err(e) = pins::remove_all(&new.server.pin_dir()) {
                    warn!(error = %e, "XDP pins of the failed start not removed");
                }
                return Err(ReloadError::XdpStart(e));
            }
        }
        return Ok(());
    };
    if new.xdp.mode == XdpMode::Off {
        turn_off(dp, &old.server.pin_dir());
        return Ok(());
    }
    if old.xdp.mode != new.xdp.mode {
        detach_all(&mut dp);
    }
    if old.xdp.max_entries != new.xdp.max_entries {
        match successor(&mut dp, answers, views, (old, new), cookies).await {
            Ok(next) => *datapath = Some(next),
            Err(e) => {
                detach_strays(&new.server.pin_dir(), (old, new));
                restore(&mut dp, answers, old).await;
                *datapath = Some(dp);
                return Err(e);
            }
        }
        return Ok(());
    }
    let result = update(&mut dp, answers, views, new).await;
    if result.is_err() && old.xdp.mode != new.xdp.mode {
        restore(&mut dp, answers, old).await;
    }
    *datapath = Some(dp);
    result
}

/// Takes the XDP step of a failed reload back to `old`, once the answers are back: all of it
/// when it went through (`applied`); else the map, views and settings, which a failed update
/// may have written (a failed mode or size change put the links back itself).
pub async fn undo(
    datapath: &mut Option<Datapath>,
    answers: &mut AnswerController,
    views: &Views,
    (old, new): (&Config, &Config),
    cookies: switchyard_common::CookieConfig,
    applied: bool,
) -> Result<(), String> {
    let result = match datapath.as_mut() {
        _ if applied => apply(datapath, answers, views, (new, old), cookies).await,
        Some(dp) if old.xdp.mode != XdpMode::Off => {
            let updated = update(dp, answers, views, old).await;
            // A failed successor shares the address and MAC maps and wrote the refused config's
            // there; this program's follower takes them for its own and would not write again.
            dp.rewrite_local_addresses();
            updated
        }
        _ => Ok(()),
    };
    result.map_err(|e| e.to_string())
}

/// Detaches the interfaces a failed successor attached that the running config does not have:
/// their pinned links would keep its program, and its map, on them.
fn detach_strays(pin_dir: &std::path::Path, (old, new): (&Config, &Config)) {
    for iface in new.xdp.interfaces.iter().filter(|i| !old.xdp.interfaces.contains(i)) {
        let link = pins::link_path(pin_dir, iface);
        if link.exists()
            && let Err(e) = link_detach::detach_and_unpin(&link)
        {
            warn!(iface, error = %e, "XDP not detached after the failed reload");
        }
    }
}

/// Detaches every interface and removes the pins, so that no program answers from a map
/// nobody writes any more.
fn turn_off(mut dp: Datapath, pin_dir: &std::path::Path) {
    detach_all(&mut dp);
    drop(dp);
    if let Err(e) = pins::remove_all(pin_dir) {
        warn!(error = %e, "XDP pins not removed");
    }
    info!("XDP turned off: userspace answers everything");
}

fn detach_all(dp: &mut Datapath) {
    for iface in dp.interfaces() {
        if let Err(e) = dp.detach(&iface) {
            warn!(iface, error = %e, "XDP not detached");
        }
    }
}

/// A program with an answer map of the new size, written in full, attached in place of the
/// running one; `dp` keeps its links to the interfaces the new config drops, which go with it.
async fn successor(
    dp: &mut Datapath,
    answers: &mut AnswerController,
    views: &Views,
    (old, new): (&Config, &Config),
    cookies: switchyard_common::CookieConfig,
) -> Result<Datapath, ReloadError> {
    for iface in old.xdp.interfaces.iter().filter(|i| !new.xdp.interfaces.contains(i)) {
        dp.detach(iface)?;
    }
    let next = super::start::datapath(new, views, answers, cookies).await.map_err(ReloadError::XdpStart)?;
    info!(max_entries = new.xdp.max_entries, "a new answer map took over");
    Ok(next.expect("XDP is on in the new config"))
}

/// The answer map (its signatures made ahead on the blocking pool), then the view tries (new
/// views' answers are in place before a client is sent to them), the settings, the stamp
/// period and the interfaces (all of them again when the mode changed: `apply` detached them).
async fn update(
    dp: &mut Datapath,
    answers: &mut AnswerController,
    views: &Views,
    new: &Config,
) -> Result<(), ReloadError> {
    if let Err(e) = answers.write_map(dp).await {
        warn!(error = %e, "answer map not written; userspace answers are current");
    }
    dp.set_views(views)?;
    dp.set_config(super::start::xdp_config(new))?;
    dp.set_stale_after(new.xdp.stale_after());
    dp.update_local_addresses(&new.server.listen, &new.xdp.interfaces);
    let attached = dp.interfaces();
    for iface in new.xdp.interfaces.iter().filter(|i| !attached.contains(i)) {
        let (mode, warning) = veth::attach_mode(iface, new.xdp.mode).await;
        if let Some(warning) = warning {
            warn!("{warning}");
        }
        dp.attach(iface, mode)?;
    }
    for iface in attached.iter().filter(|i| !new.xdp.interfaces.contains(i)) {
        dp.detach(iface)?;
    }
    Ok(())
}

/// After a failed change: the old config's interfaces attached again in the old mode to this
/// program (a successor that failed half way may have taken a link over), and the answer
/// writer back on the old map.
async fn restore(dp: &mut Datapath, answers: &mut AnswerController, old: &Config) {
    if let Err(e) = answers.adopt_map(dp) {
        warn!(error = %e, "answer map not re-read");
    }
    detach_all(dp);
    for iface in &old.xdp.interfaces {
        let (mode, _) = veth::attach_mode(iface, old.xdp.mode).await;
        if let Err(e) = dp.attach(iface, mode) {
            warn!(iface, error = %e, "XDP not attached again after the failed reload");
        }
    }
}
