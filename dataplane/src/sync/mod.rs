//! Managed-mode config sync: snapshots from the control plane over gRPC, validated,
//! applied or rejected, and cached encrypted on disk.

pub mod cache;
pub mod client;

pub use cache::SnapshotCache;
pub use client::{apply_snapshot, Applied, SyncClient, SyncOptions};
pub use sluice_model::snapshot::{self, config_from_snapshot, snapshot_from_config};
pub use sluice_model::token::{
    self, check_token, secrets_equal, token_from_env, TokenError, MIN_TOKEN_BYTES,
};
/// The key the snapshot cache is sealed with (the control plane's master key type).
pub use sluice_model::MasterKey;
