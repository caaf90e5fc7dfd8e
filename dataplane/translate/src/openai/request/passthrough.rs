//! The passthrough rewrite for OpenAI-compatible upstreams: `model` replaced, gateway
//! fields dropped, usage asked for; every other byte is the client's.

use bytes::{BufMut, Bytes, BytesMut};

use super::{ChatRequest, Key};

/// Fields that steer the gateway and are never sent upstream.
pub const GATEWAY_FIELDS: &[&str] = &[
    "provider",
    "backend",
    "fallback_providers",
    "timeout",
    "retry_count",
];

impl ChatRequest {
    /// Body for an OpenAI-compatible upstream: `model` replaced, gateway-only fields
    /// dropped, and (for streams) `stream_options.include_usage` forced on so the gateway
    /// always sees usage. Everything else is copied byte for byte.
    pub fn passthrough_body(&self, upstream_model: &str) -> Bytes {
        let mut out = BytesMut::with_capacity(self.body.len() + 64);
        out.put_u8(b'{');
        let mut first = true;
        let mut sep = |out: &mut BytesMut| {
            if !std::mem::take(&mut first) {
                out.put_u8(b',');
            }
        };
        let mut wrote_stream_options = false;
        for field in &self.fields {
            let key = field.key_bytes(&self.body);
            if GATEWAY_FIELDS.iter().any(|g| g.as_bytes() == key) {
                continue;
            }
            sep(&mut out);
            match &field.key {
                // A key without escapes is its own JSON text.
                Key::Span(_) => {
                    out.put_u8(b'"');
                    out.extend_from_slice(key);
                    out.put_u8(b'"');
                }
                Key::Unescaped(k) => write_json_str(&mut out, k),
            }
            out.put_u8(b':');
            let value = self.body.get(field.value.clone()).unwrap_or_default();
            match key {
                b"model" => write_json_str(&mut out, upstream_model),
                b"stream_options" if self.stream && !self.include_usage => {
                    // Merge include_usage into whatever options the client sent.
                    let mut obj: serde_json::Map<String, serde_json::Value> =
                        serde_json::from_slice(value).unwrap_or_default();
                    obj.insert("include_usage".into(), serde_json::Value::Bool(true));
                    out.extend_from_slice(
                        &serde_json::to_vec(&obj)
                            .unwrap_or_else(|_| b"{\"include_usage\":true}".to_vec()),
                    );
                    wrote_stream_options = true;
                }
                _ => out.extend_from_slice(value),
            }
        }
        if self.stream && !self.include_usage && !wrote_stream_options {
            sep(&mut out);
            out.extend_from_slice(b"\"stream_options\":{\"include_usage\":true}");
        }
        out.put_u8(b'}');
        out.freeze()
    }
}

/// Writes `s` as a JSON string literal.
pub fn write_json_str(out: &mut BytesMut, s: &str) {
    out.put_u8(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        match esc {
            Some(e) => out.extend_from_slice(e),
            // A control byte: `\u00XX`, its high digit 0 or 1.
            None => {
                out.extend_from_slice(&[b'\\', b'u', b'0', b'0', b'0' + (b >> 4), hex(b & 0xf)])
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
    out.put_u8(b'"');
}

/// The lower-case hex digit for a nibble.
fn hex(n: u8) -> u8 {
    if n < 10 {
        b'0' + n
    } else {
        b'a' + n - 10
    }
}
