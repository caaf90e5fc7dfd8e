//! The client's chat-completion request: parsed once, validated at the boundary, and
//! rewritten for OpenAI-compatible upstreams without re-serialising `messages`.
//!
//! Parsing keeps every top-level value as a span into the original body, so a passthrough
//! rewrite copies the client's bytes for everything but `model`, the gateway-only fields and
//! `stream_options`.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::config::Limits;
use crate::error::GatewayError;
use crate::resolve::check_model_name;

/// Up to this many top-level keys, duplicates are found by comparing pairs.
const DUPLICATE_SCAN_MAX: usize = 16;

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

/// What the one pass over `messages` found (the array is validated while the top level is
/// parsed, so it is scanned once; problems are reported after the whole body parsed, in
/// field order, exactly as a second pass would).
#[derive(Debug, Clone, PartialEq)]
enum MessagesCheck {
    Ok,
    NotArray,
    Empty,
    /// An element is not an object, or its `role` is not a string (or repeats).
    BadShape,
    MissingRole(usize),
    UnknownRole(usize, String),
}

/// The verdict on `messages` and how many entries it has (0 when not an array).
#[derive(Debug, Clone, PartialEq)]
struct MessagesScan {
    check: MessagesCheck,
    len: usize,
}

/// One top-level member as the single pass sees it.
enum Member<'a> {
    Raw(&'a RawValue),
    /// `messages`, validated in place; its span is recovered from its neighbours.
    Messages(MessagesScan),
}

/// The `visit_*` methods for JSON scalars of a validating visitor: each one answers
/// `$v` (with `numbers_only`, strings and `null` are left to the visitor itself).
macro_rules! scalars_are {
    ($v:expr; numbers_only) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($v)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($v)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($v)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($v)
        }
    };
    ($v:expr) => {
        scalars_are!($v; numbers_only);
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($v)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($v)
        }
    };
}

struct TopLevel<'a>(Vec<(Cow<'a, str>, Member<'a>)>);

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
                while let Some(Text(k)) = map.next_key::<Text<'de>>()? {
                    // Only a key that borrows from the body can locate the value's span.
                    let v = if matches!(&k, Cow::Borrowed("messages")) {
                        Member::Messages(map.next_value()?)
                    } else {
                        Member::Raw(map.next_value()?)
                    };
                    out.push((k, v));
                }
                Ok(TopLevel(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Accepts any JSON value and records whether it is a valid `messages` array.
impl<'de> Deserialize<'de> for MessagesScan {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MessagesScan;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut verdict = MessagesCheck::Ok;
                let mut n = 0;
                while let Some(role) = seq.next_element::<RoleCheck<'de>>()? {
                    if verdict == MessagesCheck::Ok {
                        verdict = match role {
                            RoleCheck::Known => MessagesCheck::Ok,
                            RoleCheck::Missing => MessagesCheck::MissingRole(n),
                            RoleCheck::Unknown(r) => MessagesCheck::UnknownRole(n, r.into_owned()),
                            RoleCheck::BadShape => MessagesCheck::BadShape,
                        };
                    } else if role == RoleCheck::BadShape && verdict != MessagesCheck::BadShape {
                        // A shape error anywhere outranks a role error, as a typed parse of
                        // the whole array would have failed before looking at roles.
                        verdict = MessagesCheck::BadShape;
                    }
                    n += 1;
                }
                Ok(MessagesScan {
                    check: if n == 0 {
                        MessagesCheck::Empty
                    } else {
                        verdict
                    },
                    len: n,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(MessagesScan::NOT_ARRAY)
            }
            scalars_are!(MessagesScan::NOT_ARRAY);
        }
        d.deserialize_any(V)
    }
}

impl MessagesScan {
    const NOT_ARRAY: MessagesScan = MessagesScan {
        check: MessagesCheck::NotArray,
        len: 0,
    };
}

/// The number of entries of a JSON array (`None` for anything else, left to whoever reads
/// the value). A second scan of just that value.
struct ArrayLen(Option<usize>);

impl<'de> Deserialize<'de> for ArrayLen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ArrayLen;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut n = 0usize;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(ArrayLen(Some(n)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(ArrayLen(None))
            }
            scalars_are!(ArrayLen(None));
        }
        d.deserialize_any(V)
    }
}

/// One element of `messages`, reduced to what validation needs.
#[derive(Debug, PartialEq)]
enum RoleCheck<'a> {
    Known,
    Missing,
    Unknown(Cow<'a, str>),
    BadShape,
}

impl<'de> Deserialize<'de> for RoleCheck<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RoleCheck<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut role: Option<Option<RoleValue>> = None;
                let mut repeated = false;
                while let Some(Text(k)) = map.next_key::<Text<'de>>()? {
                    if k == "role" {
                        repeated |= role.is_some();
                        role = Some(map.next_value()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(match role {
                    _ if repeated => RoleCheck::BadShape,
                    None | Some(None) => RoleCheck::Missing,
                    Some(Some(RoleValue::Other)) => RoleCheck::BadShape,
                    Some(Some(RoleValue::Str(r))) => match r.as_ref() {
                        "system" | "developer" | "user" | "assistant" | "tool" | "function" => {
                            RoleCheck::Known
                        }
                        _ => RoleCheck::Unknown(r),
                    },
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(RoleCheck::BadShape)
            }
            scalars_are!(RoleCheck::BadShape);
        }
        d.deserialize_any(V)
    }
}

/// A string that borrows from the body unless it had escapes. (serde's own `Cow<str>`
/// always allocates; only a derive with `#[serde(borrow)]` borrows.)
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A `role` value: a string, or something else (`null` reads as absent, via `Option`).
enum RoleValue<'a> {
    Str(Cow<'a, str>),
    Other,
}

impl<'de> Deserialize<'de> for RoleValue<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RoleValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(RoleValue::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RoleValue::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(RoleValue::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(RoleValue::Other)
            }
            scalars_are!(RoleValue::Other; numbers_only);
        }
        d.deserialize_any(V)
    }
}

/// Where the value of a member starts: after its key's closing quote, spaces and `:`.
fn value_start(text: &str, key_end: usize) -> usize {
    let after = text.as_bytes().get(key_end..).unwrap_or_default();
    key_end
        + after
            .iter()
            .take_while(|&&c| c.is_ascii_whitespace() || c == b':')
            .count()
}

/// Where a value ends, given where what follows it begins (the next key's opening quote,
/// or the object's closing brace): back over spaces and the separating comma.
fn value_end(text: &str, next: usize) -> usize {
    let Some(before) = text.as_bytes().get(..next) else {
        return next;
    };
    next - before
        .iter()
        .rev()
        .take_while(|&&c| c.is_ascii_whitespace() || c == b',')
        .count()
}

/// Deepest nesting the shape scan tracks: the config caps `max_json_depth` here, and
/// serde_json refuses deeper input anyway.
const MAX_TRACKED_DEPTH: usize = 128;

/// Checks nesting depth, members per object and the entries of `tools` (or `functions`)
/// in one pass over the body, before it is parsed: a few comparisons per byte outside
/// strings, a short loop or `memchr` inside them, no allocation. Malformed JSON is let
/// through (the parser reports it). A refusal names the top-level member it happened in.
fn check_shape(body: &[u8], limits: &Limits) -> Result<(), GatewayError> {
    let max_depth = limits.max_json_depth.min(MAX_TRACKED_DEPTH);
    // Fast path: the `{`/`[` bytes bound the depth and the commas bound every count (both
    // over-count, as bytes inside strings count too), so a body under both limits needs no
    // structural scan. One branch-free pass that the compiler vectorises.
    let (mut opens, mut commas) = (0usize, 0usize);
    for chunk in body.chunks(128) {
        // Byte-wide counters over short chunks: the loop compiles to vector compares.
        let (mut o, mut n) = (0u8, 0u8);
        for &b in chunk {
            // `[` is 0x5b and `{` is 0x7b: one compare after setting bit 5 finds both.
            o += u8::from(b | 0x20 == b'{');
            n += u8::from(b == b',');
        }
        opens += usize::from(o);
        commas += usize::from(n);
    }
    if opens <= max_depth && commas < limits.max_tools.min(limits.max_object_keys) {
        return Ok(());
    }
    // Commas still allowed in the open container at each depth (a container with n
    // commas has n + 1 entries).
    let mut commas_left = [0usize; MAX_TRACKED_DEPTH + 1];
    let mut depth = 0usize;
    // The last string at depth 1, and the top-level member being scanned (key spans).
    let mut last_str = 0..0;
    let mut top_key: Option<Range<usize>> = None;
    // The array open at depth 2 is the value of `tools` / `functions` (by the raw key; an
    // escaped key is counted after parsing instead).
    let mut tools_open = false;
    let mut i = 0;
    while let Some(&c) = body.get(i) {
        i += 1;
        match c {
            b'"' => {
                let start = i;
                // The closing quote: skip escapes (a backslash and the byte after it).
                loop {
                    let Some(k) = quote_or_backslash(body.get(i..).unwrap_or_default()) else {
                        return Ok(());
                    };
                    i += k + 1;
                    if body.get(i - 1) == Some(&b'"') {
                        break;
                    }
                    i += 1;
                }
                if depth == 1 {
                    last_str = start..i - 1;
                }
            }
            b'{' | b'[' => {
                depth += 1;
                let tools = c == b'[' && depth == 2 && is_tools_key(body, &top_key);
                let left = if c == b'{' {
                    limits.max_object_keys
                } else if tools {
                    limits.max_tools
                } else {
                    usize::MAX
                };
                if depth == 2 {
                    tools_open = tools;
                }
                match commas_left.get_mut(depth) {
                    Some(n) if depth <= max_depth => *n = left.saturating_sub(1),
                    _ => {
                        let (param, what) = shape_site(body, depth, &top_key);
                        return Err(GatewayError::InvalidRequest {
                            message: format!(
                                "{what} is nested deeper than the limit of {max_depth} levels"
                            ),
                            param,
                        });
                    }
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b':' if depth == 1 => top_key = Some(last_str.clone()),
            b',' => match commas_left.get_mut(depth) {
                Some(0) => {
                    let (param, what) = shape_site(body, depth, &top_key);
                    let message = if depth == 2 && tools_open {
                        format!(
                            "{what} has more than the limit of {} entries",
                            limits.max_tools
                        )
                    } else {
                        format!(
                            "an object in {what} has more than the limit of {} members",
                            limits.max_object_keys
                        )
                    };
                    return Err(GatewayError::InvalidRequest { message, param });
                }
                Some(n) => *n -= 1,
                None => {}
            },
            _ => {}
        }
    }
    Ok(())
}

/// The first `"` or `\` in `s`. Keys and short values end within a few words, where
/// testing 8 bytes at a time beats the set-up of `memchr`; long text goes to `memchr`.
fn quote_or_backslash(s: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    const QUOTES: u64 = u64::from_le_bytes([b'"'; 8]);
    const BACKSLASHES: u64 = u64::from_le_bytes([b'\\'; 8]);
    const WORDS_BEFORE_MEMCHR: usize = 8;
    let mut done = 0;
    while let Some(word) = s.get(done..done + 8) {
        let w = u64::from_le_bytes(word.try_into().ok()?);
        let (q, b) = (w ^ QUOTES, w ^ BACKSLASHES);
        // A zero byte in `q` or `b` is a match; the lowest flagged byte is always a true
        // one (a false flag can only sit above a true zero).
        let hits = ((q.wrapping_sub(ONES) & !q) | (b.wrapping_sub(ONES) & !b)) & HIGH;
        if hits != 0 {
            return Some(done + (hits.trailing_zeros() / 8) as usize);
        }
        done += 8;
        if done == 8 * WORDS_BEFORE_MEMCHR {
            return memchr::memchr2(b'"', b'\\', s.get(done..)?).map(|k| done + k);
        }
    }
    // Less than a word left.
    s.get(done..)?
        .iter()
        .position(|&c| c == b'"' || c == b'\\')
        .map(|k| done + k)
}

/// Whether the top-level key spanning `key` is `tools` or `functions` as written.
fn is_tools_key(body: &[u8], key: &Option<Range<usize>>) -> bool {
    matches!(
        key.clone().and_then(|k| body.get(k)),
        Some(b"tools" | b"functions")
    )
}

/// The `param` and the wording for a shape refusal at `depth` inside the top-level member
/// whose key spans `key` (as written, escapes and all).
fn shape_site(body: &[u8], depth: usize, key: &Option<Range<usize>>) -> (Option<String>, String) {
    match key
        .clone()
        .and_then(|k| body.get(k))
        .map(std::str::from_utf8)
    {
        Some(Ok(k)) if depth > 1 => (Some(k.to_string()), format!("`{k}`")),
        _ => (None, "the request body".to_string()),
    }
}

/// The 400 for a model or provider name that cannot be one.
fn check_name(name: &str, param: &str, limits: &Limits) -> Result<(), GatewayError> {
    check_model_name(name, limits.max_model_len)
        .map_err(|why| invalid(param, format!("`{param}` {why}")))
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

/// The 400 for a `messages` problem, if any.
fn check_messages(scan: &MessagesScan, limits: &Limits) -> Result<(), GatewayError> {
    if scan.len > limits.max_messages {
        return Err(invalid(
            "messages",
            format!(
                "`messages` has {} entries, more than the limit of {}",
                scan.len, limits.max_messages
            ),
        ));
    }
    match &scan.check {
        MessagesCheck::Ok => Ok(()),
        MessagesCheck::NotArray | MessagesCheck::BadShape => Err(invalid(
            "messages",
            "`messages` must be an array of message objects",
        )),
        MessagesCheck::Empty => Err(invalid(
            "messages",
            "`messages` must contain at least one message",
        )),
        MessagesCheck::MissingRole(i) => Err(invalid(
            &format!("messages[{i}].role"),
            format!("messages[{i}] has no `role`"),
        )),
        MessagesCheck::UnknownRole(i, r) => Err(invalid(
            &format!("messages[{i}].role"),
            format!("unknown role `{r}` in messages[{i}]"),
        )),
    }
}

/// Length of the JSON value at the start of `text` (a second scan: only for the rare
/// `messages` followed by an escaped key, whose position serde does not reveal).
fn raw_len(text: &str) -> usize {
    let mut de = serde_json::Deserializer::from_str(text);
    <&RawValue>::deserialize(&mut de).map_or(0, |r| r.get().len())
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
    pub fn parse(body: Bytes, limits: &Limits) -> Result<Self, GatewayError> {
        let text = std::str::from_utf8(&body)
            .map_err(|_| invalid("body", "request body is not valid UTF-8"))?;
        check_shape(text.as_bytes(), limits)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ChatRequest, GatewayError> {
        ChatRequest::parse(Bytes::copy_from_slice(s.as_bytes()), &Limits::default())
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
        assert!(ChatRequest::parse(Bytes::from_static(b"\xff\xfe"), &Limits::default()).is_err());
    }

    #[test]
    fn messages_span_is_exact_wherever_it_sits() {
        let msgs =
            r#"[ {"role":"user","content":"a, ] } \"b\""} , {"role":"assistant","content":[]} ]"#;
        for body in [
            format!(r#"{{"model":"m","messages":{msgs}}}"#),
            format!("{{ \"messages\" :\n {msgs} \n, \"model\": \"m\" }}\n"),
            format!(r#"{{"model":"m","messages":{msgs},"t\u0065mperature":1}}"#),
            format!(r#"{{"model":"m","m\u0065ssages":{msgs}}}"#),
            format!("{{\"messages\":{msgs}\t ,\"model\":\"m\",\"user\":\"u\"}}"),
        ] {
            let r = parse(&body).unwrap_or_else(|e| panic!("{body}: {e:?}"));
            assert_eq!(r.raw_field("messages"), Some(msgs.as_bytes()), "{body}");
            let out: serde_json::Value = serde_json::from_slice(&r.passthrough_body("x")).unwrap();
            let want: serde_json::Value = serde_json::from_str(msgs).unwrap();
            assert_eq!(out["messages"], want, "{body}");
            assert_eq!(out["model"], "x");
        }
    }

    #[test]
    fn message_shapes_are_checked_in_one_pass() {
        let param = |body: &str| match parse(body) {
            Err(GatewayError::InvalidRequest { param, .. }) => param,
            other => panic!("{body}: expected 400, got {other:?}"),
        };
        for (msgs, want) in [
            (r#"[1]"#, "messages"),
            (r#"[["user"]]"#, "messages"),
            (r#"[{"role":5}]"#, "messages"),
            (r#"[{"role":"user","role":"user"}]"#, "messages"),
            (r#"[{"role":"wizard"},{"role":7}]"#, "messages"),
            (r#"{"role":"user"}"#, "messages"),
            (r#"null"#, "messages"),
            (r#"[{"role":null}]"#, "messages[0].role"),
            (r#"[{"role":"user"},{"role":"wizard"}]"#, "messages[1].role"),
            (r#"[{"role":"user"},{"content":"x"}]"#, "messages[1].role"),
        ] {
            let body = format!(r#"{{"model":"m","messages":{msgs}}}"#);
            assert_eq!(param(&body).as_deref(), Some(want), "{body}");
        }
        // Earlier fields are still checked first.
        assert_eq!(
            param(r#"{"model":5,"messages":[1]}"#).as_deref(),
            Some("model")
        );
    }

    /// Bodies for the parse timing loop (the translate benches' SMALL and LARGE, and a
    /// 1 MiB prompt).
    fn timing_bodies() -> Vec<(&'static str, Bytes)> {
        const SMALL: &str = r#"{"model":"bench-claude","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello in five words, please."}],"temperature":0.7,"max_tokens":64,"user":"bench"}"#;
        const LARGE: &str = r#"{"model":"bench-claude","messages":[{"role":"system","content":"You are a helpful assistant that uses tools when useful."},{"role":"user","content":[{"type":"text","text":"What is the weather in Paris and in Berlin? Here is a map."},{"type":"image_url","image_url":{"url":"https://example.test/map.png"}},{"type":"text","text":"Answer in one sentence."}]},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"unit\":\"celsius\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"{\"temp\":21,\"sky\":\"clear\"}"},{"role":"user","content":"And Berlin?"}],"tools":[{"type":"function","function":{"name":"get_weather","description":"Current weather for a city","parameters":{"type":"object","properties":{"city":{"type":"string","description":"City name"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city"]}}},{"type":"function","function":{"name":"get_time","description":"Local time in a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],"tool_choice":"auto","temperature":0.2,"top_p":0.9,"max_tokens":256,"stop":["\n\n"],"user":"bench","stream":true}"#;
        let prompt = "lorem ipsum dolor sit amet ".repeat(1 << 15);
        let mib = format!(r#"{{"model":"m","messages":[{{"role":"user","content":"{prompt}"}}]}}"#);
        vec![
            ("small", Bytes::from_static(SMALL.as_bytes())),
            ("large", Bytes::from_static(LARGE.as_bytes())),
            ("1mib", Bytes::from(mib)),
        ]
    }

    /// A timing loop, not a test: `cargo test --release -p sluice-dataplane --lib
    /// parse_timing -- --ignored --nocapture` (or under callgrind with `SLUICE_PARSE_ITERS=1`).
    #[test]
    #[ignore]
    fn parse_timing() {
        let iters: u32 = std::env::var("SLUICE_PARSE_ITERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let only = std::env::var("SLUICE_PARSE_BODY").ok();
        for (name, body) in timing_bodies() {
            if only.as_deref().is_some_and(|o| o != name) {
                continue;
            }
            let n = if iters > 0 {
                iters
            } else if body.len() > 100_000 {
                200
            } else {
                200_000
            };
            let shape_only = std::env::var("SLUICE_PARSE_WHAT").is_ok_and(|w| w == "shape");
            let limits = Limits::default();
            let t = std::time::Instant::now();
            for _ in 0..n {
                if shape_only {
                    check_shape(std::hint::black_box(&body), &limits).unwrap();
                    continue;
                }
                std::hint::black_box(
                    ChatRequest::parse(std::hint::black_box(body.clone()), &limits).unwrap(),
                );
            }
            let per = t.elapsed() / n;
            println!("parse {name} ({} B): {per:?}/iter", body.len());
        }
    }

    fn param_of(body: &str, limits: &Limits) -> Option<String> {
        match ChatRequest::parse(Bytes::copy_from_slice(body.as_bytes()), limits) {
            Err(GatewayError::InvalidRequest { param, message }) => {
                Some(param.unwrap_or_else(|| format!("body: {message}")))
            }
            Err(e) => panic!("{body}: expected 400, got {e:?}"),
            Ok(_) => None,
        }
    }

    #[test]
    fn nesting_depth_is_bounded() {
        let limits = Limits {
            max_json_depth: 5,
            ..Limits::default()
        };
        // Depth 5: body, messages, a message, its content, a part; brackets in strings and
        // escaped quotes do not count.
        let msgs = r#"[{"role":"user","content":[{"type":"text","text":"x"}]}]"#;
        let ok = format!(
            r#"{{"model":"m","messages":{msgs},"user":"[[[[{{{{\"[[[[\\","x":{{"y":[[[]]]}}}}"#
        );
        assert_eq!(param_of(&ok, &limits), None, "{ok}");
        let deep = format!(r#"{{"model":"m","messages":{msgs},"x":{{"y":[[[[]]]]}}}}"#);
        assert_eq!(param_of(&deep, &limits).as_deref(), Some("x"));
        let deep = r#"{"model":"m","messages":[{"role":"user","content":[{"text":{}}]}]}"#;
        assert_eq!(param_of(deep, &limits).as_deref(), Some("messages"));
        // The default (64) is enforced below serde_json's own 128.
        let body = |n: usize| {
            format!(
                r#"{{"model":"m","messages":[{{"role":"user"}}],"metadata":{}{}}}"#,
                "[".repeat(n),
                "]".repeat(n)
            )
        };
        let limits = Limits::default();
        assert_eq!(param_of(&body(63), &limits), None);
        assert_eq!(param_of(&body(64), &limits).as_deref(), Some("metadata"));
        let e = parse(&body(100_000)).unwrap_err();
        assert!(e.to_string().contains("deeper than the limit of 64"), "{e}");
        // At the top level the whole body is named.
        let e = ChatRequest::parse(
            Bytes::from_static(b"[[[]]]"),
            &Limits {
                max_json_depth: 2,
                ..Limits::default()
            },
        )
        .unwrap_err();
        assert!(matches!(
            e,
            GatewayError::InvalidRequest { param: None, .. }
        ));
    }

    #[test]
    fn counts_are_bounded() {
        let limits = Limits {
            max_messages: 2,
            max_tools: 1,
            max_object_keys: 4,
            ..Limits::default()
        };
        let m = r#"{"role":"user","content":"a:b:c:d:e"}"#;
        let t = r#"{"type":"function","function":{"name":"f"}}"#;
        for (body, want) in [
            (format!(r#"{{"model":"m","messages":[{m},{m}]}}"#), None),
            (
                format!(r#"{{"model":"m","messages":[{m},{m},{m}]}}"#),
                Some("messages"),
            ),
            (
                format!(r#"{{"model":"m","m\u0065ssages":[{m},{m},{m}]}}"#),
                Some("messages"),
            ),
            (
                format!(r#"{{"model":"m","messages":[{m}],"tools":[{t}]}}"#),
                None,
            ),
            (
                format!(r#"{{"model":"m","messages":[{m}],"tools":[{t},{t}]}}"#),
                Some("tools"),
            ),
            (
                format!(r#"{{"model":"m","messages":[{m}],"t\u006fols":[{t},{t}]}}"#),
                Some("tools"),
            ),
            (
                format!(r#"{{"model":"m","messages":[{m}],"functions":[{t},{t}]}}"#),
                Some("functions"),
            ),
            // Four members anywhere are fine, five are not.
            (
                format!(r#"{{"model":"m","messages":[{m}],"x":{{"a":1,"b":2,"c":3,"d":4}}}}"#),
                None,
            ),
            (
                format!(
                    r#"{{"model":"m","messages":[{m}],"x":[{{"a":1,"b":2,"c":3,"d":4,"e":5}}]}}"#
                ),
                Some("x"),
            ),
            (
                format!(r#"{{"model":"m","messages":[{m}],"a":1,"b":2,"c":3}}"#),
                Some("body"),
            ),
        ] {
            let got = param_of(&body, &limits);
            let got = got.as_deref().map(|p| p.split(':').next().unwrap_or(p));
            assert_eq!(got, want, "{body}");
        }
    }

    #[test]
    fn names_are_validated() {
        let long = format!("echo:{}", "A".repeat(1_000_000));
        let body = format!(r#"{{"model":"{long}","messages":[{{"role":"user"}}],"stream":true}}"#);
        let e = parse(&body).unwrap_err();
        assert!(matches!(&e, GatewayError::InvalidRequest { param: Some(p), .. } if p == "model"));
        assert!(
            e.to_string().len() < 200,
            "the message does not repeat the name"
        );
        for (body, want) in [
            (
                r#"{"model":"mock-gemini:gemini-x:countTokens?","messages":[{"role":"user"}]}"#,
                Some("model"),
            ),
            (
                r#"{"model":"a b","messages":[{"role":"user"}]}"#,
                Some("model"),
            ),
            (
                r#"{"model":" ","messages":[{"role":"user"}]}"#,
                Some("model"),
            ),
            (
                r#"{"model":"openai:gpt-4o","messages":[{"role":"user"}]}"#,
                None,
            ),
            (
                r#"{"model":"vllm:meta-llama/Llama-3-8b","messages":[{"role":"user"}]}"#,
                None,
            ),
            (
                r#"{"model":"m","provider":"p/../x","messages":[{"role":"user"}]}"#,
                Some("provider"),
            ),
            (
                r#"{"model":"m","backend":"b\n","messages":[{"role":"user"}]}"#,
                Some("backend"),
            ),
            (
                r#"{"model":"m","provider":"openai-primary","messages":[{"role":"user"}]}"#,
                None,
            ),
            (
                r#"{"model":"m","fallback_providers":["ok","x#y"],"messages":[{"role":"user"}]}"#,
                Some("fallback_providers"),
            ),
            (
                r#"{"model":"m","fallback_providers":["ok","o_k"],"messages":[{"role":"user"}]}"#,
                None,
            ),
        ] {
            assert_eq!(
                param_of(body, &Limits::default()).as_deref(),
                want,
                "{body}"
            );
        }
        let limits = Limits {
            max_model_len: 8,
            ..Limits::default()
        };
        assert_eq!(
            param_of(
                r#"{"model":"12345678","messages":[{"role":"user"}]}"#,
                &limits
            ),
            None
        );
        assert_eq!(
            param_of(
                r#"{"model":"123456789","messages":[{"role":"user"}]}"#,
                &limits
            )
            .as_deref(),
            Some("model")
        );
    }

    /// 150,000 distinct top-level keys (1.9 MiB): refused by `max_object_keys` in the shape
    /// scan, and, with that limit lifted, parsed with a linear duplicate check. Times are
    /// printed (`--nocapture`), not asserted.
    #[test]
    fn many_top_level_keys_are_linear() {
        let mut body = String::from(r#"{"model":"m","messages":[{"role":"user"}]"#);
        for i in 0..150_000 {
            body.push_str(&format!(r#","k{i:07}":0"#));
        }
        body.push('}');
        let t = std::time::Instant::now();
        assert_eq!(
            param_of(&body, &Limits::default()).as_deref(),
            Some("body: an object in the request body has more than the limit of 4096 members")
        );
        let refused = t.elapsed();
        let open = Limits {
            max_object_keys: usize::MAX,
            ..Limits::default()
        };
        let t = std::time::Instant::now();
        let r = ChatRequest::parse(Bytes::from(body.clone()), &open).unwrap();
        let parsed = t.elapsed();
        assert_eq!(r.raw_field("k0149999"), Some(&b"0"[..]));
        body.truncate(body.len() - 1);
        body.push_str(r#","k0000000":1}"#);
        let t = std::time::Instant::now();
        assert_eq!(param_of(&body, &open).as_deref(), Some("k0000000"));
        let duplicate = t.elapsed();
        println!(
            "150k keys ({} B): refused in {refused:?}, parsed in {parsed:?}, duplicate found in {duplicate:?}",
            body.len()
        );
    }

    #[test]
    fn string_ends_are_found_at_every_offset() {
        for len in 0..200 {
            for special in [b'"', b'\\'] {
                for at in 0..=len {
                    let mut s = vec![b'a'; len];
                    s.insert(at, special);
                    s.extend_from_slice(b"\"\\");
                    assert_eq!(quote_or_backslash(&s), Some(at), "{len} {at}");
                }
            }
            assert_eq!(quote_or_backslash(&vec![0xff; len]), None);
        }
        // High bytes (UTF-8) next to the match do not confuse the word test.
        let s = "é\u{22}".as_bytes();
        assert_eq!(quote_or_backslash(s), Some(2));
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
