//! The hub: the one provider-neutral form every protocol converts into and out of, so that
//! N client surfaces and M provider protocols need N + M adapters, never N × M
//! translators.
//!
//! - Requests: a surface's ingress parser builds a [`request::HubRequest`]; a provider's
//!   egress builder writes its body from it.
//! - Answers: a provider's [`Decoder`] emits [`Event`]s; a surface's [`Encoder`] writes
//!   them in the client's protocol. [`Translator`] joins the two; [`Observer`] watches an
//!   answer that passes through untouched (same protocol both sides) for its usage.
//!
//! Each protocol module (`openai`, `anthropic`, `gemini`, `responses`) provides its four
//! adapters under the same names: `decode::decoder`, `encode::encoder` (+ `error_body`),
//! `ingress::parse`, `egress::build`. This module is the one place that dispatches on the
//! protocol.

mod event;
mod pipeline;
pub(crate) mod request;

pub use event::{Block, Delta, Escaped, Event, StopReason};
pub use pipeline::{Decoder, Encoder, Observer, Sink, Translator};
pub use sluice_model::Protocol;

use crate::openai::RequestLimits;
use crate::{anthropic, gemini, openai, responses};
use crate::{ResponseContext, TranslateError, UpstreamError};
use request::{HubRequest, Ingress};

/// The decoder of `upstream`'s answers (streamed or whole).
pub fn decoder(upstream: Protocol, stream: bool) -> Box<dyn Decoder> {
    match upstream {
        Protocol::OpenAi | Protocol::Echo => openai::decode::decoder(stream),
        Protocol::Anthropic => anthropic::decode::decoder(stream),
        Protocol::Gemini => gemini::decode::decoder(stream),
        Protocol::OpenAiResponses => responses::decode::decoder(stream),
    }
}

/// The encoder of answers for a `client` surface (streamed or whole).
pub fn encoder(client: Protocol, stream: bool, ctx: ResponseContext) -> Box<dyn Encoder> {
    match client {
        Protocol::OpenAi | Protocol::Echo => openai::encode::encoder(stream, ctx),
        Protocol::Anthropic => anthropic::encode::encoder(stream, ctx),
        Protocol::Gemini => gemini::encode::encoder(stream, ctx),
        Protocol::OpenAiResponses => responses::encode::encoder(stream, ctx),
    }
}

/// `upstream`'s answer translated for a `client` surface.
pub fn translator(
    upstream: Protocol,
    client: Protocol,
    stream: bool,
    ctx: ResponseContext,
) -> Translator {
    Translator::new(decoder(upstream, stream), encoder(client, stream, ctx))
}

/// A watcher of an answer passed through untouched.
pub fn observer(protocol: Protocol, stream: bool) -> Observer {
    Observer::new(decoder(protocol, stream))
}

/// An error answer body in a `client` surface's error format.
pub fn error_body(client: Protocol, err: &UpstreamError) -> Vec<u8> {
    match client {
        Protocol::OpenAi | Protocol::Echo | Protocol::OpenAiResponses => openai::error_body(err),
        Protocol::Anthropic => anthropic::encode::error_body(err),
        Protocol::Gemini => gemini::encode::error_body(err),
    }
}

/// An `upstream` error answer (non-2xx status and its body) in hub terms.
pub fn upstream_error(upstream: Protocol, status: u16, body: &[u8]) -> UpstreamError {
    match upstream {
        Protocol::OpenAi | Protocol::Echo | Protocol::OpenAiResponses => {
            openai::upstream_error(status, body)
        }
        Protocol::Anthropic => anthropic::translate_error(status, body),
        Protocol::Gemini => gemini::translate_error(status, body),
    }
}

/// Parses and validates a `client` surface's request body into hub form.
#[allow(dead_code)] // reached through the client request boundary (being wired)
pub(crate) fn parse(
    client: Protocol,
    body: &[u8],
    limits: &RequestLimits,
) -> Result<Ingress, TranslateError> {
    match client {
        Protocol::OpenAi | Protocol::Echo => openai::ingress::parse(body, limits),
        Protocol::Anthropic => anthropic::ingress::parse(body, limits),
        Protocol::Gemini => gemini::ingress::parse(body, limits),
        Protocol::OpenAiResponses => responses::ingress::parse(body, limits),
    }
}

/// The `upstream` request body for `req`, naming `model`.
#[allow(dead_code)] // reached through the client request boundary (being wired)
pub(crate) fn build(
    upstream: Protocol,
    req: &HubRequest,
    model: &str,
) -> Result<Vec<u8>, TranslateError> {
    match upstream {
        Protocol::OpenAi | Protocol::Echo => openai::egress::build(req, model),
        Protocol::Anthropic => anthropic::egress::build(req, model),
        Protocol::Gemini => gemini::egress::build(req, model),
        Protocol::OpenAiResponses => responses::egress::build(req, model),
    }
}
