//! Sluice's canonical domain and configuration model, shared by both planes.
//!
//! Every source of configuration — the static TOML file ([`file`]), the zero-config
//! environment variables, the control plane's store and the gRPC snapshots
//! (`snapshot`, feature `proto`) — converts into one validated [`RuntimeConfig`]. The
//! bounds those conversions enforce live once, in [`validate`]; the per-protocol wire facts
//! (auth header, version header, API root, probe) live once, in [`wire`].
//!
//! No Pingora, no async runtime, no networking: the control plane depends on this crate and
//! on `sluice-proto` only, never on the data plane.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod base_url;
pub mod config;
pub mod file;
pub mod governance;
pub mod limits;
pub mod price;
pub mod provider;
pub mod rfc3339;
pub mod route;
pub mod secret;
#[cfg(feature = "proto")]
pub mod snapshot;
pub mod token;
pub mod validate;
pub mod wire;

pub use auth::{client_key_hash, decode_hash, encode_hash, AuthMode};
pub use base_url::BaseUrl;
pub use config::{default_prefix_rules, BuildFnv, Fnv, PrefixRule, RuntimeConfig, SharedConfig};
pub use file::{load_file, parse_config, ConfigError, EnvLookup};
pub use governance::{
    allowed, key_digest, nanousd_to_usd, usd_to_nanousd, Budget, BudgetStatus, BudgetWindow,
    ClientKey, FailureMode, Governance, KeyDigest, RateLimits, RateStoreBackend, RateStoreSettings,
    ScopeKind, Team, TokenCount,
};
pub use limits::{listens_beyond_loopback, Limits, ServerSettings};
pub use price::{Price, PriceEntry, PriceTable, TokenUsage};
pub use provider::{infer_kind, Endpoint, HealthCheck, Protocol, Provider, ProviderKind};
pub use rfc3339::{format_rfc3339_ms, parse_rfc3339_ms};
pub use route::{Route, RouteError, Strategy, Target};
pub use secret::{mask_secret, CryptoError, KeyFileError, MasterKey, Secret};
#[cfg(feature = "proto")]
pub use snapshot::{config_from_snapshot, snapshot_from_config};
pub use token::{check_token, secrets_equal, token_from_env, TokenError, MIN_TOKEN_BYTES};
pub use validate::Invalid;
pub use wire::{KeyScheme, ProbeConventions, WireConventions};
