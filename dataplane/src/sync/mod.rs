//! Managed-mode config sync: snapshots from the control plane over gRPC, validated,
//! applied or rejected, and cached encrypted on disk.

pub mod cache;
pub mod client;
pub mod snapshot;
pub mod token;

pub use cache::SnapshotCache;
pub use client::{apply_snapshot, Applied, SyncClient, SyncOptions};
pub use snapshot::{config_from_snapshot, snapshot_from_config};
pub use token::{check_token, secrets_equal, token_from_env, TokenError, MIN_TOKEN_BYTES};
