//! The `[server]` section: listen addresses, client auth and admission limits.

use std::time::Duration;

use serde::Deserialize;

use super::EnvLookup;
use crate::auth::{client_key_hash, AuthMode};
use crate::governance::{
    FailureMode, RateStoreBackend, RateStoreSettings, DEFAULT_OUTPUT_ESTIMATE,
};
use crate::limits::{Limits, ServerSettings};
use crate::secret::Secret;
use crate::validate::{FieldError, Invalid, MAX_RETRIES};

/// Largest `max_body_bytes` (1 GiB).
pub const MAX_BODY_BYTES: usize = 1 << 30;
/// Longest server-side deadline (one day).
pub const MAX_SERVER_TIMEOUT_MS: u64 = 86_400_000;

/// The `[server]` section.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ServerFile {
    listen: Option<String>,
    ops_listen: Option<String>,
    max_body_bytes: Option<usize>,
    max_retries: Option<u32>,
    default_retries: Option<u32>,
    /// `keys` or `none`; unset means `keys` when any key source is configured.
    auth: Option<String>,
    #[serde(default)]
    api_keys: Vec<String>,
    api_keys_env: Option<String>,
    max_connections: Option<usize>,
    max_inflight_requests: Option<usize>,
    max_buffered_body_bytes: Option<usize>,
    header_timeout_ms: Option<u64>,
    body_timeout_ms: Option<u64>,
    min_body_rate_bytes_per_sec: Option<u64>,
    body_rate_grace_ms: Option<u64>,
    write_timeout_ms: Option<u64>,
    keepalive_timeout_ms: Option<u64>,
    max_model_name_bytes: Option<usize>,
    max_messages: Option<usize>,
    max_tools: Option<usize>,
    max_object_keys: Option<usize>,
    max_json_depth: Option<usize>,
    /// `local`, or a `redis://` / `rediss://` URL.
    rate_store: Option<String>,
    /// `fail_open` or `fail_closed`.
    rate_store_failure_mode: Option<String>,
    rate_store_timeout_ms: Option<u64>,
    /// Completion tokens reserved when a request sets no maximum.
    default_output_estimate: Option<u64>,
}

/// Longest rate-store call timeout (one minute).
pub const MAX_RATE_STORE_TIMEOUT_MS: u64 = 60_000;
/// Largest `default_output_estimate`, tokens.
pub const MAX_OUTPUT_ESTIMATE: u64 = 10_000_000;

/// What the `[server]` section holds beyond [`ServerSettings`]: the legacy client keys
/// (which become governance keys `api_keys[<i>]`) and the default output estimate.
pub(super) struct ServerExtras {
    /// `api_keys` then `api_keys_env`'s comma-separated keys, in order.
    pub(super) legacy_keys: Vec<Secret>,
    /// Completion tokens reserved when a request sets no maximum.
    pub(super) default_output_estimate: u64,
    /// Whether `auth` was given (otherwise any key implies `keys`).
    pub(super) auth_given: bool,
}

/// Converts the rate-store settings of `[server]`.
fn rate_store(f: &ServerFile) -> Result<RateStoreSettings, FieldError> {
    let d = RateStoreSettings::default();
    let backend = match f.rate_store.as_deref() {
        None | Some("local") => RateStoreBackend::Local,
        Some(url) if url.starts_with("redis://") || url.starts_with("rediss://") => {
            let rest = url.split_once("://").map_or("", |(_, r)| r);
            if rest.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(FieldError::new(
                    "server.rate_store",
                    Invalid::Other("a redis URL needs a host: redis://host:port/db".into()),
                ));
            }
            RateStoreBackend::Redis {
                url: url.to_string(),
            }
        }
        Some(other) => {
            return Err(FieldError::new(
                "server.rate_store",
                Invalid::Other(format!(
                    "`{}` is not `local` or a redis:// / rediss:// URL",
                    crate::secret::mask_secret(other)
                )),
            ))
        }
    };
    let failure_mode = match f.rate_store_failure_mode.as_deref() {
        None => d.failure_mode,
        Some(m) => FailureMode::parse(m).ok_or_else(|| {
            FieldError::new(
                "server.rate_store_failure_mode",
                Invalid::Other(format!(
                    "`{m}` is not one of {}",
                    FailureMode::NAMES.join(", ")
                )),
            )
        })?,
    };
    let timeout = match f.rate_store_timeout_ms {
        None => d.timeout,
        Some(ms) if (1..=MAX_RATE_STORE_TIMEOUT_MS).contains(&ms) => Duration::from_millis(ms),
        Some(_) => {
            return Err(FieldError::new(
                "server.rate_store_timeout_ms",
                Invalid::OutOfRange {
                    min: 1,
                    max: MAX_RATE_STORE_TIMEOUT_MS,
                    unit: " milliseconds",
                },
            ))
        }
    };
    Ok(RateStoreSettings {
        backend,
        failure_mode,
        timeout,
    })
}

/// Converts and validates the `[server]` section.
pub(super) fn settings(
    f: ServerFile,
    env: EnvLookup,
) -> Result<(ServerSettings, ServerExtras), FieldError> {
    let d = ServerSettings::default();
    let rate_store = rate_store(&f)?;
    let default_output_estimate = match f.default_output_estimate {
        None => DEFAULT_OUTPUT_ESTIMATE,
        Some(n) if (1..=MAX_OUTPUT_ESTIMATE).contains(&n) => n,
        Some(_) => {
            return Err(FieldError::new(
                "server.default_output_estimate",
                Invalid::OutOfRange {
                    min: 1,
                    max: MAX_OUTPUT_ESTIMATE,
                    unit: " tokens",
                },
            ))
        }
    };
    let max_body_bytes = f.max_body_bytes.unwrap_or(d.max_body_bytes);
    if max_body_bytes == 0 || max_body_bytes > MAX_BODY_BYTES {
        return Err(FieldError::new(
            "server.max_body_bytes",
            Invalid::OutOfRange {
                min: 1,
                max: MAX_BODY_BYTES as u64,
                unit: "",
            },
        ));
    }
    for (k, v) in [
        ("server.listen", &f.listen),
        ("server.ops_listen", &f.ops_listen),
    ] {
        if let Some(v) = v {
            if v.parse::<std::net::SocketAddr>().is_err() {
                return Err(FieldError::new(
                    k,
                    Invalid::Other(format!("`{v}` is not an ip:port address")),
                ));
            }
        }
    }
    let auth_given = f.auth.is_some();
    let auth = match f.auth.as_deref() {
        Some(a) => AuthMode::parse(a).ok_or_else(|| {
            FieldError::new(
                "server.auth",
                Invalid::Other(format!("`{a}` is not `keys` or `none`")),
            )
        })?,
        None if !f.api_keys.is_empty() || f.api_keys_env.is_some() => AuthMode::Keys,
        None => AuthMode::None,
    };
    let mut api_keys: Vec<Secret> = f.api_keys.into_iter().map(Secret).collect();
    if let Some(var) = f.api_keys_env {
        if let Some(v) = env(&var) {
            api_keys.extend(
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Secret(s.to_string())),
            );
        }
    }
    let dl = Limits::default();
    let count = |key: &str, v: Option<usize>, d: usize, max: usize| match v {
        None => Ok(d),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(FieldError::new(
            format!("server.{key}"),
            Invalid::OutOfRange {
                min: 1,
                max: max as u64,
                unit: "",
            },
        )),
    };
    let millis = |key: &str, v: Option<u64>, d: Duration| match v {
        None => Ok(d),
        Some(n) if (1..=MAX_SERVER_TIMEOUT_MS).contains(&n) => Ok(Duration::from_millis(n)),
        Some(_) => Err(FieldError::new(
            format!("server.{key}"),
            Invalid::OutOfRange {
                min: 1,
                max: MAX_SERVER_TIMEOUT_MS,
                unit: " milliseconds",
            },
        )),
    };
    let limits = Limits {
        max_connections: count(
            "max_connections",
            f.max_connections,
            dl.max_connections,
            1 << 20,
        )?,
        max_inflight: count(
            "max_inflight_requests",
            f.max_inflight_requests,
            dl.max_inflight,
            1 << 20,
        )?,
        max_buffered_body_bytes: count(
            "max_buffered_body_bytes",
            f.max_buffered_body_bytes,
            dl.max_buffered_body_bytes.max(max_body_bytes),
            1 << 40,
        )?,
        header_timeout: millis("header_timeout_ms", f.header_timeout_ms, dl.header_timeout)?,
        body_timeout: millis("body_timeout_ms", f.body_timeout_ms, dl.body_timeout)?,
        min_body_rate: f.min_body_rate_bytes_per_sec.unwrap_or(dl.min_body_rate),
        body_rate_grace: millis(
            "body_rate_grace_ms",
            f.body_rate_grace_ms,
            dl.body_rate_grace,
        )?,
        write_timeout: millis("write_timeout_ms", f.write_timeout_ms, dl.write_timeout)?,
        keepalive_timeout: millis(
            "keepalive_timeout_ms",
            f.keepalive_timeout_ms,
            dl.keepalive_timeout,
        )?,
        max_model_len: count(
            "max_model_name_bytes",
            f.max_model_name_bytes,
            dl.max_model_len,
            65_536,
        )?,
        max_messages: count("max_messages", f.max_messages, dl.max_messages, 1 << 20)?,
        max_tools: count("max_tools", f.max_tools, dl.max_tools, 1 << 16)?,
        max_object_keys: count(
            "max_object_keys",
            f.max_object_keys,
            dl.max_object_keys,
            1 << 20,
        )?,
        max_json_depth: count("max_json_depth", f.max_json_depth, dl.max_json_depth, 128)?,
    };
    if limits.max_buffered_body_bytes < max_body_bytes {
        return Err(FieldError::new(
            "server.max_buffered_body_bytes",
            Invalid::Other("must be at least server.max_body_bytes".into()),
        ));
    }
    let settings = ServerSettings {
        rate_store,
        listen: f.listen.unwrap_or(d.listen),
        ops_listen: f.ops_listen.unwrap_or(d.ops_listen),
        max_body_bytes,
        max_retries: f.max_retries.unwrap_or(d.max_retries).min(MAX_RETRIES),
        default_retries: f.default_retries.unwrap_or(d.default_retries),
        auth,
        // Kept beside the governance keys so a control plane seeded from this file
        // (`client_key_sha256`) still accepts them.
        client_key_hashes: api_keys
            .iter()
            .map(|k| client_key_hash(k.expose()))
            .collect(),
        limits,
    };
    Ok((
        settings,
        ServerExtras {
            legacy_keys: api_keys,
            default_output_estimate,
            auth_given,
        },
    ))
}
