//! The ops service (default `0.0.0.0:9090`): `/metrics` (Prometheus text), `/healthz`
//! (liveness) and `/readyz` (ready only once a valid config snapshot is loaded).

use std::sync::Arc;

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use crate::config::{listens_beyond_loopback, AuthMode, RuntimeConfig};
use crate::AppState;

/// The ops HTTP application.
pub struct OpsApp {
    state: Arc<AppState>,
    /// Whether the proxy listens beyond loopback.
    exposed: bool,
}

impl OpsApp {
    /// Reports on the data plane's shared state; `proxy_listen` is the proxy's actual
    /// listen address (after command-line overrides).
    pub fn new(state: Arc<AppState>, proxy_listen: &str) -> Self {
        Self {
            state,
            exposed: listens_beyond_loopback(proxy_listen),
        }
    }

    fn metrics(&self) -> Vec<u8> {
        // Endpoint health gauges are read at scrape time, so they are never stale.
        let cfg = self.state.config.load();
        for r in self.state.router.health_report(&cfg) {
            crate::metrics::endpoint_health(&r.provider, &r.base_url, r.health.is_available);
        }
        let a = &self.state.admission;
        crate::metrics::admission_levels(a.open_connections(), a.buffered_body_bytes());
        crate::metrics::render()
    }
}

fn reply(status: u16, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("content-length", body.len())
        .body(body)
        .unwrap_or_else(|_| Response::new(Vec::new()))
}

/// The `/readyz` body of a ready data plane: config version, client auth mode, and a
/// warning when the proxy is open to the network without client authentication.
fn ready_body(cfg: &RuntimeConfig, exposed: bool) -> Vec<u8> {
    let open = cfg.server.auth == AuthMode::None && exposed;
    let warnings: &[&str] = if open {
        &["client auth is `none` on a non-loopback address: anyone who reaches the proxy spends the provider keys"]
    } else {
        &[]
    };
    serde_json::to_vec(&serde_json::json!({
        "status": "ready",
        "config_version": cfg.version,
        "auth": cfg.server.auth.as_str(),
        "warnings": warnings,
    }))
    .unwrap_or_default()
}

#[async_trait]
impl ServeHttp for OpsApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_string();
        match path.as_str() {
            "/metrics" => reply(200, "text/plain; version=0.0.4", self.metrics()),
            "/healthz" | "/health" => {
                reply(200, "application/json", br#"{"status":"ok"}"#.to_vec())
            }
            "/readyz" => {
                if self.state.config.is_ready() {
                    let cfg = self.state.config.load();
                    reply(200, "application/json", ready_body(&cfg, self.exposed))
                } else {
                    reply(
                        503,
                        "application/json",
                        br#"{"status":"not_ready","reason":"no config snapshot loaded"}"#.to_vec(),
                    )
                }
            }
            _ => reply(
                404,
                "application/json",
                br#"{"error":"not found"}"#.to_vec(),
            ),
        }
    }
}
