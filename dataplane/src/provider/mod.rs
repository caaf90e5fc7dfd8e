//! The provider seam: one module per provider protocol ([`openai`] for OpenAI Chat and
//! every OpenAI-compatible kind, [`responses`] for OpenAI Responses, [`anthropic`],
//! [`gemini`], [`echo`]) behind one interface, [`Adapter`]. The kind is resolved once per
//! attempt ([`for_kind`]); after that the request path only calls the adapter: upstream
//! path and auth headers, the upstream request built from the client's request (passed
//! through when the client speaks the provider's protocol, else built from the hub form),
//! non-streamed and streamed answers (passed through with an observer reading usage, or
//! translated by the hub into the client's protocol), error translation, token counting,
//! embeddings, and the health-check request.
//!
//! An enum rather than trait objects: dispatch is one `match` on a `Copy` value, nothing
//! is boxed, and the OpenAI Chat passthrough path costs what it cost before the seam
//! existed.

mod anthropic;
pub mod echo;
mod gemini;
mod openai;
mod responses;

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use sluice_translate::embeddings::{self, EmbeddingsRequest};
use sluice_translate::hub::{self, Observer, Translator};
use sluice_translate::openai::PassthroughScanner;
use sluice_translate::{
    ClientRequest, ResponseContext, StreamTranslator, TranslateError, UpstreamError, Usage,
};

use crate::config::{BaseUrl, Endpoint, Protocol, Provider, ProviderKind};
use crate::error::{AttemptError, GatewayError};
use crate::upstream::OutboundRequest;

/// How the gateway speaks to one provider kind's upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adapter {
    /// OpenAI Chat Completions and OpenAI-compatible servers.
    OpenAi,
    /// OpenAI Responses (`/responses` under the OpenAI-style API root).
    OpenAiResponses,
    /// Anthropic Messages.
    Anthropic,
    /// Gemini generateContent.
    Gemini,
    /// The built-in echo provider: answered inside the gateway, no upstream.
    Echo,
}

/// The adapter for a provider kind: the one place the kind is matched on.
pub fn for_kind(kind: ProviderKind) -> Adapter {
    match kind.protocol() {
        Protocol::OpenAi => Adapter::OpenAi,
        Protocol::Anthropic => Adapter::Anthropic,
        Protocol::Gemini => Adapter::Gemini,
        Protocol::Echo => Adapter::Echo,
        Protocol::OpenAiResponses => Adapter::OpenAiResponses,
    }
}

/// What shaping an answer for the client needs to know about its request. Borrowed: a
/// passthrough answer never builds the translators' owned [`ResponseContext`].
#[derive(Debug, Clone, Copy)]
pub struct AnswerContext<'a> {
    /// The gateway's request id (a translated answer's id is derived from it).
    pub request_id: &'a str,
    /// The model name to report.
    pub model: &'a str,
    /// The client asked for `stream_options.include_usage`.
    pub include_usage: bool,
    /// The client's surface: the protocol its answer is written in.
    pub client: Protocol,
    /// A streamed Gemini answer as one JSON array (`streamGenerateContent` without
    /// `alt=sse`).
    pub json_array: bool,
}

impl AnswerContext<'_> {
    /// The owned context the hub's encoders take.
    pub fn translation(&self) -> ResponseContext {
        let prefix = match self.client {
            Protocol::OpenAi | Protocol::Echo => "chatcmpl-",
            Protocol::Anthropic => "msg_",
            Protocol::OpenAiResponses => "resp_",
            Protocol::Gemini => "",
        };
        ResponseContext {
            model: self.model.to_owned(),
            include_usage: self.include_usage,
            created: unix_now(),
            id: format!("{prefix}{}", self.request_id),
            json_array: self.json_array,
        }
    }

    /// Whether the client speaks OpenAI Chat (answers and errors in today's envelope).
    pub fn openai_chat(&self) -> bool {
        matches!(self.client, Protocol::OpenAi | Protocol::Echo)
    }
}

/// Echo answers like OpenAI Chat: one wire format.
fn wire(p: Protocol) -> Protocol {
    match p {
        Protocol::Echo => Protocol::OpenAi,
        p => p,
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A streamed answer on its way to the client: passed through (a scanner or observer
/// reads usage and the proper end) or translated chunk by chunk.
pub enum Relay {
    /// OpenAI Chat both sides: bytes pass untouched, the scanner picks `usage` out.
    Passthrough(PassthroughScanner),
    /// Same protocol both sides (not OpenAI Chat): bytes pass untouched, the protocol's
    /// decoder reads usage and the proper end.
    Observe(Box<Observed>),
    /// Another protocol: the hub translates upstream events into the client's protocol.
    Translate(Box<Translator>),
}

/// An answer passed through and watched.
pub struct Observed {
    observer: Observer,
    /// Some bytes already went to the client.
    forwarded: bool,
    /// The upstream's own in-stream error event was forwarded: nothing more to write.
    error_forwarded: bool,
}

impl Relay {
    /// Appends what the client should receive for one upstream chunk to `out`. `Err` when
    /// the upstream signalled an error or sent a malformed stream.
    pub fn feed(&mut self, chunk: Bytes, out: &mut BytesMut) -> Result<(), UpstreamError> {
        match self {
            Self::Passthrough(s) => {
                if let Some(b) = s.scan(&chunk) {
                    out.extend_from_slice(&b);
                }
                Ok(())
            }
            Self::Observe(o) => {
                let result = o.observer.observe(&chunk);
                // An error event in the middle of the answer is already in the client's
                // protocol: it is forwarded as sent. Before any byte, nothing is written
                // so another candidate may still answer.
                if result.is_ok() || o.forwarded {
                    o.error_forwarded = result.is_err();
                    o.forwarded = true;
                    out.extend_from_slice(&chunk);
                }
                result
            }
            Self::Translate(t) => t.feed(chunk, out),
        }
    }

    /// The upstream body ended: flushes the rest into `out`. `Err` when the stream ended
    /// without its protocol's proper end, so the client never sees a silent clean end.
    pub fn finish(&mut self, out: &mut BytesMut) -> Result<(), UpstreamError> {
        match self {
            Self::Passthrough(s) => openai::finish(s, out),
            Self::Observe(o) => o.observer.finish(),
            Self::Translate(t) => t.finish(out),
        }
    }

    /// Ends a stream that failed after content reached the client with the client
    /// protocol's in-stream error event. OpenAI Chat clients get the gateway's envelope
    /// as one `data:` event (as before the hub existed).
    pub fn write_error(
        &mut self,
        err: &GatewayError,
        answer: &AnswerContext<'_>,
        out: &mut BytesMut,
    ) {
        if answer.openai_chat() {
            err.write_event(answer.request_id, out);
            return;
        }
        match self {
            Self::Passthrough(_) => err.write_event(answer.request_id, out),
            Self::Observe(o) if o.error_forwarded => {}
            Self::Observe(_) => {
                let mut encoder = hub::encoder(answer.client, true, answer.translation());
                encoder.error(&err.as_upstream(), out);
            }
            Self::Translate(t) => t.write_error(&err.as_upstream(), out),
        }
    }

    /// Usage seen so far (for metrics and usage records).
    pub fn usage(&self) -> Option<Usage> {
        match self {
            Self::Passthrough(s) => s.usage(),
            Self::Observe(o) => o.observer.usage(),
            Self::Translate(t) => t.usage(),
        }
    }
}

impl Adapter {
    /// Whether the provider answers inside the gateway ([`echo`]) instead of upstream.
    pub fn answers_locally(self) -> bool {
        self == Self::Echo
    }

    /// The provider's wire protocol.
    pub fn protocol(self) -> Protocol {
        match self {
            Self::OpenAi => Protocol::OpenAi,
            Self::OpenAiResponses => Protocol::OpenAiResponses,
            Self::Anthropic => Protocol::Anthropic,
            Self::Gemini => Protocol::Gemini,
            Self::Echo => Protocol::Echo,
        }
    }

    /// Whether an answer goes to the client as the upstream sent it.
    fn passes_through(self, answer: &AnswerContext<'_>) -> bool {
        wire(self.protocol()) == wire(answer.client) && !answer.json_array
    }

    /// The upstream request for one endpoint, built from the client's request. `Err` when
    /// this provider cannot express the request (another candidate may).
    /// `anthropic_beta` is the client's `anthropic-beta` header, forwarded to an
    /// Anthropic upstream when the request passes through.
    pub fn build_request<'a>(
        self,
        provider: &Provider,
        endpoint: &'a Endpoint,
        model: &str,
        req: &ClientRequest,
        anthropic_beta: Option<&str>,
    ) -> Result<OutboundRequest<'a>, GatewayError> {
        let root = api_root(provider.kind, &endpoint.base_url);
        let body = req
            .upstream_body(self.protocol(), model)
            .map_err(|e| cannot_serve(provider, e))?;
        let path = match self {
            Self::OpenAi | Self::Echo => join_path(root, openai::PATH),
            Self::OpenAiResponses => join_path(root, responses::PATH),
            Self::Anthropic => join_path(root, anthropic::PATH),
            Self::Gemini => join_path(root, &gemini::path(model, req.stream)),
        };
        let mut headers = auth_headers(provider.kind, endpoint.api_key.expose());
        if req.stream {
            headers.push(("accept", "text/event-stream".to_string()));
        }
        if self == Self::Anthropic && req.protocol == Protocol::Anthropic {
            if let Some(beta) = anthropic_beta {
                headers.push(("anthropic-beta", beta.to_string()));
            }
        }
        Ok(OutboundRequest {
            method: "POST",
            base: &endpoint.base_url,
            path,
            headers,
            body,
        })
    }

    /// A non-streamed 2xx answer in the client's protocol, with its usage.
    // The error is moved once, to the attempt loop; boxing it would allocate per failure.
    #[allow(clippy::result_large_err)]
    pub fn translate_response(
        self,
        body: Bytes,
        answer: &AnswerContext<'_>,
    ) -> Result<(Bytes, Option<Usage>), AttemptError> {
        if self.passes_through(answer) {
            return match self {
                Self::OpenAi | Self::Echo => Ok(openai::response(body)),
                _ => {
                    let mut observer = hub::observer(self.protocol(), false);
                    observer
                        .observe(&body)
                        .and_then(|()| observer.finish())
                        .map(|()| (body, observer.usage()))
                        .map_err(AttemptError::from_answer)
                }
            };
        }
        hub::translator(self.protocol(), answer.client, false, answer.translation())
            .whole(&body)
            .map(|(b, u)| (Bytes::from(b), u))
            .map_err(AttemptError::from_answer)
    }

    /// The relay for a streamed 2xx answer.
    pub fn stream_relay(self, answer: &AnswerContext<'_>) -> Relay {
        if self.passes_through(answer) {
            return match self {
                Self::OpenAi | Self::Echo => {
                    Relay::Passthrough(openai::relay(answer.include_usage))
                }
                _ => Relay::Observe(Box::new(Observed {
                    observer: hub::observer(self.protocol(), true),
                    forwarded: false,
                    error_forwarded: false,
                })),
            };
        }
        Relay::Translate(Box::new(hub::translator(
            self.protocol(),
            answer.client,
            true,
            answer.translation(),
        )))
    }

    /// An upstream error answer (`status` not 2xx, its body and `Retry-After` header) in
    /// hub terms, with its retry verdict.
    pub fn translate_error(
        self,
        provider: &Provider,
        status: u16,
        body: &[u8],
        retry_after: Option<&str>,
    ) -> AttemptError {
        let retry_after = retry_after.and_then(|v| v.trim().parse::<u64>().ok());
        let error = match self {
            Self::OpenAi | Self::Echo => openai::error(&provider.name, status, body, retry_after),
            _ => translated(
                hub::upstream_error(self.protocol(), status, body),
                retry_after,
            ),
        };
        AttemptError::from_status(status, error)
    }

    /// Whether the provider counts tokens itself ([`Adapter::count_tokens_request`]).
    pub fn counts_tokens(self) -> bool {
        self == Self::Anthropic
    }

    /// Anthropic's token-counting request (`/v1/messages/count_tokens`, the client's body
    /// passed through with the upstream model); `None` for providers without one.
    pub fn count_tokens_request<'a>(
        self,
        provider: &Provider,
        endpoint: &'a Endpoint,
        model: &str,
        req: &ClientRequest,
        anthropic_beta: Option<&str>,
    ) -> Option<OutboundRequest<'a>> {
        if self != Self::Anthropic {
            return None;
        }
        let root = api_root(provider.kind, &endpoint.base_url);
        let mut headers = auth_headers(provider.kind, endpoint.api_key.expose());
        if let Some(beta) = anthropic_beta {
            headers.push(("anthropic-beta", beta.to_string()));
        }
        Some(OutboundRequest {
            method: "POST",
            base: &endpoint.base_url,
            path: join_path(root, anthropic::COUNT_TOKENS_PATH),
            headers,
            body: req.passthrough(Some(model), |_| false),
        })
    }

    /// The embeddings request for an OpenAI embeddings body (`emb` is its parse): passed
    /// through to OpenAI-compatible upstreams, translated for Gemini. `Ok(None)` when the
    /// provider cannot embed; `Err` when it cannot express this request.
    pub fn embeddings_request<'a>(
        self,
        provider: &Provider,
        endpoint: &'a Endpoint,
        model: &str,
        req: &ClientRequest,
        emb: &EmbeddingsRequest,
    ) -> Result<Option<OutboundRequest<'a>>, GatewayError> {
        let root = api_root(provider.kind, &endpoint.base_url);
        let (path, body) = match self {
            Self::OpenAi => (
                join_path(root, openai::EMBEDDINGS_PATH),
                req.passthrough(Some(model), |_| false),
            ),
            Self::Gemini => {
                emb.require_text().map_err(|e| cannot_serve(provider, e))?;
                (
                    join_path(root, &embeddings::gemini_path(model)),
                    Bytes::from(embeddings::gemini_body(emb, model)),
                )
            }
            Self::OpenAiResponses | Self::Anthropic | Self::Echo => return Ok(None),
        };
        Ok(Some(OutboundRequest {
            method: "POST",
            base: &endpoint.base_url,
            path,
            headers: auth_headers(provider.kind, endpoint.api_key.expose()),
            body,
        }))
    }

    /// A 2xx embeddings answer as OpenAI's, with its usage.
    #[allow(clippy::result_large_err)]
    pub fn embeddings_response(
        self,
        body: Bytes,
        emb: &EmbeddingsRequest,
        model: &str,
    ) -> Result<(Bytes, Option<Usage>), AttemptError> {
        match self {
            Self::Gemini => embeddings::openai_from_gemini(&body, emb, model)
                .map(|(b, u)| (Bytes::from(b), Some(u)))
                .map_err(AttemptError::from_answer),
            _ => {
                let usage = embeddings::scan_openai_usage(&body);
                Ok((body, usage))
            }
        }
    }

    /// The active health check of one endpoint: `GET` the configured path under the API
    /// root, with the endpoint's credentials.
    pub fn health_check_request<'a>(
        self,
        provider: &Provider,
        endpoint: &'a Endpoint,
        path: &str,
    ) -> OutboundRequest<'a> {
        OutboundRequest {
            method: "GET",
            base: &endpoint.base_url,
            path: join_path(api_root(provider.kind, &endpoint.base_url), path),
            headers: auth_headers(provider.kind, endpoint.api_key.expose()),
            body: Bytes::new(),
        }
    }
}

/// A request this provider cannot express: a 400 naming the field, tried elsewhere first.
fn cannot_serve(provider: &Provider, e: TranslateError) -> GatewayError {
    GatewayError::InvalidRequest {
        message: format!(
            "provider '{}' cannot serve this request: {}",
            provider.name, e.message
        ),
        param: e.param,
    }
}

/// The credential and version headers a provider kind expects.
fn auth_headers(kind: ProviderKind, key: &str) -> Vec<(&'static str, String)> {
    let wire = Protocol::wire(kind.protocol());
    let mut headers = Vec::with_capacity(3);
    if let Some((name, value)) = wire.version_header {
        headers.push((name, value.to_string()));
    }
    if !key.is_empty() {
        headers.push((wire.auth_header, wire.auth_value(key)));
    }
    headers
}

/// The base URL's path without the version segment the protocol's own paths add again
/// (per-model backends configs use `https://api.anthropic.com/v1`; Gemini bases may end
/// in `/v1beta`).
fn api_root(kind: ProviderKind, base: &BaseUrl) -> &str {
    Protocol::wire(kind.protocol()).api_root(&base.path)
}

/// A translated provider error; the provider's own retry hint wins over the header.
fn translated(mut e: UpstreamError, retry_after: Option<u64>) -> GatewayError {
    if e.retry_after_secs.is_none() {
        e.retry_after_secs = retry_after;
    }
    e.into()
}

/// `base` then `suffix` in one allocation.
fn join_path(base: &str, suffix: &str) -> String {
    let mut p = String::with_capacity(base.len() + suffix.len());
    p.push_str(base);
    p.push_str(suffix);
    p
}

#[cfg(test)]
mod tests;
