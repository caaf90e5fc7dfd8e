//! Static-mode config sync: watch the config file (and its directory, so editor renames
//! and Kubernetes ConfigMap symlink swaps are seen), reload, validate, swap. An invalid file
//! is logged and counted; the previous snapshot keeps serving.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use notify::{RecursiveMode, Watcher};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use super::{load_file, ConfigStore};

/// Background service reloading a config file on change.
pub struct FileWatcher {
    path: PathBuf,
    store: Arc<ConfigStore>,
}

impl FileWatcher {
    /// Watches `path`, feeding `store`.
    pub fn new(path: PathBuf, store: Arc<ConfigStore>) -> Self {
        Self { path, store }
    }

    /// Reloads once if the file's content changed since `last`; returns the new content.
    fn reload_if_changed(&self, last: &mut Option<Vec<u8>>) {
        let Ok(bytes) = std::fs::read(&self.path) else {
            tracing::warn!(path = %self.path.display(), "config file unreadable; keeping the current config");
            return;
        };
        if last.as_deref() == Some(bytes.as_slice()) {
            return;
        }
        *last = Some(bytes);
        match load_file(&self.path) {
            Ok(cfg) => {
                let v = self.store.store(cfg);
                tracing::info!(path = %self.path.display(), version = v, "config reloaded");
            }
            Err(e) => {
                crate::metrics::config_update("rejected");
                tracing::error!(error = %e, "config change rejected; keeping the current config");
            }
        }
    }
}

/// Whether a directory event may have changed the config file. Reading the file ourselves
/// raises access events, so those are ignored (else every reload would trigger the next);
/// so are other files' events, except Kubernetes ConfigMap swaps (`..data` symlinks).
fn is_relevant(ev: &notify::Event, name: Option<&std::ffi::OsStr>) -> bool {
    if matches!(ev.kind, notify::EventKind::Access(_)) {
        return false;
    }
    ev.paths.iter().any(|p| match p.file_name() {
        Some(f) => Some(f) == name || f.to_string_lossy().starts_with(".."),
        None => false,
    })
}

fn watch_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[async_trait]
impl BackgroundService for FileWatcher {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let name = self.path.file_name().map(|n| n.to_os_string());
        let mut watcher =
            match notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                if let Ok(ev) = res {
                    if is_relevant(&ev, name.as_deref()) {
                        let _ = tx.send(());
                    }
                }
            }) {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!(error = %e, "file watcher unavailable; polling every 2 s");
                    None
                }
            };
        if let Some(w) = watcher.as_mut() {
            if let Err(e) = w.watch(&watch_dir(&self.path), RecursiveMode::NonRecursive) {
                tracing::warn!(error = %e, "cannot watch config directory; polling every 2 s");
            }
        }
        let mut last = std::fs::read(&self.path).ok();
        let mut poll = tokio::time::interval(Duration::from_secs(2));
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                ev = rx.recv() => {
                    if ev.is_none() { break; }
                    // Editors write in several steps: let the burst settle.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    while rx.try_recv().is_ok() {}
                    self.reload_if_changed(&mut last);
                }
                _ = poll.tick() => self.reload_if_changed(&mut last),
            }
        }
        drop(watcher);
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, CreateKind, EventKind, ModifyKind};

    fn ev(kind: EventKind, path: &str) -> notify::Event {
        notify::Event::new(kind).add_path(PathBuf::from(path))
    }

    #[test]
    fn only_changes_to_the_config_file_count() {
        let name = Some(std::ffi::OsStr::new("sluice.toml"));
        assert!(is_relevant(
            &ev(EventKind::Modify(ModifyKind::Any), "/etc/s/sluice.toml"),
            name
        ));
        assert!(is_relevant(
            &ev(EventKind::Create(CreateKind::File), "/etc/s/..data"),
            name
        ));
        assert!(!is_relevant(
            &ev(EventKind::Access(AccessKind::Any), "/etc/s/sluice.toml"),
            name
        ));
        assert!(!is_relevant(
            &ev(EventKind::Modify(ModifyKind::Any), "/etc/s/other.log"),
            name
        ));
    }
}
