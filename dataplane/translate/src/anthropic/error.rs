//! Anthropic error objects (HTTP error bodies and `event: error`) → OpenAI error terms.

use serde::Deserialize;

use super::wire::WireError;
use crate::UpstreamError;

/// (status, OpenAI type) for an Anthropic error type.
fn map_error_type(ty: &str) -> Option<(u16, &'static str)> {
    Some(match ty {
        "invalid_request_error" => (400, "invalid_request_error"),
        "authentication_error" => (401, "authentication_error"),
        "billing_error" => (402, "insufficient_quota"),
        "permission_error" => (403, "permission_error"),
        "not_found_error" => (404, "not_found_error"),
        "request_too_large" => (413, "invalid_request_error"),
        "rate_limit_error" => (429, "rate_limit_error"),
        "timeout_error" => (504, "timeout_error"),
        "api_error" => (500, "server_error"),
        "overloaded_error" => (503, "server_error"),
        _ => return None,
    })
}

pub(super) fn error_from_wire(status: Option<u16>, err: Option<&WireError<'_>>) -> UpstreamError {
    let ty = err.and_then(|e| e.ty.as_deref());
    let mapped = ty.and_then(map_error_type);
    let status = match (status, mapped) {
        (Some(529), _) => 503,
        (Some(s), _) if s >= 400 => s,
        (_, Some((s, _))) => s,
        _ => 502,
    };
    let error_type = match mapped {
        Some((s, t)) if s == status || status == 503 && s == 503 => t,
        _ => UpstreamError::type_for_status(status),
    };
    let message = err
        .and_then(|e| e.message.as_deref())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("Anthropic returned HTTP {status}"));
    let mut e = UpstreamError::new(status, error_type, message);
    e.code = ty.map(str::to_owned);
    e
}

/// Translate an Anthropic error response (any status, any body) into OpenAI terms.
///
/// 529 `overloaded_error` becomes 503, 429 stays 429 `rate_limit_error`, other 5xx are
/// `server_error`; the Anthropic error type is kept as `code`. A body that is not an
/// Anthropic error still yields an error for the HTTP status.
pub fn translate_error(status: u16, body: &[u8]) -> UpstreamError {
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(default, borrow)]
        error: Option<WireError<'a>>,
    }
    match serde_json::from_slice::<Envelope<'_>>(body) {
        Ok(Envelope { error: Some(err) }) => error_from_wire(Some(status), Some(&err)),
        _ => {
            let mut e = error_from_wire(Some(status), None);
            let text = String::from_utf8_lossy(body.get(..512).unwrap_or(body));
            let text = text.trim();
            if !text.is_empty() {
                e.message = format!("Anthropic returned HTTP {status}: {text}");
            }
            e
        }
    }
}
