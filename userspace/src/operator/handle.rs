//! The admin socket's side of the operator state: change it, save it, and wait until the
//! control loop has applied the change.

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use arc_swap::ArcSwap;
use tokio::sync::{Mutex, watch};

use super::{OperatorError, OperatorState, Override, SiteSetting, Versioned, save_state, view_name};
use crate::config::{Config, DEFAULT_VIEW_NAME};

/// How long a command waits for the control loop before answering anyway.
const APPLY_WAIT: Duration = Duration::from_secs(2);

pub struct Handle {
    state: watch::Sender<Versioned>,
    applied: watch::Receiver<u64>,
    file: PathBuf,
    config: Arc<ArcSwap<Config>>,
    /// One change at a time, so that generations and the file follow the same order.
    writing: Mutex<()>,
    /// Set while a daemon taking over from this one may have read the state file already: a
    /// change saved now would not reach it.
    handing_off: AtomicBool,
}

impl Handle {
    /// `state` is what the control loop follows; it reports each generation it applied on
    /// `applied`.
    pub fn new(
        state: watch::Sender<Versioned>,
        applied: watch::Receiver<u64>,
        file: PathBuf,
        config: Arc<ArcSwap<Config>>,
    ) -> Handle {
        Handle { state, applied, file, config, writing: Mutex::new(()), handing_off: AtomicBool::new(false) }
    }

    /// Refuses changes from now on, once the one being made (if any) is saved: the daemon
    /// taking over reads the state file next, and would not know of a later one. A change
    /// saved just before waits for the control loop, the caller, and gives up after
    /// `APPLY_WAIT` (saved: the successor applies it).
    pub async fn hold_for_handoff(&self) {
        let _saved = self.writing.lock().await;
        self.handing_off.store(true, Ordering::SeqCst);
    }

    /// Takes changes again: the hand-off was abandoned and this daemon serves on.
    pub fn resume_after_handoff(&self) {
        self.handing_off.store(false, Ordering::SeqCst);
    }

    pub fn current(&self) -> OperatorState {
        self.state.borrow().state.clone()
    }

    pub async fn set_override(&self, new: Override) -> Result<String, OperatorError> {
        let new = new.checked(&self.config.load(), true)?;
        let message = format!("{} {} {}: override set", new.name, new.qtype, view_name(&new.view));
        self.change(move |s| {
            s.set_override(new);
            Ok(())
        })
        .await?;
        Ok(message)
    }

    pub async fn remove_override(&self, key: Override) -> Result<String, OperatorError> {
        let key = self.removal_key(key, false)?;
        let message = format!(
            "{} {} {}: override removed, the policy's answer is back",
            key.name,
            key.qtype,
            view_name(&key.view)
        );
        self.change(move |s| {
            if s.remove_override(&key) {
                Ok(())
            } else {
                let view = view_name(&key.view).to_string();
                Err(OperatorError::NoOverride { name: key.name.clone(), qtype: key.qtype, view })
            }
        })
        .await?;
        Ok(message)
    }

    /// `new` in the default view and every `[[view]]`, as one change: no client sees some
    /// views overridden and others not.
    pub async fn set_override_all_views(&self, new: Override) -> Result<String, OperatorError> {
        let config = self.config.load();
        let new = Override { view: None, ..new }.checked(&config, true)?;
        let views: Vec<Option<String>> =
            std::iter::once(None).chain(config.view.iter().map(|v| Some(v.name.clone()))).collect();
        let names: Vec<&str> = views.iter().map(view_name).collect();
        let message = format!("{} {} in every view ({}): override set", new.name, new.qtype, names.join(", "));
        self.change(move |s| {
            for view in views {
                s.set_override(Override { view, ..new.clone() });
            }
            Ok(())
        })
        .await?;
        Ok(message)
    }

    /// Removes the overrides of this name and type in every view; refused when there are none.
    pub async fn remove_override_all_views(&self, key: Override) -> Result<String, OperatorError> {
        let key = self.removal_key(Override { view: None, ..key }, true)?;
        let message =
            format!("{} {} in every view: overrides removed, the policy's answers are back", key.name, key.qtype);
        self.change(move |s| {
            let before = s.overrides.len();
            s.overrides.retain(|o| (&o.name, o.qtype) != (&key.name, key.qtype));
            if s.overrides.len() == before {
                return Err(OperatorError::NoOverride {
                    name: key.name.clone(),
                    qtype: key.qtype,
                    view: "in any view".into(),
                });
            }
            Ok(())
        })
        .await?;
        Ok(message)
    }

    /// Applies `edit` to `site`'s setting.
    pub async fn set_site(
        &self,
        site: &str,
        edit: impl FnOnce(&mut SiteSetting),
    ) -> Result<SiteSetting, OperatorError> {
        if !self.config.load().site.iter().any(|s| s.name == site) {
            return Err(OperatorError::UnknownSite(site.to_string()));
        }
        let mut setting = self.current().site(site);
        edit(&mut setting);
        if setting.weight > super::FULL_WEIGHT {
            return Err(OperatorError::WeightRange);
        }
        let name = site.to_string();
        self.change(move |s| {
            s.set_site(&name, setting);
            Ok(())
        })
        .await?;
        Ok(setting)
    }

    /// Drops, with a log line each, the overrides the running config no longer allows (their
    /// service or view gone, say), so that none comes back unannounced when a later config
    /// allows it again. Runs after a reload went through, beside the control loop (which applies
    /// the change); the config is read when the change is made, so a later reload or `map set`
    /// in between is judged by the config then in force.
    pub async fn drop_unfitting(&self) {
        if self.current().fits(&self.config.load()) {
            return;
        }
        let dropped = self.change(|s| {
            s.drop_unfitting(&self.config.load());
            Ok(())
        });
        if let Err(e) = dropped.await {
            tracing::warn!(error = %e, "dropping the overrides the config has no place for");
        }
    }

    /// The overrides the running config has no place for (see `drop_unfitting`).
    pub fn unfitting(&self) -> Vec<String> {
        self.current().unfitting(&self.config.load())
    }

    /// `key` checked against the config; else, when a reload removed its service or view
    /// since it was set, the stored override it names, so that it can still be removed.
    fn removal_key(&self, key: Override, any_view: bool) -> Result<Override, OperatorError> {
        let refused = match key.clone().checked(&self.config.load(), false) {
            Ok(key) => return Ok(key),
            Err(refused) => refused,
        };
        let stored = stored_override(&self.current().overrides, &key, any_view);
        stored.map(|o| Override { view: if any_view { None } else { o.view }, ..o }).ok_or(refused)
    }

    async fn change(
        &self,
        edit: impl FnOnce(&mut OperatorState) -> Result<(), OperatorError>,
    ) -> Result<(), OperatorError> {
        let _one_at_a_time = self.writing.lock().await;
        if self.handing_off.load(Ordering::SeqCst) {
            return Err(OperatorError::HandingOff);
        }
        let mut next = self.current();
        edit(&mut next)?;
        save_state(&self.file, &next)?;
        let generation = self.state.borrow().generation + 1;
        self.state.send_replace(Versioned { generation, state: next });
        let mut applied = self.applied.clone();
        let reached = tokio::time::timeout(APPLY_WAIT, applied.wait_for(|g| *g >= generation)).await;
        match reached {
            Ok(Ok(_)) => Ok(()),
            _ => Err(OperatorError::NotApplied { seconds: APPLY_WAIT.as_secs() }),
        }
    }
}

/// The stored override with `key`'s name (in any case, with or without the final dot), type
/// and view (any view with `any_view`).
fn stored_override(overrides: &[Override], key: &Override, any_view: bool) -> Option<Override> {
    let name = key.name.trim_end_matches('.').to_ascii_lowercase() + ".";
    let view = key.view.as_deref().filter(|v| *v != DEFAULT_VIEW_NAME);
    overrides
        .iter()
        .find(|o| o.name == name && o.qtype == key.qtype && (any_view || o.view.as_deref() == view))
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::Qtype;

    fn stored(name: &str, view: Option<&str>) -> Override {
        Override {
            name: name.into(),
            qtype: Qtype::A,
            view: view.map(String::from),
            ttl: 30,
            addrs: vec!["192.0.2.1".parse().unwrap()],
        }
    }

    /// A handle whose changes are applied at once, as the control loop would, with its file.
    fn handle(dir: &std::path::Path) -> Handle {
        let text = crate::config::fixture::ConfigText::new().xdp_off().zone().site("one", &["198.18.1.1"], &[]);
        let config = Arc::new(ArcSwap::from_pointee(Config::parse(&text.build(), "test.toml").unwrap()));
        let (state, mut follow) = watch::channel(Versioned::default());
        let (applied_tx, applied) = watch::channel(0);
        tokio::spawn(async move {
            while follow.changed().await.is_ok() {
                let generation = follow.borrow().generation;
                applied_tx.send_replace(generation);
            }
        });
        Handle::new(state, applied, dir.join("operator.json"), config)
    }

    #[tokio::test]
    async fn a_change_during_a_hand_off_is_refused_and_none_is_saved() {
        let dir = tempfile::tempdir().unwrap();
        let handle = handle(dir.path());
        handle.set_site("one", |s| s.drained = true).await.unwrap();
        let saved = std::fs::read_to_string(dir.path().join("operator.json")).unwrap();
        handle.hold_for_handoff().await;
        let refused = handle.set_site("one", |s| s.drained = false).await.unwrap_err();
        assert!(matches!(refused, OperatorError::HandingOff), "{refused}");
        assert!(refused.to_string().contains("taking over"), "{refused}");
        assert!(handle.current().site("one").drained, "the state is unchanged");
        assert_eq!(std::fs::read_to_string(dir.path().join("operator.json")).unwrap(), saved, "the file too");
        // The successor went away: changes are taken again.
        handle.resume_after_handoff();
        handle.set_site("one", |s| s.drained = false).await.unwrap();
        assert!(!handle.current().site("one").drained);
    }

    #[test]
    fn an_override_is_found_as_stored_whatever_the_case_and_final_dot() {
        let overrides = [stored("gone.example.com.", Some("eu")), stored("www.example.com.", None)];
        let asked = |name: &str, view: Option<&str>| Override { addrs: Vec::new(), ..stored(name, view) };
        let found = stored_override(&overrides, &asked("Gone.Example.com", Some("eu")), false).unwrap();
        assert_eq!((found.name.as_str(), found.view.as_deref()), ("gone.example.com.", Some("eu")));
        assert!(stored_override(&overrides, &asked("gone.example.com.", None), false).is_none(), "another view");
        let default = asked("www.example.com.", Some(DEFAULT_VIEW_NAME));
        assert!(stored_override(&overrides, &default, false).is_some(), "the default view by its name");
        assert!(stored_override(&overrides, &asked("gone.example.com.", None), true).is_some(), "any view");
        let aaaa = Override { qtype: Qtype::Aaaa, ..asked("www.example.com.", None) };
        assert!(stored_override(&overrides, &aaaa, false).is_none(), "another type");
    }
}
