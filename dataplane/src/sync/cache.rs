//! The data plane's last good snapshot, persisted encrypted (AES-256-GCM) so a restart
//! without a control plane still serves. Written atomically (temp file + rename).

use std::path::{Path, PathBuf};

use prost::Message;
use sluice_proto::Snapshot;

use sluice_model::MasterKey;

/// Encrypted on-disk snapshot cache.
pub struct SnapshotCache {
    path: PathBuf,
    key: MasterKey,
}

impl SnapshotCache {
    /// A cache file at `path`, sealed with `key`.
    pub fn new(path: PathBuf, key: MasterKey) -> Self {
        Self { path, key }
    }

    /// Where the cache lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Loads the cached snapshot, if any and readable with this key.
    pub fn load(&self) -> Option<Snapshot> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        match self.key.open(text.trim()) {
            Ok(bytes) => Snapshot::decode(bytes.as_slice()).ok(),
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "ignoring unreadable snapshot cache");
                None
            }
        }
    }

    /// Stores `snap` (never in plaintext).
    pub fn save(&self, snap: &Snapshot) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let sealed = self.key.seal(&snap.encode_to_vec());
        let tmp = self.path.with_extension("tmp");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(sealed.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)
    }
}
