//! The provider-management API's `POST /api/providers/{id}/test`: a real connectivity
//! check. OpenAI-style kinds get `GET {base_url}/models` with the key; others a `GET` of
//! the base URL. 10 s timeout.
//!
//! The key only ever goes to the endpoint it is stored for: the store refuses to move a
//! key to another host (`store::draft`), and redirects are never followed (a 3xx is
//! reported as such), so an upstream cannot forward the credentials elsewhere.

use std::time::{Duration, Instant};

use serde::Serialize;
use sluice_dataplane::config::{Protocol, ProviderKind};

/// Time allowed to the whole check.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The check's result (the provider-management API's shape).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProbeResult {
    /// `online` (any HTTP answer below 500 that is not an auth failure) or `offline`.
    pub status: &'static str,
    /// HTTP status, when one came back.
    pub status_code: Option<u16>,
    /// Round-trip time.
    pub latency_ms: f64,
    /// Why it is offline (never contains the key).
    pub detail: Option<String>,
}

/// Checks one endpoint of a provider of `kind`.
pub async fn check(kind: &str, base_url: &str, api_key: &str) -> ProbeResult {
    let protocol = ProviderKind::parse(kind).map(ProviderKind::protocol);
    let base = base_url.trim_end_matches('/');
    let (url, auth) = match protocol {
        Some(Protocol::OpenAi) => (format!("{base}/models"), true),
        _ => (base.to_string(), false),
    };
    let started = Instant::now();
    let client = match reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => return offline(started, None, format!("cannot build HTTP client: {e}")),
    };
    let mut req = client.get(&url);
    if !api_key.is_empty() {
        req = match protocol {
            Some(Protocol::Anthropic) => req
                .header("x-api-key", api_key)
                .header("anthropic-version", "2023-06-01"),
            Some(Protocol::Gemini) => req.header("x-goog-api-key", api_key),
            _ if auth => req.bearer_auth(api_key),
            _ => req,
        };
    }
    match req.send().await {
        Ok(resp) => {
            let code = resp.status().as_u16();
            let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
            let (status, detail) = match code {
                401 | 403 => (
                    "offline",
                    Some(format!("upstream rejected the API key (HTTP {code})")),
                ),
                300..=399 => (
                    "offline",
                    Some(format!(
                        "upstream redirected (HTTP {code}); redirects are not followed, set base_url to the final address"
                    )),
                ),
                500.. => ("offline", Some(format!("upstream error (HTTP {code})"))),
                _ => ("online", None),
            };
            ProbeResult {
                status,
                status_code: Some(code),
                latency_ms: round2(latency_ms),
                detail,
            }
        }
        Err(e) => {
            let what = if e.is_timeout() {
                format!("timed out after {} s", TIMEOUT.as_secs())
            } else if e.is_connect() {
                "connection failed".to_string()
            } else {
                "request failed".to_string()
            };
            // reqwest errors carry the URL, never headers; still strip it to be terse.
            offline(started, None, format!("{what}: {}", e.without_url()))
        }
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn offline(started: Instant, status_code: Option<u16>, detail: String) -> ProbeResult {
    ProbeResult {
        status: "offline",
        status_code,
        latency_ms: round2(started.elapsed().as_secs_f64() * 1000.0),
        detail: Some(detail),
    }
}
