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

/// An OpenAI (Chat or Responses) error answer in hub terms: the error object's message,
/// type, code and param when the body is one, else the status and the body's start.
pub(crate) fn upstream_error(status: u16, body: &[u8]) -> UpstreamError {
    #[derive(serde::Deserialize)]
    struct Envelope {
        error: Object,
    }
    #[derive(serde::Deserialize)]
    struct Object {
        #[serde(default)]
        message: Option<String>,
        #[serde(default, rename = "type")]
        ty: Option<String>,
        #[serde(default)]
        code: Option<serde_json::Value>,
        #[serde(default)]
        param: Option<String>,
    }
    let mut err = UpstreamError::new(
        status,
        UpstreamError::type_for_status(status),
        String::new(),
    );
    match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope { error }) => {
            err.message = error.message.unwrap_or_default();
            err.param = error.param;
            err.code = match error.code {
                Some(serde_json::Value::String(s)) => Some(s),
                Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                _ => error.ty,
            };
        }
        Err(_) => {
            let head = body.get(..512).unwrap_or(body);
            err.message = format!(
                "upstream answered {status}: {}",
                String::from_utf8_lossy(head)
            );
        }
    }
    err
}
