//! State → gRPC [`Snapshot`] (keys decrypted for transit only), and whole-state
//! validation through the model's `config_from_snapshot`, exactly as a data plane converts it.

use sluice_model::{config_from_snapshot, MasterKey, ServerSettings};
use sluice_proto::{Endpoint, KeyDigest, Provider, Route, Snapshot, Target};

use super::policy::{budget_proto, limits_proto};
use super::records::{ClientKeyRecord, PriceRecord, State, TeamRecord};
use crate::clock::now_ms;
use crate::error::ApiError;

/// The snapshot a data plane would receive for `state` (inactive routes left out).
pub fn build_snapshot(state: &State, key: &MasterKey) -> Result<Snapshot, ApiError> {
    let mut providers = Vec::with_capacity(state.providers.len());
    for p in state.providers.values() {
        let mut endpoints = Vec::with_capacity(p.endpoints.len());
        for e in &p.endpoints {
            let api_key = if e.api_key_sealed.is_empty() {
                String::new()
            } else {
                key.open_str(&e.api_key_sealed).map_err(|err| {
                    ApiError::internal(format!("provider `{}`: stored key: {err}", p.name))
                })?
            };
            endpoints.push(Endpoint {
                base_url: e.base_url.clone(),
                api_key,
            });
        }
        providers.push(Provider {
            name: p.name.clone(),
            kind: p.kind.clone(),
            models: p.models.clone(),
            enabled: p.enabled,
            weight: p.weight,
            priority: p.priority,
            timeout_ms: p.timeout_ms,
            endpoints,
            pace_ms: p.pace_ms,
            limits: limits_proto(p.limits.as_ref()),
            // Active checks are a data-plane file setting for now; the control plane's
            // providers rely on passive health.
            ..Default::default()
        });
    }
    let mut routes = Vec::new();
    for r in state.routes.values().filter(|r| r.enabled) {
        let mut targets = Vec::with_capacity(r.targets.len());
        for t in &r.targets {
            let p = state.providers.get(&t.provider_id).ok_or_else(|| {
                ApiError::field(
                    format!("routes ({}).targets.provider", r.name),
                    format!("unknown provider id {}", t.provider_id),
                )
            })?;
            let model = t
                .model
                .clone()
                .or_else(|| p.models.first().cloned())
                .unwrap_or_else(|| r.name.clone());
            targets.push(Target {
                provider: p.name.clone(),
                model,
                weight: t.weight,
                priority: t.priority,
            });
        }
        routes.push(Route {
            name: r.name.clone(),
            strategy: r.strategy.clone(),
            retries: r.retries,
            targets,
            limits: limits_proto(r.limits.as_ref()),
        });
    }
    let now = now_ms();
    // A state built outside a store (tests, benchmarks) may have no secret and then no
    // digest keys either.
    let secret = if state.key_digest_secret_sealed.is_empty() {
        Vec::new()
    } else {
        state.key_digest_secret(key)?.to_vec()
    };
    Ok(Snapshot {
        version: state.version,
        providers,
        routes,
        client_key_sha256: state
            .keys
            .values()
            .filter(|k| k.is_legacy())
            .filter_map(|k| k.sha256.clone())
            .collect(),
        prefix_rules: Vec::new(),
        // The store replaces both with the operator's setting and its epoch.
        client_auth: state.implied_client_auth().as_str().to_string(),
        epoch: String::new(),
        keys: state
            .keys
            .values()
            .filter(|k| !k.is_legacy())
            .map(|k| key_proto(state, k, now))
            .collect(),
        teams: state
            .teams
            .values()
            .map(|t| team_proto(state, t, now))
            .collect(),
        prices: state.prices.values().map(price_proto).collect(),
        key_digest_secret: secret,
    })
}

/// A key as data planes see it: digests (the previous one with the end of its rotation
/// overlap), owners, allow-list, limits, budget with the ledger's mark.
fn key_proto(state: &State, k: &ClientKeyRecord, now: u64) -> sluice_proto::ClientKey {
    let mut digests: Vec<KeyDigest> = k
        .digest
        .iter()
        .map(|d| KeyDigest {
            digest: d.clone(),
            expires_at_ms: 0,
        })
        .collect();
    if let (Some(d), Some(until)) = (&k.previous_digest, k.previous_expires_ms) {
        if until > now {
            digests.push(KeyDigest {
                digest: d.clone(),
                expires_at_ms: until,
            });
        }
    }
    sluice_proto::ClientKey {
        id: k.id.to_string(),
        name: k.name.clone(),
        digests,
        team: k.team.clone().unwrap_or_default(),
        user: k.user.clone().unwrap_or_default(),
        enabled: k.enabled,
        expires_at_ms: k.expires_at_ms.unwrap_or(0),
        allowed_models: k.allowed_models.clone(),
        limits: limits_proto(k.limits.as_ref()),
        budget: budget_proto(k.budget.as_ref(), state.budget_marks.get(&k.scope()), now),
    }
}

fn team_proto(state: &State, t: &TeamRecord, now: u64) -> sluice_proto::Team {
    sluice_proto::Team {
        name: t.name.clone(),
        enabled: t.enabled,
        allowed_models: t.allowed_models.clone(),
        limits: limits_proto(t.limits.as_ref()),
        budget: budget_proto(t.budget.as_ref(), state.budget_marks.get(&t.scope()), now),
    }
}

fn price_proto(p: &PriceRecord) -> sluice_proto::Price {
    sluice_proto::Price {
        model: p.model.clone(),
        input: p.input,
        output: p.output,
        cache_read: p.cache_read,
        cache_write: p.cache_write,
        reasoning: p.reasoning,
        per_request: p.per_request,
    }
}

/// Builds and validates the snapshot of `state` exactly as a data plane would.
pub fn validate_state(state: &State, key: &MasterKey) -> Result<Snapshot, ApiError> {
    let snap = build_snapshot(state, key)?;
    config_from_snapshot(&snap, &ServerSettings::default()).map_err(ApiError::invalid_config)?;
    Ok(snap)
}
