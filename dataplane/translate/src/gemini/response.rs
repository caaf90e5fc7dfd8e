//! Non-streamed Gemini `generateContent` response → OpenAI `chat.completion`.

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::call_id::call_id_into;
use super::error::error_from_wire;
use super::wire::{for_each_checked, WireCandidate, WirePart, WireResponse, WireUsage};
use crate::json_out;
use crate::openai::write_usage;
use crate::{ResponseContext, UpstreamError, Usage};

/// OpenAI finish reason for a Gemini `finishReason`.
pub fn finish_reason(reason: &str, made_tool_calls: bool) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION"
        | "LANGUAGE" => "content_filter",
        _ if made_tool_calls => "tool_calls",
        // STOP, FINISH_REASON_UNSPECIFIED, OTHER, MALFORMED_FUNCTION_CALL, ...
        _ => "stop",
    }
}

#[derive(Default)]
struct ChoiceAcc {
    pub(super) index: u32,
    pub(super) text: String,
    has_text: bool,
    pub(super) reasoning: String,
    calls: Vec<(String, String, String)>,
    pub(super) finish: Option<String>,
}

fn unescape_raw_string(raw: &RawValue) -> Option<Cow<'_, str>> {
    serde_json::from_str::<Cow<'_, str>>(raw.get()).ok()
}

/// Translate a non-streamed Gemini `generateContent` response into an OpenAI
/// `chat.completion` (one choice per candidate).
pub fn translate_response(
    body: &[u8],
    ctx: &ResponseContext,
) -> Result<(Vec<u8>, Option<Usage>), UpstreamError> {
    let resp: WireResponse<'_> = serde_json::from_slice(body)
        .map_err(|e| UpstreamError::malformed(format!("invalid Gemini response: {e}")))?;
    if let Some(err) = &resp.error {
        return Err(error_from_wire(None, err));
    }
    let mut choices: Vec<ChoiceAcc> = Vec::new();
    if let Some(raw) = resp.candidates {
        for_each_checked(raw, |c: WireCandidate<'_>| {
            let mut acc = ChoiceAcc {
                index: c.index.unwrap_or(choices.len() as u32),
                finish: c.finish_reason.as_deref().map(str::to_owned),
                ..ChoiceAcc::default()
            };
            if let Some(parts) = c.content.as_ref().and_then(|c| c.parts) {
                for_each_checked(parts, |p: WirePart<'_>| {
                    if let Some(text) = p.text.and_then(unescape_raw_string) {
                        if p.thought == Some(true) {
                            acc.reasoning.push_str(&text);
                        } else {
                            acc.has_text = true;
                            acc.text.push_str(&text);
                        }
                    }
                    if let Some(fc) = &p.function_call {
                        let mut id = Vec::new();
                        let n = acc.calls.len() as u32;
                        call_id_into(
                            &mut id,
                            &ctx.id,
                            acc.index,
                            n,
                            fc.id.as_deref(),
                            p.thought_signature.as_deref(),
                        );
                        let mut args = Vec::new();
                        json_out::minified(
                            &mut args,
                            fc.args.map_or(&b"{}"[..], |a| a.get().as_bytes()),
                        );
                        if args == b"null" {
                            args = b"{}".to_vec();
                        }
                        acc.calls.push((
                            String::from_utf8_lossy(&id).into_owned(),
                            fc.name.as_deref().unwrap_or("").to_owned(),
                            String::from_utf8_lossy(&args).into_owned(),
                        ));
                    }
                    Ok(())
                })?;
            }
            choices.push(acc);
            Ok(())
        })?;
    }
    let blocked = resp
        .prompt_feedback
        .as_ref()
        .and_then(|f| f.block_reason.as_deref())
        .is_some();
    if choices.is_empty() {
        if !blocked {
            return Err(UpstreamError::malformed(
                "Gemini response has no candidates",
            ));
        }
        choices.push(ChoiceAcc {
            finish: Some("PROHIBITED_CONTENT".to_owned()),
            ..ChoiceAcc::default()
        });
    }
    let usage = resp.usage_metadata.as_ref().map(WireUsage::usage);

    let mut out = Vec::with_capacity(256 + body.len() / 2);
    out.extend_from_slice(b"{\"id\":");
    json_out::string(
        &mut out,
        resp.response_id.as_deref().unwrap_or(&ctx.id).as_bytes(),
    );
    out.extend_from_slice(b",\"object\":\"chat.completion\",\"created\":");
    json_out::uint(&mut out, ctx.created);
    out.extend_from_slice(b",\"model\":");
    json_out::string(&mut out, ctx.model.as_bytes());
    out.extend_from_slice(b",\"choices\":[");
    for (i, c) in choices.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"index\":");
        json_out::uint(&mut out, u64::from(c.index));
        out.extend_from_slice(b",\"message\":{\"role\":\"assistant\",\"content\":");
        if c.has_text || c.calls.is_empty() {
            json_out::string(&mut out, c.text.as_bytes());
        } else {
            out.extend_from_slice(b"null");
        }
        if !c.reasoning.is_empty() {
            out.extend_from_slice(b",\"reasoning_content\":");
            json_out::string(&mut out, c.reasoning.as_bytes());
        }
        if !c.calls.is_empty() {
            out.extend_from_slice(b",\"tool_calls\":[");
            for (j, (id, name, args)) in c.calls.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"id\":");
                json_out::string(&mut out, id.as_bytes());
                out.extend_from_slice(b",\"type\":\"function\",\"function\":{\"name\":");
                json_out::string(&mut out, name.as_bytes());
                out.extend_from_slice(b",\"arguments\":");
                json_out::string(&mut out, args.as_bytes());
                out.extend_from_slice(b"}}");
            }
            out.push(b']');
        }
        let finish = finish_reason(c.finish.as_deref().unwrap_or("STOP"), !c.calls.is_empty());
        out.extend_from_slice(b"},\"logprobs\":null,\"finish_reason\":\"");
        out.extend_from_slice(finish.as_bytes());
        out.extend_from_slice(b"\"}");
    }
    out.push(b']');
    if let Some(u) = &usage {
        out.extend_from_slice(b",\"usage\":");
        write_usage(&mut out, u);
    }
    out.push(b'}');
    Ok((out, usage))
}
