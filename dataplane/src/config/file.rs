//! Static TOML configuration: the canonical `[[providers]]`/`[[routes]]` form and seed
//! 003's `[providers.<name>]` / `[[models.<name>.backends]]` form, converted into
//! [`RuntimeConfig`]. Unknown keys are rejected; every error names the file, key and problem.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::env::add_env_providers;
use super::model::{
    client_key_hash, default_prefix_rules, AuthMode, BaseUrl, Endpoint, HealthCheck, Limits,
    PrefixRule, Provider, ProviderKind, Route, RuntimeConfig, Secret, ServerSettings, Strategy,
    Target,
};

/// A configuration error: which file, which key, what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key}: {problem}")]
pub struct ConfigError {
    /// File (or source) name.
    pub file: String,
    /// Dotted key path (`providers[0].endpoints[1].base_url`).
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    server: Option<ServerFile>,
    #[serde(default)]
    providers: Option<toml::Value>,
    #[serde(default)]
    routes: Vec<toml::Value>,
    #[serde(default)]
    models: BTreeMap<String, toml::Value>,
    #[serde(default)]
    prefix_rules: Option<Vec<PrefixRuleFile>>,
    /// Whether to add zero-config providers from `*_API_KEY` env vars (default true).
    #[serde(default)]
    env_providers: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ServerFile {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointFile {
    base_url: String,
    api_key: Option<String>,
    api_key_env: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderFile {
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
}

/// Seed 003 provider table (`[providers.<name>]`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Seed003Provider {
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteFile {
    name: String,
    strategy: Option<String>,
    retries: Option<u32>,
    targets: Vec<TargetFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetFile {
    provider: String,
    model: Option<String>,
    weight: Option<u32>,
    priority: Option<i32>,
}

/// Seed 003 model table (`[models.<name>]` with `[[models.<name>.backends]]`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Seed003Model {
    /// Public model name (defaults to the table key).
    name: Option<String>,
    strategy: Option<String>,
    retries: Option<u32>,
    enabled: Option<bool>,
    backends: Vec<Seed003Backend>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Seed003Backend {
    provider: String,
    model: Option<String>,
    weight: Option<f64>,
    priority: Option<i32>,
    enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrefixRuleFile {
    prefix: String,
    provider: String,
}

/// Looks up an environment variable; a trait object so tests can inject values.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Reads and validates a config file.
pub fn load_file(path: &Path) -> Result<RuntimeConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.display().to_string(),
        key: "-".into(),
        problem: format!("cannot read: {e}"),
    })?;
    parse_config(&path.display().to_string(), &text, &|k| {
        std::env::var(k).ok()
    })
}

/// Parses and validates config text. `file` only labels errors.
pub fn parse_config(file: &str, text: &str, env: EnvLookup) -> Result<RuntimeConfig, ConfigError> {
    let err = |key: &str, problem: String| ConfigError {
        file: file.to_string(),
        key: key.to_string(),
        problem,
    };
    let doc: FileDoc = toml::from_str(text).map_err(|e| {
        let msg = e.message().to_string();
        let loc = e
            .span()
            .map(|s| {
                // Newlines counted in bytes: no char boundary needed at `s.start`.
                let line = text.bytes().take(s.start).filter(|&b| b == b'\n').count() + 1;
                format!("line {line}")
            })
            .unwrap_or_else(|| "-".into());
        err(&loc, msg)
    })?;

    let server =
        server_settings(doc.server.unwrap_or_default(), env).map_err(|(k, p)| err(&k, p))?;

    let mut providers = Vec::new();
    match doc.providers {
        None => {}
        Some(toml::Value::Array(items)) => {
            for (i, v) in items.into_iter().enumerate() {
                let key = format!("providers[{i}]");
                let pf: ProviderFile = v.try_into().map_err(|e: toml::de::Error| err(&key, e.message().to_string()))?;
                providers.push(provider_from_file(pf, &key, env).map_err(|(k, p)| err(&k, p))?);
            }
        }
        Some(toml::Value::Table(items)) => {
            for (name, v) in items {
                let key = format!("providers.{name}");
                let sp: Seed003Provider =
                    v.try_into().map_err(|e: toml::de::Error| err(&key, e.message().to_string()))?;
                providers.push(provider_from_seed003(name, sp, &key, env).map_err(|(k, p)| err(&k, p))?);
            }
        }
        Some(_) => {
            return Err(err(
                "providers",
                "must be an array of tables ([[providers]]) or a table of providers ([providers.<name>])".into(),
            ))
        }
    }
    if doc.env_providers.unwrap_or(true) {
        add_env_providers(&mut providers, env);
    }

    let find = |name: &str| providers.iter().position(|p| p.name == name);
    let mut routes = Vec::new();
    for (i, v) in doc.routes.into_iter().enumerate() {
        let key = format!("routes[{i}]");
        let rf: RouteFile = v
            .try_into()
            .map_err(|e: toml::de::Error| err(&key, e.message().to_string()))?;
        let strategy = parse_strategy(rf.strategy.as_deref())
            .map_err(|p| err(&format!("{key}.strategy"), p))?;
        let mut targets = Vec::new();
        for (j, t) in rf.targets.into_iter().enumerate() {
            let tkey = format!("{key}.targets[{j}]");
            let idx = find(&t.provider).ok_or_else(|| {
                err(
                    &format!("{tkey}.provider"),
                    format!("unknown provider `{}`", t.provider),
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
            return Err(err(
                &format!("{key}.targets"),
                "a route needs at least one target".into(),
            ));
        }
        check_name(&rf.name).map_err(|p| err(&format!("{key}.name"), p))?;
        routes.push(Route {
            name: rf.name,
            strategy,
            retries: rf
                .retries
                .unwrap_or(server.default_retries)
                .min(server.max_retries),
            targets,
        });
    }
    for (key_name, v) in doc.models {
        let key = format!("models.{key_name}");
        let m: Seed003Model = v
            .try_into()
            .map_err(|e: toml::de::Error| err(&key, e.message().to_string()))?;
        if m.enabled == Some(false) {
            continue;
        }
        let name = m.name.unwrap_or(key_name);
        let strategy = match m.strategy.as_deref() {
            None => Strategy::Weighted,
            s => parse_strategy(s).map_err(|p| err(&format!("{key}.strategy"), p))?,
        };
        let mut targets = Vec::new();
        for (j, b) in m.backends.into_iter().enumerate() {
            let bkey = format!("{key}.backends[{j}]");
            if b.enabled == Some(false) {
                continue;
            }
            let idx = find(&b.provider).ok_or_else(|| {
                err(
                    &format!("{bkey}.provider"),
                    format!("unknown provider `{}`", b.provider),
                )
            })?;
            let weight = match b.weight {
                None => 100,
                Some(w) if (0.0..=1_000_000.0).contains(&w) => (w * 100.0).round() as u32,
                Some(w) => {
                    return Err(err(
                        &format!("{bkey}.weight"),
                        format!("{w} is not a weight between 0 and 1000000"),
                    ))
                }
            };
            targets.push(Target {
                provider: idx,
                model: b.model.unwrap_or_else(|| name.clone()),
                weight,
                priority: b.priority.unwrap_or(0),
            });
        }
        if targets.is_empty() {
            return Err(err(
                &format!("{key}.backends"),
                "needs at least one enabled backend".into(),
            ));
        }
        routes.push(Route {
            name,
            strategy,
            retries: m
                .retries
                .unwrap_or(server.default_retries)
                .min(server.max_retries),
            targets,
        });
    }

    let prefix_rules = match doc.prefix_rules {
        None => default_prefix_rules(),
        Some(rules) => {
            let mut out = Vec::new();
            for (i, r) in rules.into_iter().enumerate() {
                if r.prefix.is_empty() {
                    return Err(err(
                        &format!("prefix_rules[{i}].prefix"),
                        "must not be empty".into(),
                    ));
                }
                if find(&r.provider).is_none() && ProviderKind::parse(&r.provider).is_none() {
                    return Err(err(
                        &format!("prefix_rules[{i}].provider"),
                        format!(
                            "`{}` is neither a provider name nor a provider kind",
                            r.provider
                        ),
                    ));
                }
                out.push(PrefixRule {
                    prefix: r.prefix,
                    target: r.provider,
                });
            }
            out
        }
    };

    RuntimeConfig::new(server, providers, routes, prefix_rules).map_err(|p| err("-", p))
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 200
        || name.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(format!(
            "`{name}` must be 1-200 characters without whitespace"
        ));
    }
    Ok(())
}

fn parse_strategy(s: Option<&str>) -> Result<Strategy, String> {
    match s {
        None => Ok(Strategy::RoundRobin),
        Some(s) => s.parse::<Strategy>().map_err(|e| e.to_string()),
    }
}

fn server_settings(f: ServerFile, env: EnvLookup) -> Result<ServerSettings, (String, String)> {
    let d = ServerSettings::default();
    let max_body_bytes = f.max_body_bytes.unwrap_or(d.max_body_bytes);
    if max_body_bytes == 0 || max_body_bytes > 1 << 30 {
        return Err((
            "server.max_body_bytes".into(),
            "must be between 1 and 1073741824".into(),
        ));
    }
    for (k, v) in [
        ("server.listen", &f.listen),
        ("server.ops_listen", &f.ops_listen),
    ] {
        if let Some(v) = v {
            if v.parse::<std::net::SocketAddr>().is_err() {
                return Err((k.into(), format!("`{v}` is not an ip:port address")));
            }
        }
    }
    let auth = match f.auth.as_deref() {
        Some(a) => AuthMode::parse(a).ok_or_else(|| {
            (
                "server.auth".to_string(),
                format!("`{a}` is not `keys` or `none`"),
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
        Some(_) => Err((
            format!("server.{key}"),
            format!("must be between 1 and {max}"),
        )),
    };
    let millis = |key: &str, v: Option<u64>, d: Duration| match v {
        None => Ok(d),
        Some(n) if (1..=86_400_000).contains(&n) => Ok(Duration::from_millis(n)),
        Some(_) => Err((
            format!("server.{key}"),
            "must be between 1 and 86400000 milliseconds".to_string(),
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
        return Err((
            "server.max_buffered_body_bytes".into(),
            "must be at least server.max_body_bytes".into(),
        ));
    }
    Ok(ServerSettings {
        listen: f.listen.unwrap_or(d.listen),
        ops_listen: f.ops_listen.unwrap_or(d.ops_listen),
        max_body_bytes,
        max_retries: f.max_retries.unwrap_or(d.max_retries).min(10),
        default_retries: f.default_retries.unwrap_or(d.default_retries),
        auth,
        client_key_hashes: api_keys
            .iter()
            .map(|k| client_key_hash(k.expose()))
            .collect(),
        limits,
    })
}

fn resolve_key(
    api_key: Option<String>,
    api_key_env: Option<String>,
    key: &str,
    env: EnvLookup,
) -> Result<Secret, (String, String)> {
    match (api_key, api_key_env) {
        (Some(_), Some(_)) => Err((key.into(), "give api_key or api_key_env, not both".into())),
        (Some(k), None) => Ok(Secret(k)),
        (None, Some(var)) => Ok(Secret(env(&var).unwrap_or_default())),
        (None, None) => Ok(Secret::default()),
    }
}

/// Builds a validated provider from parts; shared by every config source.
#[allow(clippy::too_many_arguments)]
pub fn build_provider(
    name: String,
    kind: ProviderKind,
    models: Vec<String>,
    enabled: bool,
    weight: u32,
    priority: i32,
    timeout_ms: u64,
    endpoints: Vec<(String, Secret)>,
    key: &str,
) -> Result<Provider, (String, String)> {
    check_name(&name).map_err(|p| (format!("{key}.name"), p))?;
    if timeout_ms == 0 || timeout_ms > 3_600_000 {
        return Err((
            format!("{key}.timeout_ms"),
            "must be between 1 and 3600000".into(),
        ));
    }
    if weight > 1_000_000 {
        return Err((format!("{key}.weight"), "must be at most 1000000".into()));
    }
    if endpoints.is_empty() && kind != ProviderKind::Echo {
        return Err((
            format!("{key}.endpoints"),
            "a provider needs at least one endpoint (base_url)".into(),
        ));
    }
    let mut eps = Vec::new();
    for (i, (url, api_key)) in endpoints.into_iter().enumerate() {
        let base_url =
            BaseUrl::parse(&url).map_err(|p| (format!("{key}.endpoints[{i}].base_url"), p))?;
        eps.push(Endpoint {
            health_key: format!("{name}|{}|{i}", base_url.original),
            base_url,
            api_key,
        });
    }
    for (i, m) in models.iter().enumerate() {
        if m.is_empty() {
            return Err((format!("{key}.models[{i}]"), "must not be empty".into()));
        }
    }
    Ok(Provider {
        name,
        kind,
        models,
        enabled,
        weight,
        priority,
        timeout: Duration::from_millis(timeout_ms),
        endpoints: eps,
        pace: Duration::ZERO,
        health_check: None,
    })
}

const DEFAULT_TIMEOUT_MS: u64 = 60_000;

fn provider_from_file(
    p: ProviderFile,
    key: &str,
    env: EnvLookup,
) -> Result<Provider, (String, String)> {
    let kind = ProviderKind::parse(&p.kind).ok_or_else(|| {
        (
            format!("{key}.kind"),
            format!(
                "unknown kind `{}` (expected one of {})",
                p.kind,
                ProviderKind::NAMES.join(", ")
            ),
        )
    })?;
    let mut endpoints = Vec::new();
    if let Some(url) = p.base_url {
        endpoints.push((url, resolve_key(p.api_key, p.api_key_env, key, env)?));
    } else if p.api_key.is_some() || p.api_key_env.is_some() {
        return Err((
            format!("{key}.api_key"),
            "api_key without base_url: put both in [[providers.endpoints]]".into(),
        ));
    }
    for (i, e) in p.endpoints.into_iter().enumerate() {
        let ekey = format!("{key}.endpoints[{i}]");
        endpoints.push((
            e.base_url,
            resolve_key(e.api_key, e.api_key_env, &ekey, env)?,
        ));
    }
    let pace = Duration::from_millis(p.pace_ms.unwrap_or(0).min(60_000));
    let mut provider = build_provider(
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
    provider.pace = pace;
    provider.health_check =
        health_check(kind, p.health_check_interval_ms, p.health_check_path, key)?;
    Ok(provider)
}

/// Validates active health check settings (shared by every config source).
pub fn health_check(
    kind: ProviderKind,
    interval_ms: Option<u64>,
    path: Option<String>,
    key: &str,
) -> Result<Option<HealthCheck>, (String, String)> {
    let interval_ms = match interval_ms {
        None | Some(0) => return Ok(None),
        Some(ms) if !(100..=3_600_000).contains(&ms) => {
            return Err((
                format!("{key}.health_check_interval_ms"),
                "must be between 100 and 3600000 (or 0 to disable)".into(),
            ))
        }
        Some(ms) => ms,
    };
    let path = path.unwrap_or_else(|| kind.default_health_path().to_string());
    if !path.starts_with('/') || path.contains(char::is_whitespace) {
        return Err((
            format!("{key}.health_check_path"),
            format!("`{path}` must start with / and contain no spaces"),
        ));
    }
    Ok(Some(HealthCheck {
        interval: Duration::from_millis(interval_ms),
        path,
    }))
}

/// Guesses a provider kind from its name or base URL (seed 002 behaviour).
pub fn infer_kind(name: &str, base_url: &str) -> ProviderKind {
    let hay = format!(
        "{} {}",
        name.to_ascii_lowercase(),
        base_url.to_ascii_lowercase()
    );
    if hay.contains("anthropic") || hay.contains("claude") {
        ProviderKind::Anthropic
    } else if hay.contains("generativelanguage") || hay.contains("gemini") {
        ProviderKind::Gemini
    } else if hay.contains("deepseek") {
        ProviderKind::DeepSeek
    } else if hay.contains("api.openai.com") {
        ProviderKind::OpenAi
    } else {
        ProviderKind::OpenAiCompatible
    }
}

fn provider_from_seed003(
    name: String,
    p: Seed003Provider,
    key: &str,
    env: EnvLookup,
) -> Result<Provider, (String, String)> {
    let kind = match p.kind {
        Some(k) => ProviderKind::parse(&k)
            .ok_or_else(|| (format!("{key}.kind"), format!("unknown kind `{k}`")))?,
        None => infer_kind(&name, &p.base_url),
    };
    let secret = resolve_key(p.api_key, p.api_key_env, key, env)?;
    build_provider(
        name,
        kind,
        p.models,
        p.enabled.unwrap_or(true),
        p.weight.unwrap_or(1),
        p.priority.unwrap_or(0),
        p.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
        vec![(p.base_url, secret)],
        key,
    )
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]
mod tests;
