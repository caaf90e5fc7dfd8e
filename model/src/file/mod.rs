//! The static TOML configuration: the canonical `[[providers]]`/`[[routes]]` form
//! ([`canonical`]), the `[providers.<name>]` / `[[models.<name>.backends]]` table form
//! ([`tables`]), the `[server]` section ([`server`]) and zero-config providers from
//! `*_API_KEY` variables ([`env`]), all converted into one [`RuntimeConfig`] and validated
//! at that boundary. Unknown keys are rejected; every error names the file, key and problem.

pub mod canonical;
pub mod env;
pub mod governance;
pub mod server;
pub mod tables;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::config::{default_prefix_rules, PrefixRule, RuntimeConfig};
use crate::provider::ProviderKind;
use crate::route::Strategy;
use crate::validate::{FieldError, Invalid};

pub use crate::provider::infer_kind;
pub use crate::validate::{build_provider, health_check};

/// A configuration error: which file, which key, what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key}: {problem}")]
pub struct ConfigError {
    /// File (or source) name.
    pub file: String,
    /// Dotted key path (`providers[0].endpoints[1].base_url`), `line N` for syntax errors.
    pub key: String,
    /// What is wrong.
    pub problem: Invalid,
}

/// Looks up an environment variable; a trait object so tests can inject values.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    server: Option<server::ServerFile>,
    /// `[[providers]]` (array) or `[providers.<name>]` (table): told apart after parsing.
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
    #[serde(default)]
    teams: Vec<governance::TeamFile>,
    #[serde(default)]
    keys: Vec<governance::KeyFile>,
    #[serde(default)]
    prices: Vec<governance::PriceFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrefixRuleFile {
    prefix: String,
    provider: String,
}

/// Reads and validates a config file.
pub fn load_file(path: &Path) -> Result<RuntimeConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.display().to_string(),
        key: "-".into(),
        problem: Invalid::Other(format!("cannot read: {e}")),
    })?;
    parse_config(&path.display().to_string(), &text, &|k| {
        std::env::var(k).ok()
    })
}

/// Deserialises one table of the document, naming `key` on failure.
fn table<T: serde::de::DeserializeOwned>(v: toml::Value, key: &str) -> Result<T, FieldError> {
    v.try_into()
        .map_err(|e: toml::de::Error| FieldError::new(key, Invalid::Other(e.message().to_string())))
}

/// Parses and validates config text. `file` only labels errors.
pub fn parse_config(file: &str, text: &str, env: EnvLookup) -> Result<RuntimeConfig, ConfigError> {
    let doc: FileDoc = toml::from_str(text).map_err(|e| {
        let key = e
            .span()
            .map(|s| {
                // Newlines counted in bytes: no char boundary needed at `s.start`.
                let line = text.bytes().take(s.start).filter(|&b| b == b'\n').count() + 1;
                format!("line {line}")
            })
            .unwrap_or_else(|| "-".into());
        ConfigError {
            file: file.to_string(),
            key,
            problem: Invalid::Other(e.message().to_string()),
        }
    })?;
    convert(doc, env).map_err(|e| ConfigError {
        file: file.to_string(),
        key: e.field,
        problem: e.problem,
    })
}

/// The document → model conversion, every error naming its field.
fn convert(doc: FileDoc, env: EnvLookup) -> Result<RuntimeConfig, FieldError> {
    let (mut server, extras) = server::settings(doc.server.unwrap_or_default(), env)?;
    if !extras.auth_given && !doc.keys.is_empty() {
        server.auth = crate::auth::AuthMode::Keys;
    }
    let governance = governance::build(
        governance::GovernanceFile {
            teams: doc.teams,
            keys: doc.keys,
            prices: doc.prices,
            legacy_keys: extras.legacy_keys,
            default_output_estimate: extras.default_output_estimate,
        },
        env,
    )?;

    let mut providers = Vec::new();
    match doc.providers {
        None => {}
        Some(toml::Value::Array(items)) => {
            for (i, v) in items.into_iter().enumerate() {
                let key = format!("providers[{i}]");
                providers.push(canonical::provider(table(v, &key)?, &key, env)?);
            }
        }
        Some(toml::Value::Table(items)) => {
            for (name, v) in items {
                let key = format!("providers.{name}");
                providers.push(tables::provider(name, table(v, &key)?, &key, env)?);
            }
        }
        Some(_) => {
            return Err(FieldError::new(
                "providers",
                Invalid::Other(
                    "must be an array of tables ([[providers]]) or a table of providers \
                     ([providers.<name>])"
                        .into(),
                ),
            ))
        }
    }
    if doc.env_providers.unwrap_or(true) {
        env::add_env_providers(&mut providers, env);
    }

    let find = |name: &str| providers.iter().position(|p| p.name == name);
    let mut routes = Vec::new();
    for (i, v) in doc.routes.into_iter().enumerate() {
        let key = format!("routes[{i}]");
        routes.push(canonical::route(table(v, &key)?, &key, &server, &find)?);
    }
    for (key_name, v) in doc.models {
        let key = format!("models.{key_name}");
        if let Some(route) = tables::route(key_name, table(v, &key)?, &key, &server, &find)? {
            routes.push(route);
        }
    }

    let prefix_rules = match doc.prefix_rules {
        None => default_prefix_rules(),
        Some(rules) => {
            let mut out = Vec::with_capacity(rules.len());
            for (i, r) in rules.into_iter().enumerate() {
                if r.prefix.is_empty() {
                    return Err(FieldError::new(
                        format!("prefix_rules[{i}].prefix"),
                        Invalid::Empty,
                    ));
                }
                if find(&r.provider).is_none() && ProviderKind::parse(&r.provider).is_none() {
                    return Err(FieldError::new(
                        format!("prefix_rules[{i}].provider"),
                        Invalid::Other(format!(
                            "`{}` is neither a provider name nor a provider kind",
                            r.provider
                        )),
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

    let mut cfg = RuntimeConfig::new(server, providers, routes, prefix_rules)
        .map_err(|p| FieldError::new("-", Invalid::Other(p)))?;
    cfg.governance = governance;
    Ok(cfg)
}

/// A route's strategy: absent means `default`.
fn strategy(s: Option<&str>, default: Strategy, key: &str) -> Result<Strategy, FieldError> {
    match s {
        None => Ok(default),
        Some(s) => s
            .parse::<Strategy>()
            .map_err(|e| FieldError::new(format!("{key}.strategy"), Invalid::Other(e.to_string()))),
    }
}

/// A route's retries: the server default when absent, capped at the server maximum.
fn route_retries(retries: Option<u32>, server: &crate::limits::ServerSettings) -> u32 {
    retries
        .unwrap_or(server.default_retries)
        .min(server.max_retries)
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
