//! The orchestrator API: `/admin/providers` (GET/POST/PATCH/DELETE), `/admin/health`,
//! `/admin/stats?hours=N`, `/admin/logs?page&page_size&status_code`, over the canonical
//! providers and the usage records (see [`types`] for the mapping). Errors: the envelope
//! `{"error":{"code","message","details"},"timestamp","request_id"}`.

pub mod types;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::surface::{ErrorEnvelope, Failure, Orchestrator};
use super::{parse_id, parse_json};
use crate::error::ApiError;
use crate::service::providers::{self, ProviderPatch, ProviderRef};
use crate::service::stats::LogQuery;
use crate::service::{health, stats, WriteMode};
use crate::App;
use types::{field_name, Health, Logs, Provider, ProviderDeleted, ProviderInput, Stats};

/// OpenAPI tag of this surface.
pub const TAG: &str = "orchestrator";

/// Longest `/admin/stats` window, in hours (the usage log keeps a week).
const MAX_HOURS: u64 = 24 * 7;
/// Largest `/admin/logs` page.
const MAX_PAGE_SIZE: u64 = 1000;

type Result<T> = std::result::Result<T, Failure<Orchestrator>>;

/// The orchestrator routes, each documented.
pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(health_status))
        .routes(routes!(usage_stats))
        .routes(routes!(request_logs))
}

/// Every provider.
#[utoipa::path(get, path = "/admin/providers", tag = TAG,
    responses(
        (status = 200, description = "Every provider (keys masked)", body = Vec<Provider>),
        (status = 401, description = "No or wrong admin token", body = ErrorEnvelope),
    ))]
async fn list(State(app): State<Arc<App>>) -> Json<Vec<Provider>> {
    Json(
        providers::list(&app.store)
            .iter()
            .map(Provider::from)
            .collect(),
    )
}

/// One provider.
#[utoipa::path(get, path = "/admin/providers/{provider_id}", tag = TAG,
    params(("provider_id" = u64, Path, description = "Numeric id")),
    responses(
        (status = 200, description = "The provider", body = Provider),
        (status = 401, description = "No or wrong admin token", body = ErrorEnvelope),
        (status = 404, description = "No such provider", body = ErrorEnvelope),
    ))]
async fn get_one(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Json<Provider>> {
    let id = parse_id(&id, "provider")?;
    let p = providers::get(&app.store, &ProviderRef::Id(id))?;
    Ok(Json(Provider::from(&p)))
}

/// Creates a provider.
#[utoipa::path(post, path = "/admin/providers", tag = TAG, request_body = ProviderInput,
    responses(
        (status = 201, description = "Created", body = Provider),
        (status = 400, description = "Invalid field (`error.details.fields` names it)", body = ErrorEnvelope),
        (status = 401, description = "No or wrong admin token", body = ErrorEnvelope),
        (status = 409, description = "Name taken", body = ErrorEnvelope),
        (status = 415, description = "Body not declared as JSON", body = ErrorEnvelope),
    ))]
async fn create(State(app): State<Arc<App>>, body: Bytes) -> Result<(StatusCode, Json<Provider>)> {
    let input: ProviderInput = parse_json(&body)?;
    if input.name.as_deref().unwrap_or("").is_empty() {
        return Err(ApiError::field("name", "is required").into());
    }
    if input.base_url.is_none() && input.kind.as_deref() != Some("echo") {
        return Err(ApiError::field("base_url", "is required").into());
    }
    let patch = ProviderPatch::try_from(input)?;
    let p = providers::create(&app.store, patch)
        .await
        .map_err(|e| e.rename_fields(field_name))?;
    Ok((StatusCode::CREATED, Json(Provider::from(&p))))
}

/// Changes the fields given.
#[utoipa::path(patch, path = "/admin/providers/{provider_id}", tag = TAG, request_body = ProviderInput,
    params(("provider_id" = u64, Path, description = "Numeric id")),
    responses(
        (status = 200, description = "Changed", body = Provider),
        (status = 400, description = "Invalid field", body = ErrorEnvelope),
        (status = 401, description = "No or wrong admin token", body = ErrorEnvelope),
        (status = 404, description = "No such provider", body = ErrorEnvelope),
        (status = 409, description = "Name taken", body = ErrorEnvelope),
        (status = 415, description = "Body not declared as JSON", body = ErrorEnvelope),
    ))]
async fn update(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Provider>> {
    let id = parse_id(&id, "provider")?;
    let input: ProviderInput = parse_json(&body)?;
    let patch = ProviderPatch::try_from(input)?;
    let p = providers::update(&app.store, ProviderRef::Id(id), WriteMode::Merge, patch)
        .await
        .map_err(|e| e.rename_fields(field_name))?;
    Ok(Json(Provider::from(&p)))
}

/// Deletes a provider no route targets.
#[utoipa::path(delete, path = "/admin/providers/{provider_id}", tag = TAG,
    params(("provider_id" = u64, Path, description = "Numeric id")),
    responses(
        (status = 200, description = "Deleted", body = ProviderDeleted),
        (status = 401, description = "No or wrong admin token", body = ErrorEnvelope),
        (status = 404, description = "No such provider", body = ErrorEnvelope),
        (status = 409, description = "A route still targets it", body = ErrorEnvelope),
    ))]
async fn delete(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<ProviderDeleted>> {
    let id = parse_id(&id, "provider")?;
    providers::delete(&app.store, ProviderRef::Id(id)).await?;
    Ok(Json(ProviderDeleted {
        message: "Provider deleted successfully",
        provider_id: id,
    }))
}

/// Health of every provider (from data-plane reports) and of the control plane.
#[utoipa::path(get, path = "/admin/health", tag = TAG,
    responses(
        (status = 200, description = "Health", body = Health),
        (status = 401, description = "No or wrong admin token", body = ErrorEnvelope),
    ))]
async fn health_status(State(app): State<Arc<App>>) -> Json<Health> {
    Json(health::report(&app).into())
}

/// Request totals over the last `hours` hours.
#[utoipa::path(get, path = "/admin/stats", tag = TAG,
    params(("hours" = Option<u64>, Query, description = "Window, 1-168 (default 24)")),
    responses(
        (status = 200, description = "Totals", body = Stats),
        (status = 400, description = "Invalid query parameter", body = ErrorEnvelope),
        (status = 401, description = "No or wrong admin token", body = ErrorEnvelope),
    ))]
async fn usage_stats(
    State(app): State<Arc<App>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Stats>> {
    let hours = query_u64(&q, "hours", 24, MAX_HOURS)?;
    Ok(Json(stats::stats(&app, hours).await?.into()))
}

/// The request log, newest first.
#[utoipa::path(get, path = "/admin/logs", tag = TAG,
    params(
        ("page" = Option<u64>, Query, description = "1-based page (default 1)"),
        ("page_size" = Option<u64>, Query, description = "Records per page, 1-1000 (default 50)"),
        ("status_code" = Option<u32>, Query, description = "Only requests answered with this status"),
    ),
    responses(
        (status = 200, description = "One page", body = Logs),
        (status = 400, description = "Invalid query parameter", body = ErrorEnvelope),
        (status = 401, description = "No or wrong admin token", body = ErrorEnvelope),
    ))]
async fn request_logs(
    State(app): State<Arc<App>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Logs>> {
    let page = query_u64(&q, "page", 1, u64::from(u32::MAX))?;
    let page_size = query_u64(&q, "page_size", 50, MAX_PAGE_SIZE)?;
    let status = match q.get("status_code") {
        None => None,
        Some(v) => Some(
            v.parse()
                .map_err(|_| ApiError::field("status_code", "must be an HTTP status code"))?,
        ),
    };
    let query = LogQuery {
        page,
        page_size,
        status,
    };
    Ok(Json(stats::logs(&app, query).await?.into()))
}

/// An integer query parameter in `1..=max`, `default` when absent.
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
