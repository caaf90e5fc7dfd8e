//! Gemini error objects (HTTP error bodies and in-stream errors) → OpenAI error terms.

use serde::Deserialize;

use super::wire::WireError;
use crate::UpstreamError;

fn parse_retry_delay(s: &str) -> Option<u64> {
    let secs: f64 = s.trim().strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| secs.ceil() as u64)
}

pub(super) fn error_from_wire(http_status: Option<u16>, err: &WireError<'_>) -> UpstreamError {
    let status_str = err.status.as_deref().unwrap_or("");
    let reason = err.details.iter().find_map(|d| d.reason.as_deref());
    let retry = err
        .details
        .iter()
        .filter(|d| {
            d.ty.as_deref().is_some_and(|t| t.ends_with("RetryInfo")) || d.retry_delay.is_some()
        })
        .find_map(|d| d.retry_delay.as_deref().and_then(parse_retry_delay));
    let base = http_status
        .filter(|s| *s >= 400)
        .or(err.code)
        .unwrap_or(500);
    let (status, error_type) =
        if reason == Some("API_KEY_INVALID") || status_str == "UNAUTHENTICATED" {
            (401, "authentication_error")
        } else {
            match status_str {
                "PERMISSION_DENIED" => (403, "permission_error"),
                "RESOURCE_EXHAUSTED" => (429, "rate_limit_error"),
                "NOT_FOUND" => (404, "not_found_error"),
                "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => {
                    (400, "invalid_request_error")
                }
                "UNAVAILABLE" => (503, "server_error"),
                "DEADLINE_EXCEEDED" => (504, "timeout_error"),
                "INTERNAL" | "UNKNOWN" => (500, "server_error"),
                _ => (base, UpstreamError::type_for_status(base)),
            }
        };
    let message = err
        .message
        .as_deref()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("Gemini returned HTTP {base}"));
    let mut e = UpstreamError::new(status, error_type, message);
    e.code = match (reason, status_str) {
        (Some("API_KEY_INVALID"), _) => Some("invalid_api_key".to_owned()),
        (Some(r), _) => Some(r.to_owned()),
        (None, "") => None,
        (None, s) => Some(s.to_owned()),
    };
    e.retry_after_secs = retry;
    e
}

/// Translate a Gemini error response (any status, any body) into OpenAI terms.
///
/// `API_KEY_INVALID` → 401, `PERMISSION_DENIED` → 403, `RESOURCE_EXHAUSTED` → 429 with
/// `retry_after_secs` from `RetryInfo.retryDelay`, 5xx → `server_error`. Accepts the error
/// object alone or wrapped in a one-element array (non-SSE streaming); anything else still
/// yields an error for the HTTP status.
pub fn translate_error(status: u16, body: &[u8]) -> UpstreamError {
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        error: WireError<'a>,
    }
    let is_array = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    let parsed = if is_array {
        serde_json::from_slice::<Vec<Envelope<'_>>>(body)
            .ok()
            .and_then(|v| v.into_iter().next())
            .map(|e| e.error)
            .ok_or(())
    } else {
        serde_json::from_slice::<Envelope<'_>>(body)
            .map(|e| e.error)
            .map_err(|_| ())
    };
    match parsed {
        Ok(err) => error_from_wire(Some(status), &err),
        Err(()) => {
            let mut e = UpstreamError::new(
                if status >= 400 { status } else { 502 },
                UpstreamError::type_for_status(if status >= 400 { status } else { 502 }),
                format!("Gemini returned HTTP {status}"),
            );
            let text = String::from_utf8_lossy(body.get(..512).unwrap_or(body));
            let text = text.trim();
            if !text.is_empty() {
                e.message = format!("Gemini returned HTTP {status}: {text}");
            }
            e
        }
    }
}
