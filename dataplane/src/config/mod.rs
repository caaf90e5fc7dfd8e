//! Configuration: the live store that request handlers read from (hot-swapped with
//! `arc-swap`) and the file watcher feeding it. The model itself, its file formats and
//! validation live in `sluice-model`; what the data plane uses of it is re-exported here so
//! the rest of the crate names it `crate::config::...`.

pub mod watch;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

pub use sluice_model::file::{self, load_file, parse_config, ConfigError};
pub use sluice_model::{
    client_key_hash, default_prefix_rules, listens_beyond_loopback, mask_secret, AuthMode, BaseUrl,
    BuildFnv, Endpoint, FailureMode, Fnv, HealthCheck, Limits, PrefixRule, Protocol, Provider,
    ProviderKind, RateStoreBackend, RateStoreSettings, Route, RuntimeConfig, Secret,
    ServerSettings, SharedConfig, Strategy, Target, WireConventions,
};

/// The live configuration: one snapshot, swapped whole.
pub struct ConfigStore {
    current: ArcSwap<RuntimeConfig>,
    ready: AtomicBool,
    next_version: AtomicU64,
}

impl ConfigStore {
    /// A store serving `initial`; `ready` says whether it counts as a loaded snapshot.
    pub fn new(mut initial: RuntimeConfig, ready: bool) -> Arc<Self> {
        if initial.version == 0 {
            initial.version = 1;
        }
        let next = initial.version + 1;
        crate::metrics::set_config_version(initial.version);
        Arc::new(Self {
            current: ArcSwap::from_pointee(initial),
            ready: AtomicBool::new(ready),
            next_version: AtomicU64::new(next),
        })
    }

    /// The snapshot to use for one request, start to end.
    pub fn load(&self) -> Arc<RuntimeConfig> {
        self.current.load_full()
    }

    /// Whether a valid snapshot has been loaded (`/readyz`).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Swaps in a validated snapshot. Versions of 0 are assigned the next local version.
    pub fn store(&self, mut cfg: RuntimeConfig) -> u64 {
        if cfg.version == 0 {
            cfg.version = self.next_version.fetch_add(1, Ordering::Relaxed);
        } else {
            self.next_version
                .fetch_max(cfg.version + 1, Ordering::Relaxed);
        }
        let v = cfg.version;
        self.current.store(Arc::new(cfg));
        self.ready.store(true, Ordering::Release);
        crate::metrics::set_config_version(v);
        crate::metrics::config_update("ok");
        v
    }
}

#[cfg(test)]
mod tests {
    /// The Anthropic version header the model's wire table sends is the one the translator
    /// is written against.
    #[test]
    fn anthropic_version_matches_the_translator() {
        assert_eq!(
            super::Protocol::Anthropic.wire().version_header,
            Some(("anthropic-version", sluice_translate::anthropic::VERSION))
        );
    }
}
