//! The ops service (default `0.0.0.0:9090`): `/metrics` (Prometheus text), `/healthz`
//! (liveness) and `/readyz` (ready only once a valid config snapshot is loaded).

use std::sync::Arc;

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use crate::config::ConfigStore;

/// The ops HTTP application.
pub struct OpsApp {
    config: Arc<ConfigStore>,
}

impl OpsApp {
    /// Reports on `config`.
    pub fn new(config: Arc<ConfigStore>) -> Self {
        Self { config }
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

#[async_trait]
impl ServeHttp for OpsApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_string();
        match path.as_str() {
            "/metrics" => reply(200, "text/plain; version=0.0.4", crate::metrics::render()),
            "/healthz" | "/health" => {
                reply(200, "application/json", br#"{"status":"ok"}"#.to_vec())
            }
            "/readyz" => {
                if self.config.is_ready() {
                    let v = self.config.load().version;
                    reply(
                        200,
                        "application/json",
                        format!(r#"{{"status":"ready","config_version":{v}}}"#).into_bytes(),
                    )
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
