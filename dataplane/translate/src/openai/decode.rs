//! OpenAI Chat Completions answers (streamed and whole) → hub events.

use crate::hub::pending::PendingDecoder;
use crate::hub::Decoder;

/// The decoder of one OpenAI Chat Completions answer.
pub(crate) fn decoder(_stream: bool) -> Box<dyn Decoder> {
    Box::new(PendingDecoder)
}
