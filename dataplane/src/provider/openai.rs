//! OpenAI Chat Completions and every OpenAI-compatible kind (DeepSeek, vLLM, Ollama, ...):
//! the request body is forwarded with only the model and gateway fields rewritten, answers
//! pass through byte for byte while a scanner picks `usage` out, and error bodies that
//! already are OpenAI error objects reach the client untouched.

use bytes::{Bytes, BytesMut};
use sluice_translate::openai::{scan_usage, PassthroughScanner};
use sluice_translate::{UpstreamError, Usage};

use super::join_path;
use crate::chat_request::ChatRequest;
use crate::error::GatewayError;

/// Path under the API root (which already ends in `/v1` for OpenAI-style bases).
const PATH: &str = "/chat/completions";

/// Path and body: the client's body with the upstream model, never re-serialised.
pub(super) fn request(root: &str, model: &str, req: &ChatRequest) -> (String, Bytes) {
    (join_path(root, PATH), req.passthrough_body(model))
}

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
