//! Anthropic Messages: requests and answers are translated both ways, errors mapped to
//! OpenAI's (529 → 503, the Anthropic error type kept as `code`).

use bytes::Bytes;
use sluice_translate::anthropic::{self as wire, AnthropicStreamTranslator};
use sluice_translate::{ResponseContext, TranslateError, UpstreamError, Usage};

use super::join_path;
use crate::chat_request::ChatRequest;

/// Path and body of the Messages request for `model`.
pub(super) fn request(
    root: &str,
    model: &str,
    req: &ChatRequest,
) -> Result<(String, Bytes), TranslateError> {
    let built = wire::build_request_from(req, model)?;
    Ok((join_path(root, wire::PATH), Bytes::from(built.body)))
}

/// A non-streamed Messages answer as an OpenAI `chat.completion`.
pub(super) fn response(
    body: &[u8],
    ctx: &ResponseContext,
) -> Result<(Bytes, Option<Usage>), UpstreamError> {
    wire::translate_response(body, ctx).map(|(b, u)| (Bytes::from(b), u))
}

/// The translator for a streamed Messages answer.
pub(super) fn relay(ctx: ResponseContext) -> AnthropicStreamTranslator {
    AnthropicStreamTranslator::new(ctx)
}

/// An Anthropic error answer in OpenAI terms.
pub(super) fn error(status: u16, body: &[u8]) -> UpstreamError {
    wire::translate_error(status, body)
}
