//! Gemini `generateContent` / `streamGenerateContent`: the four hub adapters and the
//! original OpenAI Chat ⇄ Gemini API built on them.
//!
//! - `decode`: Gemini answers (SSE, JSON array, whole) → hub events.
//! - `encode`: hub events → Gemini answers for Gemini clients, and Gemini error bodies.
//! - `ingress`: a Gemini client's request → hub form.
//! - `egress`: hub form → a Gemini request body (`request` writes it).
//! - [`build_request`] / [`build_request_from`], [`GeminiStreamTranslator`],
//!   [`translate_response`]: OpenAI Chat clients, through the same adapters.
//!
//! Request mapping choices:
//! - `system`/`developer` messages anywhere go to `systemInstruction` (one part each).
//! - Tool schemas and `response_format.json_schema` are reduced to the OpenAPI subset
//!   Gemini's `Schema` accepts ([`schema`]): local `$ref`s are inlined, `type: [T, "null"]`
//!   becomes `nullable`, `const` becomes a one-value `enum`, `oneOf` becomes `anyOf`, and
//!   every other keyword (`$schema`, `$id`, `$defs`, `definitions`, `additionalProperties`,
//!   `patternProperties`, `unevaluatedProperties`, `examples`, `exclusiveMinimum`, `not`,
//!   `if/then/else`, `strict`, ...) is stripped; type names are upper-cased (`OBJECT`).
//! - A function call's `thoughtSignature` is carried inside the tool-call id
//!   (`<id>__thought__<signature>`) and replayed when the client sends the call back.
//! - An explicit thinking budget wins over `reasoning_effort`; `top_k` → `topK`.
//! - `n` > 1: `candidateCount` for [`build_request`] (unchanged API); refused by the hub
//!   egress, as hub answers carry one candidate (the decoder reads candidate 0 only).
//!
//! Answer mapping choices (see `decode`):
//! - Thought parts (`thought: true`) are thinking blocks (`reasoning_content` for OpenAI).
//! - A blocked prompt (`promptFeedback.blockReason`, no candidates) is an ordinary answer
//!   with no content that stops for the content filter, streamed or not.
//! - `STOP` after a function call is a tool-use stop; `MALFORMED_FUNCTION_CALL` an error.
//!   Tool-call ids are Gemini's `functionCall.id` when present, else `call_<seed>_<n>`.
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
