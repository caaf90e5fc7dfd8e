//! What every client surface's request carries once it has been parsed at the boundary:
//! the surface's protocol, the body as received, the model and streaming choice, and the
//! gateway-only fields (`provider`/`backend` pin, `fallback_providers`, `timeout`,
//! `retry_count`) that steer routing and are never sent upstream.
//!
//! OpenAI Chat keeps its own fast boundary parse ([`ChatRequest`]) and passthrough rewrite;
//! every other surface is parsed once into the hub form by its ingress parser
//! ([`hub::parse`]), which this keeps for building another protocol's body. A request that
//! goes to an upstream of its own protocol is passed through: the client's body byte for
//! byte, except that `model` names the upstream model and the gateway fields are cut out.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use sluice_model::Protocol;

use crate::hub::request::HubRequest;
use crate::openai::{check_model_name, write_json_str, ChatRequest, RequestLimits, GATEWAY_FIELDS};
use crate::{hub, TranslateError};

/// A client's request on any surface, parsed once at the boundary.
#[derive(Debug, Clone)]
pub struct ClientRequest {
    /// The surface the request arrived on (its answers and errors use this protocol).
    pub protocol: Protocol,
    /// The client's body as received.
    pub body: Bytes,
    /// Requested model (route name, `provider:model`, or a model name); from the URL path
    /// on Gemini's surface.
    pub model: String,
    /// The client asked for a streamed answer.
    pub stream: bool,
    /// The client asked for `stream_options.include_usage` (OpenAI Chat only).
    pub include_usage: bool,
    /// `provider` or `backend` pin, with the field it came from.
    pub pin: Option<(String, &'static str)>,
    /// Orchestrator API `fallback_providers`.
    pub fallback_providers: Vec<String>,
    /// Whole-request deadline requested by the client.
    pub timeout: Option<Duration>,
    /// Requested retries (capped by config).
    pub retry_count: Option<u32>,
    form: Form,
}

/// What the boundary parse kept for building upstream bodies.
#[derive(Debug, Clone)]
enum Form {
    /// OpenAI Chat: the fast boundary parse; the hub form is built only when a provider of
    /// another protocol needs it. Not boxed: the passthrough hot path allocates nothing
    /// for it.
    Chat(ChatRequest),
    /// Another surface: its top-level members and the hub form (`None` for requests that
    /// are only ever passed through, such as `count_tokens` and embeddings). A request
    /// the hub cannot take keeps its error here: it is answered only if no provider of
    /// the client's own protocol serves it (passthrough never needs the hub form, so
    /// fields Sluice does not know still reach a provider that does).
    Parsed {
        members: Members,
        hub: Option<Result<Box<HubRequest>, TranslateError>>,
    },
}

impl ClientRequest {
    /// An OpenAI Chat Completions request parsed by its own boundary parse.
    pub fn from_chat(mut chat: ChatRequest) -> Self {
        Self {
            protocol: Protocol::OpenAi,
            body: chat.body.clone(),
            model: std::mem::take(&mut chat.model),
            stream: chat.stream,
            include_usage: chat.include_usage,
            pin: chat.pin.take(),
            fallback_providers: std::mem::take(&mut chat.fallback_providers),
            timeout: chat.timeout,
            retry_count: chat.retry_count,
            form: Form::Chat(chat),
        }
    }

    /// Parses and validates a request of the `protocol` surface: the gateway fields at the
    /// body's top level, then the whole request into hub form by the surface's ingress
    /// parser. `model_from_path` and `stream_from_path` are what the URL says (Gemini);
    /// the body's `model` and `stream` are used where the URL says nothing.
    pub fn parse(
        protocol: Protocol,
        body: Bytes,
        model_from_path: Option<&str>,
        stream_from_path: Option<bool>,
        limits: &RequestLimits,
    ) -> Result<Self, TranslateError> {
        let mut req = Self::scan(protocol, body, model_from_path, stream_from_path, limits)?;
        let Form::Parsed { members, hub: slot } = &mut req.form else {
            return Ok(req);
        };
        // The ingress parser sees the body without the gateway's own fields.
        let stripped = members.rewrite(&req.body, None, |_| false);
        let stream = req.stream;
        *slot = Some(hub::parse(protocol, &stripped, limits).map(|i| {
            let mut hub = i.hub;
            // Gemini says it in the URL, not the body: the boundary's answer is the one.
            hub.stream = stream;
            Box::new(hub)
        }));
        Ok(req)
    }

    /// Reads only the top level of a request that is passed through and never translated
    /// (Anthropic `count_tokens`, OpenAI embeddings): model, stream and gateway fields.
    pub fn scan(
        protocol: Protocol,
        body: Bytes,
        model_from_path: Option<&str>,
        stream_from_path: Option<bool>,
        limits: &RequestLimits,
    ) -> Result<Self, TranslateError> {
        let text = std::str::from_utf8(&body)
            .map_err(|_| TranslateError::body("request body is not valid UTF-8"))?;
        let top: TopLevel<'_> = serde_json::from_str(text).map_err(|e| {
            TranslateError::body(format!("request body is not a valid JSON object: {e}"))
        })?;
        let mut req = Self {
            protocol,
            body: body.clone(),
            model: String::new(),
            stream: stream_from_path.unwrap_or(false),
            include_usage: false,
            pin: None,
            fallback_providers: Vec::new(),
            timeout: None,
            retry_count: None,
            form: Form::Parsed {
                members: Members::default(),
                hub: None,
            },
        };
        let mut body_model: Option<String> = None;
        let mut members = Members {
            list: Vec::with_capacity(top.0.len()),
        };
        let base = text.as_ptr() as usize;
        for (key, raw) in &top.0 {
            let start = raw.get().as_ptr() as usize - base;
            let value = start..start + raw.get().len();
            let key_start = key_open(text.as_bytes(), value.start);
            let gateway = GATEWAY_FIELDS.contains(&key.as_ref());
            match key.as_ref() {
                "model" => {
                    let m: Option<Cow<'_, str>> = parse_as(raw, "model", "a string")?;
                    body_model = m.map(Cow::into_owned);
                }
                "stream" if stream_from_path.is_none() => {
                    req.stream =
                        parse_as::<Option<bool>>(raw, "stream", "a boolean")?.unwrap_or(false);
                }
                "provider" | "backend" => {
                    if let Some(p) = parse_as::<Option<String>>(raw, key, "a string")? {
                        let field = if key == "provider" {
                            "provider"
                        } else {
                            "backend"
                        };
                        if req.pin.is_some() {
                            return Err(TranslateError::new(
                                "give either `provider` or `backend`, not both",
                                field,
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
                        return Err(TranslateError::new(
                            "at most 16 fallback providers",
                            "fallback_providers",
                        ));
                    }
                    for name in &req.fallback_providers {
                        check_name(name, "fallback_providers", limits)?;
                    }
                }
                "timeout" => {
                    if let Some(t) = parse_as::<Option<f64>>(raw, "timeout", "a number of seconds")?
                    {
                        if !(t > 0.0 && t <= 3600.0) {
                            return Err(TranslateError::new(
                                "`timeout` must be between 0 and 3600 seconds",
                                "timeout",
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
            members.list.push(Member {
                key: key_start..value.start,
                value,
                gateway,
                model: key == "model",
            });
        }
        req.model = match (model_from_path, body_model) {
            (Some(m), _) => m.to_owned(),
            (None, Some(m)) => m,
            (None, None) => {
                return Err(TranslateError::new(
                    "missing required field `model`",
                    "model",
                ))
            }
        };
        check_name(&req.model, "model", limits)?;
        req.form = Form::Parsed { members, hub: None };
        Ok(req)
    }

    /// The OpenAI Chat boundary parse, when the request arrived on that surface.
    pub fn chat(&self) -> Option<&ChatRequest> {
        match &self.form {
            Form::Chat(c) => Some(c),
            Form::Parsed { .. } => None,
        }
    }

    /// The body for an `upstream` speaking `upstream`'s protocol, naming `model`.
    ///
    /// Same protocol as the client: passed through — the client's bytes with `model`
    /// replaced (Gemini names the model in the URL: its body keeps its own) and the
    /// gateway fields cut out; for a streamed OpenAI Chat request
    /// `stream_options.include_usage` is asked for so usage is always seen. Another
    /// protocol: built from the hub form by that protocol's egress builder. `Err` when the
    /// upstream protocol cannot express the request (naming the field).
    pub fn upstream_body(&self, upstream: Protocol, model: &str) -> Result<Bytes, TranslateError> {
        let same = wire_of(upstream) == wire_of(self.protocol);
        match &self.form {
            Form::Chat(chat) if same => Ok(chat.passthrough_body(model)),
            Form::Chat(chat) => {
                let hub = HubRequest::from_checked(chat)?;
                hub::build(upstream, &hub, model).map(Bytes::from)
            }
            Form::Parsed { members, .. } if same => {
                let model = (self.protocol != Protocol::Gemini).then_some(model);
                Ok(members.rewrite(&self.body, model, |_| false))
            }
            Form::Parsed {
                hub: Some(Ok(hub)), ..
            } => hub::build(upstream, hub, model).map(Bytes::from),
            Form::Parsed {
                hub: Some(Err(e)), ..
            } => Err(e.clone()),
            Form::Parsed { hub: None, .. } => Err(TranslateError::body(format!(
                "this request can only be sent to a provider speaking {}",
                self.protocol.as_str()
            ))),
        }
    }

    /// The client's body without the gateway fields and with `model` replaced (when
    /// given), keeping every other byte; also without the members `drop` names. For
    /// requests passed through to a provider's own endpoint (`count_tokens`,
    /// embeddings).
    pub fn passthrough(&self, model: Option<&str>, drop: impl Fn(&str) -> bool) -> Bytes {
        match &self.form {
            Form::Chat(chat) => match model {
                Some(m) => chat.passthrough_body(m),
                None => chat.body.clone(),
            },
            Form::Parsed { members, .. } => members.rewrite(&self.body, model, |k| drop(k)),
        }
    }

    /// The most output tokens the request allows, as its surface spells it:
    /// `max_completion_tokens` or `max_tokens` (OpenAI Chat, Anthropic),
    /// `max_output_tokens` (Responses), `generationConfig.maxOutputTokens` (Gemini).
    /// Reuses what the boundary parse read: a span lookup for OpenAI Chat (whose parse
    /// validated the value already), the hub form for the other surfaces, and the top
    /// level for requests that were only scanned.
    pub fn max_output_tokens(&self) -> Option<u64> {
        let uint = |raw: Option<&[u8]>| {
            raw.and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        match &self.form {
            Form::Chat(chat) => uint(chat.raw_field("max_completion_tokens"))
                .or_else(|| uint(chat.raw_field("max_tokens"))),
            Form::Parsed {
                hub: Some(Ok(hub)), ..
            } => hub.max_tokens,
            Form::Parsed { .. } => ["max_tokens", "max_completion_tokens", "max_output_tokens"]
                .into_iter()
                .find_map(|k| uint(self.raw_field(k))),
        }
    }

    /// The raw JSON text of a top-level member, if present.
    pub fn raw_field(&self, key: &str) -> Option<&[u8]> {
        match &self.form {
            Form::Chat(chat) => chat.raw_field(key),
            Form::Parsed { members, .. } => members
                .list
                .iter()
                .find(|m| key_text(&self.body, m) == Some(key))
                .and_then(|m| self.body.get(m.value.clone())),
        }
    }
}

/// Echo answers like OpenAI Chat: one wire format.
fn wire_of(p: Protocol) -> Protocol {
    match p {
        Protocol::Echo => Protocol::OpenAi,
        p => p,
    }
}

/// The top-level members of a non-Chat request, as spans into its body.
#[derive(Debug, Clone, Default)]
struct Members {
    list: Vec<Member>,
}

/// One top-level member: the span from its key's opening quote to its value's start, the
/// value's span, and what the rewrite does with it.
#[derive(Debug, Clone)]
struct Member {
    key: Range<usize>,
    value: Range<usize>,
    gateway: bool,
    model: bool,
}

impl Members {
    /// The body with gateway members (and those `drop` names) cut out together with the
    /// separator before them, and `model`'s value replaced when given. Every other byte,
    /// whitespace between members included, is the client's. No copy when nothing
    /// changes.
    fn rewrite(&self, body: &Bytes, model: Option<&str>, drop: impl Fn(&str) -> bool) -> Bytes {
        let cut = |m: &Member| m.gateway || key_text(body, m).is_some_and(&drop);
        let changes_model = |m: &Member| {
            m.model
                && model.is_some_and(|new| {
                    serde_json::from_slice::<Cow<'_, str>>(
                        body.get(m.value.clone()).unwrap_or_default(),
                    )
                    .map_or(true, |old| old != new)
                })
        };
        if !self.list.iter().any(|m| cut(m) || changes_model(m)) {
            return body.clone();
        }
        let (Some(first), Some(last)) = (self.list.first(), self.list.last()) else {
            return body.clone();
        };
        let mut out = BytesMut::with_capacity(body.len() + model.map_or(0, str::len));
        out.extend_from_slice(body.get(..first.key.start).unwrap_or_default());
        let mut wrote = false;
        let mut prev_end = first.key.start;
        for m in &self.list {
            if cut(m) {
                prev_end = m.value.end;
                continue;
            }
            if wrote {
                // The separator that stood before this member (`,` and whitespace); when
                // the member before it was cut, the one before that member.
                out.extend_from_slice(body.get(prev_end..m.key.start).unwrap_or_default());
            }
            wrote = true;
            out.extend_from_slice(body.get(m.key.start..m.value.start).unwrap_or_default());
            match model {
                Some(new) if m.model => write_json_str(&mut out, new),
                _ => out.extend_from_slice(body.get(m.value.clone()).unwrap_or_default()),
            }
            prev_end = m.value.end;
        }
        out.extend_from_slice(body.get(last.value.end..).unwrap_or_default());
        if !wrote {
            // Only gateway fields: `{` + whitespace + `}` is what is left.
            return Bytes::from_static(b"{}");
        }
        out.freeze()
    }
}

/// A member's key (unescaped), when it is a plain string.
fn key_text<'b>(body: &'b [u8], m: &Member) -> Option<&'b str> {
    let span = body.get(m.key.clone())?;
    let end = memchr::memrchr(b'"', span)?;
    let inner = span.get(1..end)?;
    if inner.contains(&b'\\') {
        return None;
    }
    std::str::from_utf8(inner).ok()
}

/// Where a member's key starts (its opening quote), given where its value starts: back
/// over whitespace, the `:`, whitespace, to the key's closing quote, then back to the
/// unescaped opening quote.
fn key_open(body: &[u8], value_start: usize) -> usize {
    let before = body.get(..value_start).unwrap_or_default();
    let mut i = before.len();
    // Whitespace and the colon.
    while i > 0 && matches!(before.get(i - 1), Some(b' ' | b'\t' | b'\n' | b'\r' | b':')) {
        i -= 1;
    }
    // `i - 1` is the closing quote; find the opening one (a quote not escaped).
    let close = i.saturating_sub(1);
    let mut j = close;
    while j > 0 {
        j -= 1;
        if before.get(j) == Some(&b'"') {
            let slashes = before
                .get(..j)
                .unwrap_or_default()
                .iter()
                .rev()
                .take_while(|&&b| b == b'\\')
                .count();
            if slashes % 2 == 0 {
                return j;
            }
        }
    }
    0
}

/// The body's top level: every member, in order, its value kept as raw JSON text.
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
                let mut out: Vec<(Cow<'de, str>, &'de RawValue)> = Vec::new();
                let mut seen: HashSet<Cow<'de, str>> = HashSet::new();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    if !seen.insert(key.clone()) {
                        return Err(serde::de::Error::custom(format_args!(
                            "duplicate field `{key}`"
                        )));
                    }
                    let value: &'de RawValue = map.next_value()?;
                    out.push((key, value));
                }
                Ok(TopLevel(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn parse_as<'a, T: Deserialize<'a>>(
    raw: &'a RawValue,
    param: &str,
    what: &str,
) -> Result<T, TranslateError> {
    serde_json::from_str(raw.get())
        .map_err(|_| TranslateError::new(format!("`{param}` must be {what}"), param))
}

fn check_name(name: &str, param: &str, limits: &RequestLimits) -> Result<(), TranslateError> {
    check_model_name(name, limits.max_model_name_bytes)
        .map_err(|why| TranslateError::new(format!("`{param}` {why}"), param))
}

/// Bytes of `b` for messages and tests.
#[cfg(test)]
fn s(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> RequestLimits {
        RequestLimits::default()
    }

    fn scan(p: Protocol, body: &str) -> ClientRequest {
        ClientRequest::scan(p, Bytes::from(body.to_owned()), None, None, &limits()).unwrap()
    }

    #[test]
    fn anthropic_passthrough_keeps_every_other_byte() {
        let body = "{ \"model\" : \"claude\",\n  \"provider\": \"a\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi  \\u00e9\",\"cache_control\":{\"type\":\"ephemeral\"}}]}],\"x_unknown\": [1, 2],\n \"timeout\": 5 }";
        let r = scan(Protocol::Anthropic, body);
        assert_eq!(r.model, "claude");
        assert_eq!(r.pin, Some(("a".to_owned(), "provider")));
        assert_eq!(r.timeout, Some(Duration::from_secs(5)));
        let out = r.upstream_body(Protocol::Anthropic, "claude-3-x").unwrap();
        assert_eq!(
            s(&out),
            "{ \"model\" : \"claude-3-x\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi  \\u00e9\",\"cache_control\":{\"type\":\"ephemeral\"}}]}],\"x_unknown\": [1, 2] }"
        );
    }

    #[test]
    fn unchanged_body_is_not_copied() {
        let body = "{\"model\":\"m\",\"stream\":true,\"input\":\"x\"}";
        let r = scan(Protocol::OpenAiResponses, body);
        assert!(r.stream);
        let out = r.upstream_body(Protocol::OpenAiResponses, "m").unwrap();
        assert_eq!(out.as_ptr(), r.body.as_ptr());
    }

    #[test]
    fn gateway_field_first_and_only() {
        let r = scan(Protocol::Anthropic, "{\"backend\":\"b\", \"model\":\"m\"}");
        assert_eq!(r.pin, Some(("b".to_owned(), "backend")));
        assert_eq!(
            s(&r.upstream_body(Protocol::Anthropic, "u").unwrap()),
            "{\"model\":\"u\"}"
        );
        let r = ClientRequest::scan(
            Protocol::Gemini,
            Bytes::from_static(b"{ \"retry_count\": 2 }"),
            Some("gemini-x"),
            Some(true),
            &limits(),
        )
        .unwrap();
        assert_eq!(r.model, "gemini-x");
        assert!(r.stream);
        assert_eq!(r.retry_count, Some(2));
        assert_eq!(s(&r.upstream_body(Protocol::Gemini, "up").unwrap()), "{}");
    }

    #[test]
    fn gemini_body_is_untouched() {
        let body = "{\"contents\":[{\"parts\":[{\"text\":\"hi\"}]}],\"model\":\"x\"}";
        let r = ClientRequest::scan(
            Protocol::Gemini,
            Bytes::from(body),
            Some("g"),
            Some(false),
            &limits(),
        )
        .unwrap();
        let out = r.upstream_body(Protocol::Gemini, "other").unwrap();
        assert_eq!(s(&out), body);
    }

    #[test]
    fn escaped_keys_and_quotes_in_values() {
        let body = "{\"a\\\"b\":\"x\\\"\",\"model\":\"m\",\"fallback_providers\":[\"p\"]}";
        let r = scan(Protocol::Anthropic, body);
        assert_eq!(r.fallback_providers, vec!["p".to_owned()]);
        assert_eq!(
            s(&r.upstream_body(Protocol::Anthropic, "n").unwrap()),
            "{\"a\\\"b\":\"x\\\"\",\"model\":\"n\"}"
        );
        assert_eq!(r.raw_field("model"), Some(&b"\"m\""[..]));
    }

    #[test]
    fn bad_input_names_the_field() {
        let bad = |p: Protocol, b: &str| {
            ClientRequest::scan(p, Bytes::from(b.to_owned()), None, None, &limits()).unwrap_err()
        };
        assert_eq!(
            bad(Protocol::Anthropic, "{}").param.as_deref(),
            Some("model")
        );
        assert_eq!(
            bad(Protocol::Anthropic, "{\"model\":1}").param.as_deref(),
            Some("model")
        );
        assert_eq!(
            bad(Protocol::Anthropic, "{\"model\":\"m\",\"stream\":\"y\"}")
                .param
                .as_deref(),
            Some("stream")
        );
        assert_eq!(
            bad(Protocol::Anthropic, "{\"model\":\"m\",\"timeout\":0}")
                .param
                .as_deref(),
            Some("timeout")
        );
        assert_eq!(
            bad(
                Protocol::Anthropic,
                "{\"model\":\"m\",\"provider\":\"a\",\"backend\":\"b\"}"
            )
            .param
            .as_deref(),
            Some("backend")
        );
        assert!(bad(Protocol::Anthropic, "[1]").param.is_none());
        assert!(
            bad(Protocol::Anthropic, "{\"model\":\"m\",\"model\":\"n\"}")
                .message
                .contains("duplicate")
        );
    }

    #[test]
    fn scanned_request_cannot_be_translated() {
        let r = scan(Protocol::Anthropic, "{\"model\":\"m\"}");
        assert!(r.upstream_body(Protocol::Gemini, "g").is_err());
    }

    #[test]
    fn chat_keeps_its_passthrough() {
        let chat = ChatRequest::parse(
            Bytes::from_static(
                b"{\"model\":\"m\",\"stream\":true,\"provider\":\"p\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
            ),
            limits(),
        )
        .unwrap();
        let expected = chat.passthrough_body("u");
        let r = ClientRequest::from_chat(chat);
        assert_eq!(r.protocol, Protocol::OpenAi);
        assert_eq!(r.model, "m");
        assert!(r.stream);
        assert_eq!(r.pin, Some(("p".to_owned(), "provider")));
        assert_eq!(r.upstream_body(Protocol::OpenAi, "u").unwrap(), expected);
        assert_eq!(r.upstream_body(Protocol::Echo, "u").unwrap(), expected);
        assert!(r.chat().is_some());
    }

    #[test]
    fn passthrough_drops_named_members() {
        let r = scan(
            Protocol::OpenAi,
            "{\"model\":\"m\",\"input\":\"x\",\"encoding_format\":\"float\"}",
        );
        assert_eq!(
            s(&r.passthrough(Some("u"), |k| k == "encoding_format")),
            "{\"model\":\"u\",\"input\":\"x\"}"
        );
    }

    #[test]
    fn other_surfaces_build_other_protocols_from_the_hub_form() {
        let body = r#"{"model":"alias","provider":"p","max_tokens":32,"system":"be brief","messages":[{"role":"user","content":"hi"}]}"#;
        let r = ClientRequest::parse(
            Protocol::Anthropic,
            Bytes::from(body),
            None,
            None,
            &limits(),
        )
        .unwrap();
        assert_eq!(r.pin, Some(("p".to_owned(), "provider")));
        let gemini: serde_json::Value =
            serde_json::from_slice(&r.upstream_body(Protocol::Gemini, "g").unwrap()).unwrap();
        assert_eq!(gemini["contents"][0]["parts"][0]["text"], "hi");
        assert!(gemini.get("provider").is_none() && gemini.get("model").is_none());
        let chat: serde_json::Value =
            serde_json::from_slice(&r.upstream_body(Protocol::OpenAi, "o").unwrap()).unwrap();
        assert_eq!(chat["model"], "o");
        assert!(chat.get("provider").is_none());
        let responses: serde_json::Value =
            serde_json::from_slice(&r.upstream_body(Protocol::OpenAiResponses, "x").unwrap())
                .unwrap();
        assert_eq!(responses["model"], "x");

        // Chat ingress builds its hub form only for another protocol.
        let chat = ClientRequest::from_chat(
            ChatRequest::parse(
                Bytes::from_static(
                    b"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                ),
                limits(),
            )
            .unwrap(),
        );
        let anthropic: serde_json::Value =
            serde_json::from_slice(&chat.upstream_body(Protocol::Anthropic, "c").unwrap()).unwrap();
        assert_eq!(anthropic["model"], "c");
        assert_eq!(anthropic["messages"][0]["role"], "user");

        // The surface's own validation names the field when a translation needs the hub
        // form; a provider of the client's own protocol still gets the body as sent.
        let bad = ClientRequest::parse(
            Protocol::Anthropic,
            Bytes::from_static(b"{\"model\":\"m\",\"max_tokens\":5,\"messages\":\"no\"}"),
            None,
            None,
            &limits(),
        )
        .unwrap();
        let err = bad.upstream_body(Protocol::OpenAi, "o").unwrap_err();
        assert_eq!(err.param.as_deref(), Some("messages"));
        assert_eq!(
            &bad.upstream_body(Protocol::Anthropic, "m").unwrap()[..],
            b"{\"model\":\"m\",\"max_tokens\":5,\"messages\":\"no\"}"
        );
        let gemini = ClientRequest::parse(
            Protocol::Gemini,
            Bytes::from_static(
                b"{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}]}",
            ),
            Some("gem"),
            Some(true),
            &limits(),
        )
        .unwrap();
        assert!(gemini.stream);
        let anthropic: serde_json::Value =
            serde_json::from_slice(&gemini.upstream_body(Protocol::Anthropic, "c").unwrap())
                .unwrap();
        assert_eq!(anthropic["stream"], true);
    }

    #[test]
    fn output_token_maximum_on_every_surface() {
        let chat = |b: &'static str| {
            ClientRequest::from_chat(
                ChatRequest::parse(Bytes::from_static(b.as_bytes()), limits()).unwrap(),
            )
        };
        assert_eq!(
            chat(r#"{"model":"m","max_tokens":7,"messages":[{"role":"user","content":"hi"}]}"#)
                .max_output_tokens(),
            Some(7)
        );
        assert_eq!(
            chat(r#"{"model":"m","max_tokens":7,"max_completion_tokens":9,"messages":[{"role":"user","content":"hi"}]}"#)
                .max_output_tokens(),
            Some(9)
        );
        assert_eq!(
            chat(r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#)
                .max_output_tokens(),
            None
        );
        let parse = |p: Protocol, b: &'static str, model: Option<&str>| {
            ClientRequest::parse(p, Bytes::from_static(b.as_bytes()), model, None, &limits())
                .unwrap()
        };
        assert_eq!(
            parse(
                Protocol::Anthropic,
                r#"{"model":"c","max_tokens":11,"messages":[{"role":"user","content":"hi"}]}"#,
                None
            )
            .max_output_tokens(),
            Some(11)
        );
        assert_eq!(
            parse(
                Protocol::OpenAiResponses,
                r#"{"model":"r","max_output_tokens":12,"input":"hi"}"#,
                None
            )
            .max_output_tokens(),
            Some(12)
        );
        assert_eq!(
            parse(
                Protocol::Gemini,
                r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":13}}"#,
                Some("g")
            )
            .max_output_tokens(),
            Some(13)
        );
        assert_eq!(
            scan(Protocol::Anthropic, r#"{"model":"c","max_tokens":14}"#).max_output_tokens(),
            Some(14)
        );
    }
}
