//! Seed 002 surface: `/api/providers` (+`/test`), `/api/model-routes` (+`/select`,
//! `/state`), `/api/admin/providers/restore`. Errors FastAPI-style (`{"detail": ...}`).
//!
//! Mapping onto canonical records:
//! - provider `name` is a display name; the canonical name is it with whitespace runs
//!   replaced by `-` (`Example Provider` → `Example-Provider`). `is_active` = `enabled`.
//!   `kind`/`type` optional, else inferred from name and base URL.
//! - a route node `{api_id, models, strategy, priority}` becomes one target per listed
//!   model (or one target using the provider's first model when `models` is empty).
//! - `mode: auto` → the nodes' strategy (`round-robin` → `round_robin`, `failover` →
//!   `priority`) with every target in one tier (node priorities ignored);
//!   `mode: multi` → the same strategy, node `priority` kept as the failover tier (lower
//!   value preferred); `mode: specific` → `priority` (first node first), and `/select`
//!   with `{"model": "..."}` picks the first available node serving that model.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::surface::{Failure, Seed002};
use super::{parse_id, parse_json, probe, select};
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::store::draft::{
    apply_provider, apply_route, canonical_name, remove_provider, ProviderDraft, RouteDraft,
};
use crate::store::records::{
    ProviderRecord, RouteRecord, Seed002Route, State as Config, TargetRecord,
};
use crate::App;

type Result<T> = std::result::Result<T, Failure<Seed002>>;

/// Largest backup document accepted by the restore endpoint (other bodies: axum's 2 MB).
const RESTORE_BODY_LIMIT: usize = 256 * 1024 * 1024;

/// The seed 002 routes.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/providers", get(list_providers).post(create_provider))
        .route(
            "/api/providers/{id}",
            get(get_provider)
                .patch(patch_provider)
                .delete(delete_provider),
        )
        .route("/api/providers/{id}/test", post(test_provider))
        .route("/api/model-routes", get(list_routes).post(create_route))
        .route(
            "/api/model-routes/{id}",
            get(get_route).patch(patch_route).delete(delete_route),
        )
        .route("/api/model-routes/{id}/select", post(select_route))
        .route("/api/model-routes/{id}/state", get(route_state))
        .route(
            "/api/admin/providers/restore",
            post(restore).layer(DefaultBodyLimit::max(RESTORE_BODY_LIMIT)),
        )
}

/// Seed 002 JSON of a provider (key masked).
pub fn provider_json(p: &ProviderRecord) -> Value {
    let ep = p.endpoints.first();
    json!({
        "id": p.id,
        "name": p.shown_name(),
        "base_url": ep.map(|e| e.base_url.as_str()).unwrap_or(""),
        "api_key": ep.map(|e| e.api_key_masked.as_str()).unwrap_or(""),
        "models": p.models,
        "is_active": p.enabled,
        "kind": p.kind,
        "created_at": rfc3339(p.created_ms),
        "updated_at": rfc3339(p.updated_ms),
    })
}

#[derive(Debug, Deserialize)]
struct ProviderIn {
    name: Option<String>,
    base_url: Option<String>,
    api_key: Option<String>,
    models: Option<Vec<String>>,
    is_active: Option<bool>,
    #[serde(alias = "type")]
    kind: Option<String>,
}

fn rename(field: &str) -> String {
    match field {
        "endpoints[0].base_url" | "endpoints" => "base_url".into(),
        "endpoints[0].api_key" => "api_key".into(),
        "enabled" => "is_active".into(),
        other => other.to_string(),
    }
}

fn overlay(
    mut d: ProviderDraft,
    input: ProviderIn,
) -> std::result::Result<ProviderDraft, ApiError> {
    if let Some(name) = input.name {
        if name.trim().is_empty() {
            return Err(ApiError::field("name", "must not be empty"));
        }
        d.name = canonical_name(&name);
        d.display_name = (d.name != name).then_some(name);
    }
    d.set_primary_endpoint(input.base_url, input.api_key);
    if let Some(m) = input.models {
        d.models = m;
    }
    if let Some(a) = input.is_active {
        d.enabled = a;
    }
    if input.kind.is_some() {
        d.kind = input.kind;
    }
    Ok(d)
}

async fn list_providers(State(app): State<Arc<App>>) -> Json<Value> {
    let s = app.store.state();
    Json(Value::Array(
        s.providers.values().map(provider_json).collect(),
    ))
}

async fn create_provider(State(app): State<Arc<App>>, body: Bytes) -> Result<Response> {
    let input: ProviderIn = parse_json(&body)?;
    if input.name.is_none() {
        return Err(ApiError::field("name", "field required").into());
    }
    if input.base_url.is_none() {
        return Err(ApiError::field("base_url", "field required").into());
    }
    let id = app
        .store
        .write(move |s, k| {
            let d = overlay(ProviderDraft::new(String::new()), input)?;
            apply_provider(s, None, d, k)
        })
        .await
        .map_err(|e| e.rename_fields(rename))?;
    Ok((StatusCode::CREATED, Json(provider_by_id(&app, id)?)).into_response())
}

fn provider_by_id(app: &App, id: u64) -> std::result::Result<Value, ApiError> {
    app.store
        .state()
        .providers
        .get(&id)
        .map(provider_json)
        .ok_or_else(|| ApiError::not_found("Provider not found"))
}

async fn get_provider(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Json<Value>> {
    let id = parse_id(&id, "provider")?;
    Ok(Json(provider_by_id(&app, id)?))
}

async fn patch_provider(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>> {
    let id = parse_id(&id, "provider")?;
    let input: ProviderIn = parse_json(&body)?;
    app.store
        .write(move |s, k| {
            let cur = s
                .providers
                .get(&id)
                .ok_or_else(|| ApiError::not_found("Provider not found"))?;
            let d = overlay(ProviderDraft::from_record(cur), input)?;
            apply_provider(s, Some(id), d, k)
        })
        .await
        .map_err(|e| e.rename_fields(rename))?;
    Ok(Json(provider_by_id(&app, id)?))
}

async fn delete_provider(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let id = parse_id(&id, "provider")?;
    app.store
        .write(move |s, _| {
            if !s.providers.contains_key(&id) {
                return Err(ApiError::not_found("Provider not found"));
            }
            remove_provider(s, id).map(|_| ())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn test_provider(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Json<Value>> {
    let id = parse_id(&id, "provider")?;
    let state = app.store.state();
    let p = state
        .providers
        .get(&id)
        .ok_or_else(|| ApiError::not_found("Provider not found"))?;
    let Some(ep) = p.endpoints.first() else {
        return Ok(Json(
            json!({"status": "online", "status_code": null, "latency_ms": 0.0, "detail": "local provider (no endpoint)"}),
        ));
    };
    let key = if ep.api_key_sealed.is_empty() {
        String::new()
    } else {
        app.store
            .master_key()
            .open_str(&ep.api_key_sealed)
            .map_err(ApiError::internal)?
    };
    let result = probe::check(&p.kind, &ep.base_url, &key).await;
    Ok(Json(
        serde_json::to_value(result).map_err(ApiError::internal)?,
    ))
}

/// Seed 002 JSON of a route.
pub fn route_json(state: &Config, r: &RouteRecord) -> Value {
    let (mode, config, nodes) = match &r.seed002 {
        Some(x) => (x.mode.clone(), x.config.clone(), x.nodes.clone()),
        None => {
            let strategy = if r.strategy == "priority" {
                "failover"
            } else {
                "round-robin"
            };
            let nodes = r
                .targets
                .iter()
                .map(|t| {
                    json!({"api_id": t.provider_id, "models": t.model.iter().collect::<Vec<_>>(),
                        "strategy": strategy, "priority": t.priority, "metadata": {}})
                })
                .collect();
            let multi = r.targets.iter().any(|t| t.priority != 0);
            (
                if multi { "multi" } else { "auto" }.to_string(),
                json!({}),
                nodes,
            )
        }
    };
    let _ = state;
    json!({
        "id": r.id,
        "name": r.name,
        "mode": mode,
        "is_active": r.enabled,
        "config": config,
        "nodes": nodes,
        "strategy": r.strategy,
        "created_at": rfc3339(r.created_ms),
        "updated_at": rfc3339(r.updated_ms),
    })
}

#[derive(Debug, Deserialize)]
struct NodeIn {
    api_id: u64,
    #[serde(default)]
    models: Vec<String>,
    #[serde(default)]
    strategy: Option<String>,
    #[serde(default)]
    priority: i32,
    #[serde(default)]
    metadata: Value,
}

#[derive(Debug, Deserialize)]
struct RouteIn {
    name: Option<String>,
    mode: Option<String>,
    is_active: Option<bool>,
    config: Option<Value>,
    nodes: Option<Vec<NodeIn>>,
}

/// Applies seed 002's mode/strategy mapping (see the module docs).
fn overlay_route(mut d: RouteDraft, input: RouteIn) -> std::result::Result<RouteDraft, ApiError> {
    if let Some(n) = input.name {
        d.name = n;
    }
    if let Some(a) = input.is_active {
        d.enabled = a;
    }
    let mut extras = d.seed002.clone().unwrap_or(Seed002Route {
        mode: "auto".into(),
        config: json!({}),
        nodes: Vec::new(),
    });
    if let Some(m) = input.mode {
        if !["auto", "specific", "multi"].contains(&m.as_str()) {
            return Err(ApiError::field(
                "mode",
                "must be one of auto, specific, multi",
            ));
        }
        extras.mode = m;
    }
    if let Some(c) = input.config {
        extras.config = c;
    }
    let nodes = match input.nodes {
        Some(nodes) => {
            if nodes.is_empty() {
                return Err(ApiError::field("nodes", "a route needs at least one node"));
            }
            extras.nodes = nodes
                .iter()
                .map(|n| {
                    json!({"api_id": n.api_id, "models": n.models,
                        "strategy": n.strategy.clone().unwrap_or_else(|| "round-robin".into()),
                        "priority": n.priority, "metadata": if n.metadata.is_null() { json!({}) } else { n.metadata.clone() }})
                })
                .collect();
            Some(nodes)
        }
        None => None,
    };
    // Re-derive targets from the (possibly stored) nodes.
    let nodes: Vec<NodeIn> = match nodes {
        Some(n) => n,
        None => extras
            .nodes
            .iter()
            .filter_map(|v| serde_json::from_value(v.clone()).ok())
            .collect(),
    };
    if let Some(first) = nodes.first() {
        let node_strategy = first
            .strategy
            .clone()
            .unwrap_or_else(|| "round-robin".into());
        for (i, n) in nodes.iter().enumerate() {
            if let Some(s) = &n.strategy {
                if s.parse::<sluice_route::Strategy>().is_err() {
                    return Err(ApiError::field(
                        format!("nodes[{i}].strategy"),
                        "must be round-robin or failover",
                    ));
                }
            }
        }
        d.strategy = if extras.mode == "specific" {
            "priority".into()
        } else {
            node_strategy
        };
        let keep_priority = extras.mode != "auto";
        d.targets = nodes
            .iter()
            .flat_map(|n| {
                let models: Vec<Option<String>> = if n.models.is_empty() {
                    vec![None]
                } else {
                    n.models.iter().cloned().map(Some).collect()
                };
                models.into_iter().map(move |model| TargetRecord {
                    provider_id: n.api_id,
                    model,
                    weight: 1,
                    priority: if keep_priority { n.priority } else { 0 },
                })
            })
            .collect();
    }
    d.seed002 = Some(extras);
    Ok(d)
}

fn rename_route(field: &str) -> String {
    if field == "targets" {
        return "nodes".into();
    }
    if field.starts_with("targets[") {
        return "nodes.api_id".into();
    }
    if field == "enabled" {
        return "is_active".into();
    }
    field.to_string()
}

async fn list_routes(State(app): State<Arc<App>>) -> Json<Value> {
    let s = app.store.state();
    Json(Value::Array(
        s.routes.values().map(|r| route_json(&s, r)).collect(),
    ))
}

fn route_by_id(app: &App, id: u64) -> std::result::Result<Value, ApiError> {
    let s = app.store.state();
    s.routes
        .get(&id)
        .map(|r| route_json(&s, r))
        .ok_or_else(|| ApiError::not_found("Route not found"))
}

async fn create_route(State(app): State<Arc<App>>, body: Bytes) -> Result<Response> {
    let input: RouteIn = parse_json(&body)?;
    if input.name.is_none() {
        return Err(ApiError::field("name", "field required").into());
    }
    if input.nodes.is_none() {
        return Err(ApiError::field("nodes", "field required").into());
    }
    let id = app
        .store
        .write(move |s, _| {
            let d = overlay_route(
                RouteDraft {
                    name: String::new(),
                    strategy: "round_robin".into(),
                    retries: 2,
                    enabled: true,
                    targets: Vec::new(),
                    seed002: None,
                },
                input,
            )?;
            apply_route(s, None, d)
        })
        .await
        .map_err(|e| e.rename_fields(rename_route))?;
    Ok((StatusCode::CREATED, Json(route_by_id(&app, id)?)).into_response())
}

async fn get_route(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Json<Value>> {
    let id = parse_id(&id, "route")?;
    Ok(Json(route_by_id(&app, id)?))
}

async fn patch_route(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>> {
    let id = parse_id(&id, "route")?;
    let input: RouteIn = parse_json(&body)?;
    app.store
        .write(move |s, _| {
            let cur = s
                .routes
                .get(&id)
                .ok_or_else(|| ApiError::not_found("Route not found"))?;
            let d = overlay_route(RouteDraft::from_record(cur), input)?;
            apply_route(s, Some(id), d)
        })
        .await
        .map_err(|e| e.rename_fields(rename_route))?;
    Ok(Json(route_by_id(&app, id)?))
}

async fn delete_route(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<StatusCode> {
    let id = parse_id(&id, "route")?;
    app.store
        .write(move |s, _| {
            s.routes
                .remove(&id)
                .map(|_| ())
                .ok_or_else(|| ApiError::not_found("Route not found"))
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize)]
struct SelectIn {
    model: Option<String>,
}

async fn select_route(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>> {
    let id = parse_id(&id, "route")?;
    let hint: SelectIn = if body.iter().all(u8::is_ascii_whitespace) {
        SelectIn::default()
    } else {
        parse_json(&body)?
    };
    let s = app.store.state();
    let r = s
        .routes
        .get(&id)
        .ok_or_else(|| ApiError::not_found("Route not found"))?;
    if !r.enabled {
        return Err(ApiError::bad_request("Route is not active").into());
    }
    let health = app.dataplanes.provider_health();
    let c = app
        .selectors
        .select(&s, r, &health, hint.model.as_deref())?;
    Ok(Json(json!({
        "provider_id": c.provider_id,
        "provider_name": c.provider_name,
        "model": c.model,
    })))
}

async fn route_state(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Json<Value>> {
    let id = parse_id(&id, "route")?;
    let s = app.store.state();
    let r = s
        .routes
        .get(&id)
        .ok_or_else(|| ApiError::not_found("Route not found"))?;
    let st = app.selectors.state(r)?;
    let members: Vec<Value> = select::members(&s, r)
        .into_iter()
        .enumerate()
        .map(|(i, c)| json!({"index": i, "provider_id": c.provider_id, "provider_name": c.provider_name, "model": c.model}))
        .collect();
    Ok(Json(json!({
        "route_id": r.id,
        "route_name": r.name,
        "mode": r.seed002.as_ref().map_or("auto", |x| x.mode.as_str()),
        "strategy": r.strategy,
        "state": {
            "round_robin_indices": { r.id.to_string(): st.round_robin_index() },
            "tiers": st.tiers,
            "picks": st.picks,
        },
        "members": members,
    })))
}

/// Restores from `<data_dir>/backup.json`, or from a backup document posted as the body;
/// all-or-nothing.
async fn restore(State(app): State<Arc<App>>, body: Bytes) -> Result<Json<Value>> {
    let store = app.store.clone();
    let path = store.backup_path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        if body.iter().all(u8::is_ascii_whitespace) {
            crate::backup::restore_into(&store, &path)
        } else {
            store.replace_all(crate::backup::parse(&body)?)
        }
    })
    .await
    .map_err(ApiError::internal)??;
    let s = app.store.state();
    Ok(Json(json!({
        "restored": true,
        "providers": s.providers.len(),
        "routes": s.routes.len(),
        "version": s.version,
    })))
}
