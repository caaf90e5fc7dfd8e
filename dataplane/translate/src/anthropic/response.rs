//! Non-streamed Anthropic Messages response → OpenAI `chat.completion`.

use super::error::error_from_wire;
use super::usage::UsageAcc;
use super::wire::WireMessage;
use crate::json_out;
use crate::openai::write_usage;
use crate::{ResponseContext, UpstreamError, Usage};

/// OpenAI finish reason for an Anthropic `stop_reason`.
pub fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        // end_turn, stop_sequence, pause_turn and anything new.
        _ => "stop",
    }
}

/// Translate a non-streamed Anthropic Messages response into an OpenAI `chat.completion`.
pub fn translate_response(
    body: &[u8],
    ctx: &ResponseContext,
) -> Result<(Vec<u8>, Option<Usage>), UpstreamError> {
    let msg: WireMessage<'_> = serde_json::from_slice(body)
        .map_err(|e| UpstreamError::malformed(format!("invalid Anthropic response: {e}")))?;
    if let Some(err) = &msg.error {
        return Err(error_from_wire(None, Some(err)));
    }
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut has_text = false;
    let mut calls: Vec<(&str, &str, &[u8])> = Vec::new();
    for block in &msg.content {
        match block.ty.as_ref() {
            "text" => {
                has_text = true;
                text.push_str(block.text.as_deref().unwrap_or(""));
            }
            "thinking" => reasoning.push_str(block.thinking.as_deref().unwrap_or("")),
            "tool_use" => calls.push((
                block.id.as_deref().unwrap_or(""),
                block.name.as_deref().unwrap_or(""),
                block.input.map_or(&b"{}"[..], |r| r.get().as_bytes()),
            )),
            _ => {}
        }
    }
    let usage = msg.usage.as_ref().map(|u| {
        let mut acc = UsageAcc::default();
        acc.merge(u);
        acc.usage()
    });
    let finish = msg.stop_reason.as_deref().map_or("stop", finish_reason);

    let mut out = Vec::with_capacity(256 + text.len() + reasoning.len());
    out.extend_from_slice(b"{\"id\":");
    json_out::string(&mut out, msg.id.as_deref().unwrap_or(&ctx.id).as_bytes());
    out.extend_from_slice(b",\"object\":\"chat.completion\",\"created\":");
    json_out::uint(&mut out, ctx.created);
    out.extend_from_slice(b",\"model\":");
    json_out::string(&mut out, ctx.model.as_bytes());
    out.extend_from_slice(
        b",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":",
    );
    if has_text || calls.is_empty() {
        json_out::string(&mut out, text.as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
    if !reasoning.is_empty() {
        out.extend_from_slice(b",\"reasoning_content\":");
        json_out::string(&mut out, reasoning.as_bytes());
    }
    if !calls.is_empty() {
        out.extend_from_slice(b",\"tool_calls\":[");
        for (i, (id, name, input)) in calls.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"id\":");
            json_out::string(&mut out, id.as_bytes());
            out.extend_from_slice(b",\"type\":\"function\",\"function\":{\"name\":");
            json_out::string(&mut out, name.as_bytes());
            out.extend_from_slice(b",\"arguments\":");
            json_out::json_as_string(&mut out, input);
            out.extend_from_slice(b"}}");
        }
        out.push(b']');
    }
    out.extend_from_slice(b"},\"logprobs\":null,\"finish_reason\":\"");
    out.extend_from_slice(finish.as_bytes());
    out.extend_from_slice(b"\"}]");
    if let Some(u) = &usage {
        out.extend_from_slice(b",\"usage\":");
        write_usage(&mut out, u);
    }
    out.push(b'}');
    Ok((out, usage))
}
