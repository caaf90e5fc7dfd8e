//! JSON backups (provider-management API): the whole state with provider keys still
//! sealed, written atomically (temp file, fsync, rename, fsync of the directory), and
//! restored all-or-nothing.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sluice_model::MasterKey;

use crate::clock::{now_ms, rfc3339};
use crate::error::ApiError;
use crate::store::records::State;
use crate::store::Store;

/// Format tag written into every backup.
pub const FORMAT: &str = "sluice-backup/1";

/// The backup file.
#[derive(Debug, Serialize, Deserialize)]
pub struct BackupFile {
    /// [`FORMAT`].
    pub format: String,
    /// When it was written (RFC 3339).
    pub exported_at: String,
    /// Providers, routes and client-key hashes; provider keys sealed with the master key.
    pub state: State,
}

/// Writes `state` as a backup to `path` atomically.
pub fn write_file(path: &Path, state: &State) -> anyhow::Result<()> {
    let file = BackupFile {
        format: FORMAT.into(),
        exported_at: rfc3339(now_ms()),
        state: state.clone(),
    };
    let bytes = serde_json::to_vec_pretty(&file)?;
    write_atomic(path, &bytes)
}

/// Temp file in the same directory + fsync + rename: readers see the old or the new file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("backup.json");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(&dir) {
        // Persist the rename itself; not every platform allows fsync on a directory.
        let _ = d.sync_all();
    }
    Ok(())
}

/// Parses a backup file's bytes (400 on anything malformed).
pub fn parse(bytes: &[u8]) -> Result<State, ApiError> {
    let file: BackupFile = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("backup is not valid: {e}")))?;
    if file.format != FORMAT {
        return Err(ApiError::bad_request(format!(
            "unsupported backup format `{}` (expected `{FORMAT}`)",
            file.format
        )));
    }
    Ok(file.state)
}

/// Restores `input` into `store`, all-or-nothing.
pub fn restore_into(store: &Store, input: &Path) -> Result<(), ApiError> {
    let bytes = std::fs::read(input).map_err(|e| {
        ApiError::bad_request(format!("cannot read backup {}: {e}", input.display()))
    })?;
    store.replace_all(parse(&bytes)?)
}

/// Writes a backup of the store under `data_dir` to `out` (the control plane must not be
/// running on that data dir: sled takes an exclusive lock).
pub fn backup_export(data_dir: &Path, out: &Path, key: &MasterKey) -> anyhow::Result<()> {
    let store = Store::open(data_dir, key.clone(), None)?;
    write_file(out, &store.state())
}

/// Replaces the store under `data_dir` with the backup `input`: everything is validated
/// first (format, keys decryptable with `key`, the whole config), then swapped in one
/// transaction; on any error nothing changes.
pub fn backup_restore(data_dir: &Path, input: &Path, key: &MasterKey) -> anyhow::Result<()> {
    let store = Store::open(data_dir, key.clone(), None)?;
    restore_into(&store, input).map_err(|e| anyhow::anyhow!("restore rejected: {e}"))
}

#[cfg(test)]
mod tests;
