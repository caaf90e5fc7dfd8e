//! OpenAI Chat Completions and every OpenAI-compatible kind (DeepSeek, vLLM, Ollama, ...):
//! the request body is forwarded with only the model and gateway fields rewritten, answers
//! pass through byte for byte while a scanner picks `usage` out, and error bodies that
//! already are OpenAI error objects reach the client untouched.

use bytes::{Bytes, BytesMut};
use sluice_translate::openai::{scan_usage, PassthroughScanner};
use sluice_translate::{UpstreamError, Usage};

use crate::error::GatewayError;

/// Path under the API root (which already ends in `/v1` for OpenAI-style bases).
pub(super) const PATH: &str = "/chat/completions";

/// Embeddings path under the API root.
pub(super) const EMBEDDINGS_PATH: &str = "/embeddings";

/// A non-streamed answer is already in OpenAI terms: only its usage is read.
pub(super) fn response(body: Bytes) -> (Bytes, Option<Usage>) {
    let usage = scan_usage(&body);
    (body, usage)
}

/// The scanner for a streamed answer; the usage chunk the gateway asked for is stripped
/// again unless the client asked for it too.
pub(super) fn relay(include_usage: bool) -> PassthroughScanner {
    PassthroughScanner::new(!include_usage)
}

/// Flushes the scanner; a stream that ends without `data: [DONE]` was cut.
pub(super) fn finish(s: &mut PassthroughScanner, out: &mut BytesMut) -> Result<(), UpstreamError> {
    if let Some(b) = s.finish() {
        out.extend_from_slice(&b);
    }
    if s.saw_done() {
        Ok(())
    } else {
        Err(UpstreamError::new(
            502,
            "server_error",
            "upstream stream ended before [DONE]",
        ))
    }
}

/// An error answer: an OpenAI error object passes through as it is (with the upstream's
/// status); anything else becomes one naming the provider.
pub(super) fn error(
    provider: &str,
    status: u16,
    body: &[u8],
    retry_after: Option<u64>,
) -> GatewayError {
    let is_openai_error = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .is_some_and(|v| v.get("error").is_some_and(|e| e.is_object()));
    GatewayError::Upstream {
        status,
        error_type: UpstreamError::type_for_status(status),
        code: None,
        message: format!(
            "provider '{provider}' answered {status}: {}",
            String::from_utf8_lossy(body.get(..512).unwrap_or(body))
        ),
        passthrough_body: is_openai_error.then(|| Bytes::copy_from_slice(body)),
        retry_after,
    }
}
