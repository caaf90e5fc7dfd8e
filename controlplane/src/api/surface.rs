//! The admin API surfaces and their error formats, one per surface:
//! - LLM-backend API (`/api/llm/*`): `{"error": "..."}` ([`MessageError`])
//! - orchestrator API (`/admin/*`): `{"error":{"code","message","details"},"timestamp",
//!   "request_id"}` ([`ErrorEnvelope`])
//! - provider-management API (other `/api/*`, FastAPI style): `{"detail": "..."}`, and for
//!   invalid fields `{"detail":[{"loc":["body",field],"msg","type":"value_error"}]}`
//!   ([`DetailError`])
//! - canonical admin API (`/v1/*`): the orchestrator envelope plus OpenAI's `type` and
//!   `param` ([`OpenAiErrorEnvelope`]), so OpenAI SDKs parse it.

use std::marker::PhantomData;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::{now_ms, rfc3339};
use crate::error::{ApiError, ErrorKind};

/// Which surface a path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurfaceKind {
    /// The LLM-backend API, `/api/llm/*`.
    LlmBackends,
    /// The orchestrator API, `/admin/*`.
    Orchestrator,
    /// The provider-management API, `/api/*` other than `/api/llm/*`.
    ProviderManagement,
    /// The canonical admin API, `/v1/*`.
    Canonical,
    /// `/healthz`, `/metrics`, `/openapi.json`: no auth.
    Open,
}

impl SurfaceKind {
    /// Every surface, in [`Self::index`] order.
    pub const ALL: [Self; 5] = [
        Self::LlmBackends,
        Self::Orchestrator,
        Self::ProviderManagement,
        Self::Canonical,
        Self::Open,
    ];

    /// Classifies a request path.
    pub fn of_path(path: &str) -> Self {
        if path.starts_with("/api/llm/") || path == "/api/llm" {
            Self::LlmBackends
        } else if path.starts_with("/admin/") || path == "/admin" {
            Self::Orchestrator
        } else if path.starts_with("/api/") {
            Self::ProviderManagement
        } else if path.starts_with("/v1/") {
            Self::Canonical
        } else {
            Self::Open
        }
    }

    /// Position in [`Self::ALL`] (the metrics' row).
    pub fn index(self) -> usize {
        match self {
            Self::LlmBackends => 0,
            Self::Orchestrator => 1,
            Self::ProviderManagement => 2,
            Self::Canonical => 3,
            Self::Open => 4,
        }
    }

    /// The `surface` label of the API request metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::LlmBackends => "llm_backends",
            Self::Orchestrator => "orchestrator",
            Self::ProviderManagement => "provider_management",
            Self::Canonical => "canonical",
            Self::Open => "other",
        }
    }

    /// Renders `err` in this surface's format.
    pub fn render(self, err: &ApiError) -> Response {
        let status =
            StatusCode::from_u16(err.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match self {
            Self::LlmBackends | Self::Open => {
                (status, Json(MessageError::from(err))).into_response()
            }
            Self::Orchestrator => (status, Json(ErrorEnvelope::from(err))).into_response(),
            Self::Canonical => (status, Json(OpenAiErrorEnvelope::from(err))).into_response(),
            Self::ProviderManagement => (status, Json(DetailError::from(err))).into_response(),
        }
    }
}

/// The LLM-backend API's error body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageError {
    /// What went wrong.
    pub error: String,
}

impl From<&ApiError> for MessageError {
    fn from(err: &ApiError) -> Self {
        Self {
            error: err.message.clone(),
        }
    }
}

/// The provider-management API's error body (FastAPI's shape).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DetailError {
    /// A message, or one entry per invalid field.
    pub detail: Detail,
}

/// FastAPI's `detail`: a message, or validation issues.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Detail {
    /// What went wrong.
    Message(String),
    /// One entry per invalid field.
    Fields(Vec<ValidationIssue>),
}

/// One invalid field, FastAPI style.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ValidationIssue {
    /// `["body", field]`.
    pub loc: Vec<String>,
    /// What is wrong with it.
    pub msg: String,
    /// Always `value_error`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

impl From<&ApiError> for DetailError {
    fn from(err: &ApiError) -> Self {
        let detail = if err.fields.is_empty() {
            Detail::Message(err.message.clone())
        } else {
            Detail::Fields(
                err.fields
                    .iter()
                    .map(|f| ValidationIssue {
                        loc: vec!["body".into(), f.field.clone()],
                        msg: f.message.clone(),
                        kind: "value_error",
                    })
                    .collect(),
            )
        };
        Self { detail }
    }
}

/// The orchestrator API's error envelope.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorObject,
    /// When it happened (RFC 3339).
    pub timestamp: String,
    /// Id of this answer (also in `error.details`).
    pub request_id: String,
}

/// The error inside an [`ErrorEnvelope`].
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorObject {
    /// Machine-readable code (`invalid_request`, `not_found`, `conflict`, ...).
    pub code: &'static str,
    /// Human-readable summary.
    pub message: String,
    /// Request id and, for invalid input, the fields at fault.
    pub details: ErrorDetails,
}

/// `error.details` of an envelope.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetails {
    /// Id of this answer.
    pub request_id: String,
    /// Invalid fields (only on 400).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldIssue>,
}

/// One invalid field.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldIssue {
    /// Field path in the request payload (`endpoints[0].base_url`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl From<&ApiError> for ErrorEnvelope {
    fn from(err: &ApiError) -> Self {
        let request_id = request_id();
        Self {
            error: ErrorObject {
                code: err.kind.code(),
                message: err.message.clone(),
                details: ErrorDetails {
                    request_id: request_id.clone(),
                    fields: err
                        .fields
                        .iter()
                        .map(|f| FieldIssue {
                            field: f.field.clone(),
                            message: f.message.clone(),
                        })
                        .collect(),
                },
            },
            timestamp: rfc3339(now_ms()),
            request_id,
        }
    }
}

/// The canonical API's error envelope: the orchestrator's plus OpenAI's `type`/`param`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OpenAiErrorEnvelope {
    /// The error.
    pub error: OpenAiErrorObject,
    /// When it happened (RFC 3339).
    pub timestamp: String,
    /// Id of this answer (also in `error.details`).
    pub request_id: String,
}

/// The error inside an [`OpenAiErrorEnvelope`].
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OpenAiErrorObject {
    /// Machine-readable code (`invalid_request`, `not_found`, `conflict`, ...).
    pub code: &'static str,
    /// Human-readable summary.
    pub message: String,
    /// Request id and, for invalid input, the fields at fault.
    pub details: ErrorDetails,
    /// OpenAI's error type (`invalid_request_error`, `authentication_error`, ...).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The first invalid field, if any.
    pub param: Option<String>,
}

impl From<&ApiError> for OpenAiErrorEnvelope {
    fn from(err: &ApiError) -> Self {
        let ErrorEnvelope {
            error,
            timestamp,
            request_id,
        } = ErrorEnvelope::from(err);
        let kind = match err.kind {
            ErrorKind::BadRequest
            | ErrorKind::Conflict
            | ErrorKind::NotFound
            | ErrorKind::UnsupportedMediaType => "invalid_request_error",
            ErrorKind::Unauthorized => "authentication_error",
            ErrorKind::Forbidden => "permission_error",
            ErrorKind::Internal => "api_error",
        };
        Self {
            error: OpenAiErrorObject {
                code: error.code,
                message: error.message,
                details: error.details,
                kind,
                param: err.fields.first().map(|f| f.field.clone()),
            },
            timestamp,
            request_id,
        }
    }
}

fn request_id() -> String {
    use std::fmt::Write;
    let bytes: [u8; 8] = rand::random();
    bytes.iter().fold(String::from("req_"), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// A surface marker type: handlers return [`Failure<S>`] to answer in `S`'s format.
pub trait Surface {
    /// The surface.
    const KIND: SurfaceKind;
}

/// Marker of the LLM-backend API.
#[derive(Debug)]
pub struct LlmBackends;
impl Surface for LlmBackends {
    const KIND: SurfaceKind = SurfaceKind::LlmBackends;
}
/// Marker of the orchestrator API.
#[derive(Debug)]
pub struct Orchestrator;
impl Surface for Orchestrator {
    const KIND: SurfaceKind = SurfaceKind::Orchestrator;
}
/// Marker of the provider-management API.
#[derive(Debug)]
pub struct ProviderManagement;
impl Surface for ProviderManagement {
    const KIND: SurfaceKind = SurfaceKind::ProviderManagement;
}
/// Marker of the canonical admin API.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_surface_has_its_index_and_label() {
        for (i, s) in SurfaceKind::ALL.iter().enumerate() {
            assert_eq!(s.index(), i);
            assert!(!s.label().contains("seed"));
        }
        assert_eq!(
            SurfaceKind::of_path("/api/llm/backends"),
            SurfaceKind::LlmBackends
        );
        assert_eq!(
            SurfaceKind::of_path("/api/providers"),
            SurfaceKind::ProviderManagement
        );
        assert_eq!(
            SurfaceKind::of_path("/admin/logs"),
            SurfaceKind::Orchestrator
        );
        assert_eq!(
            SurfaceKind::of_path("/v1/admin/keys"),
            SurfaceKind::Canonical
        );
        assert_eq!(SurfaceKind::of_path("/metrics"), SurfaceKind::Open);
    }

    #[test]
    fn error_bodies_keep_their_shapes() {
        let err = ApiError::field("base_url", "must be http(s)");
        let v = serde_json::to_value(DetailError::from(&err)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"detail": [{"loc": ["body", "base_url"], "msg": "must be http(s)", "type": "value_error"}]})
        );
        let v = serde_json::to_value(OpenAiErrorEnvelope::from(&err)).unwrap();
        assert_eq!(v["error"]["param"], "base_url");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["details"]["fields"][0]["field"], "base_url");
        assert_eq!(v["request_id"], v["error"]["details"]["request_id"]);
        let v = serde_json::to_value(OpenAiErrorEnvelope::from(&ApiError::not_found("x"))).unwrap();
        assert!(v["error"]["param"].is_null() && v["error"].get("param").is_some());
        assert!(v["error"]["details"].get("fields").is_none());
        let v = serde_json::to_value(ErrorEnvelope::from(&ApiError::conflict("dup"))).unwrap();
        assert_eq!(v["error"]["code"], "conflict");
        assert!(v["error"].get("type").is_none());
        let v = serde_json::to_value(MessageError::from(&ApiError::conflict("dup"))).unwrap();
        assert_eq!(v, serde_json::json!({"error": "dup"}));
    }
}
