//! OpenAI Chat Completions ⇄ Anthropic Messages.
//!
//! Mapping choices (see the crate README section "Protocol translation"):
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
//! - Hot path: `text_delta` events in Anthropic's exact compact form take a validating
//!   fast path (`fast_text_delta`); everything else is borrowed-deserialised with serde.

pub(crate) mod decode;
pub(crate) mod egress;
pub(crate) mod encode;
mod error;
pub(crate) mod ingress;
mod request;
mod response;
mod stream;
mod text_fast_path;
mod usage;
mod wire;

pub use error::translate_error;
pub use request::{build_request, build_request_from};
pub use response::{finish_reason, translate_response};
pub use stream::AnthropicStreamTranslator;

/// Path of the Messages endpoint, relative to the provider's base URL.
pub const PATH: &str = "/v1/messages";
/// Value for the `anthropic-version` header.
pub const VERSION: &str = "2023-06-01";
/// `max_tokens` sent when the client gives none (Anthropic requires the field).
pub const DEFAULT_MAX_TOKENS: u64 = 4096;
