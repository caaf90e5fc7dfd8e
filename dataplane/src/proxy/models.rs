//! `GET /v1/models` and `GET /v1/models/{id}`: routes, listed models and `provider:model`
//! ids (orchestrator API) from the current snapshot, in OpenAI's list format.

use serde::Serialize;

use crate::config::RuntimeConfig;

/// One entry of the model list.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct ModelEntry {
    /// Model id clients send.
    pub id: String,
    /// Always `model`.
    pub object: &'static str,
    /// Creation time (the snapshot has none: a fixed epoch).
    pub created: u64,
    /// Provider name, or `sluice` for routes.
    pub owned_by: String,
}

const CREATED: u64 = 1_700_000_000;

/// Every model id the snapshot can serve by name.
pub fn list(cfg: &RuntimeConfig) -> Vec<ModelEntry> {
    let mut out: Vec<ModelEntry> = Vec::new();
    let mut push = |id: String, owner: &str| {
        if !out.iter().any(|e| e.id == id) {
            out.push(ModelEntry {
                id,
                object: "model",
                created: CREATED,
                owned_by: owner.to_string(),
            });
        }
    };
    for r in &cfg.routes {
        if r.targets
            .iter()
            .any(|t| cfg.providers.get(t.provider).is_some_and(|p| p.enabled))
        {
            push(r.name.clone(), "sluice");
        }
    }
    for p in cfg.providers.iter().filter(|p| p.enabled) {
        for m in &p.models {
            push(m.clone(), &p.name);
        }
    }
    for p in cfg.providers.iter().filter(|p| p.enabled) {
        for m in &p.models {
            push(format!("{}:{m}", p.name), &p.name);
        }
    }
    out
}

/// The list response body.
pub fn list_body(cfg: &RuntimeConfig) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "object": "list", "data": list(cfg) }))
        .unwrap_or_default()
}

/// One model, if known.
pub fn get(cfg: &RuntimeConfig, id: &str) -> Option<ModelEntry> {
    list(cfg).into_iter().find(|e| e.id == id)
}
