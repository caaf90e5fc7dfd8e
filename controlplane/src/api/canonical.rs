//! The canonical admin API (`/v1/admin/*`, described by `/openapi.json`): providers with
//! endpoints, routes with strategy and targets, client keys (plaintext returned once),
//! connected data planes, and the config version. `{id}` accepts a numeric id or a name.
//! Errors: seed 001's envelope plus OpenAI's `type`/`param`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::parse_json;
use super::surface::{Canonical, Failure};
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::store::draft::{
    apply_provider, apply_route, remove_provider, EndpointDraft, KeyInput, ProviderDraft,
    RouteDraft,
};
use crate::store::records::{
    ClientKeyRecord, ProviderRecord, RouteRecord, State as Config, TargetRecord,
};
use crate::App;

type Result<T> = std::result::Result<T, Failure<Canonical>>;

/// The canonical routes.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route(
            "/v1/admin/providers",
            get(list_providers).post(create_provider),
        )
        .route(
            "/v1/admin/providers/{id}",
            get(get_provider)
                .put(put_provider)
                .patch(patch_provider)
                .delete(delete_provider),
        )
        .route("/v1/admin/routes", get(list_routes).post(create_route))
        .route(
            "/v1/admin/routes/{id}",
            get(get_route)
                .put(put_route)
                .patch(patch_route)
                .delete(delete_route),
        )
        .route("/v1/admin/keys", get(list_keys).post(create_key))
        .route("/v1/admin/keys/{id}", get(get_key).delete(delete_key))
        .route("/v1/admin/dataplanes", get(dataplanes))
        .route("/v1/admin/version", get(version))
}

/// Canonical JSON of a provider (keys masked).
pub fn provider_json(p: &ProviderRecord) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "display_name": p.display_name,
        "kind": p.kind,
        "models": p.models,
        "enabled": p.enabled,
        "weight": p.weight,
        "priority": p.priority,
        "timeout_ms": p.timeout_ms,
        "pace_ms": p.pace_ms,
        "endpoints": p.endpoints.iter().map(|e| json!({
            "base_url": e.base_url,
            "api_key": e.api_key_masked,
            "has_api_key": !e.api_key_sealed.is_empty(),
        })).collect::<Vec<_>>(),
        "created_at": rfc3339(p.created_ms),
        "updated_at": rfc3339(p.updated_ms),
    })
}

fn resolve_provider(s: &Config, raw: &str) -> std::result::Result<u64, ApiError> {
    raw.parse::<u64>()
        .ok()
        .filter(|id| s.providers.contains_key(id))
        .or_else(|| s.provider_by_name(raw).map(|p| p.id))
        .ok_or_else(|| ApiError::not_found(format!("provider `{raw}` not found")))
}

fn resolve_route(s: &Config, raw: &str) -> std::result::Result<u64, ApiError> {
    raw.parse::<u64>()
        .ok()
        .filter(|id| s.routes.contains_key(id))
        .or_else(|| s.route_by_name(raw).map(|r| r.id))
        .ok_or_else(|| ApiError::not_found(format!("route `{raw}` not found")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointIn {
    base_url: String,
    #[serde(default)]
    api_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderIn {
    name: Option<String>,
    display_name: Option<String>,
    kind: Option<String>,
    models: Option<Vec<String>>,
    enabled: Option<bool>,
    weight: Option<u32>,
    priority: Option<i32>,
    timeout_ms: Option<u64>,
    pace_ms: Option<u64>,
    endpoints: Option<Vec<EndpointIn>>,
}

fn overlay_provider(mut d: ProviderDraft, i: ProviderIn) -> ProviderDraft {
    if let Some(v) = i.name {
        d.name = v;
    }
    if i.display_name.is_some() {
        d.display_name = i.display_name;
    }
    if i.kind.is_some() {
        d.kind = i.kind;
    }
    if let Some(v) = i.models {
        d.models = v;
    }
    if let Some(v) = i.enabled {
        d.enabled = v;
    }
    if let Some(v) = i.weight {
        d.weight = v;
    }
    if let Some(v) = i.priority {
        d.priority = v;
    }
    if let Some(v) = i.timeout_ms {
        d.timeout_ms = v;
    }
    if let Some(v) = i.pace_ms {
        d.pace_ms = v;
    }
    if let Some(eps) = i.endpoints {
        d.endpoints = eps
            .into_iter()
            .map(|e| EndpointDraft {
                base_url: e.base_url,
                api_key: KeyInput::from_payload(e.api_key),
            })
            .collect();
    }
    d
}

async fn list_providers(State(app): State<Arc<App>>) -> Json<Value> {
    let s = app.store.state();
    Json(
        json!({"providers": s.providers.values().map(provider_json).collect::<Vec<_>>(), "version": s.version}),
    )
}

fn provider_out(app: &App, id: u64) -> std::result::Result<Value, ApiError> {
    app.store
        .state()
        .providers
        .get(&id)
        .map(provider_json)
        .ok_or_else(|| ApiError::not_found(format!("provider {id} not found")))
}

async fn create_provider(State(app): State<Arc<App>>, body: Bytes) -> Result<Response> {
    let input: ProviderIn = parse_json(&body)?;
    if input.name.is_none() {
        return Err(ApiError::field("name", "is required").into());
    }
    let id = app
        .store
        .write(move |s, k| {
            apply_provider(
                s,
                None,
                overlay_provider(ProviderDraft::new(String::new()), input),
                k,
            )
        })
        .await?;
    Ok((StatusCode::CREATED, Json(provider_out(&app, id)?)).into_response())
}

async fn get_provider(State(app): State<Arc<App>>, Path(raw): Path<String>) -> Result<Json<Value>> {
    let id = resolve_provider(&app.store.state(), &raw)?;
    Ok(Json(provider_out(&app, id)?))
}

async fn write_provider(
    app: Arc<App>,
    raw: String,
    body: Bytes,
    replace: bool,
) -> Result<Json<Value>> {
    let input: ProviderIn = parse_json(&body)?;
    let id = app
        .store
        .write(move |s, k| {
            let id = resolve_provider(s, &raw)?;
            let cur = s
                .providers
                .get(&id)
                .ok_or_else(|| ApiError::not_found(format!("provider `{raw}` not found")))?;
            let base = if replace {
                let mut d = ProviderDraft::new(cur.name.clone());
                // Keys of endpoints at the same position are kept unless given.
                d.endpoints = ProviderDraft::from_record(cur).endpoints;
                d
            } else {
                ProviderDraft::from_record(cur)
            };
            apply_provider(s, Some(id), overlay_provider(base, input), k)
        })
        .await?;
    Ok(Json(provider_out(&app, id)?))
}

async fn put_provider(
    State(app): State<Arc<App>>,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Json<Value>> {
    write_provider(app, raw, body, true).await
}

async fn patch_provider(
    State(app): State<Arc<App>>,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Json<Value>> {
    write_provider(app, raw, body, false).await
}

async fn delete_provider(
    State(app): State<Arc<App>>,
    Path(raw): Path<String>,
) -> Result<StatusCode> {
    app.store
        .write(move |s, _| {
            let id = resolve_provider(s, &raw)?;
            remove_provider(s, id).map(|_| ())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Canonical JSON of a route.
pub fn route_json(s: &Config, r: &RouteRecord) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "strategy": r.strategy,
        "retries": r.retries,
        "enabled": r.enabled,
        "targets": r.targets.iter().map(|t| json!({
            "provider": s.providers.get(&t.provider_id).map(|p| p.name.as_str()),
            "provider_id": t.provider_id,
            "model": t.model,
            "weight": t.weight,
            "priority": t.priority,
        })).collect::<Vec<_>>(),
        "created_at": rfc3339(r.created_ms),
        "updated_at": rfc3339(r.updated_ms),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetIn {
    provider: Option<String>,
    provider_id: Option<u64>,
    model: Option<String>,
    weight: Option<u32>,
    priority: Option<i32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteIn {
    name: Option<String>,
    strategy: Option<String>,
    retries: Option<u32>,
    enabled: Option<bool>,
    targets: Option<Vec<TargetIn>>,
}

fn overlay_route(
    s: &Config,
    mut d: RouteDraft,
    i: RouteIn,
) -> std::result::Result<RouteDraft, ApiError> {
    if let Some(v) = i.name {
        d.name = v;
    }
    if let Some(v) = i.strategy {
        d.strategy = v;
    }
    if let Some(v) = i.retries {
        d.retries = v;
    }
    if let Some(v) = i.enabled {
        d.enabled = v;
    }
    if let Some(ts) = i.targets {
        let mut targets = Vec::with_capacity(ts.len());
        for (n, t) in ts.into_iter().enumerate() {
            let provider_id = match (t.provider_id, &t.provider) {
                (Some(id), _) => id,
                (None, Some(name)) => s.provider_by_name(name).map(|p| p.id).ok_or_else(|| {
                    ApiError::field(
                        format!("targets[{n}].provider"),
                        format!("unknown provider `{name}`"),
                    )
                })?,
                (None, None) => {
                    return Err(ApiError::field(
                        format!("targets[{n}].provider"),
                        "provider (name) or provider_id is required",
                    ))
                }
            };
            targets.push(TargetRecord {
                provider_id,
                model: t.model,
                weight: t.weight.unwrap_or(1),
                priority: t.priority.unwrap_or(0),
            });
        }
        d.targets = targets;
    }
    Ok(d)
}

async fn list_routes(State(app): State<Arc<App>>) -> Json<Value> {
    let s = app.store.state();
    Json(
        json!({"routes": s.routes.values().map(|r| route_json(&s, r)).collect::<Vec<_>>(), "version": s.version}),
    )
}

fn route_out(app: &App, id: u64) -> std::result::Result<Value, ApiError> {
    let s = app.store.state();
    s.routes
        .get(&id)
        .map(|r| route_json(&s, r))
        .ok_or_else(|| ApiError::not_found(format!("route {id} not found")))
}

async fn create_route(State(app): State<Arc<App>>, body: Bytes) -> Result<Response> {
    let input: RouteIn = parse_json(&body)?;
    if input.name.is_none() {
        return Err(ApiError::field("name", "is required").into());
    }
    let id = app
        .store
        .write(move |s, _| {
            let d = RouteDraft {
                name: String::new(),
                strategy: "round_robin".into(),
                retries: 2,
                enabled: true,
                targets: Vec::new(),
                seed002: None,
            };
            let d = overlay_route(s, d, input)?;
            apply_route(s, None, d)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(route_out(&app, id)?)).into_response())
}

async fn get_route(State(app): State<Arc<App>>, Path(raw): Path<String>) -> Result<Json<Value>> {
    let id = resolve_route(&app.store.state(), &raw)?;
    Ok(Json(route_out(&app, id)?))
}

async fn write_route(
    app: Arc<App>,
    raw: String,
    body: Bytes,
    replace: bool,
) -> Result<Json<Value>> {
    let input: RouteIn = parse_json(&body)?;
    let id = app
        .store
        .write(move |s, _| {
            let id = resolve_route(s, &raw)?;
            let cur = s
                .routes
                .get(&id)
                .ok_or_else(|| ApiError::not_found(format!("route `{raw}` not found")))?;
            let mut base = RouteDraft::from_record(cur);
            if replace {
                base.strategy = "round_robin".into();
                base.retries = 2;
                base.enabled = true;
                base.seed002 = None;
            }
            let d = overlay_route(s, base, input)?;
            apply_route(s, Some(id), d)
        })
        .await?;
    Ok(Json(route_out(&app, id)?))
}

async fn put_route(
    State(app): State<Arc<App>>,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Json<Value>> {
    write_route(app, raw, body, true).await
}

async fn patch_route(
    State(app): State<Arc<App>>,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Json<Value>> {
    write_route(app, raw, body, false).await
}

async fn delete_route(State(app): State<Arc<App>>, Path(raw): Path<String>) -> Result<StatusCode> {
    app.store
        .write(move |s, _| {
            let id = resolve_route(s, &raw)?;
            s.routes.remove(&id);
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn key_json(k: &ClientKeyRecord) -> Value {
    json!({
        "id": k.id,
        "name": k.name,
        "key_masked": k.masked,
        "sha256": k.sha256,
        "created_at": rfc3339(k.created_ms),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyIn {
    name: Option<String>,
}

async fn list_keys(State(app): State<Arc<App>>) -> Json<Value> {
    let s = app.store.state();
    Json(json!({"keys": s.keys.values().map(key_json).collect::<Vec<_>>()}))
}

async fn create_key(State(app): State<Arc<App>>, body: Bytes) -> Result<Response> {
    let input: KeyIn = if body.iter().all(u8::is_ascii_whitespace) {
        KeyIn::default()
    } else {
        parse_json(&body)?
    };
    let name = input.name.unwrap_or_else(|| "client-key".into());
    if name.is_empty() || name.len() > 200 {
        return Err(ApiError::field("name", "must be 1-200 characters").into());
    }
    let store = app.store.clone();
    let (id, plain) = tokio::task::spawn_blocking(move || store.add_client_key(name))
        .await
        .map_err(ApiError::internal)??;
    let s = app.store.state();
    let k = s
        .keys
        .get(&id)
        .ok_or_else(|| ApiError::internal("client key vanished after commit"))?;
    let mut out = key_json(k);
    if let Some(fields) = out.as_object_mut() {
        fields.insert("key".into(), json!(plain));
    }
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

async fn get_key(State(app): State<Arc<App>>, Path(raw): Path<String>) -> Result<Json<Value>> {
    let id = super::parse_id(&raw, "client key")?;
    let s = app.store.state();
    s.keys
        .get(&id)
        .map(|k| Json(key_json(k)))
        .ok_or_else(|| ApiError::not_found(format!("client key {id} not found")).into())
}

async fn delete_key(State(app): State<Arc<App>>, Path(raw): Path<String>) -> Result<StatusCode> {
    let id = super::parse_id(&raw, "client key")?;
    app.store
        .write(move |s, _| {
            s.keys
                .remove(&id)
                .map(|_| ())
                .ok_or_else(|| ApiError::not_found(format!("client key {id} not found")))
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn dataplanes(State(app): State<Arc<App>>) -> Json<Value> {
    let current = app.store.version();
    let nodes: Vec<Value> = app
        .dataplanes
        .list()
        .into_iter()
        .map(|n| {
            json!({
                "node_id": n.node_id,
                "connected": n.connected,
                "connected_since": rfc3339(n.connected_since_ms),
                "last_seen": rfc3339(n.last_seen_ms),
                "hello_version": n.hello_version,
                "sent_version": n.sent_version,
                "applied_version": n.applied_version,
                "in_sync": n.applied_version == current,
                "last_ack": n.last_ack_ms.map(rfc3339),
                "last_nack": n.last_nack.map(|x| json!({"version": x.version, "error": x.error, "at": rfc3339(x.at_ms)})),
                "health": n.health,
            })
        })
        .collect();
    Json(json!({"dataplanes": nodes, "config_version": current}))
}

async fn version(State(app): State<Arc<App>>) -> Json<Value> {
    let s = app.store.state();
    Json(json!({
        "version": s.version,
        "providers": s.providers.len(),
        "routes": s.routes.len(),
        "client_keys": s.keys.len(),
        "client_auth": app.store.client_auth().as_str(),
        "epoch": &*app.store.epoch(),
        "connected_dataplanes": app.dataplanes.connected(),
    }))
}
