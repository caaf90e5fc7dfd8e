//! Where counters live: the [`RateStore`] interface with an in-process backend and a
//! Redis/Valkey backend, and the failure-mode wrapper around the shared one.

use std::sync::Arc;

use sluice_model::RateStoreSettings;

/// A rate store's counters for every scope (placeholder: the real interface lands with the
/// stores).
pub(crate) trait RateStore: Send + Sync {}

/// What one admission reserved, kept until it is settled.
#[derive(Debug)]
pub(crate) struct Reservation {}

struct Placeholder;
impl RateStore for Placeholder {}

/// The store `settings` name.
pub(crate) fn open(settings: &RateStoreSettings) -> Arc<dyn RateStore> {
    let _ = settings;
    Arc::new(Placeholder)
}
