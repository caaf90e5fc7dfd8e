//! Gemini generateContent answers (streamed and whole) → hub events.

use crate::hub::pending::PendingDecoder;
use crate::hub::Decoder;

/// The decoder of one Gemini generateContent answer.
pub(crate) fn decoder(_stream: bool) -> Box<dyn Decoder> {
    Box::new(PendingDecoder)
}
