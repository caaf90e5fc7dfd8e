//! OpenAI Chat Completions ⇄ Gemini `generateContent` / `streamGenerateContent`.
//!
//! Mapping choices (see the crate README section "Protocol translation"):
//! - `system`/`developer` messages anywhere go to `systemInstruction` (one part each).
//! - Tool schemas and `response_format.json_schema` are reduced to the OpenAPI subset
//!   Gemini's `Schema` accepts ([`schema`]): local `$ref`s are inlined, `type: [T, "null"]`
//!   becomes `nullable`, `const` becomes a one-value `enum`, `oneOf` becomes `anyOf`, and
//!   every other keyword (`$schema`, `$id`, `$defs`, `definitions`, `additionalProperties`,
//!   `patternProperties`, `unevaluatedProperties`, `examples`, `exclusiveMinimum`, `not`,
//!   `if/then/else`, `strict`, ...) is stripped; type names are upper-cased (`OBJECT`).
//! - Thought parts (`thought: true`) are exposed as `reasoning_content`.
//! - A function call's `thoughtSignature` is carried inside the OpenAI tool-call id
//!   (`<id>__thought__<signature>`) and replayed when the client sends the call back.
//! - A blocked prompt (`promptFeedback.blockReason`, no candidates) is an ordinary answer
//!   with empty content and `finish_reason: "content_filter"`, streamed or not.
//! - Candidates become choices (`n` → `candidateCount`, at most 8). `STOP` after a function
//!   call is `tool_calls`. Tool-call ids are Gemini's `functionCall.id` when present, else
//!   `call_<ctx id>_<n>` (`call_<ctx id>_<choice>_<n>` for choices > 0).
//! - Streamed chunks carry `ResponseContext::id` (Gemini sends `responseId` only after
//!   the content of each event); non-streamed responses use `responseId`.
//! - Usage: `prompt_tokens = promptTokenCount + toolUsePromptTokenCount`,
//!   `completion_tokens = candidatesTokenCount + thoughtsTokenCount` (reasoning included,
//!   as in OpenAI), `cached_tokens = cachedContentTokenCount`; streams keep the last.
//! - Hot path: the common text event goes through a validating fast path
//!   (`fast_text_event`); everything else is walked once with serde seeds, without a
//!   `Value` tree and without heap allocation.

mod array_framing;
mod call_id;
pub(crate) mod decode;
pub(crate) mod egress;
pub(crate) mod encode;
mod error;
pub(crate) mod ingress;
mod openai_chat;
mod request;
mod schema;
mod text_fast_path;
mod wire;

pub use error::translate_error;
pub use openai_chat::{finish_reason, translate_response, GeminiStreamTranslator};
pub use request::{build_request, build_request_from};
pub use schema::{schema, SCHEMA_INLINE_BUDGET_BYTES, SCHEMA_MAX_DEPTH};

/// Request path for `model`: `/v1beta/models/{model}:generateContent`, or
/// `:streamGenerateContent?alt=sse` when streaming.
///
/// `model` is percent-encoded as one path segment ([`crate::path::push_segment`]), so a
/// client-chosen name such as `gemini-x:countTokens?` cannot reach another method.
pub fn path(model: &str, stream: bool) -> String {
    const PREFIX: &str = "/v1beta/models/";
    let method = if stream {
        ":streamGenerateContent?alt=sse"
    } else {
        ":generateContent"
    };
    let mut out = String::with_capacity(PREFIX.len() + model.len() + method.len());
    out.push_str(PREFIX);
    crate::path::push_segment(&mut out, model);
    out.push_str(method);
    out
}
