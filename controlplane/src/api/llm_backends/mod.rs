//! The LLM-backend API: `/api/llm/types`, `/api/llm/backends` CRUD, `/enable`,
//! `/disable`, over the canonical providers (see [`types`] for the mapping).
//! `is_available` comes from live data-plane health. Errors: `{"error": "..."}`.

pub mod types;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use sluice_model::ProviderKind;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::parse_json;
use super::surface::{Failure, LlmBackends, MessageError};
use crate::error::ApiError;
use crate::service::providers::{self, ProviderRef};
use crate::service::WriteMode;
use crate::App;
use types::{
    field_name, Backend, BackendEnvelope, BackendInput, BackendList, BackendTypes, Message,
};

/// OpenAPI tag of this surface.
pub const TAG: &str = "llm-backends";

type Result<T> = std::result::Result<T, Failure<LlmBackends>>;

/// The LLM-backend routes, each documented.
pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(list_types))
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(enable))
        .routes(routes!(disable))
}

/// A 404 in this API's words.
fn backend_not_found(id: &str) -> impl FnOnce() -> String + '_ {
    move || format!("backend `{id}` not found")
}

/// The backend named `name`, as it is now.
fn envelope(app: &App, name: &str) -> std::result::Result<BackendEnvelope, ApiError> {
    let p = providers::get(&app.store, &ProviderRef::Name(name.to_string()))
        .map_err(|e| e.not_found_as(backend_not_found(name)))?;
    Ok(BackendEnvelope {
        backend: Backend::new(&p, &app.dataplanes.provider_health()),
    })
}

/// The adapters a backend can use.
#[utoipa::path(get, path = "/api/llm/types", tag = TAG,
    responses(
        (status = 200, description = "Provider kinds", body = BackendTypes),
        (status = 401, description = "No or wrong admin token", body = MessageError),
    ))]
async fn list_types() -> Json<BackendTypes> {
    Json(BackendTypes {
        types: ProviderKind::NAMES.to_vec(),
    })
}

/// Every backend.
#[utoipa::path(get, path = "/api/llm/backends", tag = TAG,
    responses(
        (status = 200, description = "Every backend (keys masked)", body = BackendList),
        (status = 401, description = "No or wrong admin token", body = MessageError),
    ))]
async fn list(State(app): State<Arc<App>>) -> Json<BackendList> {
    let health = app.dataplanes.provider_health();
    Json(BackendList {
        backends: providers::list(&app.store)
            .iter()
            .map(|p| Backend::new(p, &health))
            .collect(),
    })
}

/// One backend.
#[utoipa::path(get, path = "/api/llm/backends/{backend_id}", tag = TAG,
    params(("backend_id" = String, Path, description = "Backend id")),
    responses(
        (status = 200, description = "The backend", body = BackendEnvelope),
        (status = 401, description = "No or wrong admin token", body = MessageError),
        (status = 404, description = "No such backend", body = MessageError),
    ))]
async fn get_one(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<BackendEnvelope>> {
    Ok(Json(envelope(&app, &id)?))
}

/// Creates a backend.
#[utoipa::path(post, path = "/api/llm/backends", tag = TAG, request_body = BackendInput,
    responses(
        (status = 200, description = "Created", body = BackendEnvelope),
        (status = 400, description = "Invalid field", body = MessageError),
        (status = 401, description = "No or wrong admin token", body = MessageError),
        (status = 409, description = "Id taken", body = MessageError),
        (status = 415, description = "Body not declared as JSON", body = MessageError),
    ))]
async fn create(State(app): State<Arc<App>>, body: Bytes) -> Result<Json<BackendEnvelope>> {
    let input: BackendInput = parse_json(&body).map_err(|e| e.rename_fields(field_name))?;
    if input.backend_id.is_none() {
        return Err(ApiError::field("backend_id", "is required").into());
    }
    if input.adapter.as_deref().unwrap_or("").is_empty() {
        return Err(ApiError::field("adapter", "is required").into());
    }
    if input.configs.as_ref().is_none_or(Vec::is_empty) {
        return Err(
            ApiError::field("configs", "at least one {api_key, base_url} is required").into(),
        );
    }
    let p = providers::create(&app.store, input.into())
        .await
        .map_err(|e| e.rename_fields(field_name))?;
    Ok(Json(BackendEnvelope {
        backend: Backend::new(&p, &app.dataplanes.provider_health()),
    }))
}

/// Updates the fields given.
#[utoipa::path(put, path = "/api/llm/backends/{backend_id}", tag = TAG, request_body = BackendInput,
    params(("backend_id" = String, Path, description = "Backend id")),
    responses(
        (status = 200, description = "Updated", body = BackendEnvelope),
        (status = 400, description = "Invalid field", body = MessageError),
        (status = 401, description = "No or wrong admin token", body = MessageError),
        (status = 404, description = "No such backend", body = MessageError),
        (status = 409, description = "Id taken", body = MessageError),
        (status = 415, description = "Body not declared as JSON", body = MessageError),
    ))]
async fn update(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<BackendEnvelope>> {
    let input: BackendInput = parse_json(&body).map_err(|e| e.rename_fields(field_name))?;
    let p = providers::update(
        &app.store,
        ProviderRef::Name(id.clone()),
        WriteMode::Merge,
        input.into(),
    )
    .await
    .map_err(|e| {
        e.not_found_as(backend_not_found(&id))
            .rename_fields(field_name)
    })?;
    Ok(Json(BackendEnvelope {
        backend: Backend::new(&p, &app.dataplanes.provider_health()),
    }))
}

/// Deletes a backend no route targets.
#[utoipa::path(delete, path = "/api/llm/backends/{backend_id}", tag = TAG,
    params(("backend_id" = String, Path, description = "Backend id")),
    responses(
        (status = 200, description = "Deleted", body = Message),
        (status = 401, description = "No or wrong admin token", body = MessageError),
        (status = 404, description = "No such backend", body = MessageError),
        (status = 409, description = "A route still targets it", body = MessageError),
    ))]
async fn delete(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Json<Message>> {
    providers::delete(&app.store, ProviderRef::Name(id.clone()))
        .await
        .map_err(|e| e.not_found_as(backend_not_found(&id)))?;
    Ok(Json(Message {
        message: "Backend deleted successfully",
    }))
}

/// Enables a backend.
#[utoipa::path(post, path = "/api/llm/backends/{backend_id}/enable", tag = TAG,
    params(("backend_id" = String, Path, description = "Backend id")),
    responses(
        (status = 200, description = "Enabled", body = Message),
        (status = 401, description = "No or wrong admin token", body = MessageError),
        (status = 404, description = "No such backend", body = MessageError),
    ))]
async fn enable(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Json<Message>> {
    set_enabled(&app, id, true).await?;
    Ok(Json(Message {
        message: "Backend enabled successfully",
    }))
}

/// Disables a backend.
#[utoipa::path(post, path = "/api/llm/backends/{backend_id}/disable", tag = TAG,
    params(("backend_id" = String, Path, description = "Backend id")),
    responses(
        (status = 200, description = "Disabled", body = Message),
        (status = 401, description = "No or wrong admin token", body = MessageError),
        (status = 404, description = "No such backend", body = MessageError),
    ))]
async fn disable(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Json<Message>> {
    set_enabled(&app, id, false).await?;
    Ok(Json(Message {
        message: "Backend disabled successfully",
    }))
}

async fn set_enabled(app: &App, id: String, enabled: bool) -> Result<()> {
    providers::set_enabled(&app.store, ProviderRef::Name(id.clone()), enabled)
        .await
        .map_err(|e| e.not_found_as(backend_not_found(&id)))?;
    Ok(())
}
