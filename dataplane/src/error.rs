//! The data plane's one error type, mapped to an HTTP status and the unified error
//! envelope (orchestrator API fields plus OpenAI's `type`/`param`, so OpenAI SDKs parse it) in
//! exactly one place: [`GatewayError::status`] and [`GatewayError::envelope`]. The same
//! envelope is what a stream that fails mid-way ends with ([`GatewayError::write_event`]).
//!
//! [`AttemptError`] is a failed upstream attempt: the error, what health records, and the
//! retry verdict, decided once where the failure is observed.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sluice_route::AttemptOutcome;
use sluice_translate::hub::{self, Protocol};
use sluice_translate::{openai, UpstreamError};

use crate::governance::{Denied, Exhausted, Refusal, Window};
use crate::upstream::AttemptFailure;

/// Everything that can fail a client request.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Malformed or semantically invalid input.
    #[error("{message}")]
    InvalidRequest {
        /// Human-readable problem.
        message: String,
        /// The offending parameter.
        param: Option<String>,
    },
    /// Body larger than `max_body_bytes`.
    #[error("request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// Missing or wrong client key.
    #[error("{0}")]
    Unauthorized(String),
    /// The client's key or its team may not use the model asked for.
    #[error("{message}")]
    ModelNotAllowed {
        /// The requested model.
        model: String,
        /// Human-readable problem.
        message: String,
    },
    /// A scope's rate limit or budget refused the request: 429 with `Retry-After` and
    /// the refusing scope's `x-ratelimit-*` headers.
    #[error("{message}")]
    Limited {
        /// Which scope refused, why, and its windows.
        refusal: Box<Refusal>,
        /// Human-readable problem (names the scope and its limit, never a key secret).
        message: String,
    },
    /// The shared rate store is unreachable and the failure mode is `fail_closed`.
    #[error("the rate-limit store is unavailable; retry shortly")]
    RateStoreUnavailable {
        /// Seconds the client should wait.
        retry_after: u64,
    },
    /// Unknown path.
    #[error("{0}")]
    NotFound(String),
    /// Method not allowed on a known path.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// No provider serves the model.
    #[error("{message}")]
    ModelNotFound {
        /// The requested model.
        model: String,
        /// Human-readable problem.
        message: String,
    },
    /// A `provider`/`backend` pin that cannot be honoured (worded as for the `backend`
    /// request field).
    #[error("{0}")]
    BackendUnavailable(String),
    /// The upstream answered with an error in OpenAI terms (translated or passed through).
    #[error("{message}")]
    Upstream {
        /// Status to return.
        status: u16,
        /// OpenAI error type.
        error_type: &'static str,
        /// Error code, if any.
        code: Option<String>,
        /// Message.
        message: String,
        /// The upstream's own body, when it is already an OpenAI error object.
        passthrough_body: Option<Bytes>,
        /// Retry-After to relay (seconds).
        retry_after: Option<u64>,
    },
    /// Every candidate failed or is ejected.
    #[error("{0}")]
    Unavailable(String),
    /// The request's deadline passed before an answer started.
    #[error("{0}")]
    Timeout(String),
    /// A shared budget is spent (in-flight requests, buffered body bytes): 503 with
    /// `Retry-After`, so clients back off instead of memory growing.
    #[error("{message}")]
    Overloaded {
        /// What is full.
        message: String,
        /// Seconds the client should wait.
        retry_after: u64,
    },
    /// The client did not send its request in time (head or body deadline, minimum rate).
    #[error("{0}")]
    RequestTimeout(String),
    /// A bug or an impossible state; never caused by input.
    #[error("{0}")]
    Internal(String),
}

impl GatewayError {
    /// HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidRequest { .. } | Self::BackendUnavailable(_) => 400,
            Self::PayloadTooLarge { .. } => 413,
            Self::Unauthorized(_) => 401,
            Self::ModelNotAllowed { .. } => 403,
            Self::Limited { .. } => 429,
            Self::RateStoreUnavailable { .. } => 503,
            Self::NotFound(_) | Self::ModelNotFound { .. } => 404,
            Self::MethodNotAllowed => 405,
            Self::Upstream { status, .. } => *status,
            Self::Unavailable(_) => 503,
            Self::Timeout(_) => 504,
            Self::Overloaded { .. } => 503,
            Self::RequestTimeout(_) => 408,
            Self::Internal(_) => 500,
        }
    }

    /// OpenAI error `type`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::InvalidRequest { .. }
            | Self::BackendUnavailable(_)
            | Self::PayloadTooLarge { .. }
            | Self::MethodNotAllowed => "invalid_request_error",
            Self::Unauthorized(_) => "authentication_error",
            Self::ModelNotAllowed { .. } => "permission_error",
            Self::Limited { refusal, .. } => match refusal.reason {
                Exhausted::Budget => "insufficient_quota",
                reason => reason.as_str(),
            },
            Self::RateStoreUnavailable { .. } => "service_unavailable",
            Self::NotFound(_) | Self::ModelNotFound { .. } => "not_found_error",
            Self::Upstream { error_type, .. } => error_type,
            Self::Unavailable(_) => "service_unavailable",
            Self::Timeout(_) => "timeout_error",
            Self::Overloaded { .. } => "service_unavailable",
            Self::RequestTimeout(_) => "invalid_request_error",
            Self::Internal(_) => "server_error",
        }
    }

    /// Error `code` (orchestrator API codes, OpenAI's `model_not_found`).
    pub fn code(&self) -> &str {
        match self {
            Self::InvalidRequest { .. } | Self::BackendUnavailable(_) | Self::MethodNotAllowed => {
                "invalid_request"
            }
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::Unauthorized(_) => "unauthorized",
            Self::ModelNotAllowed { .. } => "model_not_allowed",
            Self::Limited { refusal, .. } if refusal.reason == Exhausted::Budget => {
                "budget_exceeded"
            }
            Self::Limited { .. } => "rate_limit_exceeded",
            Self::RateStoreUnavailable { .. } => "rate_store_unavailable",
            Self::NotFound(_) => "not_found",
            Self::ModelNotFound { .. } => "model_not_found",
            Self::Upstream { code: Some(c), .. } => c,
            Self::Upstream { status: 429, .. } => "rate_limit_exceeded",
            Self::Upstream { .. } => "upstream_error",
            Self::Unavailable(_) => "service_unavailable",
            Self::Timeout(_) => "timeout",
            Self::Overloaded { .. } => "overloaded",
            Self::RequestTimeout(_) => "request_timeout",
            Self::Internal(_) => "internal_error",
        }
    }

    fn param(&self) -> Option<&str> {
        match self {
            Self::InvalidRequest { param, .. } => param.as_deref(),
            Self::ModelNotFound { .. } | Self::ModelNotAllowed { .. } => Some("model"),
            Self::BackendUnavailable(_) => Some("backend"),
            _ => None,
        }
    }

    /// The JSON error body: OpenAI's `error{message,type,param,code}` plus the orchestrator
    /// API's `error.details`, `timestamp` and `request_id`. Upstream OpenAI-style errors are passed
    /// through untouched.
    pub fn envelope(&self, request_id: &str) -> Bytes {
        if let Self::Upstream {
            passthrough_body: Some(b),
            ..
        } = self
        {
            return b.clone();
        }
        let mut out = BytesMut::with_capacity(256);
        self.write_envelope(request_id, &mut out);
        out.freeze()
    }

    /// The error body in a client surface's format: Anthropic's and Gemini's own error
    /// objects (written by the hub's encoders), the gateway's envelope for OpenAI Chat
    /// and Responses.
    pub fn body_for(&self, surface: Protocol, request_id: &str) -> Bytes {
        match surface {
            Protocol::Anthropic | Protocol::Gemini => {
                Bytes::from(hub::error_body(surface, &self.as_upstream()))
            }
            Protocol::OpenAi | Protocol::OpenAiResponses | Protocol::Echo => {
                self.envelope(request_id)
            }
        }
    }

    /// The error in hub terms (what another protocol's error writer takes).
    pub fn as_upstream(&self) -> UpstreamError {
        UpstreamError {
            status: self.status(),
            error_type: self.error_type(),
            code: Some(self.code().to_owned()),
            message: self.to_string(),
            retry_after_secs: self.retry_after(),
            param: self.param().map(str::to_owned),
        }
    }

    /// Ends a stream that fails after content reached the client: the same envelope as an
    /// error body, as one `data:` event (never a silent clean end).
    pub fn write_event(&self, request_id: &str, out: &mut BytesMut) {
        out.extend_from_slice(b"data: ");
        match self {
            Self::Upstream {
                passthrough_body: Some(b),
                ..
            } => out.extend_from_slice(b),
            _ => self.write_envelope(request_id, out),
        }
        out.extend_from_slice(b"\n\n");
    }

    /// The one writer of the OpenAI error object is the translate crate's
    /// ([`openai::error_body`], also behind [`openai::write_error_event`]); the envelope
    /// reopens the object it closes to add the orchestrator API's fields.
    fn write_envelope(&self, request_id: &str, out: &mut BytesMut) {
        let object = UpstreamError {
            status: self.status(),
            error_type: self.error_type(),
            code: Some(self.code().to_owned()),
            message: self.to_string(),
            retry_after_secs: None,
            param: self.param().map(str::to_owned),
        };
        let body = openai::error_body(&object);
        // `{"error":{...}}`: drop the two closing braces, add the envelope's fields.
        let open = body.strip_suffix(b"}}").unwrap_or(&body);
        out.extend_from_slice(open);
        out.extend_from_slice(b",\"details\":{\"request_id\":");
        write_json(out, request_id);
        out.extend_from_slice(b"}},\"timestamp\":");
        write_json(out, &now_rfc3339());
        out.extend_from_slice(b",\"request_id\":");
        write_json(out, request_id);
        out.extend_from_slice(b"}");
    }

    /// Whether the error should be returned with a `Retry-After` header.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Upstream { retry_after, .. } => *retry_after,
            Self::Overloaded { retry_after, .. } | Self::RateStoreUnavailable { retry_after } => {
                Some(*retry_after)
            }
            Self::Limited { refusal, .. } => refusal.retry_after.map(whole_seconds),
            _ => None,
        }
    }

    /// The headers the error is answered with: `retry-after` when there is one, and for a
    /// limit's refusal the refusing scope's `x-ratelimit-*` headers (only the windows it
    /// has), as OpenAI writes them.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let retry = self.retry_after();
        let Self::Limited { refusal, .. } = self else {
            return retry
                .map(|s| vec![("retry-after", s.to_string())])
                .unwrap_or_default();
        };
        let mut out = Vec::with_capacity(7);
        if let Some(s) = retry {
            out.push(("retry-after", s.to_string()));
        }
        let windows: [(Option<&Window>, [&'static str; 3]); 2] = [
            (
                refusal.requests.as_ref(),
                [
                    "x-ratelimit-limit-requests",
                    "x-ratelimit-remaining-requests",
                    "x-ratelimit-reset-requests",
                ],
            ),
            (
                refusal.tokens.as_ref(),
                [
                    "x-ratelimit-limit-tokens",
                    "x-ratelimit-remaining-tokens",
                    "x-ratelimit-reset-tokens",
                ],
            ),
        ];
        for (window, [limit, remaining, reset]) in windows {
            if let Some(w) = window {
                out.push((limit, w.limit.to_string()));
                out.push((remaining, w.remaining.to_string()));
                out.push((reset, reset_text(w.reset)));
            }
        }
        out
    }
}

/// Seconds to wait, rounded up, at least 1 (what `Retry-After` carries).
fn whole_seconds(d: Duration) -> u64 {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    s.max(1)
}

/// A reset time as OpenAI's `x-ratelimit-reset-*` headers write it (Go's duration
/// format, to the millisecond): `20ms`, `1s`, `1.5s`, `6m0s`, `1h2m3s`.
pub fn reset_text(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, frac) = (rest / 1000, rest % 1000);
    let secs = if frac == 0 {
        format!("{s}s")
    } else {
        let f = format!("{frac:03}");
        format!("{s}.{}s", f.trim_end_matches('0'))
    };
    if h > 0 {
        format!("{h}h{m}m{secs}")
    } else if m > 0 {
        format!("{m}m{secs}")
    } else {
        secs
    }
}

fn write_json(out: &mut BytesMut, s: &str) {
    use bytes::BufMut;
    // Writing a `&str` into memory cannot fail.
    let _ = serde_json::to_writer((&mut *out).writer(), s);
}

impl From<UpstreamError> for GatewayError {
    fn from(e: UpstreamError) -> Self {
        Self::Upstream {
            status: e.status,
            error_type: e.error_type,
            code: e.code,
            message: e.message,
            passthrough_body: None,
            retry_after: e.retry_after_secs,
        }
    }
}

impl GatewayError {
    /// A rate store's refusal. `limit` describes the refusing scope's limit that ran out
    /// (`5 requests per minute`, `$10.00 per month`): the message names the scope kind and
    /// name and that limit, never the key's secret.
    pub fn denied(denied: Denied, limit: &str) -> Self {
        let refusal = match denied {
            Denied::StoreUnavailable { retry_after } => {
                return Self::RateStoreUnavailable {
                    retry_after: whole_seconds(retry_after),
                }
            }
            Denied::Limited(r) => r,
        };
        let who = format!("{} '{}'", refusal.kind.as_str(), refusal.name);
        let mut message = match refusal.reason {
            Exhausted::Budget => format!("{who} has spent its budget of {limit}"),
            Exhausted::Concurrency => {
                format!("{who} is at its limit of {limit}")
            }
            Exhausted::Requests | Exhausted::Tokens => {
                format!("{who} is over its rate limit of {limit}")
            }
        };
        match refusal.retry_after {
            Some(d) => message.push_str(&format!("; retry in {}s", whole_seconds(d))),
            None if refusal.reason == Exhausted::Budget => {
                message.push_str("; its window never resets")
            }
            None => {}
        }
        Self::Limited {
            refusal: Box::new(refusal),
            message,
        }
    }

    /// Every candidate is ejected (recent failures or an upstream `Retry-After`): a 503
    /// that tells the client how long the shortest ejection lasts.
    pub fn all_ejected(retry_after: Option<Duration>) -> Self {
        Self::Upstream {
            status: 503,
            error_type: "service_unavailable",
            code: Some("no_healthy_upstream".into()),
            message: "every provider for this model is temporarily ejected (recent failures or an upstream Retry-After); try again later".into(),
            passthrough_body: None,
            retry_after: Some(retry_after.map_or(1, |d| d.as_secs_f64().ceil().max(1.0) as u64)),
        }
    }
}

/// A failed upstream attempt. The retry verdict is decided once, by the constructor that
/// saw the failure (a status, a connection failure, a stream's error), from
/// [`AttemptOutcome`]'s rules; the attempt loop only asks [`AttemptError::retryable`].
#[derive(Debug)]
pub struct AttemptError {
    /// What the client is told if no other candidate answers.
    pub error: GatewayError,
    /// What health and the `outcome` metric record for the endpoint.
    pub outcome: AttemptOutcome,
    retryable: bool,
}

impl AttemptError {
    /// The upstream answered `status` (not 2xx); `error` is that answer in OpenAI terms.
    /// A 429's `Retry-After` ejects the endpoint for that long.
    pub fn from_status(status: u16, error: GatewayError) -> Self {
        let outcome =
            AttemptOutcome::from_status(status, error.retry_after().map(Duration::from_secs));
        Self {
            retryable: outcome.is_retryable(),
            error,
            outcome,
        }
    }

    /// No usable answer arrived: connect error, timeout, broken connection.
    pub fn from_failure(f: &AttemptFailure, provider: &str) -> Self {
        let error = match f {
            AttemptFailure::Timeout => {
                GatewayError::Timeout(format!("provider '{provider}' did not answer in time"))
            }
            other => GatewayError::Upstream {
                status: 502,
                error_type: "server_error",
                code: Some("upstream_unreachable".into()),
                message: format!("provider '{provider}': {other}"),
                passthrough_body: None,
                retry_after: None,
            },
        };
        Self::of_failure(f, error)
    }

    /// A streamed answer's connection failed or stalled between chunks.
    pub fn from_stream_failure(f: &AttemptFailure, provider: &str) -> Self {
        let (status, error_type) = match f {
            AttemptFailure::Timeout => (504, "timeout_error"),
            _ => (502, "server_error"),
        };
        let error = UpstreamError::new(status, error_type, format!("provider '{provider}': {f}"));
        Self::of_failure(f, error.into())
    }

    fn of_failure(f: &AttemptFailure, error: GatewayError) -> Self {
        let outcome = match f {
            AttemptFailure::Connect(_) => AttemptOutcome::ConnectError,
            AttemptFailure::Timeout => AttemptOutcome::Timeout,
            AttemptFailure::Io(_) => AttemptOutcome::StreamError,
        };
        Self {
            error,
            outcome,
            retryable: outcome.is_retryable(),
        }
    }

    /// The upstream's answer (whole or streamed) carried an error or was malformed. Health
    /// counts a broken stream; whether another candidate may serve the request depends on
    /// the error's status in OpenAI terms (5xx and 429 yes, a request the provider refuses
    /// no).
    pub fn from_answer(e: UpstreamError) -> Self {
        let retryable = AttemptOutcome::from_status(e.status, None).is_retryable();
        Self {
            error: e.into(),
            outcome: AttemptOutcome::StreamError,
            retryable,
        }
    }

    /// Whether the next candidate may be tried (only ever asked before any byte reached
    /// the client).
    pub fn retryable(&self) -> bool {
        self.retryable
    }
}

/// Current UTC time as RFC 3339 with second precision.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

/// Formats unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_openai_and_orchestrator_fields() {
        let e = GatewayError::ModelNotFound {
            model: "x".into(),
            message: "The model `x` does not exist".into(),
        };
        assert_eq!(e.status(), 404);
        let v: serde_json::Value = serde_json::from_slice(&e.envelope("req-1")).unwrap();
        assert_eq!(v["error"]["code"], "model_not_found");
        assert_eq!(v["error"]["type"], "not_found_error");
        assert_eq!(v["error"]["param"], "model");
        assert_eq!(v["error"]["details"]["request_id"], "req-1");
        assert_eq!(v["request_id"], "req-1");
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn stream_error_event_is_the_error_body() {
        let e = GatewayError::from(UpstreamError::new(
            502,
            "server_error",
            "provider 'p': \"cut\"",
        ));
        let body: serde_json::Value = serde_json::from_slice(&e.envelope("req\"1")).unwrap();
        let mut out = BytesMut::from(&b"data: {}\n\n"[..]);
        e.write_event("req\"1", &mut out);
        let event = std::str::from_utf8(&out).unwrap();
        let data = event
            .strip_prefix("data: {}\n\ndata: ")
            .and_then(|d| d.strip_suffix("\n\n"))
            .unwrap();
        let event: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(event["error"], body["error"]);
        assert_eq!(event["request_id"], body["request_id"]);
        assert_eq!(
            body["error"],
            serde_json::json!({
                "message": "provider 'p': \"cut\"",
                "type": "server_error",
                "code": "upstream_error",
                "param": null,
                "details": { "request_id": "req\"1" },
            })
        );
        assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn surfaces_get_their_own_error_format() {
        let e = GatewayError::ModelNotFound {
            model: "x".into(),
            message: "The model `x` does not exist".into(),
        };
        let openai: serde_json::Value =
            serde_json::from_slice(&e.body_for(Protocol::OpenAiResponses, "r")).unwrap();
        assert_eq!(openai["error"]["code"], "model_not_found");
        assert_eq!(openai["request_id"], "r");
        let up = e.as_upstream();
        assert_eq!((up.status, up.error_type), (404, "not_found_error"));
        assert_eq!(up.param.as_deref(), Some("model"));
        let o = GatewayError::Overloaded {
            message: "full".into(),
            retry_after: 3,
        };
        assert_eq!(o.as_upstream().retry_after_secs, Some(3));
        for surface in [Protocol::Anthropic, Protocol::Gemini] {
            assert_eq!(
                e.body_for(surface, "r"),
                Bytes::from(hub::error_body(surface, &up))
            );
        }
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_735_689_600), "2025-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    fn refusal(reason: Exhausted) -> Refusal {
        Refusal {
            kind: sluice_model::ScopeKind::Key,
            name: "alice".into(),
            reason,
            retry_after: Some(Duration::from_millis(12_300)),
            requests: Some(Window {
                limit: 5,
                remaining: 0,
                reset: Duration::from_millis(12_300),
            }),
            tokens: None,
        }
    }

    #[test]
    fn reset_times_are_written_like_openai() {
        assert_eq!(reset_text(Duration::ZERO), "0s");
        assert_eq!(reset_text(Duration::from_millis(20)), "20ms");
        assert_eq!(reset_text(Duration::from_secs(1)), "1s");
        assert_eq!(reset_text(Duration::from_millis(1500)), "1.5s");
        assert_eq!(reset_text(Duration::from_secs(360)), "6m0s");
        assert_eq!(reset_text(Duration::from_millis(61_250)), "1m1.25s");
        assert_eq!(reset_text(Duration::from_secs(3723)), "1h2m3s");
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(2001)), 3);
        assert_eq!(whole_seconds(Duration::ZERO), 1);
    }

    #[test]
    fn rate_limits_are_429_with_the_scope_headers() {
        let e = GatewayError::denied(
            Denied::Limited(refusal(Exhausted::Requests)),
            "5 requests per minute",
        );
        assert_eq!(e.status(), 429);
        assert_eq!(e.retry_after(), Some(13));
        let headers = e.headers();
        let get = |k: &str| {
            headers
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("retry-after"), Some("13"));
        assert_eq!(get("x-ratelimit-limit-requests"), Some("5"));
        assert_eq!(get("x-ratelimit-remaining-requests"), Some("0"));
        assert_eq!(get("x-ratelimit-reset-requests"), Some("12.3s"));
        // Only the windows the refusing scope has.
        assert_eq!(get("x-ratelimit-limit-tokens"), None);
        assert_eq!(headers.len(), 4);

        let v: serde_json::Value = serde_json::from_slice(&e.envelope("r")).unwrap();
        assert_eq!(v["error"]["code"], "rate_limit_exceeded");
        assert_eq!(v["error"]["type"], "requests");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("key 'alice'") && msg.contains("5 requests per minute"),
            "{msg}"
        );

        let anthropic: serde_json::Value =
            serde_json::from_slice(&e.body_for(Protocol::Anthropic, "r")).unwrap();
        assert_eq!(anthropic["type"], "error");
        assert_eq!(anthropic["error"]["type"], "rate_limit_error");
        let gemini: serde_json::Value =
            serde_json::from_slice(&e.body_for(Protocol::Gemini, "r")).unwrap();
        assert_eq!(gemini["error"]["status"], "RESOURCE_EXHAUSTED");
        assert_eq!(gemini["error"]["code"], 429);
        let responses: serde_json::Value =
            serde_json::from_slice(&e.body_for(Protocol::OpenAiResponses, "r")).unwrap();
        assert_eq!(responses["error"]["code"], "rate_limit_exceeded");

        let mut tokens = refusal(Exhausted::Tokens);
        tokens.tokens = Some(Window {
            limit: 1000,
            remaining: 10,
            reset: Duration::from_millis(20),
        });
        let e = GatewayError::denied(Denied::Limited(tokens), "1000 tokens per minute");
        assert_eq!(e.error_type(), "tokens");
        let headers = e.headers();
        assert!(headers.contains(&("x-ratelimit-reset-tokens", "20ms".to_owned())));
        assert!(headers.contains(&("x-ratelimit-remaining-tokens", "10".to_owned())));
        assert_eq!(headers.len(), 7);

        let e = GatewayError::denied(
            Denied::Limited(refusal(Exhausted::Concurrency)),
            "1 requests in flight",
        );
        assert_eq!(
            (e.status(), e.code(), e.error_type()),
            (429, "rate_limit_exceeded", "concurrency")
        );
    }

    #[test]
    fn budgets_are_429_insufficient_quota() {
        let mut r = refusal(Exhausted::Budget);
        r.requests = None;
        r.retry_after = None;
        let e = GatewayError::denied(Denied::Limited(r), "$1.00 in total");
        assert_eq!(e.status(), 429);
        assert_eq!(e.code(), "budget_exceeded");
        assert_eq!(e.error_type(), "insufficient_quota");
        // A window that never ends: no Retry-After.
        assert!(e.headers().is_empty());
        let mut r = refusal(Exhausted::Budget);
        r.requests = None;
        r.retry_after = Some(Duration::from_secs(3600));
        let e = GatewayError::denied(Denied::Limited(r), "$1.00 per day");
        assert_eq!(e.headers(), vec![("retry-after", "3600".to_owned())]);
        let anthropic: serde_json::Value =
            serde_json::from_slice(&e.body_for(Protocol::Anthropic, "r")).unwrap();
        assert_eq!(anthropic["error"]["type"], "rate_limit_error");
    }

    #[test]
    fn store_unavailable_is_503() {
        let e = GatewayError::denied(
            Denied::StoreUnavailable {
                retry_after: Duration::from_millis(500),
            },
            "",
        );
        assert_eq!((e.status(), e.code()), (503, "rate_store_unavailable"));
        assert_eq!(e.headers(), vec![("retry-after", "1".to_owned())]);
        let gemini: serde_json::Value =
            serde_json::from_slice(&e.body_for(Protocol::Gemini, "r")).unwrap();
        assert_eq!(gemini["error"]["status"], "UNAVAILABLE");
    }

    #[test]
    fn model_not_allowed_is_403() {
        let e = GatewayError::ModelNotAllowed {
            model: "gpt-4o".into(),
            message: "this API key may not use the model `gpt-4o`".into(),
        };
        assert_eq!((e.status(), e.code()), (403, "model_not_allowed"));
        let v: serde_json::Value = serde_json::from_slice(&e.envelope("r")).unwrap();
        assert_eq!(v["error"]["param"], "model");
        let anthropic: serde_json::Value =
            serde_json::from_slice(&e.body_for(Protocol::Anthropic, "r")).unwrap();
        assert_eq!(anthropic["error"]["type"], "permission_error");
    }
}
