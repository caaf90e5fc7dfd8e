//! The `[server]` section: listen addresses, client auth and admission limits.

use std::time::Duration;

use serde::Deserialize;

use super::EnvLookup;
use crate::auth::{client_key_hash, AuthMode};
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
}

/// Converts and validates the `[server]` section.
pub(super) fn settings(f: ServerFile, env: EnvLookup) -> Result<ServerSettings, FieldError> {
    let d = ServerSettings::default();
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
    Ok(ServerSettings {
        rate_store: Default::default(),
        listen: f.listen.unwrap_or(d.listen),
        ops_listen: f.ops_listen.unwrap_or(d.ops_listen),
        max_body_bytes,
        max_retries: f.max_retries.unwrap_or(d.max_retries).min(MAX_RETRIES),
        default_retries: f.default_retries.unwrap_or(d.default_retries),
        auth,
        client_key_hashes: api_keys
            .iter()
            .map(|k| client_key_hash(k.expose()))
            .collect(),
        limits,
    })
}
