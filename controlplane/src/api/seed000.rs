//! Seed 000 surface: `/api/llm/types`, `/api/llm/backends` CRUD, `/enable`, `/disable`.
//! `backend_id` is the canonical provider name, `adapter` its kind, `configs` its
//! endpoints (keys masked in responses; sending a mask back keeps the stored key),
//! `is_available` comes from live data-plane health. Errors: `{"error": "..."}`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use sluice_model::ProviderKind;

use super::parse_json;
use super::surface::{Failure, Seed000};
use crate::dataplanes::ProviderHealth;
use crate::error::ApiError;
use crate::store::draft::{
    apply_provider, remove_provider, EndpointDraft, KeyInput, ProviderDraft,
};
use crate::store::records::ProviderRecord;
use crate::App;

type Result<T> = std::result::Result<T, Failure<Seed000>>;

/// The seed 000 routes.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/llm/types", get(types))
        .route("/api/llm/backends", get(list).post(create))
        .route(
            "/api/llm/backends/{backend_id}",
            get(get_one).put(update).delete(delete),
        )
        .route("/api/llm/backends/{backend_id}/enable", post(enable))
        .route("/api/llm/backends/{backend_id}/disable", post(disable))
}

fn backend_json(
    p: &ProviderRecord,
    health: &std::collections::HashMap<String, ProviderHealth>,
) -> Value {
    json!({
        "backend_id": p.name,
        "adapter": p.kind,
        "enable": p.enabled,
        "configs": p.endpoints.iter().map(|e| json!({"api_key": e.api_key_masked, "base_url": e.base_url})).collect::<Vec<_>>(),
        "models": p.models,
        "is_available": p.enabled && health.get(&p.name).is_some_and(|h| h.healthy),
    })
}

async fn types() -> Json<Value> {
    Json(json!({"types": ProviderKind::NAMES}))
}

async fn list(State(app): State<Arc<App>>) -> Json<Value> {
    let s = app.store.state();
    let h = app.dataplanes.provider_health();
    Json(json!({"backends": s.providers.values().map(|p| backend_json(p, &h)).collect::<Vec<_>>()}))
}

fn one(app: &App, name: &str) -> std::result::Result<Value, ApiError> {
    let s = app.store.state();
    let h = app.dataplanes.provider_health();
    s.provider_by_name(name)
        .map(|p| json!({"backend": backend_json(p, &h)}))
        .ok_or_else(|| ApiError::not_found(format!("backend `{name}` not found")))
}

async fn get_one(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Json<Value>> {
    Ok(Json(one(&app, &id)?))
}

#[derive(Debug, Deserialize)]
struct ConfigIn {
    #[serde(default)]
    api_key: Option<String>,
    base_url: String,
}

#[derive(Debug, Deserialize)]
struct BackendIn {
    backend_id: Option<String>,
    adapter: Option<String>,
    enable: Option<bool>,
    configs: Option<Vec<ConfigIn>>,
    models: Option<Vec<String>>,
}

fn rename(field: &str) -> String {
    field
        .replace("endpoints", "configs")
        .replace("kind", "adapter")
        .replace("name", "backend_id")
}

fn draft(mut d: ProviderDraft, input: BackendIn) -> ProviderDraft {
    if let Some(id) = input.backend_id {
        d.name = id;
    }
    if input.adapter.is_some() {
        d.kind = input.adapter;
    }
    if let Some(e) = input.enable {
        d.enabled = e;
    }
    if let Some(c) = input.configs {
        d.endpoints = c
            .into_iter()
            .map(|c| EndpointDraft {
                base_url: c.base_url,
                api_key: KeyInput::from_payload(c.api_key),
            })
            .collect();
    }
    if let Some(m) = input.models {
        d.models = m;
    }
    d
}

async fn create(State(app): State<Arc<App>>, body: Bytes) -> Result<Response> {
    let input: BackendIn = parse_json(&body).map_err(|e| e.rename_fields(rename))?;
    let Some(name) = input.backend_id.clone() else {
        return Err(ApiError::field("backend_id", "is required").into());
    };
    if input.adapter.as_deref().unwrap_or("").is_empty() {
        return Err(ApiError::field("adapter", "is required").into());
    }
    if input.configs.as_ref().is_none_or(Vec::is_empty) {
        return Err(
            ApiError::field("configs", "at least one {api_key, base_url} is required").into(),
        );
    }
    app.store
        .write(move |s, k| {
            apply_provider(s, None, draft(ProviderDraft::new(String::new()), input), k)
        })
        .await
        .map_err(|e| e.rename_fields(rename))?;
    Ok(Json(one(&app, &name)?).into_response())
}

async fn update(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>> {
    let input: BackendIn = parse_json(&body).map_err(|e| e.rename_fields(rename))?;
    let new_name = input.backend_id.clone().unwrap_or_else(|| id.clone());
    app.store
        .write(move |s, k| {
            let cur = s
                .provider_by_name(&id)
                .ok_or_else(|| ApiError::not_found(format!("backend `{id}` not found")))?;
            let pid = cur.id;
            let d = draft(ProviderDraft::from_record(cur), input);
            apply_provider(s, Some(pid), d, k)
        })
        .await
        .map_err(|e| e.rename_fields(rename))?;
    Ok(Json(one(&app, &new_name)?))
}

async fn delete(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Json<Value>> {
    app.store
        .write(move |s, _| {
            let pid = s
                .provider_by_name(&id)
                .ok_or_else(|| ApiError::not_found(format!("backend `{id}` not found")))?
                .id;
            remove_provider(s, pid).map(|_| ())
        })
        .await?;
    Ok(Json(json!({"message": "Backend deleted successfully"})))
}

async fn set_enabled(
    app: &Arc<App>,
    id: String,
    enabled: bool,
) -> std::result::Result<(), ApiError> {
    app.store
        .write(move |s, k| {
            let cur = s
                .provider_by_name(&id)
                .ok_or_else(|| ApiError::not_found(format!("backend `{id}` not found")))?;
            let pid = cur.id;
            let mut d = ProviderDraft::from_record(cur);
            d.enabled = enabled;
            apply_provider(s, Some(pid), d, k).map(|_| ())
        })
        .await
}

async fn enable(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Json<Value>> {
    set_enabled(&app, id, true).await?;
    Ok(Json(json!({"message": "Backend enabled successfully"})))
}

async fn disable(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Json<Value>> {
    set_enabled(&app, id, false).await?;
    Ok(Json(json!({"message": "Backend disabled successfully"})))
}
