//! The canonical form: `[[providers]]` with `[[providers.endpoints]]` (or the single
//! `base_url` shorthand) and `[[routes]]` with `[[routes.targets]]`.

use serde::Deserialize;

use super::governance::{limits, LimitsFile};
use super::{route_retries, strategy, EnvLookup};
use crate::limits::ServerSettings;
use crate::provider::{Provider, ProviderKind};
use crate::route::{Route, Strategy, Target};
use crate::secret::Secret;
use crate::validate::{self, FieldError, Invalid, DEFAULT_TIMEOUT_MS};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EndpointFile {
    base_url: String,
    api_key: Option<String>,
    api_key_env: Option<String>,
}

/// One `[[providers]]` entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProviderFile {
    name: String,
    kind: String,
    #[serde(default)]
    models: Vec<String>,
    enabled: Option<bool>,
    weight: Option<u32>,
    priority: Option<i32>,
    timeout_ms: Option<u64>,
    /// Pause between streamed chunks, `echo` kind only.
    pace_ms: Option<u64>,
    /// Active health check interval (absent or 0: passive health only).
    health_check_interval_ms: Option<u64>,
    /// Active health check path (default: the kind's model-listing path).
    health_check_path: Option<String>,
    #[serde(default)]
    endpoints: Vec<EndpointFile>,
    /// Shorthand for a single endpoint.
    base_url: Option<String>,
    api_key: Option<String>,
    api_key_env: Option<String>,
    /// `[providers.limits]`: all data planes together under the provider's quota.
    limits: Option<LimitsFile>,
}

/// One `[[routes]]` entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RouteFile {
    name: String,
    strategy: Option<String>,
    retries: Option<u32>,
    targets: Vec<TargetFile>,
    /// `[routes.limits]`: every client of the route together.
    limits: Option<LimitsFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetFile {
    provider: String,
    model: Option<String>,
    weight: Option<u32>,
    priority: Option<i32>,
}

/// An endpoint's key: inline, from an environment variable, or none (keyless servers).
pub(super) fn resolve_key(
    api_key: Option<String>,
    api_key_env: Option<String>,
    key: &str,
    env: EnvLookup,
) -> Result<Secret, FieldError> {
    match (api_key, api_key_env) {
        (Some(_), Some(_)) => Err(FieldError::new(
            key,
            Invalid::Other("give api_key or api_key_env, not both".into()),
        )),
        (Some(k), None) => Ok(Secret(k)),
        (None, Some(var)) => Ok(Secret(env(&var).unwrap_or_default())),
        (None, None) => Ok(Secret::default()),
    }
}

/// Converts one `[[providers]]` entry (`key` names it in errors).
pub(super) fn provider(p: ProviderFile, key: &str, env: EnvLookup) -> Result<Provider, FieldError> {
    let provider_limits = limits(p.limits, key)?;
    let kind = ProviderKind::parse(&p.kind).ok_or_else(|| {
        FieldError::new(
            format!("{key}.kind"),
            Invalid::Other(format!(
                "unknown kind `{}` (expected one of {})",
                p.kind,
                ProviderKind::NAMES.join(", ")
            )),
        )
    })?;
    let mut endpoints = Vec::with_capacity(p.endpoints.len() + 1);
    if let Some(url) = p.base_url {
        endpoints.push((url, resolve_key(p.api_key, p.api_key_env, key, env)?));
    } else if p.api_key.is_some() || p.api_key_env.is_some() {
        return Err(FieldError::new(
            format!("{key}.api_key"),
            Invalid::Other("api_key without base_url: put both in [[providers.endpoints]]".into()),
        ));
    }
    for (i, e) in p.endpoints.into_iter().enumerate() {
        let ekey = format!("{key}.endpoints[{i}]");
        endpoints.push((
            e.base_url,
            resolve_key(e.api_key, e.api_key_env, &ekey, env)?,
        ));
    }
    let mut provider = validate::build_provider(
        p.name,
        kind,
        p.models,
        p.enabled.unwrap_or(true),
        p.weight.unwrap_or(1),
        p.priority.unwrap_or(0),
        p.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
        endpoints,
        key,
    )?;
    provider.pace = validate::pace(p.pace_ms.unwrap_or(0));
    provider.health_check =
        validate::health_check(kind, p.health_check_interval_ms, p.health_check_path, key)?;
    provider.limits = provider_limits;
    Ok(provider)
}

/// Converts one `[[routes]]` entry; `find` resolves provider names to indexes.
pub(super) fn route(
    rf: RouteFile,
    key: &str,
    server: &ServerSettings,
    find: &dyn Fn(&str) -> Option<usize>,
) -> Result<Route, FieldError> {
    let strategy = strategy(rf.strategy.as_deref(), Strategy::RoundRobin, key)?;
    let mut targets = Vec::with_capacity(rf.targets.len());
    for (j, t) in rf.targets.into_iter().enumerate() {
        let tkey = format!("{key}.targets[{j}]");
        let idx = find(&t.provider).ok_or_else(|| {
            FieldError::new(
                format!("{tkey}.provider"),
                Invalid::Other(format!("unknown provider `{}`", t.provider)),
            )
        })?;
        targets.push(Target {
            provider: idx,
            model: t.model.unwrap_or_else(|| rf.name.clone()),
            weight: t.weight.unwrap_or(1),
            priority: t.priority.unwrap_or(0),
        });
    }
    if targets.is_empty() {
        return Err(FieldError::new(
            format!("{key}.targets"),
            Invalid::Other("a route needs at least one target".into()),
        ));
    }
    validate::name(&rf.name).map_err(|p| FieldError::new(format!("{key}.name"), p))?;
    Ok(Route {
        limits: limits(rf.limits, key)?,
        name: rf.name,
        strategy,
        retries: route_retries(rf.retries, server),
        targets,
    })
}
