//! The admin REST API (axum): every seed's surface plus the canonical `/v1/admin/*` API,
//! `/metrics`, `/healthz` and `/openapi.json`.
//!
//! All surfaces read and write the same canonical records through the store; each renders
//! errors in its own format ([`surface`]). Admin auth applies to every route except
//! `/healthz`, `/metrics` and `/openapi.json`.

pub mod auth;
pub mod canonical;
pub mod content_type;
pub mod host;
pub mod probe;
pub mod seed000;
pub mod seed001;
pub mod seed002;
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

use crate::error::ApiError;
use crate::App;
use surface::SurfaceKind;

/// The canonical API's OpenAPI 3 document.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// Builds the admin router over the shared state.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .merge(seed000::routes())
        .merge(seed001::routes())
        .merge(seed002::routes())
        .merge(canonical::routes())
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
        app.metrics
            .api_request(kind.index(), resp.status().as_u16());
        return resp;
    }
    let resp = next.run(req).await;
    app.metrics
        .api_request(kind.index(), resp.status().as_u16());
    resp
}

async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}

async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics
            .render(app.dataplanes.connected(), app.store.version()),
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

/// Parses a numeric path id; anything else is an unknown resource (404).
pub fn parse_id(raw: &str, what: &str) -> Result<u64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("{what} {raw} not found")))
}
