//! The table form: `[providers.<name>]` tables with `base_url`, `api_key`, `models`,
//! `enabled`, and `[[models.<name>.backends]]` with `provider`, `model`, `weight`
//! (fractional), `enabled`. The table key is the provider's (or route's) identity.

use serde::Deserialize;

use super::canonical::resolve_key;
use super::governance::{limits, LimitsFile};
use super::{route_retries, strategy, EnvLookup};
use crate::limits::ServerSettings;
use crate::provider::{infer_kind, Provider, ProviderKind};
use crate::route::{Route, Strategy, Target};
use crate::validate::{self, FieldError, Invalid, DEFAULT_TIMEOUT_MS};

/// One `[providers.<name>]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProviderTable {
    /// Display name; the table key is the provider's identity.
    #[allow(dead_code)]
    name: Option<String>,
    base_url: String,
    api_key: Option<String>,
    api_key_env: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    models: Vec<String>,
    enabled: Option<bool>,
    weight: Option<u32>,
    priority: Option<i32>,
    timeout_ms: Option<u64>,
    /// `[providers.<name>.limits]`.
    limits: Option<LimitsFile>,
}

/// One `[models.<name>]` table with its `[[models.<name>.backends]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ModelTable {
    /// Public model name (defaults to the table key).
    name: Option<String>,
    strategy: Option<String>,
    retries: Option<u32>,
    enabled: Option<bool>,
    backends: Vec<BackendTable>,
    /// `[models.<name>.limits]`: every client of the route together.
    limits: Option<LimitsFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackendTable {
    provider: String,
    model: Option<String>,
    weight: Option<f64>,
    priority: Option<i32>,
    enabled: Option<bool>,
}

/// Converts one `[providers.<name>]` table; the kind is inferred when not given.
pub(super) fn provider(
    name: String,
    p: ProviderTable,
    key: &str,
    env: EnvLookup,
) -> Result<Provider, FieldError> {
    let kind = match p.kind {
        Some(k) => ProviderKind::parse(&k).ok_or_else(|| {
            FieldError::new(
                format!("{key}.kind"),
                Invalid::Other(format!("unknown kind `{k}`")),
            )
        })?,
        None => infer_kind(&name, &p.base_url),
    };
    let secret = resolve_key(p.api_key, p.api_key_env, key, env)?;
    let provider_limits = limits(p.limits, key)?;
    let mut provider = validate::build_provider(
        name,
        kind,
        p.models,
        p.enabled.unwrap_or(true),
        p.weight.unwrap_or(1),
        p.priority.unwrap_or(0),
        p.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
        vec![(p.base_url, secret)],
        key,
    )?;
    provider.limits = provider_limits;
    Ok(provider)
}

/// Converts one `[models.<name>]` table into a route (`None` when it is disabled).
pub(super) fn route(
    key_name: String,
    m: ModelTable,
    key: &str,
    server: &ServerSettings,
    find: &dyn Fn(&str) -> Option<usize>,
) -> Result<Option<Route>, FieldError> {
    if m.enabled == Some(false) {
        return Ok(None);
    }
    let route_limits = limits(m.limits, key)?;
    let name = m.name.unwrap_or(key_name);
    let strategy = strategy(m.strategy.as_deref(), Strategy::Weighted, key)?;
    let mut targets = Vec::with_capacity(m.backends.len());
    for (j, b) in m.backends.into_iter().enumerate() {
        let bkey = format!("{key}.backends[{j}]");
        if b.enabled == Some(false) {
            continue;
        }
        let idx = find(&b.provider).ok_or_else(|| {
            FieldError::new(
                format!("{bkey}.provider"),
                Invalid::Other(format!("unknown provider `{}`", b.provider)),
            )
        })?;
        let weight = match b.weight {
            None => 100,
            Some(w) => validate::fractional_weight(w)
                .map_err(|p| FieldError::new(format!("{bkey}.weight"), p))?,
        };
        targets.push(Target {
            provider: idx,
            model: b.model.unwrap_or_else(|| name.clone()),
            weight,
            priority: b.priority.unwrap_or(0),
        });
    }
    if targets.is_empty() {
        return Err(FieldError::new(
            format!("{key}.backends"),
            Invalid::Other("needs at least one enabled backend".into()),
        ));
    }
    Ok(Some(Route {
        limits: route_limits,
        name,
        strategy,
        retries: route_retries(m.retries, server),
        targets,
    }))
}
