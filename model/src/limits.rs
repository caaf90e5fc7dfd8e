//! Data-plane server settings and admission limits: every resource a client can make the
//! data plane hold is bounded by one of these (all under `[server]` in the config file).

use std::time::Duration;

use crate::auth::AuthMode;

/// Admission limits: every resource a client can make the data plane hold is bounded by
/// one of these (all under `[server]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Open downstream connections; beyond it new connections get a 503 and are closed.
    pub max_connections: usize,
    /// Requests being served at once; beyond it new requests get a 503 with `Retry-After`.
    pub max_inflight: usize,
    /// Request-body bytes buffered across all connections at once; beyond it new
    /// requests get a 503 with `Retry-After`.
    pub max_buffered_body_bytes: usize,
    /// Total time allowed to receive a request head (from its first byte on a reused
    /// connection, from accept on a new one).
    pub header_timeout: Duration,
    /// Total time allowed to receive a request body.
    pub body_timeout: Duration,
    /// Slowest accepted body upload once `body_rate_grace` has passed, bytes per second.
    pub min_body_rate: u64,
    /// Time a body upload may take before `min_body_rate` applies.
    pub body_rate_grace: Duration,
    /// Time one write of the answer may wait for a slow reader.
    pub write_timeout: Duration,
    /// Idle time allowed between requests on a kept-alive connection.
    pub keepalive_timeout: Duration,
    /// Longest accepted `model` (and pin) value, bytes.
    pub max_model_len: usize,
    /// Most entries of `messages`.
    pub max_messages: usize,
    /// Most entries of `tools`.
    pub max_tools: usize,
    /// Most members of any one JSON object in a request.
    pub max_object_keys: usize,
    /// Deepest JSON nesting in a request.
    pub max_json_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_inflight: 4_096,
            max_buffered_body_bytes: 256 * 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            min_body_rate: 16 * 1024,
            body_rate_grace: Duration::from_secs(5),
            write_timeout: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(60),
            max_model_len: 256,
            max_messages: 10_000,
            max_tools: 512,
            max_object_keys: 4_096,
            max_json_depth: 64,
        }
    }
}

/// Data-plane server settings.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Proxy listen address.
    pub listen: String,
    /// Ops (metrics/health) listen address.
    pub ops_listen: String,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Upper bound on per-request `retry_count`.
    pub max_retries: u32,
    /// Retries when a request resolves without a route.
    pub default_retries: u32,
    /// Client authentication mode.
    pub auth: AuthMode,
    /// SHA-256 of accepted client API keys (in `Keys` mode; empty denies everyone).
    pub client_key_hashes: Vec<[u8; 32]>,
    /// Admission limits.
    pub limits: Limits,
    /// Where rate-limit and spend counters live.
    pub rate_store: crate::governance::RateStoreSettings,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:8000".into(),
            ops_listen: "0.0.0.0:9090".into(),
            max_body_bytes: 10 * 1024 * 1024,
            max_retries: 5,
            default_retries: 2,
            auth: AuthMode::None,
            client_key_hashes: Vec::new(),
            limits: Limits::default(),
            rate_store: crate::governance::RateStoreSettings::default(),
        }
    }
}

impl ServerSettings {
    /// Whether the proxy's configured listen address reaches beyond loopback.
    pub fn exposed(&self) -> bool {
        listens_beyond_loopback(&self.listen)
    }
}

/// Whether a listen address (`ip:port`) reaches beyond loopback; anything that does not
/// parse counts as exposed.
pub fn listens_beyond_loopback(listen: &str) -> bool {
    listen
        .parse::<std::net::SocketAddr>()
        .map_or(true, |a| !a.ip().is_loopback())
}
