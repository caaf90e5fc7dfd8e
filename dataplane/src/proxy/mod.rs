//! The proxy service: a Pingora HTTP server application that serves every endpoint itself.
//! LLM endpoints read the (bounded) body before any upstream is chosen, so the data plane
//! drives the upstream exchange in [`chat`] rather than Pingora's proxy pipeline (which can
//! only replay 64 KiB of a body read this early; see `docs/ARCHITECTURE.md`, "The request
//! path"). The app implements pingora-core's `HttpServerApp` directly instead of
//! pingora-proxy's `ProxyHttp`: every request was answered in `request_filter` anyway,
//! and skipping the proxy state machine (its per-request future, modules and phases) is
//! the largest single saving measured on the hot path (README, "Benchmarks").

mod attempt;
pub mod chat;
mod count_tokens;
pub mod downstream;
mod embeddings;
mod govern;
mod local;
pub mod models;
mod plan;
mod relay;
pub mod respond;
mod whole;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use downstream::Downstream;
use pingora::apps::{ReusedHttpStream, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use pingora_error::ErrorType;
use sluice_translate::Usage;
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

use crate::admission::{lazy_deadline, BodyDeadline, BodyPermit, InflightPermit, Reject};
use crate::chat_request::{ChatRequest, ClientRequest};
use crate::config::{AuthMode, Limits, Protocol, RuntimeConfig};
use crate::error::GatewayError;
use crate::governance::{Estimate, Ticket};
use crate::{metrics, AppState};
use sluice_model::{ClientKey, Team};
use sluice_translate::openai::RequestLimits;

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
    /// The client surface: answers and errors are written in its protocol.
    pub surface: Protocol,
    /// A streamed Gemini answer as one JSON array (no `alt=sse`).
    pub json_array: bool,
    /// The client's `anthropic-beta` header (forwarded to Anthropic upstreams on
    /// passthrough).
    pub anthropic_beta: Option<String>,
    /// The client key the request presented, when it is a governed key (not auth `none`
    /// or the legacy hash list).
    pub key: Option<Arc<ClientKey>>,
    /// The key's team.
    pub team: Option<Arc<Team>>,
    /// What the request's key, team and route scopes reserved (an empty ticket when none
    /// of them has limits).
    pub ticket: Ticket,
    /// What the current attempt's provider reserved.
    pub provider_ticket: Option<Ticket>,
    /// The tokens reserved at admission (computed once, when a scope needs it).
    pub estimate: Option<Estimate>,
    _inflight: Option<metrics::InflightGuard>,
    /// This request's share of the in-flight cap.
    _admitted: Option<InflightPermit>,
    /// The request-body bytes this request holds of the global budget.
    _body: Option<BodyPermit>,
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

/// The client key a request presents: `Authorization: Bearer` on every surface,
/// `x-api-key` (Anthropic's carrier, accepted everywhere as before), and for Gemini's
/// surface `x-goog-api-key` or the `key` query parameter.
fn presented_key<'h>(
    h: &'h pingora_http::RequestHeader,
    surface: Protocol,
) -> Option<std::borrow::Cow<'h, str>> {
    let header = |name: &str| h.headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(k) = header("authorization").and_then(|v| {
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
    }) {
        return Some(k.trim().into());
    }
    if let Some(k) = header("x-api-key") {
        return Some(k.trim().into());
    }
    if surface != Protocol::Gemini {
        return None;
    }
    if let Some(k) = header("x-goog-api-key") {
        return Some(k.trim().into());
    }
    query_param(h.uri.query()?, "key")
}

/// The first value of `name` in a query string, percent-decoded.
fn query_param<'q>(query: &'q str, name: &str) -> Option<std::borrow::Cow<'q, str>> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_encoding::percent_decode_str(v).decode_utf8_lossy())
    })
}

/// Compares secrets without leaking where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads the whole request body into memory, within `max_body_bytes`, the global budget of
/// buffered body bytes (`permit` grows with every piece) and the body deadline (a total
/// time, and a minimum rate once the grace period has passed).
async fn read_body(
    session: &mut Downstream,
    max_body_bytes: usize,
    limits: &Limits,
    permit: &mut BodyPermit,
) -> Result<Bytes, GatewayError> {
    let declared = session
        .req_header()
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > max_body_bytes) {
        Reject::BodyTooLarge.count();
        return Err(GatewayError::PayloadTooLarge {
            limit: max_body_bytes,
        });
    }
    let deadline = BodyDeadline::start(limits);
    // Allocated only when a second piece arrives.
    let mut buf = BytesMut::new();
    let mut single: Option<Bytes> = None;
    let mut received = 0usize;
    loop {
        let (until, why) = deadline.next_deadline(received);
        let chunk = match lazy_deadline(until, session.read_request_body()).await {
            Some(chunk) => chunk.map_err(|e| GatewayError::InvalidRequest {
                message: format!("could not read the request body: {e}"),
                param: None,
            })?,
            None => {
                why.count();
                return Err(GatewayError::RequestTimeout(match why {
                    Reject::BodyRate => format!(
                        "the request body arrived slower than {} bytes per second",
                        limits.min_body_rate
                    ),
                    _ => format!(
                        "the request body did not arrive within {} ms",
                        limits.body_timeout.as_millis()
                    ),
                }));
            }
        };
        let Some(chunk) = chunk else { break };
        received = received.saturating_add(chunk.len());
        if received > max_body_bytes {
            Reject::BodyTooLarge.count();
            return Err(GatewayError::PayloadTooLarge {
                limit: max_body_bytes,
            });
        }
        if single.is_none() && buf.is_empty() {
            // Most bodies arrive in one piece and are used as they are, without a copy.
            permit
                .grow(chunk.len(), limits)
                .map_err(|_| overloaded("request body"))?;
            single = Some(chunk);
            continue;
        }
        // The buffer's capacity, not just its length, is charged to the budget before it
        // is allocated: growth doubles (at most to what the body may still need).
        let needed = buf.len() + single.as_ref().map_or(0, Bytes::len) + chunk.len();
        if needed > buf.capacity() {
            let target = needed.max(buf.capacity().saturating_mul(2)).min(
                declared
                    .unwrap_or(max_body_bytes)
                    .min(max_body_bytes)
                    .max(needed),
            );
            permit
                .grow(target.saturating_sub(buf.capacity()), limits)
                .map_err(|_| overloaded("request body"))?;
            buf.reserve(target.saturating_sub(buf.len()));
        }
        if let Some(s) = single.take() {
            buf.extend_from_slice(&s);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(single.unwrap_or_else(|| buf.freeze()))
}

/// The 503 for a spent shared budget.
fn overloaded(what: &str) -> GatewayError {
    GatewayError::Overloaded {
        message: format!("the gateway is at capacity ({what}); retry shortly"),
        retry_after: 1,
    }
}

enum Endpoint {
    /// OpenAI Chat Completions.
    Chat,
    /// Anthropic Messages.
    Messages,
    /// Anthropic token counting.
    CountTokens,
    /// OpenAI Responses.
    Responses,
    /// `GET`/`DELETE /v1/responses/{id}`: nothing is stored.
    StoredResponse,
    /// Gemini `generateContent` (`stream`: `streamGenerateContent`).
    Gemini {
        model: String,
        stream: bool,
    },
    /// OpenAI embeddings.
    Embeddings,
    /// `GET /v1/models` (OpenAI's list, Anthropic's with `anthropic-version`).
    Models,
    /// `GET /v1beta/models` (Gemini's list).
    GeminiModels,
    /// `GET /v1/models/{id}`.
    Model(String),
    /// `GET /v1beta/models/{id}`.
    GeminiModel(String),
    Health,
    Ping,
    NotFound,
    MethodNotAllowed,
}

impl Endpoint {
    /// The client surface whose protocol answers and errors are written in.
    fn surface(&self, anthropic_version: bool) -> Protocol {
        match self {
            Self::Messages | Self::CountTokens => Protocol::Anthropic,
            Self::Models | Self::Model(_) if anthropic_version => Protocol::Anthropic,
            Self::Gemini { .. } | Self::GeminiModels | Self::GeminiModel(_) => Protocol::Gemini,
            Self::Responses | Self::StoredResponse => Protocol::OpenAiResponses,
            _ => Protocol::OpenAi,
        }
    }
}

fn classify(method: &str, path: &str) -> Endpoint {
    let path = path.split('?').next().unwrap_or(path);
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let get = method == "GET" || method == "HEAD";
    let post = |e: Endpoint| {
        if method == "POST" {
            e
        } else {
            Endpoint::MethodNotAllowed
        }
    };
    match path {
        "/v1/chat/completions" | "/api/v1/chat/completions" | "/chat/completions" => {
            post(Endpoint::Chat)
        }
        "/v1/messages" | "/api/v1/messages" => post(Endpoint::Messages),
        "/v1/messages/count_tokens" | "/api/v1/messages/count_tokens" => {
            post(Endpoint::CountTokens)
        }
        "/v1/responses" | "/api/v1/responses" | "/responses" => post(Endpoint::Responses),
        "/v1/embeddings" | "/api/v1/embeddings" | "/embeddings" => post(Endpoint::Embeddings),
        "/v1/models" | "/api/v1/models" | "/models" => {
            if get {
                Endpoint::Models
            } else {
                Endpoint::MethodNotAllowed
            }
        }
        "/v1beta/models" => {
            if get {
                Endpoint::GeminiModels
            } else {
                Endpoint::MethodNotAllowed
            }
        }
        "/health" | "/healthz" => Endpoint::Health,
        "/ping" => Endpoint::Ping,
        _ => {
            for prefix in ["/v1/responses/", "/api/v1/responses/"] {
                if path.strip_prefix(prefix).is_some() {
                    return if get || method == "DELETE" {
                        Endpoint::StoredResponse
                    } else {
                        Endpoint::MethodNotAllowed
                    };
                }
            }
            for prefix in ["/v1beta/models/", "/v1/models/", "/api/v1/models/"] {
                let Some(rest) = path.strip_prefix(prefix) else {
                    continue;
                };
                let gemini = rest.rsplit_once(':').and_then(|(model, m)| match m {
                    "generateContent" => Some((model, false)),
                    "streamGenerateContent" => Some((model, true)),
                    _ => None,
                });
                if let Some((model, stream)) = gemini {
                    return post(Endpoint::Gemini {
                        model: percent_decode(model),
                        stream,
                    });
                }
                if !get {
                    return Endpoint::MethodNotAllowed;
                }
                let id = percent_decode(rest);
                return if prefix == "/v1beta/models/" {
                    Endpoint::GeminiModel(id)
                } else {
                    Endpoint::Model(id)
                };
            }
            Endpoint::NotFound
        }
    }
}

/// Decodes `%XX` escapes (a malformed escape is kept as written); invalid UTF-8 becomes
/// U+FFFD.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
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
        // Header and query lookups only for the endpoints they steer (the OpenAI Chat hot
        // path does none).
        let anthropic_version = matches!(endpoint, Endpoint::Models | Endpoint::Model(_))
            && session
                .req_header()
                .headers
                .contains_key("anthropic-version");
        ctx.surface = endpoint.surface(anthropic_version);
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
        // Liveness answers above cost nothing and stay up under load; everything below
        // holds memory or an upstream connection, so it counts against the in-flight cap.
        ctx._admitted = Some(
            self.state
                .admission
                .request(&cfg.server.limits)
                .map_err(|_| overloaded("requests in flight"))?,
        );
        if cfg.server.auth != AuthMode::None {
            let presented = presented_key(session.req_header(), ctx.surface);
            if let Some((key, team)) = govern::authenticate(&cfg, presented.as_deref())? {
                ctx.key = Some(key);
                ctx.team = team;
            }
        }
        let limits = RequestLimits::from(&cfg.server.limits);
        match endpoint {
            Endpoint::Models | Endpoint::GeminiModels => {
                let body = match ctx.surface {
                    Protocol::Anthropic => models::anthropic_list_body(&cfg),
                    Protocol::Gemini => models::gemini_list_body(&cfg),
                    _ => models::list_body(&cfg),
                };
                ctx.status = 200;
                let _ = respond::send_json(session, 200, Bytes::from(body), &ctx.request_id).await;
                Ok(())
            }
            Endpoint::Model(ref id) | Endpoint::GeminiModel(ref id) => {
                let Some(body) = models::get_body(&cfg, id, ctx.surface) else {
                    return Err(GatewayError::ModelNotFound {
                        model: id.clone(),
                        message: format!("The model `{id}` does not exist"),
                    });
                };
                ctx.status = 200;
                let _ = respond::send_json(session, 200, Bytes::from(body), &ctx.request_id).await;
                Ok(())
            }
            Endpoint::StoredResponse => Err(GatewayError::NotFound(
                "responses are not stored by this gateway (every response is created with \
                 store: false semantics), so they cannot be retrieved or deleted"
                    .into(),
            )),
            Endpoint::Chat => {
                ctx.is_chat = true;
                let body = self.body(session, ctx, &cfg).await?;
                let req = ClientRequest::from_chat(ChatRequest::parse(body, limits)?);
                ctx.stream = req.stream;
                chat::serve(&self.state, session, ctx, &cfg, req).await
            }
            Endpoint::Messages | Endpoint::Responses | Endpoint::Gemini { .. } => {
                ctx.is_chat = true;
                ctx.anthropic_beta = anthropic_beta(session);
                let body = self.body(session, ctx, &cfg).await?;
                let (model, stream) = match &endpoint {
                    Endpoint::Gemini { model, stream } => {
                        let alt_sse = session
                            .req_header()
                            .uri
                            .query()
                            .and_then(|q| query_param(q, "alt"))
                            .is_some_and(|alt| alt == "sse");
                        ctx.json_array = *stream && !alt_sse;
                        (Some(model.as_str()), Some(*stream))
                    }
                    _ => (None, None),
                };
                let req = ClientRequest::parse(ctx.surface, body, model, stream, &limits)?;
                ctx.stream = req.stream;
                chat::serve(&self.state, session, ctx, &cfg, req).await
            }
            Endpoint::CountTokens => {
                ctx.anthropic_beta = anthropic_beta(session);
                let body = self.body(session, ctx, &cfg).await?;
                let req = ClientRequest::scan(Protocol::Anthropic, body, None, None, &limits)?;
                count_tokens::serve(&self.state, session, ctx, &cfg, req).await
            }
            Endpoint::Embeddings => {
                ctx.is_chat = true;
                let body = self.body(session, ctx, &cfg).await?;
                let emb = sluice_translate::embeddings::parse(&body, &limits)?;
                let req = ClientRequest::scan(Protocol::OpenAi, body, None, Some(false), &limits)?;
                embeddings::serve(&self.state, session, ctx, &cfg, req, emb).await
            }
            _ => Err(GatewayError::Internal("unroutable endpoint".into())),
        }
    }

    /// Reads the request body within the configured limits and budgets.
    async fn body(
        &self,
        session: &mut Downstream,
        ctx: &mut RequestCtx,
        cfg: &RuntimeConfig,
    ) -> Result<Bytes, GatewayError> {
        let permit = ctx._body.insert(BodyPermit::empty(&self.state.admission));
        read_body(
            session,
            cfg.server.max_body_bytes,
            &cfg.server.limits,
            permit,
        )
        .await
    }
}

/// The client's `anthropic-beta` header, if any.
fn anthropic_beta(session: &Downstream) -> Option<String> {
    session
        .req_header()
        .headers
        .get("anthropic-beta")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
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
            surface: Protocol::OpenAi,
            json_array: false,
            anthropic_beta: None,
            key: None,
            team: None,
            ticket: Ticket::empty(),
            provider_ticket: None,
            estimate: None,
            _inflight: None,
            _admitted: None,
            _body: None,
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
            if !session.request_body_done() {
                // The rest of the body was not read (too large, too slow, refused): the
                // connection cannot be reused, and the answer must not wait to drain it.
                session.set_keepalive(None);
            }
            if err.status() >= 500 {
                tracing::warn!(request_id = %ctx.request_id, error = %err, "request failed");
            }
            let provider = ctx.provider.clone();
            if let Err(e) = respond::send_error(
                session,
                &err,
                &ctx.request_id,
                provider.as_deref(),
                ctx.surface,
            )
            .await
            {
                tracing::debug!(error = %e, "could not write error response");
            }
        }
    }

    /// Records request metrics and the usage record once the response is complete.
    /// Metric labels only ever carry configured names (anything else is `other`), and
    /// usage-record fields are capped, so no client can grow the data plane's state.
    fn record(&self, ctx: &mut RequestCtx) {
        if !ctx.is_chat {
            return;
        }
        let cfg = self.state.config.load();
        let usage = ctx.usage.as_ref().map(govern::token_usage);
        let cost = usage
            .as_ref()
            .map_or(0, |u| govern::cost_nanousd(&cfg, ctx.model.as_deref(), u));
        govern::settle(ctx, usage.as_ref(), cost);
        let provider = ctx.provider.as_deref().unwrap_or("-");
        let model = ctx.model.as_deref().unwrap_or("-");
        let route = ctx.route_label();
        let model_label = if model == "-" || cfg.is_configured_model(model) {
            model
        } else {
            metrics::OTHER
        };
        metrics::request_done(
            route,
            provider,
            model_label,
            ctx.status,
            ctx.start.elapsed().as_secs_f64(),
        );
        if let Some(u) = ctx.usage {
            metrics::tokens(
                route,
                provider,
                model_label,
                u.prompt_tokens,
                u.completion_tokens,
            );
        }
        if cost > 0 {
            metrics::cost(
                route,
                provider,
                model_label,
                sluice_model::nanousd_to_usd(cost),
            );
        }
        if let Some(tx) = &self.state.usage {
            let (key_id, team, user) = govern::owner(ctx);
            let latency = ctx.start.elapsed();
            let rec = sluice_proto::UsageRecord {
                unix_ms: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0),
                request_id: capped(&ctx.request_id),
                route: capped(route),
                provider: capped(provider),
                model: capped(model),
                status: u32::from(ctx.status),
                latency_ms: latency.as_millis() as u64,
                ttft_ms: ctx.ttft.unwrap_or(latency).as_millis() as u64,
                prompt_tokens: ctx.usage.map_or(0, |u| u.prompt_tokens),
                completion_tokens: ctx.usage.map_or(0, |u| u.completion_tokens),
                attempts: ctx.attempts,
                stream: ctx.stream,
                key_id: capped(key_id),
                team: capped(team),
                user: capped(user),
                cache_read_tokens: usage.map_or(0, |u| u.cache_read),
                cache_write_tokens: usage.map_or(0, |u| u.cache_write),
                reasoning_tokens: usage.map_or(0, |u| u.reasoning),
                cost_nanousd: cost,
                surface: ctx.surface.as_str().to_owned(),
            };
            // Never block a request on reporting: drop the record when the queue is full.
            let _ = tx.try_send(rec);
        }
    }

    /// Serves one request on a connection: reads its head within the head deadline (or
    /// gives up when the server shuts down while the connection idles), serves it,
    /// records it, and hands the connection back when it can carry another request.
    async fn serve_http(
        &self,
        mut session: ServerSession,
        first: bool,
    ) -> Option<ReusedHttpStream> {
        let (header_timeout, keepalive_timeout, write_timeout) = {
            let cfg = self.state.config.load();
            let l = &cfg.server.limits;
            (l.header_timeout, l.keepalive_timeout, l.write_timeout)
        };
        // A new connection has the head deadline from accept; a kept-alive one may idle
        // first (Pingora applies the keep-alive timeout to that wait).
        let head_deadline = if first {
            header_timeout
        } else {
            keepalive_timeout + header_timeout
        };
        // Pingora's coarse timer, not tokio's: a kept-alive connection waits for its next
        // request on every request, and arming a tokio timer there measurably cost latency
        // (A/B at c=1: +4 µs p50); Pingora's wheel costs nothing measurable.
        let head =
            pingora_timeout::fast_timeout::fast_timeout(head_deadline, session.read_request());
        let read = tokio::select! {
            biased;
            r = head => r,
            _ = self.shutdown.notified() => return None,
        };
        match read {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => return None,
            Ok(Err(e)) => {
                let mut ds = Downstream::new(session, write_timeout);
                if matches!(e.etype, ErrorType::InvalidHTTPHeader) {
                    let err = GatewayError::InvalidRequest {
                        message: format!("malformed HTTP request: {e}"),
                        param: None,
                    };
                    ds.set_keepalive(None);
                    let _ = respond::send_error(&mut ds, &err, "-", None, Protocol::OpenAi).await;
                }
                ds.finish(false).await;
                return None;
            }
            Err(_) => {
                // A client that could not send a request head in time (or trickles it)
                // loses the connection.
                Reject::HeaderTimeout.count();
                return None;
            }
        }
        let shutting_down = self.shutting_down.load(Ordering::Relaxed);
        session.set_keepalive(if shutting_down {
            None
        } else {
            Some(keepalive_timeout.as_secs().max(1))
        });
        let mut ds = Downstream::new(session, write_timeout);
        let mut ctx = Self::new_ctx();
        self.serve_request(&mut ds, &mut ctx).await;
        self.record(&mut ctx);
        drop(ctx);
        ds.finish(!self.shutting_down.load(Ordering::Relaxed)).await
    }

    /// Stops keep-alive and wakes idle connections so they close.
    async fn stop_keepalive(&self) {
        self.shutting_down.store(true, Ordering::Relaxed);
        self.shutdown.notify_waiters();
    }
}

/// A usage-record field, capped at 256 bytes (on a character boundary).
fn capped(s: &str) -> String {
    const MAX: usize = 256;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_string()
}

/// The proxy port's application: admits each connection against the open-connection cap,
/// then serves HTTP/1.1 requests on it one after another with [`SluiceProxy`].
///
/// It is a pingora-core `ServerApp` rather than an `HttpServerApp` because admission needs
/// to see a connection's whole life (the cap counts open connections, not requests) and
/// whether a request is the connection's first (its head deadline starts at accept).
pub struct ProxyApp {
    proxy: SluiceProxy,
}

impl ProxyApp {
    /// Serves from `state`.
    pub fn new(state: Arc<AppState>) -> Self {
        Self {
            proxy: SluiceProxy::new(state),
        }
    }
}

/// Refuses a connection over the cap: a complete 503 with `Retry-After`, then close.
async fn refuse_connection(mut stream: Stream, write_timeout: std::time::Duration) {
    const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 133\r\n\r\n{\"error\":{\"message\":\"the gateway is at capacity (open connections); retry shortly\",\"type\":\"service_unavailable\",\"code\":\"overloaded\"}}";
    let _ = tokio::time::timeout(write_timeout, async {
        stream.write_all(REFUSAL).await?;
        stream.flush().await?;
        stream.shutdown().await
    })
    .await;
}

#[async_trait]
impl ServerApp for ProxyApp {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        _shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        // The config guard is not held across the connection's life (arc-swap guards are
        // meant to be short-lived).
        let admitted = {
            let cfg = self.proxy.state.config.load();
            self.proxy
                .state
                .admission
                .connection(&cfg.server.limits)
                .map_err(|_| cfg.server.limits.write_timeout)
        };
        let _permit = match admitted {
            Ok(permit) => permit,
            Err(write_timeout) => {
                refuse_connection(stream, write_timeout).await;
                return None;
            }
        };
        let mut session = ServerSession::new_http1(stream);
        let mut first = true;
        loop {
            let (stream, settings) = self.proxy.serve_http(session, first).await?.consume();
            session = ServerSession::new_http1(stream);
            if let Some(settings) = settings {
                settings.apply_to_session(&mut session);
            }
            first = false;
        }
    }

    async fn cleanup(&self) {
        self.proxy.stop_keepalive().await;
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
    fn surface_paths() {
        assert!(matches!(
            classify("POST", "/v1/messages"),
            Endpoint::Messages
        ));
        assert!(matches!(
            classify("POST", "/v1/messages/count_tokens"),
            Endpoint::CountTokens
        ));
        assert!(matches!(
            classify("GET", "/v1/messages"),
            Endpoint::MethodNotAllowed
        ));
        assert!(matches!(
            classify("POST", "/v1/responses"),
            Endpoint::Responses
        ));
        assert!(matches!(
            classify("GET", "/v1/responses/resp_1"),
            Endpoint::StoredResponse
        ));
        assert!(matches!(
            classify("DELETE", "/v1/responses/resp_1"),
            Endpoint::StoredResponse
        ));
        assert!(matches!(
            classify("POST", "/v1/embeddings"),
            Endpoint::Embeddings
        ));
        assert!(matches!(
            classify("POST", "/v1beta/models/gemini-2.5-flash:generateContent"),
            Endpoint::Gemini { ref model, stream: false } if model == "gemini-2.5-flash"
        ));
        assert!(matches!(
            classify("POST", "/v1/models/gem%3Ax:streamGenerateContent?alt=sse"),
            Endpoint::Gemini { ref model, stream: true } if model == "gem:x"
        ));
        assert!(matches!(
            classify("POST", "/v1beta/models/openai:gpt-4o:generateContent"),
            Endpoint::Gemini { ref model, .. } if model == "openai:gpt-4o"
        ));
        assert!(matches!(
            classify("GET", "/v1beta/models/x:generateContent"),
            Endpoint::MethodNotAllowed
        ));
        assert!(matches!(
            classify("GET", "/v1beta/models"),
            Endpoint::GeminiModels
        ));
        assert!(
            matches!(classify("GET", "/v1beta/models/models%2Fg"), Endpoint::GeminiModel(m) if m == "models/g")
        );
        // `provider:model` ids still name models, not Gemini methods.
        assert!(
            matches!(classify("GET", "/v1/models/openai:gpt-4o"), Endpoint::Model(m) if m == "openai:gpt-4o")
        );
        assert!(matches!(
            classify("POST", "/v1/models/openai:gpt-4o"),
            Endpoint::MethodNotAllowed
        ));
    }

    #[test]
    fn surfaces_of_endpoints() {
        assert_eq!(Endpoint::Messages.surface(false), Protocol::Anthropic);
        assert_eq!(Endpoint::CountTokens.surface(false), Protocol::Anthropic);
        assert_eq!(Endpoint::Models.surface(false), Protocol::OpenAi);
        assert_eq!(Endpoint::Models.surface(true), Protocol::Anthropic);
        assert_eq!(Endpoint::GeminiModels.surface(true), Protocol::Gemini);
        assert_eq!(
            Endpoint::Gemini {
                model: "g".into(),
                stream: false
            }
            .surface(false),
            Protocol::Gemini
        );
        assert_eq!(Endpoint::Responses.surface(true), Protocol::OpenAiResponses);
        assert_eq!(Endpoint::Chat.surface(true), Protocol::OpenAi);
    }

    fn head(uri: &str, headers: &[(&'static str, &str)]) -> pingora_http::RequestHeader {
        let mut h = pingora_http::RequestHeader::build("POST", uri.as_bytes(), None).unwrap();
        for (k, v) in headers {
            h.insert_header(*k, *v).unwrap();
        }
        h
    }

    #[test]
    fn auth_carriers_per_surface() {
        let key = |h: &pingora_http::RequestHeader, s| presented_key(h, s).map(|k| k.into_owned());
        let bearer = head("/v1/messages", &[("authorization", "Bearer  sk-1 ")]);
        for s in [
            Protocol::OpenAi,
            Protocol::Anthropic,
            Protocol::Gemini,
            Protocol::OpenAiResponses,
        ] {
            assert_eq!(key(&bearer, s).as_deref(), Some("sk-1"));
        }
        let x_api_key = head("/v1/messages", &[("x-api-key", "sk-2")]);
        assert_eq!(
            key(&x_api_key, Protocol::Anthropic).as_deref(),
            Some("sk-2")
        );
        let goog = head(
            "/v1beta/models/g:generateContent",
            &[("x-goog-api-key", "sk-3")],
        );
        assert_eq!(key(&goog, Protocol::Gemini).as_deref(), Some("sk-3"));
        assert_eq!(key(&goog, Protocol::Anthropic), None);
        let query = head("/v1beta/models/g:generateContent?alt=sse&key=sk%2B4", &[]);
        assert_eq!(key(&query, Protocol::Gemini).as_deref(), Some("sk+4"));
        assert_eq!(key(&query, Protocol::OpenAi), None);
        assert_eq!(key(&head("/v1/messages", &[]), Protocol::Anthropic), None);
        // The bearer token wins over the other carriers.
        let both = head(
            "/x?key=q",
            &[("authorization", "Bearer b"), ("x-goog-api-key", "g")],
        );
        assert_eq!(key(&both, Protocol::Gemini).as_deref(), Some("b"));
        assert_eq!(query_param("a=1&alt=sse", "alt").as_deref(), Some("sse"));
        assert_eq!(query_param("alternative=sse", "alt"), None);
    }

    #[test]
    fn ct_eq() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
