//! Hub events → OpenAI Chat Completions answers (streamed and whole), and OpenAI Chat Completions error bodies.

use crate::hub::pending::PendingEncoder;
use crate::hub::Encoder;
use crate::ResponseContext;

/// The encoder of one answer for a OpenAI Chat Completions client.
pub(crate) fn encoder(_stream: bool, _ctx: ResponseContext) -> Box<dyn Encoder> {
    Box::new(PendingEncoder)
}
