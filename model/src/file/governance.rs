//! `[[teams]]`, `[[keys]]` and `[[prices]]` (top-level in both file forms), the `limits`
//! tables of teams, keys, providers and routes, and the `budget` tables of teams and keys.
//! Plaintext keys are digested under a random per-load secret and never kept.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;

use super::EnvLookup;
use crate::governance::{Budget, ClientKey, Governance, KeyDigest, RateLimits, Team};
use crate::price::{Price, PriceEntry, PriceTable};
use crate::rfc3339::parse_rfc3339_ms;
use crate::secret::Secret;
use crate::validate::{self, FieldError, Invalid};

/// A `limits` table (`[teams.limits]`, `[keys.limits]`, `[providers.limits]`,
/// `[routes.limits]`, `[providers.<name>.limits]`, `[models.<name>.limits]`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitsFile {
    rpm: Option<u64>,
    tpm: Option<u64>,
    tpm_counts: Option<String>,
    max_concurrent: Option<u64>,
}

/// A `budget` table (`[teams.budget]`, `[keys.budget]`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BudgetFile {
    limit_usd: f64,
    soft_limit_usd: Option<f64>,
    window: Option<String>,
}

/// One `[[teams]]` entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TeamFile {
    name: String,
    enabled: Option<bool>,
    #[serde(default)]
    allowed_models: Vec<String>,
    limits: Option<LimitsFile>,
    budget: Option<BudgetFile>,
}

/// One `[[keys]]` entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KeyFile {
    name: String,
    key: Option<String>,
    key_env: Option<String>,
    team: Option<String>,
    user: Option<String>,
    enabled: Option<bool>,
    /// An RFC 3339 string, or a TOML offset date-time.
    expires_at: Option<toml::Value>,
    #[serde(default)]
    allowed_models: Vec<String>,
    limits: Option<LimitsFile>,
    budget: Option<BudgetFile>,
}

/// One `[[prices]]` entry: US dollars per million tokens.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PriceFile {
    model: String,
    input: f64,
    output: f64,
    cache_read: Option<f64>,
    cache_write: Option<f64>,
    reasoning: Option<f64>,
    per_request: Option<f64>,
}

/// Everything the governance part of a file holds.
pub(super) struct GovernanceFile {
    pub(super) teams: Vec<TeamFile>,
    pub(super) keys: Vec<KeyFile>,
    pub(super) prices: Vec<PriceFile>,
    /// `[server] api_keys` / `api_keys_env`, in order.
    pub(super) legacy_keys: Vec<Secret>,
    pub(super) default_output_estimate: u64,
}

/// Converts a `limits` table (absent: unlimited); `key` names it in errors.
pub(super) fn limits(l: Option<LimitsFile>, key: &str) -> Result<RateLimits, FieldError> {
    match l {
        None => Ok(RateLimits::default()),
        Some(l) => validate::rate_limits(
            l.rpm,
            l.tpm,
            l.tpm_counts.as_deref(),
            l.max_concurrent,
            &format!("{key}.limits"),
        ),
    }
}

fn budget(b: Option<BudgetFile>, key: &str) -> Result<Option<Budget>, FieldError> {
    b.map(|b| {
        validate::budget(
            b.limit_usd,
            b.soft_limit_usd,
            b.window.as_deref(),
            &format!("{key}.budget"),
        )
    })
    .transpose()
}

/// A fresh random digest secret: a file's keys are plaintext, so their digests only need
/// to be stable for the life of one loaded config.
fn random_secret() -> [u8; 32] {
    use aes_gcm::aead::rand_core::RngCore;
    let mut secret = [0u8; 32];
    aes_gcm::aead::OsRng.fill_bytes(&mut secret);
    secret
}

/// Builds the validated governance rules of a file.
pub(super) fn build(f: GovernanceFile, env: EnvLookup) -> Result<Governance, FieldError> {
    let mut g = Governance {
        default_output_estimate: f.default_output_estimate,
        ..Governance::default()
    };

    for (i, t) in f.teams.into_iter().enumerate() {
        let key = format!("teams[{i}]");
        validate::name(&t.name).map_err(|p| FieldError::new(format!("{key}.name"), p))?;
        validate::allowed_models(&t.allowed_models, &format!("{key}.allowed_models"))?;
        let team = Team {
            limits: limits(t.limits, &key)?,
            budget: budget(t.budget, &key)?,
            enabled: t.enabled.unwrap_or(true),
            allowed_models: t.allowed_models,
            budget_status: Default::default(),
            name: t.name,
        };
        if g.teams.contains_key(&team.name) {
            return Err(FieldError::new(
                format!("{key}.name"),
                Invalid::Other(format!("duplicate team `{}`", team.name)),
            ));
        }
        g.teams.insert(team.name.clone(), Arc::new(team));
    }

    let has_keys = !f.keys.is_empty() || !f.legacy_keys.is_empty();
    if has_keys {
        g.digest_secret = random_secret();
    }
    // Digest → the field that declared it, to name both sides of a duplicate.
    let mut seen: HashMap<[u8; 32], String> = HashMap::new();
    let mut add = |g: &mut Governance, k: ClientKey, plaintext: &str, field: String| {
        if plaintext.trim().is_empty() {
            return Err(FieldError::new(field, Invalid::Empty));
        }
        if g.keys.contains_key(&k.id) {
            return Err(FieldError::new(
                field,
                Invalid::Other(format!("duplicate key name `{}`", k.id)),
            ));
        }
        let digest = g.digest(plaintext);
        if let Some(first) = seen.get(&digest) {
            return Err(FieldError::new(
                field,
                Invalid::Other(format!("the same key as {first}")),
            ));
        }
        seen.insert(digest, field);
        g.insert_key(
            k,
            &[KeyDigest {
                digest,
                expires_at_ms: None,
            }],
        );
        Ok(())
    };

    for (i, k) in f.keys.into_iter().enumerate() {
        let key = format!("keys[{i}]");
        validate::name(&k.name).map_err(|p| FieldError::new(format!("{key}.name"), p))?;
        if g.keys.contains_key(&k.name) {
            return Err(FieldError::new(
                format!("{key}.name"),
                Invalid::Other(format!("duplicate key name `{}`", k.name)),
            ));
        }
        let (plaintext, field) = match (k.key, k.key_env) {
            (Some(_), Some(_)) => {
                return Err(FieldError::new(
                    format!("{key}.key"),
                    Invalid::Other("give key or key_env, not both".into()),
                ))
            }
            (None, None) => {
                return Err(FieldError::new(
                    format!("{key}.key"),
                    Invalid::Other("give key or key_env".into()),
                ))
            }
            (Some(p), None) => (p, format!("{key}.key")),
            (None, Some(var)) => match env(&var).filter(|v| !v.trim().is_empty()) {
                Some(v) => (v, format!("{key}.key_env")),
                None => {
                    return Err(FieldError::new(
                        format!("{key}.key_env"),
                        Invalid::Other(format!("environment variable `{var}` is not set")),
                    ))
                }
            },
        };
        if let Some(team) = &k.team {
            if !g.teams.contains_key(team) {
                return Err(FieldError::new(
                    format!("{key}.team"),
                    Invalid::Other(format!("unknown team \"{team}\"")),
                ));
            }
        }
        if let Some(user) = &k.user {
            if user.is_empty() || user.len() > validate::MAX_NAME_LEN {
                return Err(FieldError::new(
                    format!("{key}.user"),
                    Invalid::Other(format!("must be 1-{} characters", validate::MAX_NAME_LEN)),
                ));
            }
        }
        let expires_at_ms = match k.expires_at {
            None => None,
            Some(toml::Value::String(s)) => Some(s),
            Some(toml::Value::Datetime(d)) => Some(d.to_string()),
            Some(other) => Some(other.to_string()),
        }
        .map(|s| parse_rfc3339_ms(&s))
        .transpose()
        .map_err(|e| FieldError::new(format!("{key}.expires_at"), Invalid::Other(e)))?;
        validate::allowed_models(&k.allowed_models, &format!("{key}.allowed_models"))?;
        let client_key = ClientKey {
            id: k.name.clone(),
            limits: limits(k.limits, &key)?,
            budget: budget(k.budget, &key)?,
            name: k.name,
            team: k.team,
            user: k.user,
            enabled: k.enabled.unwrap_or(true),
            expires_at_ms,
            allowed_models: k.allowed_models,
            budget_status: Default::default(),
        };
        add(&mut g, client_key, &plaintext, field)?;
    }

    for (i, secret) in f.legacy_keys.iter().enumerate() {
        let id = format!("api_keys[{i}]");
        let k = ClientKey {
            id: id.clone(),
            name: id.clone(),
            enabled: true,
            ..Default::default()
        };
        add(&mut g, k, secret.expose(), format!("server.{id}"))?;
    }

    let mut overrides = Vec::with_capacity(f.prices.len());
    for (i, p) in f.prices.into_iter().enumerate() {
        let key = format!("prices[{i}]");
        let entry = validate::price(
            PriceEntry {
                model: p.model,
                price: Price {
                    input: p.input,
                    output: p.output,
                    cache_read: p.cache_read,
                    cache_write: p.cache_write,
                    reasoning: p.reasoning,
                    per_request: p.per_request.unwrap_or(0.0),
                },
            },
            &key,
        )?;
        if overrides
            .iter()
            .any(|e: &PriceEntry| e.model == entry.model)
        {
            return Err(FieldError::new(
                format!("{key}.model"),
                Invalid::Other(format!("duplicate price for `{}`", entry.model)),
            ));
        }
        overrides.push(entry);
    }
    g.prices = PriceTable::with_overrides(&overrides);
    Ok(g)
}
