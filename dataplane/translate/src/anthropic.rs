//! OpenAI Chat Completions ⇄ Anthropic Messages.
//!
//! Mapping choices (see the crate README section "Protocol translation"):
//! - `system` and `developer` messages anywhere in the list go to the top-level `system`.
//! - `temperature` is clamped into Anthropic's 0..=1 range (OpenAI allows 0..=2).
//! - `n > 1` is rejected with 400 (`param: "n"`): Anthropic has no multiple choices.
//! - `max_tokens` defaults to 4096 (Anthropic requires it).
//! - `reasoning_effort` low/medium/high/xhigh enables extended thinking with a budget of
//!   1024/2048/4096/8192 tokens; `max_tokens` is raised to budget + requested so the answer
//!   keeps its room, and a temperature other than 1 is dropped (thinking requires 1).
//! - Thinking is exposed as `reasoning_content` (message field / `delta.reasoning_content`);
//!   `redacted_thinking` blocks and signatures are dropped.
//! - Usage: `prompt_tokens = input_tokens + cache_read_input_tokens +
//!   cache_creation_input_tokens`, `cached_tokens = cache_read_input_tokens`; streamed
//!   output tokens are the cumulative count of the last `message_delta`.
//! - Response ids are Anthropic's message id (`msg_…`), streamed or not.
//! - Hot path: `text_delta` events in Anthropic's exact compact form take a validating
//!   fast path (`fast_text_delta`); everything else is borrowed-deserialised with serde.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Map;

use crate::json_out::{self, BStr};
use crate::openai::{write_usage, ChunkWriter, CONTENT, REASONING};
use crate::request::{self, ChatRequest, Media, Part, Role, Tool, ToolCall, ToolChoice};
use crate::sse::{SseError, SseParser};
use crate::{
    ResponseContext, StreamTranslator, TranslateError, UpstreamError, UpstreamRequest, Usage,
};

/// Path of the Messages endpoint, relative to the provider's base URL.
pub const PATH: &str = "/v1/messages";
/// Value for the `anthropic-version` header.
pub const VERSION: &str = "2023-06-01";
/// `max_tokens` sent when the client gives none (Anthropic requires the field).
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

impl From<SseError> for UpstreamError {
    fn from(e: SseError) -> Self {
        UpstreamError::malformed(e.to_string())
    }
}

// ---------------------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------------------

// The body is serialized straight from the parsed request through the borrowed structs
// below rather than built as a `serde_json::Value` tree first: the tree copied every
// string, schema and tool input, allocated every key and was then dropped, which was
// over half the cost of a call. The bytes stay those the tree produced, whose maps sort
// their keys (serde_json's `preserve_order` is off): serde writes a struct's fields in
// declaration order, so every struct's fields and every hand-written map's entries here
// are in byte order of their names. `output_oracle` compares with the old tree builder.

/// The Messages request body.
#[derive(Serialize)]
struct RequestBody<'a> {
    max_tokens: u64,
    messages: Vec<Turn<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata<'a>>,
    model: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    // Sent only when true, as before.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<System<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<Thinking>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<ToolChoiceOut<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<ToolDef<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
}

/// One message: consecutive client messages of the same role merged.
#[derive(Serialize)]
struct Turn<'a> {
    content: Vec<ContentBlock<'a>>,
    role: &'static str,
}

/// A content block.
enum ContentBlock<'a> {
    Text(&'a str),
    /// An image or document whose media type was checked ([`media_block`]).
    Media(&'a Media),
    ToolUse(&'a ToolCall),
    /// `content` is left out when empty.
    ToolResult {
        tool_use_id: &'a str,
        content: String,
    },
}

impl Serialize for ContentBlock<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        match self {
            ContentBlock::Text(text) => {
                map.serialize_entry("text", text)?;
                map.serialize_entry("type", "text")?;
            }
            ContentBlock::Media(media) => {
                let is_doc = match media {
                    Media::Inline { mime, .. } => mime == "application/pdf",
                    Media::Url { mime, .. } => mime.as_deref() == Some("application/pdf"),
                };
                map.serialize_entry("source", &MediaSource(media))?;
                map.serialize_entry("type", if is_doc { "document" } else { "image" })?;
            }
            ContentBlock::ToolUse(call) => {
                map.serialize_entry("id", &call.id)?;
                map.serialize_entry("input", &call.arguments)?;
                map.serialize_entry("name", &call.name)?;
                map.serialize_entry("type", "tool_use")?;
            }
            ContentBlock::ToolResult {
                tool_use_id,
                content,
            } => {
                if !content.is_empty() {
                    map.serialize_entry("content", content)?;
                }
                map.serialize_entry("tool_use_id", tool_use_id)?;
                map.serialize_entry("type", "tool_result")?;
            }
        }
        map.end()
    }
}

/// An image or document block's `source`.
struct MediaSource<'a>(&'a Media);

impl Serialize for MediaSource<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        match self.0 {
            Media::Inline { mime, data } => {
                map.serialize_entry("data", data)?;
                map.serialize_entry("media_type", mime)?;
                map.serialize_entry("type", "base64")?;
            }
            Media::Url { url, .. } => {
                map.serialize_entry("type", "url")?;
                map.serialize_entry("url", url)?;
            }
        }
        map.end()
    }
}

/// `system`: a string for one system message, text blocks for several.
#[derive(Serialize)]
#[serde(untagged)]
enum System<'a> {
    One(&'a str),
    Blocks(Vec<ContentBlock<'a>>),
}

#[derive(Serialize)]
struct Thinking {
    budget_tokens: u64,
    r#type: &'static str,
}

#[derive(Serialize)]
struct Metadata<'a> {
    user_id: &'a str,
}

/// A tool definition.
struct ToolDef<'a>(&'a Tool);

impl Serialize for ToolDef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        if let Some(d) = &self.0.description {
            map.serialize_entry("description", d)?;
        }
        match &self.0.parameters {
            Some(schema) => map.serialize_entry("input_schema", schema)?,
            // Anthropic requires a schema: an object without properties.
            None => map.serialize_entry("input_schema", &NoParameters)?,
        }
        map.serialize_entry("name", &self.0.name)?;
        map.end()
    }
}

/// `{"properties": {}, "type": "object"}`.
struct NoParameters;

impl Serialize for NoParameters {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("properties", &Map::new())?;
        map.serialize_entry("type", "object")?;
        map.end()
    }
}

#[derive(Serialize)]
struct ToolChoiceOut<'a> {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    disable_parallel_tool_use: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    r#type: &'static str,
}

/// An image or document block; `index` is the client message's, named only on error.
fn media_block(media: &Media, index: usize) -> Result<ContentBlock<'_>, TranslateError> {
    if let Media::Inline { mime, .. } = media {
        if !matches!(
            mime.as_str(),
            "image/jpeg" | "image/png" | "image/gif" | "image/webp" | "application/pdf"
        ) {
            return Err(TranslateError::new(
                format!(
                    "Anthropic does not accept media type '{mime}' (jpeg, png, gif, webp or pdf)"
                ),
                format!("messages[{index}].content"),
            ));
        }
    }
    Ok(ContentBlock::Media(media))
}

/// Translate the client's raw OpenAI Chat Completions body into an Anthropic Messages body.
///
/// Gateway-only fields (`provider`, `backend`, `fallback_providers`, `timeout`,
/// `retry_count`) and OpenAI fields without an Anthropic equivalent (penalties, seed,
/// logprobs, ...) are ignored.
pub fn build_request(
    openai_body: &[u8],
    upstream_model: &str,
) -> Result<UpstreamRequest, TranslateError> {
    let req = ChatRequest::parse(openai_body)?;
    if req.n.is_some_and(|n| n > 1) {
        return Err(TranslateError::new(
            "Anthropic does not support n > 1 (multiple choices)",
            "n",
        ));
    }

    // Messages, with consecutive same-role turns merged (tool results become user turns).
    let mut messages: Vec<Turn<'_>> = Vec::new();
    let last = req.messages.len().saturating_sub(1);
    for (k, m) in req.messages.iter().enumerate() {
        let mut blocks = Vec::new();
        let role = match m.role {
            Role::User | Role::Assistant => {
                for part in &m.parts {
                    match part {
                        Part::Text(t) => {
                            // Anthropic rejects empty text blocks and a final assistant turn
                            // (prefill) that ends in whitespace.
                            let t = if k == last && m.role == Role::Assistant {
                                t.trim_end()
                            } else {
                                t
                            };
                            if !t.is_empty() {
                                blocks.push(ContentBlock::Text(t));
                            }
                        }
                        Part::Image(media) => blocks.push(media_block(media, m.index)?),
                    }
                }
                blocks.extend(m.tool_calls.iter().map(ContentBlock::ToolUse));
                if m.role == Role::User {
                    "user"
                } else {
                    "assistant"
                }
            }
            Role::Tool => {
                blocks.push(ContentBlock::ToolResult {
                    tool_use_id: m.tool_call_id.as_deref().unwrap_or_default(),
                    content: request::tool_result_text(&m.parts),
                });
                "user"
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match messages.last_mut() {
            Some(turn) if turn.role == role => turn.content.extend(blocks),
            _ => messages.push(Turn {
                content: blocks,
                role,
            }),
        }
    }
    if messages.is_empty() {
        return Err(TranslateError::new(
            "'messages' has no content to send",
            "messages",
        ));
    }

    let system = match req.system.as_slice() {
        [] => None,
        [one] => Some(System::One(one)),
        many => Some(System::Blocks(
            many.iter().map(|t| ContentBlock::Text(t)).collect(),
        )),
    };

    let budget = req
        .reasoning_effort
        .as_deref()
        .and_then(request::thinking_budget);
    let mut max_tokens = req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    if let Some(budget) = budget {
        max_tokens = max_tokens.saturating_add(budget);
    }
    let temperature = req
        .temperature
        .map(|t| t.clamp(0.0, 1.0))
        .filter(|&t| budget.is_none() || t == 1.0);
    let top_p = req.top_p.filter(|&p| budget.is_none() || p >= 0.95);

    let mut tool_choice = None;
    if !req.tools.is_empty() {
        let (ty, name) = match &req.tool_choice {
            None | Some(ToolChoice::Auto) => ("auto", None),
            Some(ToolChoice::None) => ("none", None),
            Some(ToolChoice::Required) => ("any", None),
            Some(ToolChoice::Function(name)) => {
                if !req.tools.iter().any(|t| &t.name == name) {
                    return Err(TranslateError::new(
                        format!("tool_choice names function '{name}' which is not in 'tools'"),
                        "tool_choice",
                    ));
                }
                ("tool", Some(name.as_str()))
            }
        };
        let disable_parallel = req.parallel_tool_calls == Some(false);
        if req.tool_choice.is_some() || disable_parallel {
            tool_choice = Some(ToolChoiceOut {
                disable_parallel_tool_use: disable_parallel && ty != "none",
                name,
                r#type: ty,
            });
        }
    } else if let Some(ToolChoice::Function(name)) = &req.tool_choice {
        return Err(TranslateError::new(
            format!("tool_choice names function '{name}' but no tools were given"),
            "tool_choice",
        ));
    }

    let body = RequestBody {
        max_tokens,
        messages,
        metadata: req.user.as_deref().map(|user_id| Metadata { user_id }),
        model: upstream_model,
        stop_sequences: &req.stop,
        stream: req.stream,
        system,
        temperature,
        thinking: budget.map(|budget_tokens| Thinking {
            budget_tokens,
            r#type: "enabled",
        }),
        tool_choice,
        tools: req.tools.iter().map(ToolDef).collect(),
        top_p,
    };
    Ok(UpstreamRequest {
        body: request::encode(&body, openai_body.len())?,
        stream: req.stream,
    })
}

// ---------------------------------------------------------------------------------------
// Shared wire types (borrowed)
// ---------------------------------------------------------------------------------------

#[derive(Deserialize, Default, Clone, Copy)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct WireError<'a> {
    #[serde(rename = "type", default, borrow)]
    ty: Option<BStr<'a>>,
    #[serde(default, borrow)]
    message: Option<BStr<'a>>,
}

/// Running usage, merged from `message_start` and the cumulative `message_delta`s.
#[derive(Debug, Default, Clone, Copy)]
struct UsageAcc {
    input: u64,
    output: u64,
    cache_creation: u64,
    cache_read: u64,
    seen: bool,
}

impl UsageAcc {
    fn merge(&mut self, u: &WireUsage) {
        self.seen = true;
        if let Some(v) = u.input_tokens {
            self.input = v;
        }
        if let Some(v) = u.output_tokens {
            self.output = v;
        }
        if let Some(v) = u.cache_creation_input_tokens {
            self.cache_creation = v;
        }
        if let Some(v) = u.cache_read_input_tokens {
            self.cache_read = v;
        }
    }

    fn usage(&self) -> Usage {
        // Saturating: the counts come from the network.
        let prompt = self
            .input
            .saturating_add(self.cache_creation)
            .saturating_add(self.cache_read);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: self.output,
            total_tokens: prompt.saturating_add(self.output),
            cached_tokens: self.cache_read,
            reasoning_tokens: 0,
        }
    }
}

/// OpenAI finish reason for an Anthropic `stop_reason`.
pub fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        // end_turn, stop_sequence, pause_turn and anything new.
        _ => "stop",
    }
}

/// (status, OpenAI type) for an Anthropic error type.
fn map_error_type(ty: &str) -> Option<(u16, &'static str)> {
    Some(match ty {
        "invalid_request_error" => (400, "invalid_request_error"),
        "authentication_error" => (401, "authentication_error"),
        "billing_error" => (402, "insufficient_quota"),
        "permission_error" => (403, "permission_error"),
        "not_found_error" => (404, "not_found_error"),
        "request_too_large" => (413, "invalid_request_error"),
        "rate_limit_error" => (429, "rate_limit_error"),
        "timeout_error" => (504, "timeout_error"),
        "api_error" => (500, "server_error"),
        "overloaded_error" => (503, "server_error"),
        _ => return None,
    })
}

fn error_from_wire(status: Option<u16>, err: Option<&WireError<'_>>) -> UpstreamError {
    let ty = err.and_then(|e| e.ty.as_deref());
    let mapped = ty.and_then(map_error_type);
    let status = match (status, mapped) {
        (Some(529), _) => 503,
        (Some(s), _) if s >= 400 => s,
        (_, Some((s, _))) => s,
        _ => 502,
    };
    let error_type = match mapped {
        Some((s, t)) if s == status || status == 503 && s == 503 => t,
        _ => UpstreamError::type_for_status(status),
    };
    let message = err
        .and_then(|e| e.message.as_deref())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("Anthropic returned HTTP {status}"));
    let mut e = UpstreamError::new(status, error_type, message);
    e.code = ty.map(str::to_owned);
    e
}

/// Translate an Anthropic error response (any status, any body) into OpenAI terms.
///
/// 529 `overloaded_error` becomes 503, 429 stays 429 `rate_limit_error`, other 5xx are
/// `server_error`; the Anthropic error type is kept as `code`. A body that is not an
/// Anthropic error still yields an error for the HTTP status.
pub fn translate_error(status: u16, body: &[u8]) -> UpstreamError {
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(default, borrow)]
        error: Option<WireError<'a>>,
    }
    match serde_json::from_slice::<Envelope<'_>>(body) {
        Ok(Envelope { error: Some(err) }) => error_from_wire(Some(status), Some(&err)),
        _ => {
            let mut e = error_from_wire(Some(status), None);
            let text = String::from_utf8_lossy(body.get(..512).unwrap_or(body));
            let text = text.trim();
            if !text.is_empty() {
                e.message = format!("Anthropic returned HTTP {status}: {text}");
            }
            e
        }
    }
}

// ---------------------------------------------------------------------------------------
// Non-streamed response
// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct WireBlock<'a> {
    #[serde(rename = "type", borrow)]
    ty: Cow<'a, str>,
    #[serde(default, borrow)]
    text: Option<BStr<'a>>,
    #[serde(default, borrow)]
    thinking: Option<BStr<'a>>,
    #[serde(default, borrow)]
    id: Option<BStr<'a>>,
    #[serde(default, borrow)]
    name: Option<BStr<'a>>,
    #[serde(default, borrow)]
    input: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct WireMessage<'a> {
    #[serde(default, borrow)]
    id: Option<BStr<'a>>,
    #[serde(default, borrow)]
    content: Vec<WireBlock<'a>>,
    #[serde(default, borrow)]
    stop_reason: Option<BStr<'a>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default, borrow)]
    error: Option<WireError<'a>>,
}

/// Translate a non-streamed Anthropic Messages response into an OpenAI `chat.completion`.
pub fn translate_response(
    body: &[u8],
    ctx: &ResponseContext,
) -> Result<(Vec<u8>, Option<Usage>), UpstreamError> {
    let msg: WireMessage<'_> = serde_json::from_slice(body)
        .map_err(|e| UpstreamError::malformed(format!("invalid Anthropic response: {e}")))?;
    if let Some(err) = &msg.error {
        return Err(error_from_wire(None, Some(err)));
    }
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut has_text = false;
    let mut calls: Vec<(&str, &str, &[u8])> = Vec::new();
    for block in &msg.content {
        match block.ty.as_ref() {
            "text" => {
                has_text = true;
                text.push_str(block.text.as_deref().unwrap_or(""));
            }
            "thinking" => reasoning.push_str(block.thinking.as_deref().unwrap_or("")),
            "tool_use" => calls.push((
                block.id.as_deref().unwrap_or(""),
                block.name.as_deref().unwrap_or(""),
                block.input.map_or(&b"{}"[..], |r| r.get().as_bytes()),
            )),
            _ => {}
        }
    }
    let usage = msg.usage.as_ref().map(|u| {
        let mut acc = UsageAcc::default();
        acc.merge(u);
        acc.usage()
    });
    let finish = msg.stop_reason.as_deref().map_or("stop", finish_reason);

    let mut out = Vec::with_capacity(256 + text.len() + reasoning.len());
    out.extend_from_slice(b"{\"id\":");
    json_out::string(&mut out, msg.id.as_deref().unwrap_or(&ctx.id).as_bytes());
    out.extend_from_slice(b",\"object\":\"chat.completion\",\"created\":");
    json_out::uint(&mut out, ctx.created);
    out.extend_from_slice(b",\"model\":");
    json_out::string(&mut out, ctx.model.as_bytes());
    out.extend_from_slice(
        b",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":",
    );
    if has_text || calls.is_empty() {
        json_out::string(&mut out, text.as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
    if !reasoning.is_empty() {
        out.extend_from_slice(b",\"reasoning_content\":");
        json_out::string(&mut out, reasoning.as_bytes());
    }
    if !calls.is_empty() {
        out.extend_from_slice(b",\"tool_calls\":[");
        for (i, (id, name, input)) in calls.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"id\":");
            json_out::string(&mut out, id.as_bytes());
            out.extend_from_slice(b",\"type\":\"function\",\"function\":{\"name\":");
            json_out::string(&mut out, name.as_bytes());
            out.extend_from_slice(b",\"arguments\":");
            json_out::json_as_string(&mut out, input);
            out.extend_from_slice(b"}}");
        }
        out.push(b']');
    }
    out.extend_from_slice(b"},\"logprobs\":null,\"finish_reason\":\"");
    out.extend_from_slice(finish.as_bytes());
    out.extend_from_slice(b"\"}]");
    if let Some(u) = &usage {
        out.extend_from_slice(b",\"usage\":");
        write_usage(&mut out, u);
    }
    out.push(b'}');
    Ok((out, usage))
}

// ---------------------------------------------------------------------------------------
// Stream
// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct StreamMessage<'a> {
    #[serde(default, borrow)]
    id: Option<BStr<'a>>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct StreamBlock<'a> {
    #[serde(rename = "type", borrow)]
    ty: Cow<'a, str>,
    #[serde(default, borrow)]
    id: Option<BStr<'a>>,
    #[serde(default, borrow)]
    name: Option<BStr<'a>>,
    #[serde(default, borrow)]
    input: Option<&'a RawValue>,
    #[serde(default, borrow)]
    text: Option<&'a RawValue>,
    #[serde(default, borrow)]
    thinking: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct StreamDelta<'a> {
    #[serde(rename = "type", default, borrow)]
    ty: Option<BStr<'a>>,
    #[serde(default, borrow)]
    text: Option<&'a RawValue>,
    #[serde(default, borrow)]
    partial_json: Option<&'a RawValue>,
    #[serde(default, borrow)]
    thinking: Option<&'a RawValue>,
    #[serde(default, borrow)]
    stop_reason: Option<BStr<'a>>,
}

#[derive(Deserialize)]
struct StreamEvent<'a> {
    #[serde(rename = "type", borrow)]
    ty: Cow<'a, str>,
    #[serde(default, borrow)]
    message: Option<StreamMessage<'a>>,
    #[serde(default, borrow)]
    content_block: Option<StreamBlock<'a>>,
    #[serde(default, borrow)]
    delta: Option<StreamDelta<'a>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default, borrow)]
    error: Option<WireError<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    None,
    Text,
    Thinking,
    Tool { index: u32, has_args: bool },
}

/// Per-stream state; everything here is fixed-size except the SSE parser's capped buffers
/// and the chunk head rendered once.
#[derive(Debug)]
struct State {
    ctx: ResponseContext,
    writer: Option<ChunkWriter>,
    block: Block,
    next_tool: u32,
    finish: Option<&'static str>,
    finish_sent: bool,
    stopped: bool,
    usage: UsageAcc,
    failed: Option<UpstreamError>,
}

/// Incremental Anthropic Messages SSE → OpenAI `chat.completion.chunk` translator.
#[derive(Debug)]
pub struct AnthropicStreamTranslator {
    sse: SseParser,
    state: State,
}

impl AnthropicStreamTranslator {
    /// A translator for one response stream.
    pub fn new(ctx: ResponseContext) -> Self {
        Self {
            sse: SseParser::new(),
            state: State {
                ctx,
                writer: None,
                block: Block::None,
                next_tool: 0,
                finish: None,
                finish_sent: false,
                stopped: false,
                usage: UsageAcc::default(),
                failed: None,
            },
        }
    }
}

fn raw_nonempty_string(raw: Option<&RawValue>) -> Option<&[u8]> {
    raw.and_then(json_out::raw_string)
        .filter(|s| !json_out::raw_is_empty_string(s))
}

/// Fast path for the event that makes up nearly all of a text answer, in the exact compact
/// form Anthropic sends:
/// `{"type":"content_block_delta","index":N,"delta":{"type":"text_delta","text":"…"}}`
/// (trailing padding allowed). Returns the text's JSON string literal, still escaped.
///
/// Anything else — other key order or spacing, `\u` escapes, control characters, a
/// malformed literal — returns `None` and goes through serde, so accepting input here
/// never changes the result, only skips the generic deserialiser.
fn fast_text_delta(data: &str) -> Option<&str> {
    const HEAD: &str = "{\"type\":\"content_block_delta\",\"index\":";
    const MID: &str = ",\"delta\":{\"type\":\"text_delta\",\"text\":";
    let rest = data.strip_prefix(HEAD)?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 9 {
        return None;
    }
    let lit = rest.get(digits..)?.strip_prefix(MID)?;
    let end = json_out::simple_string_end(lit.as_bytes())?;
    let (lit, tail) = lit.split_at_checked(end)?;
    (tail.trim_end_matches([' ', '\t', '\n', '\r']) == "}}").then_some(lit)
}

impl State {
    /// The chunk writer, creating it (and sending the role chunk) on first use.
    fn writer(&mut self, out: &mut BytesMut, id: Option<&str>) -> &ChunkWriter {
        if self.writer.is_none() {
            let id = id.unwrap_or(&self.ctx.id);
            let w = ChunkWriter::new(id.as_bytes(), self.ctx.created, &self.ctx.model);
            w.role(out, 0);
            self.writer = Some(w);
        }
        self.writer.get_or_insert_with(ChunkWriter::default)
    }

    fn close_block(&mut self, out: &mut BytesMut) {
        if let Block::Tool {
            index,
            has_args: false,
        } = self.block
        {
            self.writer(out, None)
                .tool_args_raw(out, 0, index, b"\"{}\"");
        }
        self.block = Block::None;
    }

    fn on_event(&mut self, data: &[u8], out: &mut BytesMut) -> Result<(), UpstreamError> {
        // One UTF-8 check for the whole payload, then `from_str` skips the per-string checks.
        let data = std::str::from_utf8(data).map_err(|e| {
            UpstreamError::malformed(format!("invalid Anthropic stream event: {e}"))
        })?;
        if let Some(raw) = fast_text_delta(data) {
            if !json_out::raw_is_empty_string(raw.as_bytes()) {
                self.writer(out, None)
                    .raw_text(out, 0, CONTENT, raw.as_bytes());
            }
            return Ok(());
        }
        let ev: StreamEvent<'_> = serde_json::from_str(data).map_err(|e| {
            UpstreamError::malformed(format!("invalid Anthropic stream event: {e}"))
        })?;
        match ev.ty.as_ref() {
            "message_start" => {
                let id = ev.message.as_ref().and_then(|m| m.id.as_deref());
                self.writer(out, id);
                if let Some(u) = ev.message.as_ref().and_then(|m| m.usage.as_ref()) {
                    self.usage.merge(u);
                }
            }
            "content_block_start" => {
                self.close_block(out);
                let Some(block) = ev.content_block else {
                    return Ok(());
                };
                match block.ty.as_ref() {
                    "text" => {
                        self.block = Block::Text;
                        if let Some(raw) = raw_nonempty_string(block.text) {
                            self.writer(out, None).raw_text(out, 0, CONTENT, raw);
                        }
                    }
                    "thinking" => {
                        self.block = Block::Thinking;
                        if let Some(raw) = raw_nonempty_string(block.thinking) {
                            self.writer(out, None).raw_text(out, 0, REASONING, raw);
                        }
                    }
                    "tool_use" => {
                        let index = self.next_tool;
                        self.next_tool = self.next_tool.saturating_add(1);
                        let id = block.id.as_deref().unwrap_or("");
                        let name = block.name.as_deref().unwrap_or("");
                        let w = self.writer(out, None);
                        w.tool_start(
                            out,
                            0,
                            index,
                            &mut |o| json_out::escaped(o, id.as_bytes()),
                            name.as_bytes(),
                        );
                        let input = block.input.map(|r| r.get().trim()).unwrap_or("{}");
                        let has_args = !(input == "{}" || input.is_empty() || input == "null");
                        if has_args {
                            w.tool_args_json(out, 0, index, input.as_bytes());
                        }
                        self.block = Block::Tool { index, has_args };
                    }
                    // redacted_thinking, server tool blocks, ...: nothing the client can use.
                    _ => self.block = Block::None,
                }
            }
            "content_block_delta" => {
                let Some(delta) = ev.delta else {
                    return Ok(());
                };
                match delta.ty.as_deref() {
                    Some("text_delta") => {
                        if let Some(raw) = raw_nonempty_string(delta.text) {
                            self.writer(out, None).raw_text(out, 0, CONTENT, raw);
                        }
                    }
                    Some("thinking_delta") => {
                        if let Some(raw) = raw_nonempty_string(delta.thinking) {
                            self.writer(out, None).raw_text(out, 0, REASONING, raw);
                        }
                    }
                    Some("input_json_delta") => {
                        if let (Block::Tool { index, .. }, Some(raw)) =
                            (self.block, raw_nonempty_string(delta.partial_json))
                        {
                            self.writer(out, None).tool_args_raw(out, 0, index, raw);
                            self.block = Block::Tool {
                                index,
                                has_args: true,
                            };
                        }
                    }
                    // signature_delta, citations_delta, ...
                    _ => {}
                }
            }
            "content_block_stop" => self.close_block(out),
            "message_delta" => {
                if let Some(u) = &ev.usage {
                    self.usage.merge(u);
                }
                if let Some(reason) = ev.delta.as_ref().and_then(|d| d.stop_reason.as_deref()) {
                    self.finish = Some(finish_reason(reason));
                }
                self.send_finish(out);
            }
            "message_stop" => {
                self.close_block(out);
                self.send_finish(out);
                self.stopped = true;
            }
            "error" => return Err(error_from_wire(None, ev.error.as_ref())),
            // ping and future event types.
            _ => {}
        }
        Ok(())
    }

    fn send_finish(&mut self, out: &mut BytesMut) {
        if self.finish_sent {
            return;
        }
        if let Some(reason) = self.finish {
            self.close_block(out);
            self.writer(out, None).finish(out, 0, reason);
            self.finish_sent = true;
        }
    }
}

impl StreamTranslator for AnthropicStreamTranslator {
    fn feed(&mut self, chunk: Bytes, out: &mut BytesMut) -> Result<(), UpstreamError> {
        if let Some(e) = &self.state.failed {
            return Err(e.clone());
        }
        let state = &mut self.state;
        let result = self.sse.feed(&chunk, |ev| state.on_event(ev.data, out));
        if let Err(e) = &result {
            self.state.failed = Some(e.clone());
        }
        result
    }

    fn finish(&mut self, out: &mut BytesMut) -> Result<(), UpstreamError> {
        if let Some(e) = &self.state.failed {
            return Err(e.clone());
        }
        let state = &mut self.state;
        if let Err(e) = self.sse.finish(|ev| state.on_event(ev.data, out)) {
            self.state.failed = Some(e.clone());
            return Err(e);
        }
        let state = &mut self.state;
        if !state.stopped {
            let e = UpstreamError::malformed("Anthropic stream ended before message_stop");
            state.failed = Some(e.clone());
            return Err(e);
        }
        if state.finish.is_none() {
            state.finish = Some("stop");
            state.send_finish(out);
        }
        if state.ctx.include_usage {
            let usage = state.usage.usage();
            state.writer(out, None).usage(out, &usage);
        }
        ChunkWriter::done(out);
        Ok(())
    }

    fn usage(&self) -> Option<Usage> {
        self.state.usage.seen.then(|| self.state.usage.usage())
    }
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;
    use proptest::prelude::*;

    fn serde_text(data: &str) -> Option<String> {
        let ev: StreamEvent<'_> = serde_json::from_str(data).ok()?;
        let d = ev.delta?;
        if ev.ty == "content_block_delta" && d.ty.as_deref() == Some("text_delta") {
            d.text.map(|t| t.get().to_owned())
        } else {
            None
        }
    }

    #[test]
    fn recorded_shape_takes_the_fast_path() {
        let data = r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"ican():\n    return \"A\""}}       "#;
        assert_eq!(
            fast_text_delta(data),
            Some(r#""ican():\n    return \"A\"""#)
        );
        assert_eq!(
            fast_text_delta(
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\u00e9"}}"#
            ),
            None
        );
        assert_eq!(
            fast_text_delta(
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"},"extra":1}"#
            ),
            None
        );
        assert_eq!(
            fast_text_delta(
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x\"}}"#
            ),
            None
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn fast_path_agrees_with_serde(text in ".*", index in 0u32..100, pad in " {0,8}", tail in r#"[\\"}a \n]{0,5}"#) {
            let lit = serde_json::to_string(&text).unwrap();
            let data = format!(r#"{{"type":"content_block_delta","index":{index},"delta":{{"type":"text_delta","text":{lit}}}}}{pad}"#);
            let fast = fast_text_delta(&data);
            if let Some(f) = fast {
                prop_assert_eq!(Some(f.to_owned()), serde_text(&data));
            } else {
                prop_assert!(lit.contains("\\u"), "only \\u escapes leave the fast path: {}", lit);
            }
            // Truncated and mangled events: whatever the fast path accepts, serde agrees on.
            let mangled = format!(r#"{{"type":"content_block_delta","index":{index},"delta":{{"type":"text_delta","text":"{tail}"#);
            if let Some(f) = fast_text_delta(&mangled) {
                prop_assert_eq!(Some(f.to_owned()), serde_text(&mangled));
            }
        }
    }
}
