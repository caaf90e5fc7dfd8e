//! The OpenAI error object, as an HTTP body and as a mid-stream SSE error event.

use bytes::BytesMut;

use crate::json_out;
use crate::UpstreamError;

/// Write an OpenAI-style mid-stream error event:
/// `data: {"error":{"message":...,"type":...,"code":...,"param":null}}\n\n`.
pub fn write_error_event(err: &UpstreamError, out: &mut BytesMut) {
    out.extend_from_slice(b"data: ");
    write_error_object(err, out);
    out.extend_from_slice(b"\n\n");
}

/// The OpenAI error body `{"error":{...}}` for a non-streamed error response.
pub fn error_body(err: &UpstreamError) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + err.message.len());
    write_error_object(err, &mut out);
    out
}

fn write_error_object<B: bytes::BufMut>(err: &UpstreamError, out: &mut B) {
    out.put_slice(b"{\"error\":{\"message\":");
    json_out::string(out, err.message.as_bytes());
    out.put_slice(b",\"type\":");
    json_out::string(out, err.error_type.as_bytes());
    out.put_slice(b",\"code\":");
    match &err.code {
        Some(code) => json_out::string(out, code.as_bytes()),
        None => out.put_slice(b"null"),
    }
    out.put_slice(b",\"param\":");
    match &err.param {
        Some(param) => json_out::string(out, param.as_bytes()),
        None => out.put_slice(b"null"),
    }
    out.put_slice(b"}}");
}
