//! Anthropic Messages wire types: the request body written from the hub request, and the
//! borrowed answer, stream event and error shapes read back.

use std::borrow::Cow;

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Map;

use crate::hub::request::{Media, Tool, ToolCall};
use crate::hub::Escaped;
use crate::json_out::BStr;

// The body is serialized straight from the parsed request through the borrowed structs
// below rather than built as a `serde_json::Value` tree first: the tree copied every
// string, schema and tool input, allocated every key and was then dropped, which was
// over half the cost of a call. The bytes stay those the tree produced, whose maps sort
// their keys (serde_json's `preserve_order` is off): serde writes a struct's fields in
// declaration order, so every struct's fields and every hand-written map's entries here
// are in byte order of their names. `output_oracle` compares with the old tree builder.

/// The Messages request body.
#[derive(Serialize)]
pub(super) struct RequestBody<'a> {
    pub(super) max_tokens: u64,
    pub(super) messages: Vec<Turn<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) metadata: Option<Metadata<'a>>,
    pub(super) model: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub(super) stop_sequences: &'a [String],
    // Sent only when true, as before.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(super) stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) system: Option<System<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) thinking: Option<Thinking>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) tool_choice: Option<ToolChoiceOut<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) tools: Vec<ToolDef<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) top_k: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) top_p: Option<f64>,
}

/// One message: consecutive client messages of the same role merged.
#[derive(Serialize)]
pub(super) struct Turn<'a> {
    pub(super) content: Vec<ContentBlock<'a>>,
    pub(super) role: &'static str,
}

/// A content block.
pub(super) enum ContentBlock<'a> {
    Text(&'a str),
    /// An image or document whose media type was checked ([`media_block`]).
    Media(&'a Media),
    ToolUse(&'a ToolCall),
    /// Earlier reasoning replayed with its signature.
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    /// Earlier encrypted reasoning replayed verbatim.
    RedactedThinking(&'a str),
    /// `content` is left out when empty.
    ToolResult {
        tool_use_id: &'a str,
        content: ToolResultContent<'a>,
        is_error: bool,
    },
}

/// A `tool_result`'s `content`: a string when the result is text only, blocks when it
/// carries images or documents.
pub(super) enum ToolResultContent<'a> {
    Text(String),
    Blocks(Vec<ContentBlock<'a>>),
}

impl ToolResultContent<'_> {
    fn is_empty(&self) -> bool {
        match self {
            ToolResultContent::Text(t) => t.is_empty(),
            ToolResultContent::Blocks(b) => b.is_empty(),
        }
    }
}

impl Serialize for ToolResultContent<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ToolResultContent::Text(t) => s.serialize_str(t),
            ToolResultContent::Blocks(b) => b.serialize(s),
        }
    }
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
            ContentBlock::Thinking {
                thinking,
                signature,
            } => {
                map.serialize_entry("signature", signature)?;
                map.serialize_entry("thinking", thinking)?;
                map.serialize_entry("type", "thinking")?;
            }
            ContentBlock::RedactedThinking(data) => {
                map.serialize_entry("data", data)?;
                map.serialize_entry("type", "redacted_thinking")?;
            }
            ContentBlock::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => {
                if !content.is_empty() {
                    map.serialize_entry("content", content)?;
                }
                if *is_error {
                    map.serialize_entry("is_error", &true)?;
                }
                map.serialize_entry("tool_use_id", tool_use_id)?;
                map.serialize_entry("type", "tool_result")?;
            }
        }
        map.end()
    }
}

/// An image or document block's `source`.
struct MediaSource<'a>(pub(super) &'a Media);

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
pub(super) enum System<'a> {
    One(&'a str),
    Blocks(Vec<ContentBlock<'a>>),
}

#[derive(Serialize)]
pub(super) struct Thinking {
    pub(super) budget_tokens: u64,
    pub(super) r#type: &'static str,
}

#[derive(Serialize)]
pub(super) struct Metadata<'a> {
    pub(super) user_id: &'a str,
}

/// A tool definition.
pub(super) struct ToolDef<'a>(pub(super) &'a Tool);

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
pub(super) struct ToolChoiceOut<'a> {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(super) disable_parallel_tool_use: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<&'a str>,
    pub(super) r#type: &'static str,
}

#[derive(Deserialize, Default, Clone, Copy)]
pub(super) struct WireUsage {
    #[serde(default)]
    pub(super) input_tokens: Option<u64>,
    #[serde(default)]
    pub(super) output_tokens: Option<u64>,
    #[serde(default)]
    pub(super) cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    pub(super) cache_read_input_tokens: Option<u64>,
}

#[derive(Deserialize)]
pub(super) struct WireError<'a> {
    #[serde(rename = "type", default, borrow)]
    pub(super) ty: Option<BStr<'a>>,
    #[serde(default, borrow)]
    pub(super) message: Option<BStr<'a>>,
}

// The answer side keeps strings as raw JSON literals (`&RawValue`): their escaped contents
// go into hub events as they are ([`escaped`]), never unescaped and escaped again.

/// A content block: an element of a whole message's `content`, or a stream's
/// `content_block_start.content_block`.
#[derive(Deserialize)]
pub(super) struct WireBlock<'a> {
    #[serde(rename = "type", borrow)]
    pub(super) ty: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(super) text: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(super) thinking: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(super) signature: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(super) data: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(super) id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(super) name: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(super) input: Option<&'a RawValue>,
}

/// A whole (non-streamed) answer, or an error object in its place.
#[derive(Deserialize)]
pub(super) struct WireMessage<'a> {
    #[serde(rename = "type", default, borrow)]
    pub(super) ty: Option<BStr<'a>>,
    #[serde(default, borrow)]
    pub(super) id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(super) model: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(super) content: Vec<WireBlock<'a>>,
    #[serde(default, borrow)]
    pub(super) stop_reason: Option<BStr<'a>>,
    #[serde(default, borrow)]
    pub(super) stop_sequence: Option<&'a RawValue>,
    #[serde(default)]
    pub(super) usage: Option<WireUsage>,
    #[serde(default, borrow)]
    pub(super) error: Option<WireError<'a>>,
}

/// `message_start.message`.
#[derive(Deserialize)]
pub(super) struct StreamMessage<'a> {
    #[serde(default, borrow)]
    pub(super) id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(super) model: Option<&'a RawValue>,
    #[serde(default)]
    pub(super) usage: Option<WireUsage>,
}

/// `content_block_delta.delta` and `message_delta.delta`.
#[derive(Deserialize)]
pub(super) struct StreamDelta<'a> {
    #[serde(rename = "type", default, borrow)]
    pub(super) ty: Option<BStr<'a>>,
    #[serde(default, borrow)]
    pub(super) text: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(super) partial_json: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(super) thinking: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(super) signature: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(super) stop_reason: Option<BStr<'a>>,
    #[serde(default, borrow)]
    pub(super) stop_sequence: Option<&'a RawValue>,
}

/// One streamed event (`data:` of an SSE frame).
#[derive(Deserialize)]
pub(super) struct StreamEvent<'a> {
    #[serde(rename = "type", borrow)]
    pub(super) ty: Cow<'a, str>,
    #[serde(default)]
    pub(super) index: Option<u32>,
    #[serde(default, borrow)]
    pub(super) message: Option<StreamMessage<'a>>,
    #[serde(default, borrow)]
    pub(super) content_block: Option<WireBlock<'a>>,
    #[serde(default, borrow)]
    pub(super) delta: Option<StreamDelta<'a>>,
    #[serde(default)]
    pub(super) usage: Option<WireUsage>,
    #[serde(default, borrow)]
    pub(super) error: Option<WireError<'a>>,
}

/// The escaped contents of a raw JSON string literal (`None` for any other JSON value).
pub(super) fn escaped(raw: &RawValue) -> Option<Escaped<'_>> {
    let lit = raw.get().as_bytes();
    let inner = lit.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    Some(Escaped::from_json_contents(inner))
}

/// [`escaped`] of an optional value, empty when absent or not a string.
pub(super) fn escaped_or_empty(raw: Option<&RawValue>) -> Escaped<'_> {
    raw.and_then(escaped)
        .unwrap_or(Escaped::from_json_contents(b""))
}
