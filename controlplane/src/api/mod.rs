//! The admin REST API (axum): the provider-management API (`/api/providers`,
//! `/api/model-routes`), the LLM-backend API (`/api/llm/*`), the orchestrator API
//! (`/admin/*`) and the canonical admin API (`/v1/admin/*`), plus `/metrics`, `/healthz`
//! and `/openapi.json`.
//!
//! Every surface is a thin adapter over [`crate::service`]: its own paths, its own typed
//! request and response bodies (converted from and into the canonical records), and its
//! own error format ([`surface`]). The handlers carry their OpenAPI description
//! ([`openapi`]), so the document and the router come from the same code. Admin auth
//! applies to every route except `/healthz`, `/metrics` and `/openapi.json`.

pub mod auth;
pub mod canonical;
pub mod content_type;
pub mod host;
pub mod llm_backends;
pub mod openapi;
pub mod orchestrator;
pub mod probe;
pub mod provider_management;
pub mod select;
pub mod surface;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::de::DeserializeOwned;
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::App;
use surface::SurfaceKind;

/// The OpenAPI 3 document of every surface, as committed (a test keeps it identical to
/// what [`openapi::document`] generates).
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// Every surface's routes with their OpenAPI description.
pub fn surfaces() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::with_openapi(openapi::base())
        .merge(llm_backends::routes())
        .merge(orchestrator::routes())
        .merge(provider_management::routes())
        .merge(canonical::routes())
}

/// Builds the admin router over the shared state.
pub fn router(app: Arc<App>) -> Router {
    let (surfaces, _) = surfaces().split_for_parts();
    surfaces
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), admin_layer))
        .with_state(app)
}

/// Host allow-list (token-less admin API), auth, `Content-Type` of writes (each answered in
/// the surface's error format) and request counting.
async fn admin_layer(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let kind = SurfaceKind::of_path(req.uri().path());
    let refused = if app.admin_token.is_none() {
        app.allowed_hosts
            .check(req.method(), req.uri(), req.headers())
            .err()
    } else {
        None
    }
    .or_else(|| {
        (kind != SurfaceKind::Open && !auth::authorized(app.admin_token.as_deref(), req.headers()))
            .then(ApiError::unauthorized)
    })
    .or_else(|| {
        (kind != SurfaceKind::Open)
            .then(|| content_type::check(req.method(), req.headers()).err())
            .flatten()
    });
    if let Some(err) = refused {
        let resp = kind.render(&err);
        app.metrics.api_request(kind, resp.status().as_u16());
        return resp;
    }
    let resp = next.run(req).await;
    app.metrics.api_request(kind, resp.status().as_u16());
    resp
}

async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}

async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(
            app.dataplanes.connected(),
            app.store.version(),
            &crate::metrics::BudgetGauges::of(&app.store.state(), crate::clock::now_ms()),
        ),
    )
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON)
}

async fn not_found(req: Request) -> Response {
    let kind = SurfaceKind::of_path(req.uri().path());
    let err = ApiError::not_found(format!(
        "no such endpoint: {} {}",
        req.method(),
        req.uri().path()
    ));
    match kind {
        SurfaceKind::Open => (StatusCode::NOT_FOUND, err.message).into_response(),
        k => k.render(&err),
    }
}

/// Parses a JSON body; errors name the offending field (`configs[0].base_url`).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("request body must be a JSON object"));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." {
            let msg = inner.to_string();
            // serde names a missing field in the message only.
            match msg
                .strip_prefix("missing field `")
                .and_then(|r| r.split_once('`'))
            {
                Some((field, _)) => ApiError::field(field.to_string(), "field required"),
                None => ApiError::bad_request(format!("invalid JSON body: {msg}")),
            }
        } else {
            ApiError::field(path, inner.to_string())
        }
    })
}

/// [`parse_json`] for endpoints whose body is optional: an empty body is `T::default()`.
pub fn parse_optional_json<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        parse_json(body)
    }
}

/// Parses a numeric path id; anything else is an unknown resource (404).
pub fn parse_id(raw: &str, what: &str) -> Result<u64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("{what} {raw} not found")))
}
