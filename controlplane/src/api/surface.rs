//! Error formats, one per surface:
//! - seed 000 (`/api/llm/*`): `{"error": "..."}`
//! - seed 001 (`/admin/*`): `{"error":{"code","message","details"},"timestamp","request_id"}`
//! - seed 002 (`/api/*`, FastAPI style): `{"detail": "..."}`, and for invalid fields
//!   `{"detail":[{"loc":["body",field],"msg","type":"value_error"}]}`
//! - canonical (`/v1/*`): the seed 001 envelope plus OpenAI's `type` and `param`.

use std::marker::PhantomData;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::clock::{now_ms, rfc3339};
use crate::error::{ApiError, ErrorKind};

/// Which surface a path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurfaceKind {
    /// `/api/llm/*`.
    Seed000,
    /// `/admin/*`.
    Seed001,
    /// `/api/*` other than `/api/llm/*`.
    Seed002,
    /// `/v1/*`.
    Canonical,
    /// `/healthz`, `/metrics`, `/openapi.json`: no auth.
    Open,
}

impl SurfaceKind {
    /// Classifies a request path.
    pub fn of_path(path: &str) -> Self {
        if path.starts_with("/api/llm/") || path == "/api/llm" {
            Self::Seed000
        } else if path.starts_with("/admin/") || path == "/admin" {
            Self::Seed001
        } else if path.starts_with("/api/") {
            Self::Seed002
        } else if path.starts_with("/v1/") {
            Self::Canonical
        } else {
            Self::Open
        }
    }

    /// Index into `metrics::SURFACES`.
    pub fn index(self) -> usize {
        match self {
            Self::Seed000 => 0,
            Self::Seed001 => 1,
            Self::Seed002 => 2,
            Self::Canonical => 3,
            Self::Open => 4,
        }
    }

    /// Renders `err` in this surface's format.
    pub fn render(self, err: &ApiError) -> Response {
        let status =
            StatusCode::from_u16(err.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = match self {
            Self::Seed000 | Self::Open => json!({"error": err.message}),
            Self::Seed001 => envelope(err, false),
            Self::Canonical => envelope(err, true),
            Self::Seed002 => {
                if err.fields.is_empty() {
                    json!({"detail": err.message})
                } else {
                    json!({"detail": err.fields.iter().map(|f| json!({
                        "loc": ["body", f.field],
                        "msg": f.message,
                        "type": "value_error",
                    })).collect::<Vec<_>>()})
                }
            }
        };
        (status, Json(body)).into_response()
    }
}

fn request_id() -> String {
    let bytes: [u8; 8] = rand::random();
    format!(
        "req_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn envelope(err: &ApiError, openai: bool) -> Value {
    let rid = request_id();
    let mut details = serde_json::Map::new();
    details.insert("request_id".into(), json!(rid));
    if !err.fields.is_empty() {
        details.insert(
            "fields".into(),
            json!(err
                .fields
                .iter()
                .map(|f| json!({"field": f.field, "message": f.message}))
                .collect::<Vec<_>>()),
        );
    }
    let mut error = serde_json::Map::new();
    error.insert("code".into(), json!(err.kind.code()));
    error.insert("message".into(), json!(err.message));
    error.insert("details".into(), Value::Object(details));
    if openai {
        let kind = match err.kind {
            ErrorKind::BadRequest
            | ErrorKind::Conflict
            | ErrorKind::NotFound
            | ErrorKind::UnsupportedMediaType => "invalid_request_error",
            ErrorKind::Unauthorized => "authentication_error",
            ErrorKind::Forbidden => "permission_error",
            ErrorKind::Internal => "api_error",
        };
        error.insert("type".into(), json!(kind));
        error.insert(
            "param".into(),
            err.fields.first().map_or(Value::Null, |f| json!(f.field)),
        );
    }
    json!({"error": error, "timestamp": rfc3339(now_ms()), "request_id": rid})
}

/// A surface marker type.
pub trait Surface {
    /// The surface.
    const KIND: SurfaceKind;
}

/// Seed 000 marker.
#[derive(Debug)]
pub struct Seed000;
impl Surface for Seed000 {
    const KIND: SurfaceKind = SurfaceKind::Seed000;
}
/// Seed 001 marker.
#[derive(Debug)]
pub struct Seed001;
impl Surface for Seed001 {
    const KIND: SurfaceKind = SurfaceKind::Seed001;
}
/// Seed 002 marker.
#[derive(Debug)]
pub struct Seed002;
impl Surface for Seed002 {
    const KIND: SurfaceKind = SurfaceKind::Seed002;
}
/// Canonical API marker.
#[derive(Debug)]
pub struct Canonical;
impl Surface for Canonical {
    const KIND: SurfaceKind = SurfaceKind::Canonical;
}

/// An [`ApiError`] answered in surface `S`'s format.
#[derive(Debug)]
pub struct Failure<S: Surface>(pub ApiError, PhantomData<S>);

impl<S: Surface> From<ApiError> for Failure<S> {
    fn from(e: ApiError) -> Self {
        Self(e, PhantomData)
    }
}

impl<S: Surface> IntoResponse for Failure<S> {
    fn into_response(self) -> Response {
        S::KIND.render(&self.0)
    }
}
