//! Sluice data plane: a Pingora server that resolves OpenAI-style chat requests to
//! upstream providers, forwards or translates them, and streams the answers back.
#![forbid(unsafe_code)]

// What the binary wires: configuration sources, the server, control-plane sync.
pub mod config;
pub mod server;
pub mod sync;

// The request path (docs/ARCHITECTURE.md, "The request path"): crate-private.
pub(crate) mod admission;
pub(crate) mod chat_request;
pub(crate) mod error;
pub(crate) mod governance;
pub(crate) mod health_check;
pub(crate) mod metrics;
pub(crate) mod ops;
pub(crate) mod provider;
pub(crate) mod proxy;
pub(crate) mod resolve;
pub(crate) mod routing;
pub(crate) mod upstream;

#[doc(hidden)]
pub use upstream::fuzz_decode_response;

use std::sync::Arc;

use config::ConfigStore;
use routing::Router;
use upstream::UpstreamClient;

/// Everything request handlers share.
pub struct AppState {
    /// The live config snapshot.
    pub(crate) config: Arc<ConfigStore>,
    /// Target planning, endpoint choice and health.
    pub(crate) router: Router,
    /// Pooled upstream client.
    pub(crate) upstream: UpstreamClient,
    /// Where finished requests are reported (managed mode), if anywhere.
    pub(crate) usage: Option<tokio::sync::mpsc::Sender<sluice_proto::UsageRecord>>,
    /// Shared admission budgets (connections, requests, buffered body bytes).
    pub(crate) admission: Arc<admission::Admission>,
    /// Limits and budgets of keys, teams, routes and providers, in the rate store chosen
    /// at start-up (changing `rate_store` needs a restart).
    pub(crate) governor: governance::Governor,
}

impl AppState {
    /// State serving from `config`.
    #[cfg(test)]
    pub(crate) fn new(config: Arc<ConfigStore>) -> Arc<Self> {
        Self::with_usage(config, None, &sluice_model::RateStoreSettings::default())
    }

    /// State that also reports usage records to `usage`, counting limits in the rate
    /// store `rate_store` names.
    pub(crate) fn with_usage(
        config: Arc<ConfigStore>,
        usage: Option<tokio::sync::mpsc::Sender<sluice_proto::UsageRecord>>,
        rate_store: &sluice_model::RateStoreSettings,
    ) -> Arc<Self> {
        Arc::new(Self {
            config,
            router: Router::new(),
            upstream: UpstreamClient::new(),
            usage,
            admission: admission::Admission::new(),
            governor: governance::Governor::new(rate_store),
        })
    }
}
