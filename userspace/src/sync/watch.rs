//! Noticing commits as they happen. Every commit writes to the database's WAL
//! file (or, for a program using a rollback journal, to the database file), so
//! an inotify watch on the directory wakes the shipping loops at once. A
//! commit becomes visible to readers a moment after its last write, so the
//! loops are woken again shortly after each burst. Where inotify is not
//! available, `PRAGMA data_version` is read every `interval`.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use inotify::{Inotify, WatchMask};
use rusqlite::{Connection, OpenFlags};

use super::node::SyncNode;

/// Second looks after a burst of writes, for a commit not yet visible at the first.
const SETTLE: [Duration; 2] = [Duration::from_millis(1), Duration::from_millis(10)];

impl SyncNode {
    pub(super) async fn watch_commits(self) {
        let path = self.inner.config.db_path.clone();
        match watch_directory(&path) {
            Ok(events) => self.follow_events(events, &path).await,
            Err(err) => {
                tracing::warn!(error = %err, database = %path.display(), "cannot watch the database for commits; polling it");
                self.poll_data_version(&path).await;
            }
        }
    }

    async fn follow_events(self, mut events: inotify::EventStream<Vec<u8>>, path: &Path) {
        let names = database_files(path);
        let mut settle: Option<usize> = None;
        loop {
            let wait = settle.map_or(Duration::MAX, |step| SETTLE[step]);
            tokio::select! {
                event = events.next() => match event {
                    Some(Ok(event)) if event.name.as_ref().is_some_and(|n| names.contains(&n.to_os_string())) => {
                        self.notify_commit();
                        settle = Some(0);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(err)) => {
                        tracing::warn!(error = %err, "watching the database failed; polling it");
                        return self.poll_data_version(path).await;
                    }
                    None => return self.poll_data_version(path).await,
                },
                _ = tokio::time::sleep(wait) => {
                    self.notify_commit();
                    settle = settle.map(|step| step + 1).filter(|step| *step < SETTLE.len());
                }
            }
        }
    }

    async fn poll_data_version(&self, path: &Path) {
        let interval = self.inner.config.interval;
        let conn = match Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY) {
            Ok(conn) => conn,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the database's data version; waking shippers every interval");
                loop {
                    tokio::time::sleep(interval).await;
                    self.notify_commit();
                }
            }
        };
        let mut last = None;
        loop {
            tokio::time::sleep(interval).await;
            let version: Option<i64> = conn.query_row("PRAGMA data_version", [], |r| r.get(0)).ok();
            if version.is_none() || version != last {
                self.notify_commit();
                last = version;
            }
        }
    }
}

fn watch_directory(path: &Path) -> std::io::Result<inotify::EventStream<Vec<u8>>> {
    let inotify = Inotify::init()?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    inotify.watches().add(dir, WatchMask::MODIFY | WatchMask::CLOSE_WRITE | WatchMask::MOVED_TO | WatchMask::CREATE)?;
    inotify.into_event_stream(vec![0u8; 4096])
}

/// The file names a commit writes to.
fn database_files(path: &Path) -> Vec<OsString> {
    let Some(name) = path.file_name() else {
        return Vec::new();
    };
    ["", "-wal", "-journal"]
        .iter()
        .map(|suffix| {
            let mut file = name.to_os_string();
            file.push(suffix);
            file
        })
        .collect()
}
