//! Sluice data plane: a Pingora server that resolves OpenAI-style chat requests to
//! upstream providers, forwards or translates them, and streams the answers back.
#![forbid(unsafe_code)]

pub mod admission;
pub mod chat_request;
pub mod config;
pub mod error;
pub mod health_check;
pub mod metrics;
pub mod ops;
pub mod provider;
pub mod proxy;
pub mod resolve;
pub mod routing;
pub mod server;
pub mod sync;
pub mod upstream;

use std::sync::Arc;

use config::ConfigStore;
use routing::Router;
use upstream::UpstreamClient;

/// Everything request handlers share.
pub struct AppState {
    /// The live config snapshot.
    pub config: Arc<ConfigStore>,
    /// Target planning, endpoint choice and health.
    pub router: Router,
    /// Pooled upstream client.
    pub upstream: UpstreamClient,
    /// Where finished requests are reported (managed mode), if anywhere.
    pub usage: Option<tokio::sync::mpsc::Sender<sluice_proto::UsageRecord>>,
    /// Shared admission budgets (connections, requests, buffered body bytes).
    pub admission: Arc<admission::Admission>,
}

impl AppState {
    /// State serving from `config`.
    pub fn new(config: Arc<ConfigStore>) -> Arc<Self> {
        Self::with_usage(config, None)
    }

    /// State that also reports usage records to `usage`.
    pub fn with_usage(
        config: Arc<ConfigStore>,
        usage: Option<tokio::sync::mpsc::Sender<sluice_proto::UsageRecord>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            config,
            router: Router::new(),
            upstream: UpstreamClient::new(),
            usage,
            admission: admission::Admission::new(),
        })
    }
}
