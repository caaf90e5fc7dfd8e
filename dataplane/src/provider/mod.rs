//! The provider seam: one module per provider kind ([`openai`] for OpenAI and every
//! OpenAI-compatible kind, [`anthropic`], [`gemini`], [`echo`]) behind one interface,
//! [`Adapter`]. The kind is resolved once per attempt ([`for_kind`]); after that the
//! request path only calls the adapter: upstream path and auth headers, the upstream
//! request built from the one parsed body, non-streamed and streamed answer translation,
//! error translation, and the health-check request.
//!
//! An enum rather than trait objects: dispatch is one `match` on a `Copy` value, nothing
//! is boxed, and the passthrough path costs what it cost before the seam existed.

mod anthropic;
pub mod echo;
mod gemini;
mod openai;

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use sluice_translate::openai::PassthroughScanner;
use sluice_translate::{ResponseContext, StreamTranslator, TranslateError, UpstreamError, Usage};

use crate::chat_request::ChatRequest;
use crate::config::{BaseUrl, Endpoint, Protocol, Provider, ProviderKind};
use crate::error::{AttemptError, GatewayError};
use crate::upstream::OutboundRequest;

/// How the gateway speaks to one provider kind's upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adapter {
    /// OpenAI Chat Completions and OpenAI-compatible servers: forwarded byte for byte.
    OpenAi,
    /// Anthropic Messages: translated both ways.
    Anthropic,
    /// Gemini generateContent: translated both ways.
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
        Protocol::OpenAiResponses => Adapter::OpenAi,
    }
}

/// What shaping an answer for the client needs to know about its request. Borrowed: a
/// passthrough answer never builds the translators' owned [`ResponseContext`].
#[derive(Debug, Clone, Copy)]
pub struct AnswerContext<'a> {
    /// The gateway's request id (a translated answer's id is `chatcmpl-<request id>`).
    pub request_id: &'a str,
    /// The model name to report.
    pub model: &'a str,
    /// The client asked for `stream_options.include_usage`.
    pub include_usage: bool,
}

impl AnswerContext<'_> {
    fn translation(&self) -> ResponseContext {
        ResponseContext {
            model: self.model.to_owned(),
            include_usage: self.include_usage,
            created: unix_now(),
            id: format!("chatcmpl-{}", self.request_id),
            json_array: false,
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A streamed answer on its way to the client: passed through (a scanner picks `usage`
/// out) or translated chunk by chunk.
pub enum Relay {
    /// Same protocol as the client: bytes pass untouched.
    Passthrough(PassthroughScanner),
    /// Another protocol: an incremental translator to OpenAI chunks.
    Translate(Box<dyn StreamTranslator>),
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
            Self::Translate(t) => t.feed(chunk, out),
        }
    }

    /// The upstream body ended: flushes the rest into `out`. `Err` when the stream ended
    /// without its protocol's proper end, so the client never sees a silent clean end.
    pub fn finish(&mut self, out: &mut BytesMut) -> Result<(), UpstreamError> {
        match self {
            Self::Passthrough(s) => openai::finish(s, out),
            Self::Translate(t) => t.finish(out),
        }
    }

    /// Usage seen so far (for metrics and usage records).
    pub fn usage(&self) -> Option<Usage> {
        match self {
            Self::Passthrough(s) => s.usage(),
            Self::Translate(t) => t.usage(),
        }
    }
}

impl Adapter {
    /// Whether the provider answers inside the gateway ([`echo`]) instead of upstream.
    pub fn answers_locally(self) -> bool {
        self == Self::Echo
    }

    /// The upstream request for one endpoint, built from the one parsed body. `Err` when
    /// this provider cannot express the request (another candidate may).
    pub fn build_request<'a>(
        self,
        provider: &Provider,
        endpoint: &'a Endpoint,
        model: &str,
        req: &ChatRequest,
    ) -> Result<OutboundRequest<'a>, GatewayError> {
        let root = api_root(provider.kind, &endpoint.base_url);
        let (path, body) = match self {
            Self::OpenAi | Self::Echo => Ok(openai::request(root, model, req)),
            Self::Anthropic => anthropic::request(root, model, req),
            Self::Gemini => gemini::request(root, model, req),
        }
        .map_err(|e: TranslateError| GatewayError::InvalidRequest {
            message: format!(
                "provider '{}' cannot serve this request: {}",
                provider.name, e.message
            ),
            param: e.param,
        })?;
        let mut headers = auth_headers(provider.kind, endpoint.api_key.expose());
        if req.stream {
            headers.push(("accept", "text/event-stream".to_string()));
        }
        Ok(OutboundRequest {
            method: "POST",
            base: &endpoint.base_url,
            path,
            headers,
            body,
        })
    }

    /// A non-streamed 2xx answer in OpenAI terms, with its usage.
    // The error is moved once, to the attempt loop; boxing it would allocate per failure.
    #[allow(clippy::result_large_err)]
    pub fn translate_response(
        self,
        body: Bytes,
        answer: &AnswerContext<'_>,
    ) -> Result<(Bytes, Option<Usage>), AttemptError> {
        match self {
            Self::OpenAi | Self::Echo => Ok(openai::response(body)),
            Self::Anthropic => anthropic::response(&body, &answer.translation()),
            Self::Gemini => gemini::response(&body, &answer.translation()),
        }
        .map_err(AttemptError::from_answer)
    }

    /// The relay for a streamed 2xx answer.
    pub fn stream_relay(self, answer: &AnswerContext<'_>) -> Relay {
        match self {
            Self::OpenAi | Self::Echo => Relay::Passthrough(openai::relay(answer.include_usage)),
            Self::Anthropic => Relay::Translate(Box::new(anthropic::relay(answer.translation()))),
            Self::Gemini => Relay::Translate(Box::new(gemini::relay(answer.translation()))),
        }
    }

    /// An upstream error answer (`status` not 2xx, its body and `Retry-After` header) in
    /// OpenAI terms, with its retry verdict.
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
            Self::Anthropic => translated(anthropic::error(status, body), retry_after),
            Self::Gemini => translated(gemini::error(status, body), retry_after),
        };
        AttemptError::from_status(status, error)
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
