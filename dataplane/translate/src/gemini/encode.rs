//! Hub events → Gemini generateContent answers (streamed and whole), and Gemini generateContent error bodies.

use crate::hub::pending::PendingEncoder;
use crate::hub::Encoder;
use crate::{ResponseContext, UpstreamError};

/// The encoder of one answer for a Gemini generateContent client.
pub(crate) fn encoder(_stream: bool, _ctx: ResponseContext) -> Box<dyn Encoder> {
    Box::new(PendingEncoder)
}

/// An error answer body in Gemini generateContent's error format.
pub(crate) fn error_body(err: &UpstreamError) -> Vec<u8> {
    crate::openai::error_body(err)
}
