//! The crate's two error types: bad client input, and an upstream failure in OpenAI terms.

use thiserror::Error;

/// The client's OpenAI request cannot be expressed for the chosen provider.
///
/// Always maps to HTTP 400 `invalid_request_error`; `param` names the offending field the
/// way OpenAI does (`messages[2].content`, `n`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct TranslateError {
    /// Human-readable explanation, safe to show to the client.
    pub message: String,
    /// The request field at fault, if one can be named.
    pub param: Option<String>,
}

impl TranslateError {
    /// A new error about `param`.
    pub fn new(message: impl Into<String>, param: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            param: Some(param.into()),
        }
    }

    /// A new error not tied to a field (e.g. the body is not JSON).
    pub fn body(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            param: None,
        }
    }

    /// HTTP status to answer with (always 400).
    pub fn status(&self) -> u16 {
        400
    }

    /// OpenAI error type (always `invalid_request_error`).
    pub fn error_type(&self) -> &'static str {
        "invalid_request_error"
    }
}

/// An upstream failure (error status, error event, malformed stream) expressed in OpenAI terms.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("upstream error {status} {error_type}: {message}")]
pub struct UpstreamError {
    /// HTTP status to use towards the client, in OpenAI terms (e.g. Anthropic 529 → 503).
    pub status: u16,
    /// OpenAI error type: `invalid_request_error`, `authentication_error`, `permission_error`,
    /// `not_found_error`, `rate_limit_error`, `server_error`, ...
    pub error_type: &'static str,
    /// Machine-readable code (provider error type or status string), if any.
    pub code: Option<String>,
    /// Human-readable message from the provider (or describing the malformed stream).
    pub message: String,
    /// Seconds the client should wait before retrying, from the provider's retry hint.
    pub retry_after_secs: Option<u64>,
    /// The request field at fault, when the provider names one.
    pub param: Option<String>,
}

impl UpstreamError {
    /// An error with the given status/type/message and no code, param or retry hint.
    pub fn new(status: u16, error_type: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            error_type,
            code: None,
            message: message.into(),
            retry_after_secs: None,
            param: None,
        }
    }

    /// The upstream sent bytes that are not a valid stream/body of its protocol.
    pub fn malformed(message: impl Into<String>) -> Self {
        let mut e = Self::new(502, "server_error", message);
        e.code = Some("upstream_malformed_response".to_owned());
        e
    }

    /// Whether another upstream might answer where this one failed (5xx and 429), for
    /// users of this crate on its own. The data plane does not ask this: its retry verdict
    /// is made once, from `sluice_route::AttemptOutcome`, when it builds its attempt error.
    pub fn is_retryable(&self) -> bool {
        self.status == 429 || self.status >= 500
    }

    /// The default OpenAI error type for an HTTP status.
    pub fn type_for_status(status: u16) -> &'static str {
        match status {
            400 | 405 | 409 | 413 | 415 | 422 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            408 | 504 => "timeout_error",
            429 => "rate_limit_error",
            _ if status >= 500 => "server_error",
            _ => "invalid_request_error",
        }
    }
}
