//! Hub events → OpenAI Responses answers (streamed and whole), and OpenAI Responses error bodies.

use crate::hub::pending::PendingEncoder;
use crate::hub::Encoder;
use crate::{ResponseContext, UpstreamError};

/// The encoder of one answer for a OpenAI Responses client.
pub(crate) fn encoder(_stream: bool, _ctx: ResponseContext) -> Box<dyn Encoder> {
    Box::new(PendingEncoder)
}

/// An error answer body in OpenAI Responses's error format.
#[allow(dead_code)]
pub(crate) fn error_body(err: &UpstreamError) -> Vec<u8> {
    crate::openai::error_body(err)
}
