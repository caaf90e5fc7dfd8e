//! Seed 001 surface: `/admin/providers` (GET/POST/PATCH/DELETE), `/admin/health`,
//! `/admin/stats?hours=N`, `/admin/logs?page&page_size&status_code`, with seed 001's
//! error envelope. `timeout` is in seconds; `provider_id` is the numeric id.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::surface::{Failure, Seed001};
use super::{parse_id, parse_json};
use crate::clock::{now_ms, rfc3339};
use crate::error::ApiError;
use crate::store::draft::{apply_provider, remove_provider, ProviderDraft};
use crate::store::records::ProviderRecord;
use crate::App;

type Result<T> = std::result::Result<T, Failure<Seed001>>;

/// The seed 001 routes.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/admin/providers", get(list).post(create))
        .route(
            "/admin/providers/{provider_id}",
            patch(update).delete(delete).get(get_one),
        )
        .route("/admin/health", get(health))
        .route("/admin/stats", get(stats))
        .route("/admin/logs", get(logs))
}

fn provider_json(p: &ProviderRecord) -> Value {
    let ep = p.endpoints.first();
    json!({
        "id": p.id,
        "provider_id": p.id,
        "name": p.name,
        "type": p.kind,
        "base_url": ep.map(|e| e.base_url.as_str()).unwrap_or(""),
        "api_key": ep.map(|e| e.api_key_masked.as_str()).unwrap_or(""),
        "enabled": p.enabled,
        "priority": p.priority,
        "weight": p.weight,
        "timeout": p.timeout_ms as f64 / 1000.0,
        "models": p.models,
        "created_at": rfc3339(p.created_ms),
        "updated_at": rfc3339(p.updated_ms),
    })
}

#[derive(Debug, Deserialize)]
struct ProviderIn {
    name: Option<String>,
    #[serde(rename = "type", alias = "kind")]
    kind: Option<String>,
    base_url: Option<String>,
    api_key: Option<String>,
    enabled: Option<bool>,
    priority: Option<i32>,
    weight: Option<u32>,
    /// Seconds.
    timeout: Option<f64>,
    models: Option<Vec<String>>,
}

fn rename(field: &str) -> String {
    match field {
        "endpoints[0].base_url" | "endpoints" => "base_url".into(),
        "endpoints[0].api_key" => "api_key".into(),
        "kind" => "type".into(),
        "timeout_ms" => "timeout".into(),
        other => other.to_string(),
    }
}

fn overlay(
    mut d: ProviderDraft,
    input: ProviderIn,
) -> std::result::Result<ProviderDraft, ApiError> {
    if let Some(n) = input.name {
        d.name = n;
    }
    if input.kind.is_some() {
        d.kind = input.kind;
    }
    d.set_primary_endpoint(input.base_url, input.api_key);
    if let Some(e) = input.enabled {
        d.enabled = e;
    }
    if let Some(p) = input.priority {
        d.priority = p;
    }
    if let Some(w) = input.weight {
        d.weight = w;
    }
    if let Some(t) = input.timeout {
        if !(t.is_finite() && t > 0.0 && t <= 3600.0) {
            return Err(ApiError::field(
                "timeout",
                "must be between 0 and 3600 seconds",
            ));
        }
        d.timeout_ms = ((t * 1000.0).round() as u64).max(1);
    }
    if let Some(m) = input.models {
        d.models = m;
    }
    Ok(d)
}

async fn list(State(app): State<Arc<App>>) -> Json<Value> {
    let s = app.store.state();
    Json(Value::Array(
        s.providers.values().map(provider_json).collect(),
    ))
}

fn by_id(app: &App, id: u64) -> std::result::Result<Value, ApiError> {
    app.store
        .state()
        .providers
        .get(&id)
        .map(provider_json)
        .ok_or_else(|| ApiError::not_found(format!("provider {id} not found")))
}

async fn get_one(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Json<Value>> {
    let id = parse_id(&id, "provider")?;
    Ok(Json(by_id(&app, id)?))
}

async fn create(State(app): State<Arc<App>>, body: Bytes) -> Result<Response> {
    let input: ProviderIn = parse_json(&body)?;
    if input.name.as_deref().unwrap_or("").is_empty() {
        return Err(ApiError::field("name", "is required").into());
    }
    if input.base_url.is_none() && input.kind.as_deref() != Some("echo") {
        return Err(ApiError::field("base_url", "is required").into());
    }
    let id = app
        .store
        .write(move |s, k| {
            let d = overlay(ProviderDraft::new(String::new()), input)?;
            apply_provider(s, None, d, k)
        })
        .await
        .map_err(|e| e.rename_fields(rename))?;
    Ok((StatusCode::CREATED, Json(by_id(&app, id)?)).into_response())
}

async fn update(
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
                .ok_or_else(|| ApiError::not_found(format!("provider {id} not found")))?;
            let d = overlay(ProviderDraft::from_record(cur), input)?;
            apply_provider(s, Some(id), d, k)
        })
        .await
        .map_err(|e| e.rename_fields(rename))?;
    Ok(Json(by_id(&app, id)?))
}

async fn delete(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Json<Value>> {
    let id = parse_id(&id, "provider")?;
    app.store
        .write(move |s, _| remove_provider(s, id).map(|_| ()))
        .await?;
    Ok(Json(
        json!({"message": "Provider deleted successfully", "provider_id": id}),
    ))
}

async fn health(State(app): State<Arc<App>>) -> Json<Value> {
    let s = app.store.state();
    let h = app.dataplanes.provider_health();
    let providers: Vec<Value> = s
        .providers
        .values()
        .map(|p| {
            let ph = h.get(&p.name);
            json!({
                "provider_id": p.id,
                "provider_name": p.name,
                "is_healthy": p.enabled && ph.is_some_and(|x| x.healthy),
                "response_time_ms": ph.map_or(0.0, |x| (x.response_time_ms * 100.0).round() / 100.0),
                "consecutive_failures": ph.map_or(0, |x| x.consecutive_failures),
                "success_rate": ph.map_or(0.0, |x| (x.success_rate * 100.0).round() / 100.0),
                "reported": ph.is_some(),
            })
        })
        .collect();
    let any_enabled = s.providers.values().any(|p| p.enabled);
    let healthy = s
        .providers
        .values()
        .any(|p| p.enabled && h.get(&p.name).is_some_and(|x| x.healthy));
    let status = if !any_enabled || healthy {
        "healthy"
    } else {
        "degraded"
    };
    let db_ok = app.store.db().size_on_disk().is_ok();
    Json(json!({
        "status": status,
        "timestamp": rfc3339(now_ms()),
        "providers": providers,
        "database_status": if db_ok { "healthy" } else { "unhealthy" },
        "cache_status": "healthy",
        "connected_dataplanes": app.dataplanes.connected(),
        "config_version": s.version,
    }))
}

fn query_u64(
    q: &HashMap<String, String>,
    key: &str,
    default: u64,
    max: u64,
) -> std::result::Result<u64, ApiError> {
    match q.get(key) {
        None => Ok(default),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::field(
                key.to_string(),
                format!("must be an integer between 1 and {max}"),
            )),
        },
    }
}

#[derive(Default)]
struct Agg {
    total: u64,
    ok: u64,
    latency_sum: u64,
    tokens: u64,
}

impl Agg {
    fn add(&mut self, status: u32, latency: u64, tokens: u64) {
        self.total += 1;
        if (200..400).contains(&status) {
            self.ok += 1;
        }
        self.latency_sum += latency;
        self.tokens += tokens;
    }
    fn rate(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            (10_000.0 * self.ok as f64 / self.total as f64).round() / 100.0
        }
    }
    fn avg(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            (100.0 * self.latency_sum as f64 / self.total as f64).round() / 100.0
        }
    }
}

async fn stats(
    State(app): State<Arc<App>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>> {
    let hours = query_u64(&q, "hours", 24, 24 * 7)?;
    let since = now_ms().saturating_sub(hours * 3_600_000);
    let app2 = app.clone();
    let entries = tokio::task::spawn_blocking(move || app2.usage.since(since))
        .await
        .map_err(ApiError::internal)?;
    let s = app.store.state();
    let mut all = Agg::default();
    let mut per: std::collections::BTreeMap<String, Agg> = Default::default();
    for e in &entries {
        let tokens = e.prompt_tokens + e.completion_tokens;
        all.add(e.status, e.latency_ms, tokens);
        per.entry(e.provider.clone())
            .or_default()
            .add(e.status, e.latency_ms, tokens);
    }
    let providers: Vec<Value> = per
        .iter()
        .map(|(name, a)| {
            json!({
                "provider_id": s.provider_by_name(name).map(|p| p.id),
                "provider_name": name,
                "total_requests": a.total,
                "successful_requests": a.ok,
                "failed_requests": a.total - a.ok,
                "success_rate": a.rate(),
                "avg_response_time_ms": a.avg(),
                "total_tokens": a.tokens,
                "total_cost": 0.0,
            })
        })
        .collect();
    Ok(Json(json!({
        "total_requests": all.total,
        "successful_requests": all.ok,
        "failed_requests": all.total - all.ok,
        "success_rate": all.rate(),
        "avg_response_time_ms": all.avg(),
        "providers": providers,
        "hours": hours,
        "timestamp": rfc3339(now_ms()),
    })))
}

async fn logs(
    State(app): State<Arc<App>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>> {
    let page = query_u64(&q, "page", 1, u64::from(u32::MAX))?;
    let page_size = query_u64(&q, "page_size", 50, 1000)?;
    let status: Option<u32> = match q.get("status_code") {
        None => None,
        Some(v) => Some(
            v.parse()
                .map_err(|_| ApiError::field("status_code", "must be an HTTP status code"))?,
        ),
    };
    let app2 = app.clone();
    let mut entries = tokio::task::spawn_blocking(move || app2.usage.since(0))
        .await
        .map_err(ApiError::internal)?;
    entries.retain(|e| status.is_none_or(|s| e.status == s));
    entries.reverse();
    let total = entries.len();
    let s = app.store.state();
    let start = ((page - 1) * page_size) as usize;
    let logs: Vec<Value> = entries
        .iter()
        .skip(start)
        .take(page_size as usize)
        .map(|e| {
            json!({
                "id": e.id,
                "request_id": e.request_id,
                "timestamp": rfc3339(e.unix_ms),
                "node_id": e.node_id,
                "route": e.route,
                "provider_id": s.provider_by_name(&e.provider).map(|p| p.id),
                "provider_name": e.provider,
                "model": e.model,
                "status_code": e.status,
                "response_time_ms": e.latency_ms,
                "ttft_ms": e.ttft_ms,
                "prompt_tokens": e.prompt_tokens,
                "completion_tokens": e.completion_tokens,
                "total_tokens": e.prompt_tokens + e.completion_tokens,
                "attempts": e.attempts,
                "stream": e.stream,
            })
        })
        .collect();
    Ok(Json(json!({
        "logs": logs,
        "total": total,
        "page": page,
        "page_size": page_size,
        "total_pages": total.div_ceil(page_size as usize),
    })))
}
