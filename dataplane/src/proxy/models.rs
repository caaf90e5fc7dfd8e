//! `GET /v1/models` and `GET /v1/models/{id}`: routes, listed models and `provider:model`
//! ids (orchestrator API) from the current snapshot, in OpenAI's list format, in
//! Anthropic's (`anthropic-version` header) and in Gemini's (`GET /v1beta/models`).

use serde::Serialize;
use serde_json::{json, Value};

use crate::config::{Protocol, RuntimeConfig};
use crate::error::rfc3339;

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

/// Anthropic's shape of one model.
fn anthropic_entry(e: &ModelEntry) -> Value {
    json!({
        "type": "model",
        "id": e.id,
        "display_name": e.id,
        "created_at": rfc3339(e.created),
    })
}

/// Gemini's shape of one model.
fn gemini_entry(e: &ModelEntry) -> Value {
    json!({
        "name": format!("models/{}", e.id),
        "displayName": e.id,
        "supportedGenerationMethods": ["generateContent", "streamGenerateContent"],
    })
}

/// Anthropic's list: `{data, has_more, first_id, last_id}`.
pub fn anthropic_list_body(cfg: &RuntimeConfig) -> Vec<u8> {
    let models = list(cfg);
    let data: Vec<Value> = models.iter().map(anthropic_entry).collect();
    serde_json::to_vec(&json!({
        "data": data,
        "has_more": false,
        "first_id": models.first().map(|e| e.id.as_str()),
        "last_id": models.last().map(|e| e.id.as_str()),
    }))
    .unwrap_or_default()
}

/// Gemini's list: `{models: [{name: "models/<id>", displayName, supportedGenerationMethods}]}`.
pub fn gemini_list_body(cfg: &RuntimeConfig) -> Vec<u8> {
    let models: Vec<Value> = list(cfg).iter().map(gemini_entry).collect();
    serde_json::to_vec(&json!({ "models": models })).unwrap_or_default()
}

/// One model's body in a surface's shape, if known (Gemini ids may carry `models/`).
pub fn get_body(cfg: &RuntimeConfig, id: &str, surface: Protocol) -> Option<Vec<u8>> {
    let id = match surface {
        Protocol::Gemini => id.strip_prefix("models/").unwrap_or(id),
        _ => id,
    };
    let e = get(cfg, id)?;
    match surface {
        Protocol::Anthropic => serde_json::to_vec(&anthropic_entry(&e)).ok(),
        Protocol::Gemini => serde_json::to_vec(&gemini_entry(&e)).ok(),
        _ => serde_json::to_vec(&e).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_surface_lists_the_same_models() {
        let cfg = crate::config::parse_config(
            "t.toml",
            "[[providers]]\nname = \"ec\"\nkind = \"echo\"\nmodels = [\"echo-1\"]\n",
            &|_| None,
        )
        .unwrap();
        let a: Value = serde_json::from_slice(&anthropic_list_body(&cfg)).unwrap();
        assert_eq!(a["data"][0]["type"], "model");
        assert_eq!(a["data"][0]["id"], "echo-1");
        assert_eq!(a["first_id"], "echo-1");
        assert_eq!(a["last_id"], "ec:echo-1");
        assert_eq!(a["has_more"], false);
        let g: Value = serde_json::from_slice(&gemini_list_body(&cfg)).unwrap();
        assert_eq!(g["models"][0]["name"], "models/echo-1");
        let one: Value =
            serde_json::from_slice(&get_body(&cfg, "models/echo-1", Protocol::Gemini).unwrap())
                .unwrap();
        assert_eq!(one["displayName"], "echo-1");
        assert!(get_body(&cfg, "nope", Protocol::Anthropic).is_none());
    }
}
