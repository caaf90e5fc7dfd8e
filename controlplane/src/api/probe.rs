//! The provider-management API's `POST /api/providers/{id}/test`: a real connectivity
//! check, as the protocol's wire table says (`sluice_model::WireConventions::probe`):
//! OpenAI-style kinds get `GET {base_url}/models` with the key; others a `GET` of the base
//! URL. 10 s timeout.
//!
//! The key only ever goes to the endpoint it is stored for: the store refuses to move a
//! key to another host (`store::draft`), and redirects are never followed (a 3xx is
//! reported as such), so an upstream cannot forward the credentials elsewhere.

use std::time::{Duration, Instant};

use serde::Serialize;
use sluice_model::{Protocol, ProviderKind};

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
    // An unknown kind (never stored: drafts validate it) is probed like the local echo
    // kind: a plain GET of the base URL without the key.
    let wire = ProviderKind::parse(kind)
        .map_or(Protocol::Echo, ProviderKind::protocol)
        .wire();
    let base = base_url.trim_end_matches('/');
    let url = format!("{base}{}", wire.probe.path);
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
    if !api_key.is_empty() && wire.probe.send_key {
        if let Some((name, value)) = wire.version_header {
            req = req.header(name, value);
        }
        match reqwest::header::HeaderValue::from_str(&wire.auth_value(api_key)) {
            Ok(mut value) => {
                value.set_sensitive(true);
                req = req.header(wire.auth_header, value);
            }
            Err(_) => {
                return offline(
                    started,
                    None,
                    "the stored API key cannot be sent in an HTTP header".to_string(),
                )
            }
        }
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
