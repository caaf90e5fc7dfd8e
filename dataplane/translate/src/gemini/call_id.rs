//! Tool-call ids that carry a Gemini `thoughtSignature` (`<id>__thought__<signature>`), so
//! the signature comes back when the client replays the call.

use crate::hub::request::THOUGHT_SIGNATURE_SEPARATOR;

/// Split a hub tool-call id into (Gemini id, thought signature).
pub(super) fn split_call_id(id: &str) -> (&str, Option<&str>) {
    match id.split_once(THOUGHT_SIGNATURE_SEPARATOR) {
        Some((id, sig)) => (id, Some(sig)),
        None => (id, None),
    }
}
