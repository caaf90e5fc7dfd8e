//! The client's chat-completion request: parsed once, validated at the boundary, and
//! rewritten for OpenAI-compatible upstreams without re-serialising `messages`.
//!
//! Parsing keeps every top-level value as a span into the original body, so a passthrough
//! rewrite copies the client's bytes for everything but `model`, the gateway-only fields and
//! `stream_options`.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::GatewayError;

/// Fields that steer the gateway and are never sent upstream.
pub const GATEWAY_FIELDS: &[&str] = &[
    "provider",
    "backend",
    "fallback_providers",
    "timeout",
    "retry_count",
];

/// A validated chat-completion request.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    /// The client's body as received.
    pub body: Bytes,
    /// Requested model (route name, `provider:model`, or a model name).
    pub model: String,
    /// `stream: true`.
    pub stream: bool,
    /// The client asked for `stream_options.include_usage`.
    pub include_usage: bool,
    /// `provider` or `backend` pin, with the field it came from.
    pub pin: Option<(String, &'static str)>,
    /// Seed 001 `fallback_providers`.
    pub fallback_providers: Vec<String>,
    /// Whole-request deadline requested by the client.
    pub timeout: Option<Duration>,
    /// Requested retries (capped by config).
    pub retry_count: Option<u32>,
    /// Top-level members: key and the byte span of its value in `body`.
    fields: Vec<(String, Range<usize>)>,
}

struct TopLevel<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for TopLevel<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TopLevel<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(16);
                while let Some(k) = map.next_key::<Cow<'de, str>>()? {
                    let v: &'de RawValue = map.next_value()?;
                    out.push((k, v));
                }
                Ok(TopLevel(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
struct MessageShape<'a> {
    #[serde(borrow)]
    role: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct StreamOptionsShape {
    include_usage: Option<bool>,
}

fn invalid(param: &str, message: impl Into<String>) -> GatewayError {
    GatewayError::InvalidRequest {
        message: message.into(),
        param: Some(param.to_string()),
    }
}

fn parse_as<'a, T: Deserialize<'a>>(
    raw: &'a RawValue,
    param: &str,
    what: &str,
) -> Result<T, GatewayError> {
    serde_json::from_str(raw.get()).map_err(|_| invalid(param, format!("`{param}` must be {what}")))
}

fn check_number(raw: &RawValue, param: &str, lo: f64, hi: f64) -> Result<(), GatewayError> {
    if raw.get() == "null" {
        return Ok(());
    }
    let v: f64 = parse_as(raw, param, "a number")?;
    if !(lo..=hi).contains(&v) {
        return Err(invalid(
            param,
            format!("`{param}` must be between {lo} and {hi}, got {v}"),
        ));
    }
    Ok(())
}

impl ChatRequest {
    /// Parses and validates a body. Every problem is a 400 naming the parameter.
    pub fn parse(body: Bytes) -> Result<Self, GatewayError> {
        let text = std::str::from_utf8(&body)
            .map_err(|_| invalid("body", "request body is not valid UTF-8"))?;
        let top: TopLevel =
            serde_json::from_str(text).map_err(|e| GatewayError::InvalidRequest {
                message: format!("request body is not a valid JSON object: {e}"),
                param: None,
            })?;
        let base = body.as_ptr() as usize;
        let mut req = ChatRequest {
            body: body.clone(),
            model: String::new(),
            stream: false,
            include_usage: false,
            pin: None,
            fallback_providers: Vec::new(),
            timeout: None,
            retry_count: None,
            fields: Vec::with_capacity(top.0.len()),
        };
        let mut saw_model = false;
        let mut saw_messages = false;
        for (key, raw) in &top.0 {
            let start = raw.get().as_ptr() as usize - base;
            let span = start..start + raw.get().len();
            if req.fields.iter().any(|(k, _)| k == key.as_ref()) {
                return Err(invalid(key, format!("duplicate field `{key}`")));
            }
            match key.as_ref() {
                "model" => {
                    let m: Cow<str> = parse_as(raw, "model", "a string")?;
                    if m.trim().is_empty() {
                        return Err(invalid("model", "`model` must not be empty"));
                    }
                    req.model = m.into_owned();
                    saw_model = true;
                }
                "messages" => {
                    let msgs: Vec<MessageShape> =
                        parse_as(raw, "messages", "an array of message objects")?;
                    if msgs.is_empty() {
                        return Err(invalid(
                            "messages",
                            "`messages` must contain at least one message",
                        ));
                    }
                    for (i, m) in msgs.iter().enumerate() {
                        match m.role.as_deref() {
                            Some(
                                "system" | "developer" | "user" | "assistant" | "tool" | "function",
                            ) => {}
                            Some(other) => {
                                return Err(invalid(
                                    &format!("messages[{i}].role"),
                                    format!("unknown role `{other}` in messages[{i}]"),
                                ))
                            }
                            None => {
                                return Err(invalid(
                                    &format!("messages[{i}].role"),
                                    format!("messages[{i}] has no `role`"),
                                ))
                            }
                        }
                    }
                    saw_messages = true;
                }
                "stream" => {
                    req.stream =
                        parse_as::<Option<bool>>(raw, "stream", "a boolean")?.unwrap_or(false)
                }
                "stream_options" => {
                    let so: Option<StreamOptionsShape> =
                        parse_as(raw, "stream_options", "an object")?;
                    req.include_usage = so.and_then(|s| s.include_usage).unwrap_or(false);
                }
                "temperature" => check_number(raw, "temperature", 0.0, 2.0)?,
                "top_p" => check_number(raw, "top_p", 0.0, 1.0)?,
                "presence_penalty" => check_number(raw, "presence_penalty", -2.0, 2.0)?,
                "frequency_penalty" => check_number(raw, "frequency_penalty", -2.0, 2.0)?,
                "n" => {
                    if let Some(n) = parse_as::<Option<u32>>(raw, "n", "a positive integer")? {
                        if n == 0 || n > 128 {
                            return Err(invalid("n", "`n` must be between 1 and 128"));
                        }
                    }
                }
                "max_tokens" | "max_completion_tokens" => {
                    parse_as::<Option<u64>>(raw, key, "a non-negative integer")?;
                }
                "provider" | "backend" => {
                    if let Some(p) = parse_as::<Option<String>>(raw, key, "a string")? {
                        let field = if key == "provider" {
                            "provider"
                        } else {
                            "backend"
                        };
                        if req.pin.is_some() {
                            return Err(invalid(
                                key,
                                "give either `provider` or `backend`, not both",
                            ));
                        }
                        req.pin = Some((p, field));
                    }
                }
                "fallback_providers" => {
                    req.fallback_providers = parse_as::<Option<Vec<String>>>(
                        raw,
                        "fallback_providers",
                        "an array of provider names",
                    )?
                    .unwrap_or_default();
                    if req.fallback_providers.len() > 16 {
                        return Err(invalid(
                            "fallback_providers",
                            "at most 16 fallback providers",
                        ));
                    }
                }
                "timeout" => {
                    if let Some(t) = parse_as::<Option<f64>>(raw, "timeout", "a number of seconds")?
                    {
                        if !(t > 0.0 && t <= 3600.0) {
                            return Err(invalid(
                                "timeout",
                                "`timeout` must be between 0 and 3600 seconds",
                            ));
                        }
                        req.timeout = Some(Duration::from_secs_f64(t));
                    }
                }
                "retry_count" => {
                    req.retry_count =
                        parse_as::<Option<u32>>(raw, "retry_count", "a non-negative integer")?;
                }
                _ => {}
            }
            req.fields.push((key.clone().into_owned(), span));
        }
        if !saw_model {
            return Err(invalid("model", "missing required field `model`"));
        }
        if !saw_messages {
            return Err(invalid("messages", "missing required field `messages`"));
        }
        Ok(req)
    }

    /// The raw JSON text of a top-level member, if present.
    pub fn raw_field(&self, key: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, r)| &self.body[r.clone()])
    }

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
        for (key, span) in &self.fields {
            if GATEWAY_FIELDS.contains(&key.as_str()) {
                continue;
            }
            sep(&mut out);
            write_json_str(&mut out, key);
            out.put_u8(b':');
            match key.as_str() {
                "model" => write_json_str(&mut out, upstream_model),
                "stream_options" if self.stream && !self.include_usage => {
                    // Merge include_usage into whatever options the client sent.
                    let mut obj: serde_json::Map<String, serde_json::Value> =
                        serde_json::from_slice(&self.body[span.clone()]).unwrap_or_default();
                    obj.insert("include_usage".into(), serde_json::Value::Bool(true));
                    out.extend_from_slice(
                        &serde_json::to_vec(&obj)
                            .unwrap_or_else(|_| b"{\"include_usage\":true}".to_vec()),
                    );
                    wrote_stream_options = true;
                }
                _ => out.extend_from_slice(&self.body[span.clone()]),
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
        out.extend_from_slice(&bytes[start..i]);
        match esc {
            Some(e) => out.extend_from_slice(e),
            None => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(b >> 4) as usize],
                    HEX[(b & 0xf) as usize],
                ]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.put_u8(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ChatRequest, GatewayError> {
        ChatRequest::parse(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn rewrite_keeps_messages_bytes_and_drops_gateway_fields() {
        let body = r#"{"model":"route-a","messages":[{"role":"user","content":"h\u00e9llo  \"x\""}],"provider":"p1","fallback_providers":["p2"],"timeout":5,"retry_count":1,"temperature":0.5}"#;
        let r = parse(body).unwrap();
        assert_eq!(r.model, "route-a");
        assert_eq!(r.pin, Some(("p1".into(), "provider")));
        assert_eq!(r.fallback_providers, vec!["p2".to_string()]);
        assert_eq!(r.timeout, Some(Duration::from_secs(5)));
        assert_eq!(r.retry_count, Some(1));
        let out = r.passthrough_body("gpt-4o");
        let s = std::str::from_utf8(&out).unwrap();
        assert_eq!(
            s,
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"h\u00e9llo  \"x\""}],"temperature":0.5}"#
        );
    }

    #[test]
    fn stream_forces_usage_and_merges_options() {
        let r = parse(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true}"#)
            .unwrap();
        assert!(r.stream && !r.include_usage);
        let v: serde_json::Value = serde_json::from_slice(&r.passthrough_body("m")).unwrap();
        assert_eq!(v["stream_options"]["include_usage"], true);
        let r = parse(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":false,"x":1}}"#).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&r.passthrough_body("m")).unwrap();
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!(v["stream_options"]["x"], 1);
        let body = r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":true}}"#;
        let r = parse(body).unwrap();
        assert!(r.include_usage);
        assert_eq!(&r.passthrough_body("m")[..], body.as_bytes());
    }

    #[test]
    fn bad_inputs_are_400_with_param() {
        let cases: &[(&str, &str)] = &[
            ("", "body"),
            ("[]", "body"),
            ("{", "body"),
            (r#"{"messages":[{"role":"user","content":"x"}]}"#, "model"),
            (r#"{"model":"m"}"#, "messages"),
            (r#"{"model":5,"messages":[]}"#, "model"),
            (r#"{"model":"","messages":[{"role":"user"}]}"#, "model"),
            (r#"{"model":"m","messages":"hi"}"#, "messages"),
            (r#"{"model":"m","messages":[]}"#, "messages"),
            (
                r#"{"model":"m","messages":[{"content":"x"}]}"#,
                "messages[0].role",
            ),
            (
                r#"{"model":"m","messages":[{"role":"wizard"}]}"#,
                "messages[0].role",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user"}],"stream":"yes"}"#,
                "stream",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user"}],"temperature":3}"#,
                "temperature",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user"}],"temperature":"hot"}"#,
                "temperature",
            ),
            (r#"{"model":"m","messages":[{"role":"user"}],"n":0}"#, "n"),
            (
                r#"{"model":"m","messages":[{"role":"user"}],"max_tokens":-1}"#,
                "max_tokens",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user"}],"timeout":-1}"#,
                "timeout",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user"}],"retry_count":"x"}"#,
                "retry_count",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user"}],"provider":"a","backend":"b"}"#,
                "backend",
            ),
            (
                r#"{"model":"m","model":"n","messages":[{"role":"user"}]}"#,
                "model",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user"}],"fallback_providers":"p"}"#,
                "fallback_providers",
            ),
        ];
        for (body, param) in cases {
            match parse(body) {
                Err(GatewayError::InvalidRequest { param: p, message }) => {
                    let p = p.unwrap_or_else(|| "body".into());
                    assert_eq!(&p, param, "{body}: {message}");
                }
                other => panic!("{body}: expected 400, got {other:?}"),
            }
        }
        assert!(ChatRequest::parse(Bytes::from_static(b"\xff\xfe")).is_err());
    }

    #[test]
    fn json_string_escaping() {
        let mut b = BytesMut::new();
        write_json_str(&mut b, "a\"b\\c\n\u{1}é");
        assert_eq!(&b[..], r#""a\"b\\c\n\u0001é""#.as_bytes());
        let back: String = serde_json::from_slice(&b).unwrap();
        assert_eq!(back, "a\"b\\c\n\u{1}é");
    }
}
