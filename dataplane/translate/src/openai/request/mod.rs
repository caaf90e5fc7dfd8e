//! The client's chat-completion request: parsed once, validated at the boundary, and
//! rewritten for OpenAI-compatible upstreams without re-serialising `messages`.
//!
//! Parsing keeps every top-level value as a span into the original body, so a passthrough
//! rewrite copies the client's bytes for everything but `model`, the gateway-only fields and
//! `stream_options`.
//!
//! This is the one parse and validation of an OpenAI request: the passthrough rewrite
//! ([`ChatRequest::passthrough_body`]) and the Anthropic/Gemini builders (through the
//! provider-neutral [`hub`] form) both start from it.

use std::borrow::Cow;
use std::collections::HashSet;
use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;

use crate::TranslateError;
use scan::{raw_len, value_end, value_start, ArrayLen, Member, MessagesScan, Text, TopLevel};
pub(crate) use shape::check_shape;
use validate::{check_messages, check_name, check_number, invalid, parse_as, StreamOptionsShape};

pub(crate) mod hub;
mod limits;
mod model_name;
mod passthrough;
mod scan;
mod shape;
#[cfg(test)]
mod tests;
mod validate;

pub use limits::RequestLimits;
pub use model_name::{check_model_name, BadName};
pub use passthrough::{write_json_str, GATEWAY_FIELDS};

/// Up to this many top-level keys, duplicates are found by comparing pairs.
const DUPLICATE_SCAN_MAX: usize = 16;

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
    /// Orchestrator API `fallback_providers`.
    pub fallback_providers: Vec<String>,
    /// Whole-request deadline requested by the client.
    pub timeout: Option<Duration>,
    /// Requested retries (capped by config).
    pub retry_count: Option<u32>,
    /// Top-level members: key and the byte span of its value in `body`.
    fields: Vec<Field>,
}

/// A top-level member: its key and the byte span of its value in the body.
#[derive(Debug, Clone)]
struct Field {
    key: Key,
    value: Range<usize>,
}

/// A key as written (its span in the body), or unescaped when it had escapes.
#[derive(Debug, Clone)]
enum Key {
    Span(Range<usize>),
    Unescaped(String),
}

impl Field {
    /// The key's text (`body` is the request body the spans point into).
    fn key_bytes<'t>(&'t self, body: &'t [u8]) -> &'t [u8] {
        match &self.key {
            Key::Span(r) => body.get(r.clone()).unwrap_or_default(),
            Key::Unescaped(k) => k.as_bytes(),
        }
    }
}

impl ChatRequest {
    /// Parses and validates a body. Every problem is a 400 naming the parameter.
    ///
    /// Linear in the body: one shape scan (nesting depth, members per object), one parse
    /// that validates `messages` in place, and short second looks at a few small values
    /// (`tools` is counted by a second scan of just that value).
    #[inline]
    pub fn parse(body: Bytes, limits: impl Into<RequestLimits>) -> Result<Self, TranslateError> {
        Self::parse_limited(body, &limits.into())
    }

    /// [`ChatRequest::parse`], compiled once here rather than in every caller.
    fn parse_limited(body: Bytes, limits: &RequestLimits) -> Result<Self, TranslateError> {
        let text = std::str::from_utf8(&body)
            .map_err(|_| invalid("body", "request body is not valid UTF-8"))?;
        check_shape(text.as_bytes(), limits)?;
        let top: TopLevel = serde_json::from_str(text).map_err(|e| TranslateError {
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
        // Duplicate keys: compared pairwise while there are few (no allocation on the hot
        // path), through a hash set beyond that (linear in the number of keys).
        let mut seen: Option<HashSet<&str>> = None;
        // Offsets into `text` of borrowed keys (`None` for keys that had escapes).
        let key_span = |k: &Cow<str>| match k {
            Cow::Borrowed(b) => {
                let start = b.as_ptr() as usize - base;
                Some(start..start + b.len())
            }
            Cow::Owned(_) => None,
        };
        for (idx, (key, member)) in top.0.iter().enumerate() {
            let kspan = key_span(key);
            let escaped_key = kspan.is_none();
            let (span, raw) = match member {
                Member::Raw(raw) => {
                    let start = raw.get().as_ptr() as usize - base;
                    (start..start + raw.get().len(), Some(*raw))
                }
                Member::Messages(_) => {
                    // Borrowed key by construction; the value runs to the next member or
                    // to the closing brace.
                    let start = value_start(text, kspan.as_ref().map_or(0, |r| r.end + 1));
                    let end = match top.0.get(idx + 1).map(|(k, _)| key_span(k)) {
                        Some(Some(next)) => value_end(text, next.start.saturating_sub(1)),
                        Some(None) => start + raw_len(text.get(start..).unwrap_or_default()),
                        None => value_end(text, text.trim_end().len().saturating_sub(1)),
                    };
                    (start..end, None)
                }
            };
            let duplicate = if top.0.len() <= DUPLICATE_SCAN_MAX {
                let before = top.0.get(..idx).unwrap_or_default();
                before.iter().any(|(k, _)| k == key)
            } else {
                !seen
                    .get_or_insert_with(|| HashSet::with_capacity(top.0.len()))
                    .insert(key.as_ref())
            };
            if duplicate {
                return Err(invalid(key, format!("duplicate field `{key}`")));
            }
            let field = Field {
                key: match kspan {
                    Some(r) => Key::Span(r),
                    None => Key::Unescaped(key.clone().into_owned()),
                },
                value: span,
            };
            let raw = match (member, raw) {
                (Member::Messages(scan), _) => {
                    check_messages(scan, limits)?;
                    saw_messages = true;
                    req.fields.push(field);
                    continue;
                }
                (_, Some(raw)) => raw,
                (_, None) => continue,
            };
            match key.as_ref() {
                "messages" => {
                    // An escaped key: validate the captured value the same way.
                    let scan = serde_json::from_str(raw.get()).unwrap_or(MessagesScan::NOT_ARRAY);
                    check_messages(&scan, limits)?;
                    saw_messages = true;
                }
                "model" => {
                    let Text(m) = parse_as(raw, "model", "a string")?;
                    check_name(&m, "model", limits)?;
                    req.model = m.into_owned();
                    saw_model = true;
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
                        check_name(&p, field, limits)?;
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
                    for name in &req.fallback_providers {
                        check_name(name, "fallback_providers", limits)?;
                    }
                }
                // Counted by the shape scan unless the key was written with escapes.
                "tools" | "functions" if escaped_key => {
                    if let ArrayLen(Some(n)) = parse_as(raw, key, "an array")? {
                        if n > limits.max_tools {
                            return Err(invalid(
                                key,
                                format!(
                                    "`{key}` has {n} entries, more than the limit of {}",
                                    limits.max_tools
                                ),
                            ));
                        }
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
            req.fields.push(field);
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
            .find(|f| f.key_bytes(&self.body) == key.as_bytes())
            .and_then(|f| self.body.get(f.value.clone()))
    }
}
