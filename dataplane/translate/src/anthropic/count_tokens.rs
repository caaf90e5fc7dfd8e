//! An estimate of a Messages request's input tokens, answering `POST
//! /v1/messages/count_tokens` when no Anthropic upstream can count them.
//!
//! The heuristic (documented because clients budget with it):
//! - text (system, messages, thinking, tool results, tool call arguments, tool names,
//!   descriptions and schemas as JSON): one token per 4 bytes, rounded up — the usual
//!   rate of Claude's tokenizer on English text and code;
//! - every message: 4 tokens of framing (role and turn markers), plus 3 for the request;
//! - tools: 350 tokens once for the tool-use system prompt Anthropic adds when tools are
//!   given (its documented 313–346), plus 10 per tool for its framing;
//! - an image: 1,600 tokens (Anthropic's cost of an image at its largest size before
//!   downscaling, ~1.15 megapixels / 750); a PDF: 1,500 tokens per started 100 KB of file
//!   (a text-heavy page costs about 1,500–3,000 tokens).
//!
//! It errs on the high side for prose and images, low for dense PDFs; it is an estimate,
//! not the provider's count.

use super::ingress::parse_request;
use crate::hub::request::{Media, Part};
use crate::openai::RequestLimits;
use crate::TranslateError;

const BYTES_PER_TOKEN: u64 = 4;
const PER_REQUEST: u64 = 3;
const PER_MESSAGE: u64 = 4;
const TOOLS_PROMPT: u64 = 350;
const PER_TOOL: u64 = 10;
const PER_IMAGE: u64 = 1_600;
const PER_PDF_CHUNK: u64 = 1_500;
const PDF_CHUNK_BYTES: u64 = 100 * 1024;

fn text_tokens(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(BYTES_PER_TOKEN)
}

fn part_tokens(part: &Part) -> u64 {
    match part {
        Part::Text(t) => text_tokens(t.len()),
        Part::Thinking { text, .. } => text_tokens(text.len()),
        // Encrypted reasoning: counted by size like text, an upper bound.
        Part::RedactedThinking(data) => text_tokens(data.len()),
        Part::Image(Media::Inline { mime, data }) if mime == "application/pdf" => {
            // Base64: 4 characters per 3 bytes.
            let bytes = (data.len() as u64).saturating_mul(3) / 4;
            bytes
                .div_ceil(PDF_CHUNK_BYTES)
                .max(1)
                .saturating_mul(PER_PDF_CHUNK)
        }
        Part::Image(Media::Url { mime: Some(m), .. }) if m == "application/pdf" => PER_PDF_CHUNK,
        Part::Image(_) => PER_IMAGE,
    }
}

/// The estimated input tokens of an Anthropic Messages (or `count_tokens`) request body;
/// the body is validated as [`super::ingress`] does, except that `max_tokens` may be
/// absent. See the module documentation for the heuristic.
pub fn estimate_input_tokens(body: &[u8], limits: &RequestLimits) -> Result<u64, TranslateError> {
    let req = parse_request(body, limits, false)?.hub;
    let mut tokens = PER_REQUEST;
    for s in &req.system {
        tokens = tokens.saturating_add(text_tokens(s.len()));
    }
    for m in &req.messages {
        tokens = tokens.saturating_add(PER_MESSAGE);
        for p in &m.parts {
            tokens = tokens.saturating_add(part_tokens(p));
        }
        for call in &m.tool_calls {
            let args = call.arguments.to_string().len();
            tokens = tokens.saturating_add(text_tokens(call.id.len() + call.name.len() + args));
        }
        if let Some(id) = &m.tool_call_id {
            tokens = tokens.saturating_add(text_tokens(id.len()));
        }
    }
    if !req.tools.is_empty() {
        tokens = tokens.saturating_add(TOOLS_PROMPT);
    }
    for t in &req.tools {
        let schema = t.parameters.as_ref().map_or(0, |p| p.to_string().len());
        let description = t.description.as_ref().map_or(0, String::len);
        tokens = tokens
            .saturating_add(PER_TOOL)
            .saturating_add(text_tokens(t.name.len() + description + schema));
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn estimate(v: serde_json::Value) -> Result<u64, TranslateError> {
        estimate_input_tokens(&serde_json::to_vec(&v).unwrap(), &RequestLimits::default())
    }

    #[test]
    fn text_messages_and_tools() {
        // 3 + 4 + ceil(8 / 4).
        let n =
            estimate(json!({"model": "m", "messages": [{"role": "user", "content": "12345678"}]}));
        assert_eq!(n, Ok(9));
        let with_tool = estimate(
            json!({"model": "m", "messages": [{"role": "user", "content": "12345678"}],
            "tools": [{"name": "abcd", "input_schema": {}}]}),
        )
        .unwrap();
        // + 350 + 10 + ceil((4 + 2) / 4).
        assert_eq!(with_tool, 9 + 350 + 10 + 2);
        let image = estimate(
            json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}}]}]}),
        )
        .unwrap();
        assert_eq!(image, 3 + 4 + 1_600);
    }

    #[test]
    fn invalid_bodies_are_refused() {
        let e = estimate(json!({"model": "m", "messages": "x"})).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages"));
        assert!(estimate(json!({"messages": []})).is_err());
    }
}
