//! Anthropic Messages: the four hub adapters (answers decoded from and encoded to
//! Anthropic, requests parsed from and built for it), token estimation for
//! `count_tokens`, and the OpenAI Chat ⇄ Anthropic entry points built on them.
//!
//! Mapping choices for OpenAI Chat clients (see the crate README section "Protocol
//! translation"):
//! - `system` and `developer` messages anywhere in the list go to the top-level `system`.
//! - `temperature` is clamped into Anthropic's 0..=1 range (OpenAI allows 0..=2).
//! - `n > 1` is rejected with 400 (`param: "n"`): Anthropic has no multiple choices.
//! - `max_tokens` defaults to 4096 (Anthropic requires it).
//! - `reasoning_effort` low/medium/high/xhigh enables extended thinking with a budget of
//!   1024/2048/4096/8192 tokens; `max_tokens` is raised to budget + requested so the answer
//!   keeps its room, and a temperature other than 1 is dropped (thinking requires 1).
//! - Thinking is exposed as `reasoning_content` (message field / `delta.reasoning_content`);
//!   `redacted_thinking` blocks and signatures are dropped.
//! - Usage: `prompt_tokens = input_tokens + cache_read_input_tokens +
//!   cache_creation_input_tokens`, `cached_tokens = cache_read_input_tokens`; streamed
//!   output tokens are the cumulative count of the last `message_delta`.
//! - Response ids are Anthropic's message id (`msg_…`), streamed or not.

mod count_tokens;
pub(crate) mod decode;
pub(crate) mod egress;
pub(crate) mod encode;
mod error;
pub(crate) mod ingress;
mod request;
#[cfg(test)]
mod round_trip_tests;
mod text_fast_path;
mod usage;
mod wire;

use bytes::{Bytes, BytesMut};

pub use count_tokens::estimate_input_tokens;
pub use error::translate_error;
pub use request::{build_request, build_request_from};

use crate::hub::{self, Protocol, Translator};
use crate::{ResponseContext, StreamTranslator, UpstreamError, Usage};

/// Path of the Messages endpoint, relative to the provider's base URL.
pub const PATH: &str = "/v1/messages";
/// Value for the `anthropic-version` header.
pub const VERSION: &str = "2023-06-01";
/// `max_tokens` sent when the client gives none (Anthropic requires the field).
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// OpenAI finish reason for an Anthropic `stop_reason`.
pub fn finish_reason(stop_reason: &str) -> &'static str {
    crate::openai::encode::finish_reason(decode::stop_reason(stop_reason))
}

/// Translate a non-streamed Anthropic Messages response into an OpenAI `chat.completion`.
pub fn translate_response(
    body: &[u8],
    ctx: &ResponseContext,
) -> Result<(Vec<u8>, Option<Usage>), UpstreamError> {
    hub::translator(Protocol::Anthropic, Protocol::OpenAi, false, ctx.clone()).whole(body)
}

/// Incremental Anthropic Messages SSE → OpenAI `chat.completion.chunk` translator: the
/// hub's Anthropic decoder joined to its OpenAI Chat encoder.
pub struct AnthropicStreamTranslator(Translator);

impl AnthropicStreamTranslator {
    /// A translator for one response stream.
    pub fn new(ctx: ResponseContext) -> Self {
        Self(hub::translator(
            Protocol::Anthropic,
            Protocol::OpenAi,
            true,
            ctx,
        ))
    }
}

impl StreamTranslator for AnthropicStreamTranslator {
    fn feed(&mut self, chunk: Bytes, out: &mut BytesMut) -> Result<(), UpstreamError> {
        self.0.feed(chunk, out)
    }

    fn finish(&mut self, out: &mut BytesMut) -> Result<(), UpstreamError> {
        self.0.finish(out)
    }

    fn usage(&self) -> Option<Usage> {
        self.0.usage()
    }
}
