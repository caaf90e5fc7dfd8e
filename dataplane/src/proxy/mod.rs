//! The proxy service: a Pingora HTTP server application that serves every endpoint itself.
//! LLM endpoints read the (bounded) body before any upstream is chosen, so the data plane
//! drives the upstream exchange in [`chat`] rather than Pingora's proxy pipeline (which can
//! only replay 64 KiB of a body read this early; see DESIGN.md). The app implements
//! pingora-core's `HttpServerApp` directly instead of pingora-proxy's `ProxyHttp`: every
//! request was answered in `request_filter` anyway, and skipping the proxy state machine
//! (its per-request future, modules and phases) is the largest single saving measured on
//! the hot path (README, "Benchmarks").

pub mod chat;
pub mod downstream;
pub mod models;
pub mod respond;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use downstream::Downstream;
use pingora::apps::{HttpServerApp, ReusedHttpStream};
use pingora::protocols::http::ServerSession;
use pingora::server::ShutdownWatch;
use pingora_error::ErrorType;
use sluice_translate::Usage;
use tokio::sync::Notify;

use crate::chat_request::ChatRequest;
use crate::config::RuntimeConfig;
use crate::error::GatewayError;
use crate::{metrics, AppState};

/// Per-request state, created when the request head has arrived.
pub struct RequestCtx {
    /// Client-supplied or generated request id.
    pub request_id: String,
    /// When the request arrived.
    pub start: Instant,
    /// Route that matched, if any.
    pub route: Option<String>,
    /// Provider of the last attempt.
    pub provider: Option<String>,
    /// Model the client asked for.
    pub model: Option<String>,
    /// Attempts made.
    pub attempts: u32,
    /// Status sent to the client.
    pub status: u16,
    /// Usage reported by the upstream.
    pub usage: Option<Usage>,
    /// Whether this is a chat request (metrics are recorded for those).
    pub is_chat: bool,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// Time to the first byte sent to the client.
    pub ttft: Option<std::time::Duration>,
    _inflight: Option<metrics::InflightGuard>,
}

impl RequestCtx {
    /// Route label for metrics (`-` when the model resolved without a route).
    pub fn route_label(&self) -> &str {
        self.route.as_deref().unwrap_or("-")
    }
}

/// The Pingora HTTP application serving the proxy port.
pub struct SluiceProxy {
    state: Arc<AppState>,
    /// Set once the server is shutting down: no more keep-alive.
    shutting_down: AtomicBool,
    /// Wakes connections idling between requests when the server shuts down.
    shutdown: Notify,
}

impl SluiceProxy {
    /// Serves from `state`.
    pub fn new(state: Arc<AppState>) -> Self {
        Self {
            state,
            shutting_down: AtomicBool::new(false),
            shutdown: Notify::new(),
        }
    }
}

fn valid_request_id(v: &str) -> bool {
    !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic())
}

/// Whether the request carries an accepted client key. Fails closed: in `keys` mode an
/// empty key set accepts nobody.
fn authorized(cfg: &RuntimeConfig, session: &Downstream) -> bool {
    if cfg.server.auth == crate::config::AuthMode::None {
        return true;
    }
    let h = session.req_header();
    let presented = h
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .or_else(|| h.headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim);
    let Some(presented) = presented else {
        return false;
    };
    let hash = crate::config::client_key_hash(presented);
    cfg.server
        .client_key_hashes
        .iter()
        .fold(false, |ok, k| ok | constant_time_eq(k, &hash))
}

/// Compares secrets without leaking where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn read_body(session: &mut Downstream, limit: usize) -> Result<Bytes, GatewayError> {
    if let Some(len) = session
        .req_header()
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        if len > limit {
            return Err(GatewayError::PayloadTooLarge { limit });
        }
    }
    let mut buf = BytesMut::new();
    let mut single: Option<Bytes> = None;
    loop {
        let chunk =
            session
                .read_request_body()
                .await
                .map_err(|e| GatewayError::InvalidRequest {
                    message: format!("could not read the request body: {e}"),
                    param: None,
                })?;
        let Some(chunk) = chunk else { break };
        if single.is_none() && buf.is_empty() {
            if chunk.len() > limit {
                return Err(GatewayError::PayloadTooLarge { limit });
            }
            single = Some(chunk);
            continue;
        }
        if let Some(s) = single.take() {
            buf.extend_from_slice(&s);
        }
        if buf.len() + chunk.len() > limit {
            return Err(GatewayError::PayloadTooLarge { limit });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(single.unwrap_or_else(|| buf.freeze()))
}

enum Endpoint {
    Chat,
    Models,
    Model(String),
    Health,
    Ping,
    NotFound,
    MethodNotAllowed,
}

fn classify(method: &str, path: &str) -> Endpoint {
    let path = path.split('?').next().unwrap_or(path);
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let get = method == "GET" || method == "HEAD";
    match path {
        "/v1/chat/completions" | "/api/v1/chat/completions" | "/chat/completions" => {
            if method == "POST" {
                Endpoint::Chat
            } else {
                Endpoint::MethodNotAllowed
            }
        }
        "/v1/models" | "/api/v1/models" | "/models" => {
            if get {
                Endpoint::Models
            } else {
                Endpoint::MethodNotAllowed
            }
        }
        "/health" | "/healthz" => Endpoint::Health,
        "/ping" => Endpoint::Ping,
        _ => {
            for prefix in ["/v1/models/", "/api/v1/models/"] {
                if let Some(id) = path.strip_prefix(prefix) {
                    return if get {
                        Endpoint::Model(percent_decode(id))
                    } else {
                        Endpoint::MethodNotAllowed
                    };
                }
            }
            Endpoint::NotFound
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl SluiceProxy {
    async fn handle(
        &self,
        session: &mut Downstream,
        ctx: &mut RequestCtx,
    ) -> Result<(), GatewayError> {
        let cfg = self.state.config.load();
        let endpoint = {
            let h = session.req_header();
            classify(h.method.as_str(), h.uri.path())
        };
        match endpoint {
            Endpoint::Health => {
                ctx.status = 200;
                let _ = respond::send_json(
                    session,
                    200,
                    Bytes::from_static(br#"{"status":"healthy","service":"sluice"}"#),
                    &ctx.request_id,
                )
                .await;
                return Ok(());
            }
            Endpoint::Ping => {
                ctx.status = 200;
                let _ = respond::send_json(
                    session,
                    200,
                    Bytes::from_static(br#"{"status":"ok","message":"pong"}"#),
                    &ctx.request_id,
                )
                .await;
                return Ok(());
            }
            Endpoint::NotFound => {
                let h = session.req_header();
                return Err(GatewayError::NotFound(format!(
                    "no such endpoint: {} {}",
                    h.method,
                    h.uri.path()
                )));
            }
            Endpoint::MethodNotAllowed => return Err(GatewayError::MethodNotAllowed),
            _ => {}
        }
        if !authorized(&cfg, session) {
            return Err(GatewayError::Unauthorized(
                "missing or invalid API key".into(),
            ));
        }
        match endpoint {
            Endpoint::Models => {
                ctx.status = 200;
                let _ = respond::send_json(
                    session,
                    200,
                    Bytes::from(models::list_body(&cfg)),
                    &ctx.request_id,
                )
                .await;
                Ok(())
            }
            Endpoint::Model(id) => match models::get(&cfg, &id) {
                Some(m) => {
                    ctx.status = 200;
                    let body = serde_json::to_vec(&m).unwrap_or_default();
                    let _ =
                        respond::send_json(session, 200, Bytes::from(body), &ctx.request_id).await;
                    Ok(())
                }
                None => Err(GatewayError::ModelNotFound {
                    model: id.clone(),
                    message: format!("The model `{id}` does not exist"),
                }),
            },
            Endpoint::Chat => {
                ctx.is_chat = true;
                let body = read_body(session, cfg.server.max_body_bytes).await?;
                let req = ChatRequest::parse(body, &cfg.server.limits)?;
                ctx.stream = req.stream;
                chat::serve(&self.state, session, ctx, &cfg, req).await
            }
            _ => Err(GatewayError::Internal("unroutable endpoint".into())),
        }
    }
}

impl SluiceProxy {
    fn new_ctx() -> RequestCtx {
        RequestCtx {
            request_id: String::new(),
            start: Instant::now(),
            route: None,
            provider: None,
            model: None,
            attempts: 0,
            status: 0,
            usage: None,
            is_chat: false,
            stream: false,
            ttft: None,
            _inflight: None,
        }
    }

    /// Serves one request whose head has been read, completely (errors included).
    async fn serve_request(&self, session: &mut Downstream, ctx: &mut RequestCtx) {
        ctx._inflight = Some(metrics::InflightGuard::new());
        ctx.request_id = session
            .req_header()
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| valid_request_id(v))
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        if let Err(err) = self.handle(session, ctx).await {
            ctx.status = err.status();
            if matches!(err, GatewayError::PayloadTooLarge { .. }) {
                // The rest of the body was not read: the connection cannot be reused.
                session.set_keepalive(None);
            }
            if err.status() >= 500 {
                tracing::warn!(request_id = %ctx.request_id, error = %err, "request failed");
            }
            let provider = ctx.provider.clone();
            if let Err(e) =
                respond::send_error(session, &err, &ctx.request_id, provider.as_deref()).await
            {
                tracing::debug!(error = %e, "could not write error response");
            }
        }
    }

    /// Records request metrics and the usage record once the response is complete.
    fn record(&self, ctx: &RequestCtx) {
        if !ctx.is_chat {
            return;
        }
        let provider = ctx.provider.as_deref().unwrap_or("-");
        let model = ctx.model.as_deref().unwrap_or("-");
        let route = ctx.route_label();
        metrics::request_done(
            route,
            provider,
            model,
            ctx.status,
            ctx.start.elapsed().as_secs_f64(),
        );
        if let Some(u) = ctx.usage {
            metrics::tokens(route, provider, model, u.prompt_tokens, u.completion_tokens);
        }
        if let Some(tx) = &self.state.usage {
            let latency = ctx.start.elapsed();
            let rec = sluice_proto::UsageRecord {
                unix_ms: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0),
                request_id: ctx.request_id.clone(),
                route: route.to_string(),
                provider: provider.to_string(),
                model: model.to_string(),
                status: u32::from(ctx.status),
                latency_ms: latency.as_millis() as u64,
                ttft_ms: ctx.ttft.unwrap_or(latency).as_millis() as u64,
                prompt_tokens: ctx.usage.map_or(0, |u| u.prompt_tokens),
                completion_tokens: ctx.usage.map_or(0, |u| u.completion_tokens),
                attempts: ctx.attempts,
                stream: ctx.stream,
            };
            // Never block a request on reporting: drop the record when the queue is full.
            let _ = tx.try_send(rec);
        }
    }
}

#[async_trait]
impl HttpServerApp for SluiceProxy {
    /// Runs once per request on a connection: reads the head (or gives up when the server
    /// shuts down while the connection idles), serves it, records it, and hands the
    /// connection back for the next request when it is reusable.
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        _shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        let read = tokio::select! {
            biased;
            r = session.read_request() => r,
            _ = self.shutdown.notified() => return None,
        };
        match read {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => {
                let mut ds = Downstream::new(session);
                if matches!(e.etype, ErrorType::InvalidHTTPHeader) {
                    let err = GatewayError::InvalidRequest {
                        message: format!("malformed HTTP request: {e}"),
                        param: None,
                    };
                    ds.set_keepalive(None);
                    let _ = respond::send_error(&mut ds, &err, "-", None).await;
                }
                ds.finish(false).await;
                return None;
            }
        }
        let shutting_down = self.shutting_down.load(Ordering::Relaxed);
        session.set_keepalive(if shutting_down { None } else { Some(60) });
        let mut ds = Downstream::new(session);
        let mut ctx = Self::new_ctx();
        self.serve_request(&mut ds, &mut ctx).await;
        self.record(&ctx);
        drop(ctx);
        ds.finish(!self.shutting_down.load(Ordering::Relaxed)).await
    }

    /// Stops keep-alive and wakes idle connections so they close.
    async fn http_cleanup(&self) {
        self.shutting_down.store(true, Ordering::Relaxed);
        self.shutdown.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert!(matches!(
            classify("POST", "/v1/chat/completions"),
            Endpoint::Chat
        ));
        assert!(matches!(
            classify("POST", "/api/v1/chat/completions/"),
            Endpoint::Chat
        ));
        assert!(matches!(
            classify("GET", "/v1/chat/completions"),
            Endpoint::MethodNotAllowed
        ));
        assert!(matches!(
            classify("GET", "/v1/models?x=1"),
            Endpoint::Models
        ));
        assert!(
            matches!(classify("GET", "/v1/models/openai%3Agpt-4o"), Endpoint::Model(m) if m == "openai:gpt-4o")
        );
        assert!(matches!(classify("GET", "/nope"), Endpoint::NotFound));
        assert!(matches!(classify("GET", "/ping"), Endpoint::Ping));
    }

    #[test]
    fn ct_eq() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
