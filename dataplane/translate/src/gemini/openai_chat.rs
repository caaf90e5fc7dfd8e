//! Gemini answers for OpenAI Chat clients: the crate's original Gemini API, now the hub's
//! Gemini decoder joined to its OpenAI Chat encoder (no translation code of its own).

use bytes::{Bytes, BytesMut};

use super::decode::{stop_reason, GeminiDecoder};
use crate::hub::{self, Protocol, Translator};
use crate::{ResponseContext, StreamTranslator, UpstreamError, Usage};

/// Incremental Gemini `streamGenerateContent` → OpenAI `chat.completion.chunk` translator.
///
/// Accepts the `alt=sse` framing the data plane asks for, and also the plain JSON-array
/// framing Gemini uses without `alt=sse` (detected from the first byte). Tool calls
/// without a Gemini id are named `call_<ctx id>_<n>` (the `chatcmpl-` prefix dropped).
pub struct GeminiStreamTranslator {
    inner: Translator,
}

impl std::fmt::Debug for GeminiStreamTranslator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeminiStreamTranslator")
            .finish_non_exhaustive()
    }
}

/// Gemini decoder (tool-call ids seeded from the context id) → OpenAI Chat encoder.
fn translator(stream: bool, ctx: ResponseContext) -> Translator {
    let decoder = Box::new(GeminiDecoder::new(stream, Some(&ctx.id)));
    Translator::new(decoder, hub::encoder(Protocol::OpenAi, stream, ctx))
}

impl GeminiStreamTranslator {
    /// A translator for one response stream.
    pub fn new(ctx: ResponseContext) -> Self {
        Self {
            inner: translator(true, ctx),
        }
    }
}

impl StreamTranslator for GeminiStreamTranslator {
    fn feed(&mut self, chunk: Bytes, out: &mut BytesMut) -> Result<(), UpstreamError> {
        self.inner.feed(chunk, out)
    }

    fn finish(&mut self, out: &mut BytesMut) -> Result<(), UpstreamError> {
        self.inner.finish(out)
    }

    fn usage(&self) -> Option<Usage> {
        self.inner.usage()
    }
}

/// Translate a non-streamed Gemini `generateContent` response into an OpenAI
/// `chat.completion` (the `responseId` as its id).
pub fn translate_response(
    body: &[u8],
    ctx: &ResponseContext,
) -> Result<(Vec<u8>, Option<Usage>), UpstreamError> {
    translator(false, ctx.clone()).whole(body)
}

/// OpenAI finish reason for a Gemini `finishReason` (`MALFORMED_FUNCTION_CALL` and the
/// other invalid-call reasons are errors in a translated answer; here they read `stop`).
pub fn finish_reason(reason: &str, made_tool_calls: bool) -> &'static str {
    match stop_reason(reason, made_tool_calls) {
        Ok(r) => crate::openai::encode::finish_reason(r),
        Err(_) => "stop",
    }
}
