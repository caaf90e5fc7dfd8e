//! OpenAI Chat Completions answers (streamed and whole) → hub events.
//!
//! Only choice 0 is decoded: a client of another protocol cannot ask for `n > 1`, and the
//! egress builder refuses it. Blocks are numbered in the order they open; a text,
//! reasoning or refusal block is stopped when a block of another kind starts, tool calls
//! (which OpenAI may interleave by `tool_calls[k].index`) stay open side by side until a
//! non-tool block starts or the answer finishes. `Stop` is held until `data: [DONE]` so
//! that the final usage chunk (which follows the finish chunk) reaches encoders first.

mod fast_path;
mod stream;
#[cfg(test)]
mod tests;
mod whole;
mod wire;

use crate::hub::{Decoder, StopReason};
use crate::UpstreamError;

/// Most parallel tool calls one answer may carry: the request cap on tool definitions
/// (`[server] max_tools` default), which also bounds the decoder's per-call state.
pub(crate) const MAX_TOOL_CALLS: usize = 512;

/// The decoder of one OpenAI Chat Completions answer.
pub(crate) fn decoder(stream: bool) -> Box<dyn Decoder> {
    if stream {
        Box::new(stream::StreamDecoder::new())
    } else {
        Box::new(whole::WholeDecoder::new())
    }
}

/// The hub stop reason for an OpenAI `finish_reason`. Unknown reasons (some compatible
/// servers send `eos`, `end_turn`, …) end the turn normally.
fn stop_reason(finish_reason: &str) -> StopReason {
    match finish_reason {
        "length" => StopReason::MaxTokens,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "content_filter" => StopReason::ContentFilter,
        _ => StopReason::EndTurn,
    }
}

/// An error object sent in place of an answer (`{"error":{…}}`, or vLLM's
/// `{"object":"error",…}`), as an upstream error whose status follows its type.
fn answer_error(body: &[u8]) -> UpstreamError {
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        #[serde(default, borrow)]
        error: Option<Object<'a>>,
        #[serde(default, borrow, rename = "type")]
        ty: Option<crate::json_out::BStr<'a>>,
        #[serde(default, borrow)]
        message: Option<crate::json_out::BStr<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct Object<'a> {
        #[serde(default, borrow, rename = "type")]
        ty: Option<crate::json_out::BStr<'a>>,
        #[serde(default, borrow)]
        code: Option<&'a serde_json::value::RawValue>,
    }
    let Ok(env) = serde_json::from_slice::<Envelope<'_>>(body) else {
        return super::upstream_error(502, body);
    };
    let (ty, code) = match &env.error {
        Some(o) => (o.ty.as_deref(), o.code.map(|c| c.get().trim_matches('"'))),
        None => (env.ty.as_deref(), None),
    };
    let status = match (ty, code) {
        (_, Some("rate_limit_exceeded" | "insufficient_quota"))
        | (Some("rate_limit_error" | "insufficient_quota" | "tokens"), _) => 429,
        (Some("invalid_request_error" | "BadRequestError"), _) => 400,
        (Some("authentication_error"), _) => 401,
        (Some("permission_error"), _) => 403,
        (Some("not_found_error" | "NotFoundError"), _) => 404,
        (_, Some("context_length_exceeded")) => 400,
        _ => 500,
    };
    if env.error.is_none() {
        // vLLM-style flat error object: message and type at the top level.
        let mut e = UpstreamError::new(
            status,
            UpstreamError::type_for_status(status),
            env.message.as_deref().unwrap_or("upstream error"),
        );
        e.code = ty.map(str::to_owned);
        return e;
    }
    super::upstream_error(status, body)
}
