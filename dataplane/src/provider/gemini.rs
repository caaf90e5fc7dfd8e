//! Gemini generateContent: requests and answers are translated both ways (the model and
//! streaming are chosen by the URL), errors mapped to OpenAI's (`RESOURCE_EXHAUSTED` →
//! 429 with `RetryInfo.retryDelay` as the retry hint).

use bytes::Bytes;
use sluice_translate::gemini::{self as wire, GeminiStreamTranslator};
use sluice_translate::{ResponseContext, TranslateError, UpstreamError, Usage};

use super::join_path;
use crate::chat_request::ChatRequest;

/// Path (naming the model and the streaming method) and body of the request.
pub(super) fn request(
    root: &str,
    model: &str,
    req: &ChatRequest,
) -> Result<(String, Bytes), TranslateError> {
    let built = wire::build_request_from(req, model)?;
    Ok((
        join_path(root, &wire::path(model, req.stream)),
        Bytes::from(built.body),
    ))
}

/// A non-streamed generateContent answer as an OpenAI `chat.completion`.
pub(super) fn response(
    body: &[u8],
    ctx: &ResponseContext,
) -> Result<(Bytes, Option<Usage>), UpstreamError> {
    wire::translate_response(body, ctx).map(|(b, u)| (Bytes::from(b), u))
}

/// The translator for a streamed generateContent answer.
pub(super) fn relay(ctx: ResponseContext) -> GeminiStreamTranslator {
    GeminiStreamTranslator::new(ctx)
}

/// A Gemini error answer in OpenAI terms.
pub(super) fn error(status: u16, body: &[u8]) -> UpstreamError {
    wire::translate_error(status, body)
}
