//! Sluice protocol translation: OpenAI Chat Completions ⇄ Anthropic Messages and Gemini
//! `generateContent`, plus the zero-copy OpenAI passthrough usage scanner.
//!
//! The data plane owns HTTP, retries and routing; this crate owns bytes in, bytes out.
//! Request builders and whole-body translators are pure functions; streamed answers go
//! through incremental [`StreamTranslator`]s that parse SSE across arbitrary chunk
//! boundaries, deserialise into borrowed structs and append OpenAI SSE into the caller's
//! reused buffer, with memory bounded per stream.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod anthropic;
pub mod embeddings;
mod error;
pub mod gemini;
pub mod hub;
mod json_in;
mod json_out;
pub mod openai;
pub mod path;
pub mod responses;
pub mod sse;

// Every client surface's request, parsed once at the boundary.
pub mod client;

pub use client::ClientRequest;
pub use error::{TranslateError, UpstreamError};

/// Usage numbers normalised to OpenAI semantics.
///
/// `prompt_tokens` includes cached prompt tokens (`cached_tokens` is the cached part of
/// it); `completion_tokens` includes reasoning tokens (`reasoning_tokens` is that part).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Input tokens, cache reads and cache writes included.
    pub prompt_tokens: u64,
    /// Output tokens, reasoning/thinking included.
    pub completion_tokens: u64,
    /// `prompt_tokens + completion_tokens`.
    pub total_tokens: u64,
    /// Prompt tokens served from the provider's cache.
    pub cached_tokens: u64,
    /// Completion tokens spent on reasoning/thinking.
    pub reasoning_tokens: u64,
    /// Prompt tokens written to the provider's cache (Anthropic `cache_creation_input_tokens`;
    /// part of `prompt_tokens`, billed at the cache-write price).
    pub cache_write_tokens: u64,
}

/// What the translator needs to know about the client's request when shaping the response.
#[derive(Debug, Clone)]
pub struct ResponseContext {
    /// Model name to report to the client.
    pub model: String,
    /// The client asked for `stream_options.include_usage`.
    pub include_usage: bool,
    /// Unix seconds for the `created` field.
    pub created: u64,
    /// `chatcmpl-...` id to use when the upstream gives none (also seeds tool-call ids).
    pub id: String,
    /// A streamed Gemini answer as one JSON array (`streamGenerateContent` without
    /// `alt=sse`) instead of SSE.
    pub json_array: bool,
}

/// An upstream request body ready to send; the data plane adds URL and headers.
#[derive(Debug, Clone)]
pub struct UpstreamRequest {
    /// JSON body in the provider's protocol.
    pub body: Vec<u8>,
    /// Whether the client asked for a streamed answer.
    pub stream: bool,
}

/// Incremental translator of an upstream response stream into OpenAI
/// `chat.completion.chunk` SSE bytes.
pub trait StreamTranslator: Send {
    /// Feed one chunk exactly as received from the network (any boundary); appends
    /// complete OpenAI SSE events to `out`.
    ///
    /// Returns `Err` when the upstream signals an error (Anthropic `event: error`, Gemini
    /// error object, malformed stream). Nothing is written for that error: the caller
    /// decides between retrying and [`openai::write_error_event`]. After an error the
    /// translator ignores further input and `finish` returns the same error.
    fn feed(&mut self, chunk: bytes::Bytes, out: &mut bytes::BytesMut)
        -> Result<(), UpstreamError>;

    /// End of the upstream body: flush, emit the usage chunk (if `include_usage`) and
    /// `data: [DONE]`. `Err` when the stream ended without a proper end so the caller can
    /// emit an error event instead of a silent clean end.
    fn finish(&mut self, out: &mut bytes::BytesMut) -> Result<(), UpstreamError>;

    /// Usage seen so far (for metrics).
    fn usage(&self) -> Option<Usage>;
}
