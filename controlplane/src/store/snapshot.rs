//! State → gRPC [`Snapshot`] (keys decrypted for transit only), and whole-state
//! validation through the model's `config_from_snapshot`, exactly as a data plane converts it.

use sluice_model::{config_from_snapshot, MasterKey, ServerSettings};
use sluice_proto::{Endpoint, Provider, Route, Snapshot, Target};

use super::records::State;
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
            limits: None,
        });
    }
    Ok(Snapshot {
        version: state.version,
        providers,
        routes,
        client_key_sha256: state.keys.values().map(|k| k.sha256.clone()).collect(),
        prefix_rules: Vec::new(),
        // The store replaces both with the operator's setting and its epoch.
        client_auth: state.implied_client_auth().as_str().to_string(),
        epoch: String::new(),
        keys: Vec::new(),
        teams: Vec::new(),
        prices: Vec::new(),
        key_digest_secret: Vec::new(),
    })
}

/// Builds and validates the snapshot of `state` exactly as a data plane would.
pub fn validate_state(state: &State, key: &MasterKey) -> Result<Snapshot, ApiError> {
    let snap = build_snapshot(state, key)?;
    config_from_snapshot(&snap, &ServerSettings::default()).map_err(ApiError::invalid_config)?;
    Ok(snap)
}
