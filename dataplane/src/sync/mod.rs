//! Managed-mode config sync: snapshots from the control plane over gRPC.

pub mod snapshot;

pub use snapshot::{config_from_snapshot, snapshot_from_config};
