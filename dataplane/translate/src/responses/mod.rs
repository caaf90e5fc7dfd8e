//! OpenAI Responses (`POST /v1/responses`), as a client surface and as a provider
//! protocol: stateless (`store: false` semantics).
//!
//! Mapping choices:
//! - Output items become hub blocks: a `message`'s `output_text` / `refusal` parts are
//!   `Text` / `Refusal` blocks, a `function_call` is a `ToolCall` (its `call_id` is the
//!   tool id), a `reasoning` item's summary parts are `Thinking` blocks and its
//!   `encrypted_content` a `RedactedThinking` block.
//! - A reasoning item's id travels with its encrypted content as one opaque string,
//!   `<id>:<encrypted_content>` ([`reasoning_data`]), so a client of any protocol that
//!   replays it lets the Responses builder send the item back with its own id. Ids
//!   Sluice made up itself ([`SYNTHETIC_REASONING_ID`]) are not carried.
//! - Usage: Responses `input_tokens` include cached tokens and `output_tokens` include
//!   reasoning tokens, as the hub counts them.
//! - Nothing is stored: `previous_response_id`, `conversation`, `background` and stored
//!   prompts are refused with a 400; `store` is accepted and answered as `false`.
//!
//! Not carried through the hub (dropped where the answer does not change, else refused):
//! - client side: `strict` of function tools and of `text.format` (written as `false`
//!   upstream), the json_schema `name`/`description`, `text.verbosity`,
//!   `reasoning.summary`, image `detail`, `metadata`, `include`, `truncation`,
//!   `service_tier`, `prompt_cache_key`, `max_tool_calls`; built-in tools, `file_id`s,
//!   `top_logprobs` > 0 and the stateful fields are 400s;
//! - answers: annotations and logprobs of `output_text`, built-in tool call items, a
//!   thinking signature (no place for it in a reasoning item); the Response object
//!   written to clients does not echo the request's parameters (`tools`, `instructions`,
//!   `temperature`, … are the defaults).

pub(crate) mod decode;
pub(crate) mod egress;
pub(crate) mod encode;
mod fast_path;
pub(crate) mod ingress;
#[cfg(test)]
mod tests;
mod wire;

/// Path of the Responses endpoint under an OpenAI-style API root (`…/v1`).
pub const PATH: &str = "/responses";

/// Prefix of the reasoning item ids the encoder makes up when the reasoning did not come
/// from a Responses upstream (such ids are never sent back to OpenAI).
pub(crate) const SYNTHETIC_REASONING_ID: &str = "rs_sluice";

/// The opaque payload of a `RedactedThinking` block for a reasoning item: its id, `:`,
/// its encrypted content. Neither part can hold a `:` (ids are `rs_` + hex, encrypted
/// content is URL-safe base64), so the split is unambiguous.
pub(crate) fn reasoning_data(id: &str, encrypted: &str) -> String {
    if id.is_empty() || id.starts_with(SYNTHETIC_REASONING_ID) || id.contains(':') {
        return encrypted.to_owned();
    }
    format!("{id}:{encrypted}")
}

/// A `RedactedThinking` payload split back into (reasoning item id, encrypted content);
/// the id is `None` for payloads that did not come from [`reasoning_data`] with an id.
pub(crate) fn split_reasoning_data(data: &str) -> (Option<&str>, &str) {
    match data.split_once(':') {
        Some((id, enc)) if id.starts_with("rs_") && !id.contains(['"', '\\']) => (Some(id), enc),
        _ => (None, data),
    }
}
