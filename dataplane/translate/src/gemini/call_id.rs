//! OpenAI tool-call ids for Gemini function calls: Gemini's own id or a generated one,
//! carrying the call's `thoughtSignature` so it can be replayed on the next turn.

use crate::json_out;
use crate::openai::request::hub as chat;

/// Split an OpenAI tool-call id into (Gemini id, thought signature).
pub(super) fn split_call_id(id: &str) -> (&str, Option<&str>) {
    match id.split_once(chat::THOUGHT_SIGNATURE_SEPARATOR) {
        Some((id, sig)) => (id, Some(sig)),
        None => (id, None),
    }
}

pub(super) fn call_id_into(
    out: &mut Vec<u8>,
    ctx_id: &str,
    choice: u32,
    n: u32,
    given: Option<&str>,
    sig: Option<&str>,
) {
    match given {
        Some(id) if !id.is_empty() => out.extend_from_slice(id.as_bytes()),
        _ => write_generated_id(out, ctx_id, choice, n),
    }
    if let Some(sig) = sig {
        out.extend_from_slice(chat::THOUGHT_SIGNATURE_SEPARATOR.as_bytes());
        out.extend_from_slice(sig.as_bytes());
    }
}

pub(super) fn write_generated_id<B: bytes::BufMut>(out: &mut B, ctx_id: &str, choice: u32, n: u32) {
    out.put_slice(b"call_");
    let suffix = ctx_id.strip_prefix("chatcmpl-").unwrap_or(ctx_id);
    json_out::escaped(out, suffix.as_bytes());
    out.put_u8(b'_');
    if choice > 0 {
        json_out::uint(out, u64::from(choice));
        out.put_u8(b'_');
    }
    json_out::uint(out, u64::from(n));
}
