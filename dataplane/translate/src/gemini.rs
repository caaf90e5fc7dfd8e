//! OpenAI Chat Completions ⇄ Gemini `generateContent` / `streamGenerateContent`.
//!
//! Mapping choices (see the crate README section "Protocol translation"):
//! - `system`/`developer` messages anywhere go to `systemInstruction` (one part each).
//! - Tool schemas and `response_format.json_schema` are reduced to the OpenAPI subset
//!   Gemini's `Schema` accepts ([`schema`]): local `$ref`s are inlined, `type: [T, "null"]`
//!   becomes `nullable`, `const` becomes a one-value `enum`, `oneOf` becomes `anyOf`, and
//!   every other keyword (`$schema`, `$id`, `$defs`, `definitions`, `additionalProperties`,
//!   `patternProperties`, `unevaluatedProperties`, `examples`, `exclusiveMinimum`, `not`,
//!   `if/then/else`, `strict`, ...) is stripped; type names are upper-cased (`OBJECT`).
//! - Thought parts (`thought: true`) are exposed as `reasoning_content`.
//! - A function call's `thoughtSignature` is carried inside the OpenAI tool-call id
//!   (`<id>__thought__<signature>`) and replayed when the client sends the call back.
//! - A blocked prompt (`promptFeedback.blockReason`, no candidates) is an ordinary answer
//!   with empty content and `finish_reason: "content_filter"`, streamed or not.
//! - Candidates become choices (`n` → `candidateCount`, at most 8). `STOP` after a function
//!   call is `tool_calls`. Tool-call ids are Gemini's `functionCall.id` when present, else
//!   `call_<ctx id>_<n>` (`call_<ctx id>_<choice>_<n>` for choices > 0).
//! - Streamed chunks carry `ResponseContext::id` (Gemini sends `responseId` only after
//!   the content of each event); non-streamed responses use `responseId`.
//! - Usage: `prompt_tokens = promptTokenCount + toolUsePromptTokenCount`,
//!   `completion_tokens = candidatesTokenCount + thoughtsTokenCount` (reasoning included,
//!   as in OpenAI), `cached_tokens = cachedContentTokenCount`; streams keep the last.
//! - Hot path: the common text event goes through a validating fast path
//!   (`fast_text_event`); everything else is walked once with serde seeds, without a
//!   `Value` tree and without heap allocation.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::Deserializer as _;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::json_in::Skip;
use crate::json_out::{self, BStr};
use crate::openai::{write_usage, ChunkWriter, CONTENT, REASONING};
use crate::request::{self, ChatRequest, Media, Part, ResponseFormat, Role, ToolCall, ToolChoice};
use crate::sse::{SseParser, DEFAULT_MAX_EVENT_BYTES};
use crate::{
    ResponseContext, StreamTranslator, TranslateError, UpstreamError, UpstreamRequest, Usage,
};

/// Request path for `model`: `/v1beta/models/{model}:generateContent`, or
/// `:streamGenerateContent?alt=sse` when streaming.
///
/// `model` is percent-encoded as one path segment ([`crate::path::push_segment`]), so a
/// client-chosen name such as `gemini-x:countTokens?` cannot reach another method.
pub fn path(model: &str, stream: bool) -> String {
    const PREFIX: &str = "/v1beta/models/";
    let method = if stream {
        ":streamGenerateContent?alt=sse"
    } else {
        ":generateContent"
    };
    let mut out = String::with_capacity(PREFIX.len() + model.len() + method.len());
    out.push_str(PREFIX);
    crate::path::push_segment(&mut out, model);
    out.push_str(method);
    out
}

/// Most candidates a response may carry (Gemini's `candidateCount` limit is 8).
const MAX_CANDIDATES: usize = 16;

// ---------------------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------------------

/// Deepest nesting of a schema during reduction: every `properties`, `items`, `anyOf` or
/// `allOf` level and every `$ref` followed counts one. Deeper is a 400 rather than a
/// silently truncated schema (and keeps a chain of `$ref`s off the stack).
pub const SCHEMA_MAX_DEPTH: usize = 32;

/// Output budget for schema reduction, per request (every tool's `parameters` and the
/// `response_format` schema together), in estimated bytes of the JSON the reduced schemas
/// serialize to (keys, strings, numbers, punctuation; [`NODE_BYTES`] per object).
///
/// Without `$ref`s reduction only drops or renames keywords, so the output is never much
/// larger than the input; the budget is this constant **plus twice** the input schemas'
/// own estimate ([`json_size`]): any schema that needs no inlining fits, and inlining may
/// add at most 256 KiB. A schema whose `$defs` fan out through `anyOf` `$ref`s (2 KB of
/// input that would inline to GiBs) is stopped with a 400 as soon as the budget runs out,
/// after at most about that much work (~16,000 objects, ~10 MiB of `Value` nodes).
pub const SCHEMA_INLINE_BUDGET_BYTES: usize = 256 * 1024;

/// Bytes charged per schema object: about a small object's serialized size
/// (`{"type":"STRING"}`), so that a flood of empty objects runs out as fast as real ones.
const NODE_BYTES: usize = 16;

/// What reduction of one request's schemas may still produce, in estimated output bytes.
#[derive(Debug)]
pub(crate) struct SchemaBudget {
    left: usize,
}

impl SchemaBudget {
    /// [`SCHEMA_INLINE_BUDGET_BYTES`] plus twice `input_bytes` (the [`json_size`] of the
    /// schemas as given).
    pub(crate) fn new(input_bytes: usize) -> Self {
        Self {
            left: SCHEMA_INLINE_BUDGET_BYTES.saturating_add(input_bytes.saturating_mul(2)),
        }
    }

    /// Charge `bytes`; `false` once the budget is spent.
    fn charge(&mut self, bytes: usize) -> bool {
        match self.left.checked_sub(bytes) {
            Some(left) => {
                self.left = left;
                true
            }
            None => {
                self.left = 0;
                false
            }
        }
    }
}

/// Estimated serialized size of `v`, counting [`NODE_BYTES`] per object as the budget
/// does (exact for strings without escapes; an estimate is enough for a budget).
pub(crate) fn json_size(v: &Value) -> usize {
    match v {
        Value::Null => 4,
        Value::Bool(_) => 5,
        Value::Number(_) => 8,
        Value::String(s) => s.len().saturating_add(2),
        Value::Array(items) => items.iter().fold(2usize, |n, item| {
            n.saturating_add(json_size(item)).saturating_add(1)
        }),
        Value::Object(map) => map.iter().fold(NODE_BYTES, |n, (k, item)| {
            n.saturating_add(k.len())
                .saturating_add(4)
                .saturating_add(json_size(item))
        }),
    }
}

/// Why a schema could not be reduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SchemaFault {
    /// A `$ref` leads back to a definition being inlined.
    Cycle,
    /// Nested deeper than [`SCHEMA_MAX_DEPTH`] after inlining.
    TooDeep,
    /// The output budget ran out.
    TooLarge,
}

/// Reduce a JSON Schema to the subset Gemini's `Schema` object accepts (see module docs).
///
/// `param` names the schema in the error (`tools[0].function.parameters`). Local `$ref`s
/// are inlined within the budget of [`SCHEMA_INLINE_BUDGET_BYTES`] plus twice the input;
/// a `$ref` cycle, nesting beyond [`SCHEMA_MAX_DEPTH`] or a schema that would exceed the
/// budget is a 400 `invalid_request_error` naming `param`.
pub fn schema(json_schema: &Value, param: &str) -> Result<Value, TranslateError> {
    let param: &dyn std::fmt::Display = &param;
    let mut budget = SchemaBudget::new(json_size(json_schema));
    reduce_schema(json_schema, param, &mut budget)
}

/// [`schema`] drawing on a budget shared by all of one request's schemas.
pub(crate) fn reduce_schema(
    json_schema: &Value,
    param: &dyn std::fmt::Display,
    budget: &mut SchemaBudget,
) -> Result<Value, TranslateError> {
    let defs = json_schema
        .get("$defs")
        .or_else(|| json_schema.get("definitions"));
    let mut walk = SchemaWalk {
        defs,
        budget,
        expanding: Vec::new(),
    };
    walk.convert(json_schema, 0).map_err(|fault| {
        let message = match fault {
            SchemaFault::Cycle => "JSON schema has a recursive $ref, which Gemini cannot express \
                                   (Gemini schemas have no references, so every $ref is inlined)"
                .to_owned(),
            SchemaFault::TooDeep => format!(
                "JSON schema is nested deeper than {SCHEMA_MAX_DEPTH} levels once its $refs are inlined"
            ),
            SchemaFault::TooLarge => format!(
                "JSON schema is too large once its $refs are inlined for Gemini (budget: \
                 twice the schemas as sent plus {} KiB)",
                SCHEMA_INLINE_BUDGET_BYTES / 1024
            ),
        };
        TranslateError::new(message, param.to_string())
    })
}

/// One schema's reduction: its definitions, the shared budget, and the definitions being
/// inlined right now (a `$ref` to one of them is a cycle).
struct SchemaWalk<'v, 'b> {
    defs: Option<&'v Value>,
    budget: &'b mut SchemaBudget,
    expanding: Vec<&'v str>,
}

impl<'v> SchemaWalk<'v, '_> {
    /// Copy `val` into the output, charging its size first.
    fn copy(&mut self, key: &str, val: &Value) -> Result<Value, SchemaFault> {
        let size = json_size(val).saturating_add(key.len()).saturating_add(4);
        if !self.budget.charge(size) {
            return Err(SchemaFault::TooLarge);
        }
        Ok(val.clone())
    }

    fn charge(&mut self, bytes: usize) -> Result<(), SchemaFault> {
        if self.budget.charge(bytes) {
            Ok(())
        } else {
            Err(SchemaFault::TooLarge)
        }
    }

    fn convert(&mut self, v: &'v Value, depth: usize) -> Result<Value, SchemaFault> {
        if depth > SCHEMA_MAX_DEPTH {
            return Err(SchemaFault::TooDeep);
        }
        self.charge(NODE_BYTES)?;
        let Value::Object(src) = v else {
            return Ok(Value::Object(Map::new()));
        };
        if let Some(r) = src.get("$ref").and_then(Value::as_str) {
            let name = r
                .strip_prefix("#/$defs/")
                .or_else(|| r.strip_prefix("#/definitions/"));
            let target = name.and_then(|n| Some((n, self.defs?.get(n)?)));
            let mut resolved = match target {
                Some((name, t)) => {
                    if self.expanding.contains(&name) {
                        return Err(SchemaFault::Cycle);
                    }
                    self.expanding.push(name);
                    let resolved = self.convert(t, depth + 1);
                    self.expanding.pop();
                    resolved?
                }
                None => {
                    self.charge(16)?;
                    single_member("type", Value::from("object"))
                }
            };
            if let (Value::Object(o), Some(d)) = (&mut resolved, src.get("description")) {
                let d = self.copy("description", d)?;
                o.insert("description".into(), d);
            }
            return Ok(resolved);
        }
        let mut out = Map::new();
        for (k, val) in src {
            match k.as_str() {
                "type" => match val {
                    Value::String(t) => {
                        self.charge(t.len().saturating_add(10))?;
                        out.insert("type".into(), Value::from(t.to_ascii_uppercase()));
                    }
                    Value::Array(types) => {
                        let mut non_null = types.iter().filter(|t| t.as_str() != Some("null"));
                        if let Some(t) = non_null.next().and_then(Value::as_str) {
                            self.charge(t.len().saturating_add(10))?;
                            out.insert("type".into(), Value::from(t.to_ascii_uppercase()));
                        }
                        if types.iter().any(|t| t.as_str() == Some("null")) {
                            self.charge(16)?;
                            out.insert("nullable".into(), Value::Bool(true));
                        }
                    }
                    _ => {}
                },
                "format" | "title" | "description" | "nullable" | "maxItems" | "minItems"
                | "required" | "minProperties" | "maxProperties" | "minLength" | "maxLength"
                | "pattern" | "example" | "propertyOrdering" | "default" | "minimum"
                | "maximum" => {
                    let val = self.copy(k, val)?;
                    out.insert(k.clone(), val);
                }
                "enum" => {
                    if let Value::Array(items) = val {
                        if items.iter().all(Value::is_string) {
                            let val = self.copy(k, val)?;
                            out.insert("enum".into(), val);
                        }
                    }
                }
                "const" if val.is_string() => {
                    let val = self.copy("enum[]", val)?;
                    out.insert("enum".into(), Value::Array(vec![val]));
                }
                "properties" => {
                    if let Value::Object(props) = val {
                        let mut reduced = Map::new();
                        for (name, s) in props {
                            self.charge(name.len().saturating_add(4))?;
                            reduced.insert(name.clone(), self.convert(s, depth + 1)?);
                        }
                        out.insert("properties".into(), Value::Object(reduced));
                    }
                }
                "items" if val.is_object() => {
                    let items = self.convert(val, depth + 1)?;
                    out.insert("items".into(), items);
                }
                "anyOf" | "oneOf" => {
                    if let Value::Array(items) = val {
                        let mut reduced = Vec::with_capacity(items.len());
                        for s in items {
                            reduced.push(self.convert(s, depth + 1)?);
                        }
                        out.insert("anyOf".into(), Value::Array(reduced));
                    }
                }
                "allOf" => {
                    if let Value::Array(items) = val {
                        if let [single] = items.as_slice() {
                            if let Value::Object(inner) = self.convert(single, depth + 1)? {
                                for (ik, iv) in inner {
                                    out.entry(ik).or_insert(iv);
                                }
                            }
                        }
                    }
                }
                // Everything else is unknown to Gemini and would make it reject the request.
                _ => {}
            }
        }
        Ok(Value::Object(out))
    }
}

// The body is serialized straight from the parsed request through the borrowed structs
// below rather than built as a `serde_json::Value` tree first (only the reduced schemas,
// which [`schema`] returns as values, are still trees): the tree copied every string and
// tool input, allocated every key and was then dropped. The bytes stay those the tree
// produced, whose maps sort their keys (serde_json's `preserve_order` is off): serde
// writes a struct's fields in declaration order, so every struct's fields (as renamed)
// and every hand-written map's entries here are in byte order of their names.
// `output_oracle` compares with the old tree builder.

/// The `generateContent` request body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestBody<'a> {
    contents: Vec<Content<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    generation_config: Option<GenerationConfig<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<SystemInstruction<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_config: Option<ToolConfig<'a>>,
    /// One `Tool` holding every declaration.
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<[FunctionDeclarations<'a>; 1]>,
}

/// One turn: consecutive client messages of the same role merged.
#[derive(Serialize)]
struct Content<'a> {
    parts: Vec<ContentPart<'a>>,
    role: &'static str,
}

/// A `Part`.
enum ContentPart<'a> {
    Text(&'a str),
    Media(&'a Media),
    FunctionCall(&'a ToolCall),
    FunctionResponse {
        /// The call id without the carried thought signature.
        id: &'a str,
        name: &'a str,
        response: Value,
    },
}

impl Serialize for ContentPart<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        match self {
            ContentPart::Text(text) => map.serialize_entry("text", text)?,
            ContentPart::Media(Media::Inline { mime, data }) => {
                map.serialize_entry(
                    "inlineData",
                    &InlineData {
                        data,
                        mime_type: mime,
                    },
                )?;
            }
            ContentPart::Media(Media::Url { url, mime }) => {
                let file = FileData {
                    file_uri: url,
                    mime_type: mime.as_deref().unwrap_or("image/jpeg"),
                };
                map.serialize_entry("fileData", &file)?;
            }
            ContentPart::FunctionCall(call) => {
                let (id, signature) = split_call_id(&call.id);
                let function_call = FunctionCall {
                    args: &call.arguments,
                    id,
                    name: &call.name,
                };
                map.serialize_entry("functionCall", &function_call)?;
                if let Some(sig) = signature {
                    map.serialize_entry("thoughtSignature", sig)?;
                }
            }
            ContentPart::FunctionResponse { id, name, response } => {
                let function_response = FunctionResponse { id, name, response };
                map.serialize_entry("functionResponse", &function_response)?;
            }
        }
        map.end()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InlineData<'a> {
    data: &'a str,
    mime_type: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FileData<'a> {
    file_uri: &'a str,
    mime_type: &'a str,
}

#[derive(Serialize)]
struct FunctionCall<'a> {
    args: &'a Value,
    id: &'a str,
    name: &'a str,
}

#[derive(Serialize)]
struct FunctionResponse<'a> {
    id: &'a str,
    name: &'a str,
    response: &'a Value,
}

#[derive(Serialize)]
struct SystemInstruction<'a> {
    parts: Vec<ContentPart<'a>>,
}

/// `generationConfig`; sent only when some field is set.
#[derive(Serialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
struct GenerationConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    candidate_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_mime_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_schema: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_config: Option<ThinkingConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
}

#[derive(Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct ThinkingConfig {
    /// `Some(true)` with a budget; left out when thinking is turned off.
    #[serde(skip_serializing_if = "Option::is_none")]
    include_thoughts: Option<bool>,
    thinking_budget: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FunctionDeclarations<'a> {
    function_declarations: Vec<FunctionDeclaration<'a>>,
}

#[derive(Serialize)]
struct FunctionDeclaration<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolConfig<'a> {
    function_calling_config: FunctionCallingConfig<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FunctionCallingConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_function_names: Option<[&'a str; 1]>,
    mode: &'static str,
}

/// `{key: value}`, moving `value` in (`json!` would deep-copy a `Value` it is given).
fn single_member(key: &str, value: Value) -> Value {
    let mut map = Map::new();
    map.insert(key.to_owned(), value);
    Value::Object(map)
}

/// Split an OpenAI tool-call id into (Gemini id, thought signature).
fn split_call_id(id: &str) -> (&str, Option<&str>) {
    match id.split_once(request::THOUGHT_SIGNATURE_SEPARATOR) {
        Some((id, sig)) => (id, Some(sig)),
        None => (id, None),
    }
}

/// Translate the client's raw OpenAI Chat Completions body into a Gemini
/// `generateContent` body. Streaming is chosen by the URL ([`path`]), not the body.
pub fn build_request(
    openai_body: &[u8],
    upstream_model: &str,
) -> Result<UpstreamRequest, TranslateError> {
    let _ = upstream_model; // Gemini names the model in the URL path.
    let req = ChatRequest::parse(openai_body)?;

    let mut contents: Vec<Content<'_>> = Vec::new();
    for m in &req.messages {
        let mut parts = Vec::new();
        let role = match m.role {
            Role::User | Role::Assistant => {
                for part in &m.parts {
                    match part {
                        Part::Text(t) if t.is_empty() => {}
                        Part::Text(t) => parts.push(ContentPart::Text(t)),
                        Part::Image(media) => parts.push(ContentPart::Media(media)),
                    }
                }
                parts.extend(m.tool_calls.iter().map(ContentPart::FunctionCall));
                if m.role == Role::User {
                    "user"
                } else {
                    "model"
                }
            }
            Role::Tool => {
                let call_id = m.tool_call_id.as_deref().unwrap_or("");
                let name = m.tool_name.as_deref().ok_or_else(|| {
                    TranslateError::new(
                        format!(
                            "tool message answers unknown tool_call_id '{call_id}': Gemini needs the \
                             function name, which is taken from the earlier assistant tool call"
                        ),
                        format!("messages[{}].tool_call_id", m.index),
                    )
                })?;
                let text = request::tool_result_text(&m.parts);
                let response = match serde_json::from_str::<Value>(&text) {
                    Ok(v @ Value::Object(_)) => v,
                    Ok(v) => single_member("result", v),
                    Err(_) => single_member("result", Value::String(text)),
                };
                parts.push(ContentPart::FunctionResponse {
                    id: split_call_id(call_id).0,
                    name,
                    response,
                });
                "user"
            }
        };
        if parts.is_empty() {
            continue;
        }
        match contents.last_mut() {
            Some(turn) if turn.role == role => turn.parts.extend(parts),
            _ => contents.push(Content { parts, role }),
        }
    }
    if contents.is_empty() {
        return Err(TranslateError::new(
            "'messages' has no content to send",
            "messages",
        ));
    }

    let system_instruction = (!req.system.is_empty()).then(|| SystemInstruction {
        parts: req.system.iter().map(|t| ContentPart::Text(t)).collect(),
    });

    let mut gen = GenerationConfig {
        frequency_penalty: req.frequency_penalty,
        max_output_tokens: req.max_tokens,
        presence_penalty: req.presence_penalty,
        seed: req.seed,
        stop_sequences: &req.stop,
        temperature: req.temperature,
        top_p: req.top_p,
        ..GenerationConfig::default()
    };
    // One budget for every schema of the request (see SCHEMA_INLINE_BUDGET_BYTES).
    let input_schema_bytes = req
        .tools
        .iter()
        .filter_map(|t| t.parameters.as_ref())
        .chain(match &req.response_format {
            Some(ResponseFormat::JsonSchema(s)) => Some(s),
            _ => None,
        })
        .fold(0usize, |n, s| n.saturating_add(json_size(s)));
    let mut budget = SchemaBudget::new(input_schema_bytes);
    if let Some(n) = req.n {
        if n > 8 {
            return Err(TranslateError::new(
                "Gemini supports at most n = 8 candidates",
                "n",
            ));
        }
        gen.candidate_count = Some(n).filter(|&n| n > 1);
    }
    match &req.response_format {
        Some(ResponseFormat::JsonObject) => {
            gen.response_mime_type = Some("application/json");
        }
        Some(ResponseFormat::JsonSchema(s)) => {
            gen.response_mime_type = Some("application/json");
            gen.response_schema = Some(reduce_schema(
                s,
                &"response_format.json_schema.schema",
                &mut budget,
            )?);
        }
        Some(ResponseFormat::Text) | None => {}
    }
    if let Some(effort) = req.reasoning_effort.as_deref() {
        gen.thinking_config = match request::thinking_budget(effort) {
            Some(budget) => Some(ThinkingConfig {
                include_thoughts: Some(true),
                thinking_budget: budget,
            }),
            None if matches!(effort, "none" | "minimal") => Some(ThinkingConfig {
                include_thoughts: None,
                thinking_budget: 0,
            }),
            None => None,
        };
    }
    let generation_config = Some(gen).filter(|g| *g != GenerationConfig::default());

    let mut tools = None;
    let mut tool_config = None;
    if !req.tools.is_empty() {
        let mut function_declarations = Vec::with_capacity(req.tools.len());
        for t in &req.tools {
            let parameters = match &t.parameters {
                Some(p) => Some(reduce_schema(p, &t.parameters_param(), &mut budget)?),
                None => None,
            };
            function_declarations.push(FunctionDeclaration {
                description: t.description.as_deref(),
                name: &t.name,
                parameters,
            });
        }
        tools = Some([FunctionDeclarations {
            function_declarations,
        }]);
        let config = match &req.tool_choice {
            None => None,
            Some(ToolChoice::Auto) => Some(("AUTO", None)),
            Some(ToolChoice::None) => Some(("NONE", None)),
            Some(ToolChoice::Required) => Some(("ANY", None)),
            Some(ToolChoice::Function(name)) => {
                if !req.tools.iter().any(|t| &t.name == name) {
                    return Err(TranslateError::new(
                        format!("tool_choice names function '{name}' which is not in 'tools'"),
                        "tool_choice",
                    ));
                }
                Some(("ANY", Some([name.as_str()])))
            }
        };
        tool_config = config.map(|(mode, allowed_function_names)| ToolConfig {
            function_calling_config: FunctionCallingConfig {
                allowed_function_names,
                mode,
            },
        });
    } else if let Some(ToolChoice::Function(name)) = &req.tool_choice {
        return Err(TranslateError::new(
            format!("tool_choice names function '{name}' but no tools were given"),
            "tool_choice",
        ));
    }

    let body = RequestBody {
        contents,
        generation_config,
        system_instruction,
        tool_config,
        tools,
    };
    Ok(UpstreamRequest {
        body: request::encode(&body, openai_body.len())?,
        stream: req.stream,
    })
}

// ---------------------------------------------------------------------------------------
// Wire types (borrowed) and shared mapping
// ---------------------------------------------------------------------------------------

#[derive(Deserialize, Default, Clone, Copy, Debug)]
#[serde(rename_all = "camelCase")]
struct WireUsage {
    #[serde(default)]
    prompt_token_count: Option<u64>,
    #[serde(default)]
    candidates_token_count: Option<u64>,
    #[serde(default)]
    thoughts_token_count: Option<u64>,
    #[serde(default)]
    cached_content_token_count: Option<u64>,
    #[serde(default)]
    tool_use_prompt_token_count: Option<u64>,
}

impl WireUsage {
    fn usage(&self) -> Usage {
        // Saturating: the counts come from the network.
        let prompt = self
            .prompt_token_count
            .unwrap_or(0)
            .saturating_add(self.tool_use_prompt_token_count.unwrap_or(0));
        let reasoning = self.thoughts_token_count.unwrap_or(0);
        let completion = self
            .candidates_token_count
            .unwrap_or(0)
            .saturating_add(reasoning);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt.saturating_add(completion),
            cached_tokens: self.cached_content_token_count.unwrap_or(0),
            reasoning_tokens: reasoning,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireFunctionCall<'a> {
    #[serde(default, borrow)]
    id: Option<BStr<'a>>,
    #[serde(default, borrow)]
    name: Option<BStr<'a>>,
    #[serde(default, borrow)]
    args: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePart<'a> {
    #[serde(default, borrow)]
    text: Option<&'a RawValue>,
    #[serde(default)]
    thought: Option<bool>,
    #[serde(default, borrow)]
    function_call: Option<WireFunctionCall<'a>>,
    #[serde(default, borrow)]
    thought_signature: Option<BStr<'a>>,
}

#[derive(Deserialize)]
struct WireContent<'a> {
    #[serde(default, borrow)]
    parts: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireCandidate<'a> {
    #[serde(default, borrow)]
    content: Option<WireContent<'a>>,
    #[serde(default, borrow)]
    finish_reason: Option<BStr<'a>>,
    #[serde(default)]
    index: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePromptFeedback<'a> {
    #[serde(default, borrow)]
    block_reason: Option<BStr<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireResponse<'a> {
    #[serde(default, borrow)]
    candidates: Option<&'a RawValue>,
    #[serde(default, borrow)]
    prompt_feedback: Option<WirePromptFeedback<'a>>,
    #[serde(default)]
    usage_metadata: Option<WireUsage>,
    #[serde(default, borrow)]
    response_id: Option<BStr<'a>>,
    #[serde(default, borrow)]
    error: Option<WireError<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireErrorDetail<'a> {
    #[serde(rename = "@type", default, borrow)]
    ty: Option<BStr<'a>>,
    #[serde(default, borrow)]
    reason: Option<BStr<'a>>,
    #[serde(default, borrow)]
    retry_delay: Option<BStr<'a>>,
}

#[derive(Deserialize)]
struct WireError<'a> {
    #[serde(default)]
    code: Option<u16>,
    #[serde(default, borrow)]
    message: Option<BStr<'a>>,
    #[serde(default, borrow)]
    status: Option<BStr<'a>>,
    #[serde(default, borrow)]
    details: Vec<WireErrorDetail<'a>>,
}

/// Call `f` for every element of the JSON array `raw` without collecting them (no
/// per-event `Vec`). `null` counts as an empty array. The first error returned by `f` is
/// returned; later elements are still parsed but not passed on.
fn for_each_checked<'de, T, F>(raw: &'de RawValue, f: F) -> Result<(), UpstreamError>
where
    T: Deserialize<'de>,
    F: FnMut(T) -> Result<(), UpstreamError>,
{
    struct Seed<F, T> {
        f: F,
        err: Option<UpstreamError>,
        _t: std::marker::PhantomData<T>,
    }
    impl<'de, T, F> Visitor<'de> for &mut Seed<F, T>
    where
        T: Deserialize<'de>,
        F: FnMut(T) -> Result<(), UpstreamError>,
    {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an array")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(item) = seq.next_element::<T>()? {
                if self.err.is_none() {
                    if let Err(e) = (self.f)(item) {
                        self.err = Some(e);
                    }
                }
            }
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
    }
    impl<'de, T, F> DeserializeSeed<'de> for &mut Seed<F, T>
    where
        T: Deserialize<'de>,
        F: FnMut(T) -> Result<(), UpstreamError>,
    {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            // deserialize_seq, not deserialize_any: serde_json's `any` path allocates.
            d.deserialize_seq(self)
        }
    }
    let mut seed = Seed {
        f,
        err: None,
        _t: std::marker::PhantomData,
    };
    if raw.get() == "null" {
        return Ok(());
    }
    let mut de = serde_json::Deserializer::from_str(raw.get());
    let parsed = (&mut seed).deserialize(&mut de);
    match (seed.err, parsed) {
        (Some(e), _) => Err(e),
        (None, Err(e)) => Err(UpstreamError::malformed(format!(
            "invalid Gemini response: {e}"
        ))),
        (None, Ok(())) => Ok(()),
    }
}

/// OpenAI finish reason for a Gemini `finishReason`.
pub fn finish_reason(reason: &str, made_tool_calls: bool) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION"
        | "LANGUAGE" => "content_filter",
        _ if made_tool_calls => "tool_calls",
        // STOP, FINISH_REASON_UNSPECIFIED, OTHER, MALFORMED_FUNCTION_CALL, ...
        _ => "stop",
    }
}

fn parse_retry_delay(s: &str) -> Option<u64> {
    let secs: f64 = s.trim().strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| secs.ceil() as u64)
}

fn error_from_wire(http_status: Option<u16>, err: &WireError<'_>) -> UpstreamError {
    let status_str = err.status.as_deref().unwrap_or("");
    let reason = err.details.iter().find_map(|d| d.reason.as_deref());
    let retry = err
        .details
        .iter()
        .filter(|d| {
            d.ty.as_deref().is_some_and(|t| t.ends_with("RetryInfo")) || d.retry_delay.is_some()
        })
        .find_map(|d| d.retry_delay.as_deref().and_then(parse_retry_delay));
    let base = http_status
        .filter(|s| *s >= 400)
        .or(err.code)
        .unwrap_or(500);
    let (status, error_type) =
        if reason == Some("API_KEY_INVALID") || status_str == "UNAUTHENTICATED" {
            (401, "authentication_error")
        } else {
            match status_str {
                "PERMISSION_DENIED" => (403, "permission_error"),
                "RESOURCE_EXHAUSTED" => (429, "rate_limit_error"),
                "NOT_FOUND" => (404, "not_found_error"),
                "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => {
                    (400, "invalid_request_error")
                }
                "UNAVAILABLE" => (503, "server_error"),
                "DEADLINE_EXCEEDED" => (504, "timeout_error"),
                "INTERNAL" | "UNKNOWN" => (500, "server_error"),
                _ => (base, UpstreamError::type_for_status(base)),
            }
        };
    let message = err
        .message
        .as_deref()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("Gemini returned HTTP {base}"));
    let mut e = UpstreamError::new(status, error_type, message);
    e.code = match (reason, status_str) {
        (Some("API_KEY_INVALID"), _) => Some("invalid_api_key".to_owned()),
        (Some(r), _) => Some(r.to_owned()),
        (None, "") => None,
        (None, s) => Some(s.to_owned()),
    };
    e.retry_after_secs = retry;
    e
}

/// Translate a Gemini error response (any status, any body) into OpenAI terms.
///
/// `API_KEY_INVALID` → 401, `PERMISSION_DENIED` → 403, `RESOURCE_EXHAUSTED` → 429 with
/// `retry_after_secs` from `RetryInfo.retryDelay`, 5xx → `server_error`. Accepts the error
/// object alone or wrapped in a one-element array (non-SSE streaming); anything else still
/// yields an error for the HTTP status.
pub fn translate_error(status: u16, body: &[u8]) -> UpstreamError {
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        error: WireError<'a>,
    }
    let is_array = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    let parsed = if is_array {
        serde_json::from_slice::<Vec<Envelope<'_>>>(body)
            .ok()
            .and_then(|v| v.into_iter().next())
            .map(|e| e.error)
            .ok_or(())
    } else {
        serde_json::from_slice::<Envelope<'_>>(body)
            .map(|e| e.error)
            .map_err(|_| ())
    };
    match parsed {
        Ok(err) => error_from_wire(Some(status), &err),
        Err(()) => {
            let mut e = UpstreamError::new(
                if status >= 400 { status } else { 502 },
                UpstreamError::type_for_status(if status >= 400 { status } else { 502 }),
                format!("Gemini returned HTTP {status}"),
            );
            let text = String::from_utf8_lossy(body.get(..512).unwrap_or(body));
            let text = text.trim();
            if !text.is_empty() {
                e.message = format!("Gemini returned HTTP {status}: {text}");
            }
            e
        }
    }
}

// ---------------------------------------------------------------------------------------
// Non-streamed response
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct ChoiceAcc {
    index: u32,
    text: String,
    has_text: bool,
    reasoning: String,
    calls: Vec<(String, String, String)>,
    finish: Option<String>,
}

fn unescape_raw_string(raw: &RawValue) -> Option<Cow<'_, str>> {
    serde_json::from_str::<Cow<'_, str>>(raw.get()).ok()
}

fn call_id_into(
    out: &mut Vec<u8>,
    ctx_id: &str,
    choice: u32,
    n: u32,
    given: Option<&str>,
    sig: Option<&str>,
) {
    match given {
        Some(id) if !id.is_empty() => out.extend_from_slice(id.as_bytes()),
        _ => write_generated_id(out, ctx_id, choice, n),
    }
    if let Some(sig) = sig {
        out.extend_from_slice(request::THOUGHT_SIGNATURE_SEPARATOR.as_bytes());
        out.extend_from_slice(sig.as_bytes());
    }
}

fn write_generated_id<B: bytes::BufMut>(out: &mut B, ctx_id: &str, choice: u32, n: u32) {
    out.put_slice(b"call_");
    let suffix = ctx_id.strip_prefix("chatcmpl-").unwrap_or(ctx_id);
    json_out::escaped(out, suffix.as_bytes());
    out.put_u8(b'_');
    if choice > 0 {
        json_out::uint(out, u64::from(choice));
        out.put_u8(b'_');
    }
    json_out::uint(out, u64::from(n));
}

/// Translate a non-streamed Gemini `generateContent` response into an OpenAI
/// `chat.completion` (one choice per candidate).
pub fn translate_response(
    body: &[u8],
    ctx: &ResponseContext,
) -> Result<(Vec<u8>, Option<Usage>), UpstreamError> {
    let resp: WireResponse<'_> = serde_json::from_slice(body)
        .map_err(|e| UpstreamError::malformed(format!("invalid Gemini response: {e}")))?;
    if let Some(err) = &resp.error {
        return Err(error_from_wire(None, err));
    }
    let mut choices: Vec<ChoiceAcc> = Vec::new();
    if let Some(raw) = resp.candidates {
        for_each_checked(raw, |c: WireCandidate<'_>| {
            let mut acc = ChoiceAcc {
                index: c.index.unwrap_or(choices.len() as u32),
                finish: c.finish_reason.as_deref().map(str::to_owned),
                ..ChoiceAcc::default()
            };
            if let Some(parts) = c.content.as_ref().and_then(|c| c.parts) {
                for_each_checked(parts, |p: WirePart<'_>| {
                    if let Some(text) = p.text.and_then(unescape_raw_string) {
                        if p.thought == Some(true) {
                            acc.reasoning.push_str(&text);
                        } else {
                            acc.has_text = true;
                            acc.text.push_str(&text);
                        }
                    }
                    if let Some(fc) = &p.function_call {
                        let mut id = Vec::new();
                        let n = acc.calls.len() as u32;
                        call_id_into(
                            &mut id,
                            &ctx.id,
                            acc.index,
                            n,
                            fc.id.as_deref(),
                            p.thought_signature.as_deref(),
                        );
                        let mut args = Vec::new();
                        json_out::minified(
                            &mut args,
                            fc.args.map_or(&b"{}"[..], |a| a.get().as_bytes()),
                        );
                        if args == b"null" {
                            args = b"{}".to_vec();
                        }
                        acc.calls.push((
                            String::from_utf8_lossy(&id).into_owned(),
                            fc.name.as_deref().unwrap_or("").to_owned(),
                            String::from_utf8_lossy(&args).into_owned(),
                        ));
                    }
                    Ok(())
                })?;
            }
            choices.push(acc);
            Ok(())
        })?;
    }
    let blocked = resp
        .prompt_feedback
        .as_ref()
        .and_then(|f| f.block_reason.as_deref())
        .is_some();
    if choices.is_empty() {
        if !blocked {
            return Err(UpstreamError::malformed(
                "Gemini response has no candidates",
            ));
        }
        choices.push(ChoiceAcc {
            finish: Some("PROHIBITED_CONTENT".to_owned()),
            ..ChoiceAcc::default()
        });
    }
    let usage = resp.usage_metadata.as_ref().map(WireUsage::usage);

    let mut out = Vec::with_capacity(256 + body.len() / 2);
    out.extend_from_slice(b"{\"id\":");
    json_out::string(
        &mut out,
        resp.response_id.as_deref().unwrap_or(&ctx.id).as_bytes(),
    );
    out.extend_from_slice(b",\"object\":\"chat.completion\",\"created\":");
    json_out::uint(&mut out, ctx.created);
    out.extend_from_slice(b",\"model\":");
    json_out::string(&mut out, ctx.model.as_bytes());
    out.extend_from_slice(b",\"choices\":[");
    for (i, c) in choices.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"index\":");
        json_out::uint(&mut out, u64::from(c.index));
        out.extend_from_slice(b",\"message\":{\"role\":\"assistant\",\"content\":");
        if c.has_text || c.calls.is_empty() {
            json_out::string(&mut out, c.text.as_bytes());
        } else {
            out.extend_from_slice(b"null");
        }
        if !c.reasoning.is_empty() {
            out.extend_from_slice(b",\"reasoning_content\":");
            json_out::string(&mut out, c.reasoning.as_bytes());
        }
        if !c.calls.is_empty() {
            out.extend_from_slice(b",\"tool_calls\":[");
            for (j, (id, name, args)) in c.calls.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"id\":");
                json_out::string(&mut out, id.as_bytes());
                out.extend_from_slice(b",\"type\":\"function\",\"function\":{\"name\":");
                json_out::string(&mut out, name.as_bytes());
                out.extend_from_slice(b",\"arguments\":");
                json_out::string(&mut out, args.as_bytes());
                out.extend_from_slice(b"}}");
            }
            out.push(b']');
        }
        let finish = finish_reason(c.finish.as_deref().unwrap_or("STOP"), !c.calls.is_empty());
        out.extend_from_slice(b"},\"logprobs\":null,\"finish_reason\":\"");
        out.extend_from_slice(finish.as_bytes());
        out.extend_from_slice(b"\"}");
    }
    out.push(b']');
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

#[derive(Debug, Clone, Copy, Default)]
struct CandidateState {
    started: bool,
    tools: u32,
    finished: bool,
}

/// How the upstream frames the stream, detected from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Unknown,
    /// `alt=sse`: `data: {...}\r\n\r\n`.
    Sse,
    /// Plain `streamGenerateContent`: one JSON array of responses.
    Array,
}

/// Incremental splitter of a streamed JSON array into its top-level elements.
#[derive(Debug, Default)]
struct ArraySplitter {
    buf: Vec<u8>,
    depth: u32,
    in_string: bool,
    escape: bool,
    closed: bool,
}

impl ArraySplitter {
    fn feed(
        &mut self,
        chunk: &[u8],
        mut on_element: impl FnMut(&[u8]) -> Result<(), UpstreamError>,
    ) -> Result<(), UpstreamError> {
        let mut start = 0usize;
        for (i, &b) in chunk.iter().enumerate() {
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' {
                    self.escape = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'[' | b'{' => {
                    if self.depth == 1 {
                        start = i;
                        self.buf.clear();
                    }
                    self.depth = self.depth.saturating_add(1);
                }
                b']' | b'}' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 1 {
                        let piece = chunk.get(start..=i).unwrap_or_default();
                        let element = if self.buf.is_empty() {
                            on_element(piece)
                        } else {
                            self.buf.extend_from_slice(piece);
                            let buf = std::mem::take(&mut self.buf);
                            let r = on_element(&buf);
                            self.buf = buf;
                            self.buf.clear();
                            r
                        };
                        element?;
                    } else if self.depth == 0 {
                        self.closed = true;
                    }
                }
                _ => {}
            }
        }
        if self.depth >= 2 {
            let from = if self.buf.is_empty() { start } else { 0 };
            let tail = chunk.get(from..).unwrap_or_default();
            if self.buf.len() + tail.len() > DEFAULT_MAX_EVENT_BYTES {
                self.buf = Vec::new();
                return Err(UpstreamError::malformed(format!(
                    "Gemini stream element larger than {DEFAULT_MAX_EVENT_BYTES} bytes"
                )));
            }
            self.buf.extend_from_slice(tail);
        }
        Ok(())
    }
}

#[derive(Debug)]
struct State {
    ctx: ResponseContext,
    writer: Option<ChunkWriter>,
    candidates: Vec<CandidateState>,
    events: u64,
    usage: Option<Usage>,
    failed: Option<UpstreamError>,
    /// A translation error raised inside the serde walk, returned instead of serde's.
    pending: Option<UpstreamError>,
}

/// Incremental Gemini `streamGenerateContent` → OpenAI `chat.completion.chunk` translator.
///
/// Accepts the `alt=sse` framing the data plane asks for, and also the plain JSON-array
/// framing Gemini uses without `alt=sse` (detected from the first byte).
#[derive(Debug)]
pub struct GeminiStreamTranslator {
    framing: Framing,
    sse: SseParser,
    array: ArraySplitter,
    state: State,
}

impl GeminiStreamTranslator {
    /// A translator for one response stream.
    pub fn new(ctx: ResponseContext) -> Self {
        Self {
            framing: Framing::Unknown,
            sse: SseParser::new(),
            array: ArraySplitter::default(),
            state: State {
                ctx,
                writer: None,
                candidates: Vec::new(),
                events: 0,
                usage: None,
                failed: None,
                pending: None,
            },
        }
    }
}

/// `usageMetadata` for the stream: the per-modality detail arrays are walked, not skipped
/// by serde_json (see [`Skip`](crate::json_in::Skip)).
#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "camelCase")]
struct StreamUsage {
    #[serde(default)]
    prompt_token_count: Option<u64>,
    #[serde(default)]
    candidates_token_count: Option<u64>,
    #[serde(default)]
    thoughts_token_count: Option<u64>,
    #[serde(default)]
    cached_content_token_count: Option<u64>,
    #[serde(default)]
    tool_use_prompt_token_count: Option<u64>,
    #[serde(rename = "promptTokensDetails", default)]
    _prompt_tokens_details: Option<Skip>,
    #[serde(rename = "candidatesTokensDetails", default)]
    _candidates_tokens_details: Option<Skip>,
    #[serde(rename = "cacheTokensDetails", default)]
    _cache_tokens_details: Option<Skip>,
    #[serde(rename = "toolUsePromptTokensDetails", default)]
    _tool_use_prompt_tokens_details: Option<Skip>,
}

impl From<StreamUsage> for WireUsage {
    fn from(u: StreamUsage) -> Self {
        WireUsage {
            prompt_token_count: u.prompt_token_count,
            candidates_token_count: u.candidates_token_count,
            thoughts_token_count: u.thoughts_token_count,
            cached_content_token_count: u.cached_content_token_count,
            tool_use_prompt_token_count: u.tool_use_prompt_token_count,
        }
    }
}

/// Parts of one candidate, kept on the stack (spilling to the heap past four) until the
/// candidate's `index` is known: Gemini sends `index` after `content`.
struct PartsBuf<'de> {
    inline: [Option<WirePart<'de>>; 4],
    len: usize,
    overflow: Vec<WirePart<'de>>,
}

impl<'de> PartsBuf<'de> {
    fn new() -> Self {
        Self {
            inline: [None, None, None, None],
            len: 0,
            overflow: Vec::new(),
        }
    }

    fn push(&mut self, p: WirePart<'de>) {
        match self.inline.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(p);
                self.len += 1;
            }
            None => self.overflow.push(p),
        }
    }

    fn iter(&self) -> impl Iterator<Item = &WirePart<'de>> {
        self.inline.iter().flatten().chain(self.overflow.iter())
    }
}

/// Fail the serde walk with a translation error parked in `slot`.
fn park<E: serde::de::Error>(slot: &mut Option<UpstreamError>, e: UpstreamError) -> E {
    let msg = e.message.clone();
    *slot = Some(e);
    E::custom(msg)
}

struct EventSeed<'s> {
    state: &'s mut State,
    out: &'s mut BytesMut,
}

impl<'de> Visitor<'de> for EventSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a Gemini GenerateContentResponse object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut any_candidate = false;
        let mut blocked = false;
        while let Some(key) = map.next_key::<BStr<'de>>()? {
            match &*key {
                "candidates" => {
                    any_candidate |= map.next_value_seed(CandidatesSeed {
                        state: &mut *self.state,
                        out: &mut *self.out,
                    })?;
                }
                "usageMetadata" => {
                    let u: Option<StreamUsage> = map.next_value()?;
                    if let Some(u) = u {
                        self.state.usage = Some(WireUsage::from(u).usage());
                    }
                }
                "promptFeedback" => {
                    let f: Option<WirePromptFeedback<'de>> = map.next_value()?;
                    blocked = f.and_then(|f| f.block_reason).is_some();
                }
                "error" => {
                    let e: WireError<'de> = map.next_value()?;
                    let e = error_from_wire(None, &e);
                    return Err(park(&mut self.state.pending, e));
                }
                _ => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        if blocked && !any_candidate {
            self.state.blocked(self.out);
        }
        Ok(())
    }
}

struct CandidatesSeed<'s> {
    state: &'s mut State,
    out: &'s mut BytesMut,
}

impl<'de> DeserializeSeed<'de> for CandidatesSeed<'_> {
    /// Whether any candidate was present.
    type Value = bool;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CandidatesSeed<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of candidates")
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut position = 0u32;
        while seq
            .next_element_seed(CandidateSeed {
                state: &mut *self.state,
                out: &mut *self.out,
                position,
            })?
            .is_some()
        {
            position = position.saturating_add(1);
        }
        Ok(position > 0)
    }
}

struct CandidateSeed<'s> {
    state: &'s mut State,
    out: &'s mut BytesMut,
    position: u32,
}

impl<'de> DeserializeSeed<'de> for CandidateSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for CandidateSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a candidate object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut parts = PartsBuf::new();
        let mut index = None;
        let mut finish: Option<BStr<'de>> = None;
        while let Some(key) = map.next_key::<BStr<'de>>()? {
            match &*key {
                "content" => map.next_value_seed(ContentSeed { parts: &mut parts })?,
                "finishReason" => finish = map.next_value()?,
                "index" => index = map.next_value()?,
                _ => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        let choice = index.unwrap_or(self.position);
        self.state
            .on_candidate(choice, &parts, finish.as_deref(), self.out)
            .map_err(|e| park(&mut self.state.pending, e))
    }
}

struct ContentSeed<'p, 'de> {
    parts: &'p mut PartsBuf<'de>,
}

impl<'de> DeserializeSeed<'de> for ContentSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ContentSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a content object")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<BStr<'de>>()? {
            if &*key == "parts" {
                map.next_value_seed(PartsSeed {
                    parts: &mut *self.parts,
                })?;
            } else {
                map.next_value::<Skip>()?;
            }
        }
        Ok(())
    }
}

struct PartsSeed<'p, 'de> {
    parts: &'p mut PartsBuf<'de>,
}

impl<'de> DeserializeSeed<'de> for PartsSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PartsSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of parts")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(p) = seq.next_element::<WirePart<'de>>()? {
            self.parts.push(p);
        }
        Ok(())
    }
}

/// Fast path for the event that makes up nearly all of a streamed text answer: one
/// candidate (index 0) whose content is a single plain text part and no finish reason,
/// `{"candidates": [{"content": {"parts": [{"text": "…"}],"role": "model"},"index": 0}],
/// "usageMetadata": {…}, "modelVersion": "…", "responseId": "…"}` with any whitespace.
///
/// Returns the text literal (still escaped) and the usage, if the event carried it. The
/// whole event is checked against the JSON grammar first; anything unexpected (other keys
/// such as `promptFeedback`/`error`, `\u` escapes, duplicate counters, …) returns `None`
/// and goes through the serde walk instead, so the result never differs, only the cost.
fn fast_text_event(data: &str) -> Option<(&str, Option<Option<WireUsage>>)> {
    let mut c = json_out::Cursor::new(data);
    for t in [
        "{",
        "\"candidates\"",
        ":",
        "[",
        "{",
        "\"content\"",
        ":",
        "{",
        "\"parts\"",
        ":",
        "[",
        "{",
        "\"text\"",
        ":",
    ] {
        c.token(t)?;
    }
    let raw = c.string()?;
    for t in ["}", "]", ",", "\"role\"", ":", "\"model\"", "}"] {
        c.token(t)?;
    }
    if c.token(",").is_some() {
        for t in ["\"index\"", ":", "0"] {
            c.token(t)?;
        }
    }
    c.token("}")?;
    c.token("]")?;
    // `None`: no usageMetadata key; `Some(None)`: `"usageMetadata": null`.
    let mut usage: Option<Option<WireUsage>> = None;
    while c.token(",").is_some() {
        let key = c.string()?;
        c.token(":")?;
        match key {
            "\"usageMetadata\"" => usage = Some(fast_usage(&mut c)?),
            "\"candidates\"" | "\"promptFeedback\"" | "\"error\"" => return None,
            _ => c.skip_value(0)?,
        }
    }
    c.token("}")?;
    c.rest().is_empty().then_some((raw, usage))
}

/// `usageMetadata` for [`fast_text_event`]; same fields as [`StreamUsage`].
fn fast_usage(c: &mut json_out::Cursor<'_>) -> Option<Option<WireUsage>> {
    if c.token("null").is_some() {
        return Some(None);
    }
    c.token("{")?;
    let mut u = WireUsage::default();
    let mut seen_details = 0u8;
    if c.token("}").is_some() {
        return Some(Some(u));
    }
    loop {
        let key = c.string()?;
        c.token(":")?;
        let slot = match key {
            "\"promptTokenCount\"" => Some(&mut u.prompt_token_count),
            "\"candidatesTokenCount\"" => Some(&mut u.candidates_token_count),
            "\"thoughtsTokenCount\"" => Some(&mut u.thoughts_token_count),
            "\"cachedContentTokenCount\"" => Some(&mut u.cached_content_token_count),
            "\"toolUsePromptTokenCount\"" => Some(&mut u.tool_use_prompt_token_count),
            _ => None,
        };
        let detail = match key {
            "\"promptTokensDetails\"" => Some(0),
            "\"candidatesTokensDetails\"" => Some(1),
            "\"cacheTokensDetails\"" => Some(2),
            "\"toolUsePromptTokensDetails\"" => Some(3),
            _ => None,
        };
        match (slot, detail) {
            // serde rejects a repeated field; leave that case to it.
            (Some(Some(_)), _) => return None,
            (Some(slot), _) => *slot = Some(c.uint()?),
            (None, Some(bit)) => {
                if seen_details & (1 << bit) != 0 {
                    return None;
                }
                seen_details |= 1 << bit;
                c.skip_value(1)?;
            }
            (None, None) => c.skip_value(1)?,
        }
        if c.token(",").is_none() {
            c.token("}")?;
            return Some(Some(u));
        }
    }
}

impl State {
    /// Translate one streamed `GenerateContentResponse`, walking it in a single pass.
    fn on_event(&mut self, data: &[u8], out: &mut BytesMut) -> Result<(), UpstreamError> {
        if data.trim_ascii() == b"[DONE]" {
            return Ok(());
        }
        self.events = self.events.saturating_add(1);
        if self.writer.is_none() {
            self.writer = Some(ChunkWriter::new(
                self.ctx.id.as_bytes(),
                self.ctx.created,
                &self.ctx.model,
            ));
        }
        // One UTF-8 check for the whole payload, then `from_str` skips the per-string checks.
        let data = std::str::from_utf8(data)
            .map_err(|e| UpstreamError::malformed(format!("invalid Gemini stream event: {e}")))?;
        if let Some((raw, usage)) = fast_text_event(data) {
            self.on_text(raw.as_bytes(), out);
            if let Some(Some(u)) = usage {
                self.usage = Some(u.usage());
            }
            return Ok(());
        }
        self.walk(data, out)
    }

    fn walk(&mut self, data: &str, out: &mut BytesMut) -> Result<(), UpstreamError> {
        let mut de = serde_json::Deserializer::from_str(data);
        let result = de
            .deserialize_map(EventSeed { state: self, out })
            .and_then(|()| de.end());
        match result {
            Ok(()) => Ok(()),
            Err(e) => Err(self.pending.take().unwrap_or_else(|| {
                UpstreamError::malformed(format!("invalid Gemini stream event: {e}"))
            })),
        }
    }

    /// Text for choice 0 from the fast path (same effects as `on_candidate` with one part).
    fn on_text(&mut self, raw: &[u8], out: &mut BytesMut) {
        if self.candidates.is_empty() {
            self.candidates.push(CandidateState::default());
        }
        let (Some(w), Some(cand)) = (self.writer.as_ref(), self.candidates.first_mut()) else {
            return;
        };
        if cand.finished {
            return;
        }
        if !cand.started {
            cand.started = true;
            w.role(out, 0);
        }
        if !json_out::raw_is_empty_string(raw) {
            w.raw_text(out, 0, CONTENT, raw);
        }
    }

    /// The prompt was blocked: finish choice 0 with `content_filter`.
    fn blocked(&mut self, out: &mut BytesMut) {
        if self.candidates.is_empty() {
            self.candidates.push(CandidateState::default());
        }
        let (Some(w), Some(cand)) = (self.writer.as_ref(), self.candidates.first_mut()) else {
            return;
        };
        if !cand.finished {
            if !cand.started {
                w.role(out, 0);
            }
            cand.started = true;
            cand.finished = true;
            w.finish(out, 0, "content_filter");
        }
    }

    fn on_candidate(
        &mut self,
        choice: u32,
        parts: &PartsBuf<'_>,
        finish: Option<&str>,
        out: &mut BytesMut,
    ) -> Result<(), UpstreamError> {
        let ctx_id = self.ctx.id.as_str();
        let i = choice as usize;
        if i >= MAX_CANDIDATES {
            return Err(UpstreamError::malformed(format!(
                "Gemini candidate index {choice} out of range"
            )));
        }
        if self.candidates.len() <= i {
            self.candidates.resize(i + 1, CandidateState::default());
        }
        let (Some(w), Some(cand)) = (self.writer.as_ref(), self.candidates.get_mut(i)) else {
            return Ok(());
        };
        if cand.finished {
            return Ok(());
        }
        if !cand.started {
            cand.started = true;
            w.role(out, choice);
        }
        for p in parts.iter() {
            if let Some(raw) = p.text.and_then(json_out::raw_string) {
                if !json_out::raw_is_empty_string(raw) {
                    let field: &[u8] = if p.thought == Some(true) {
                        REASONING
                    } else {
                        CONTENT
                    };
                    w.raw_text(out, choice, field, raw);
                }
            }
            if let Some(fc) = &p.function_call {
                let index = cand.tools;
                cand.tools = cand.tools.saturating_add(1);
                let sig = p.thought_signature.as_deref();
                let given = fc.id.as_deref().filter(|s| !s.is_empty());
                let mut write_id = |o: &mut BytesMut| {
                    match given {
                        Some(id) => json_out::escaped(o, id.as_bytes()),
                        None => write_generated_id(o, ctx_id, choice, index),
                    }
                    if let Some(sig) = sig {
                        o.extend_from_slice(request::THOUGHT_SIGNATURE_SEPARATOR.as_bytes());
                        json_out::escaped(o, sig.as_bytes());
                    }
                };
                let name = fc.name.as_deref().unwrap_or("");
                w.tool_start(out, choice, index, &mut write_id, name.as_bytes());
                match fc.args.map(|a| a.get().trim()) {
                    None | Some("null") => w.tool_args_raw(out, choice, index, b"\"{}\""),
                    Some(args) => w.tool_args_json(out, choice, index, args.as_bytes()),
                }
            }
        }
        if let Some(reason) = finish {
            cand.finished = true;
            w.finish(out, choice, finish_reason(reason, cand.tools > 0));
        }
        Ok(())
    }
}

impl GeminiStreamTranslator {
    fn dispatch(&mut self, chunk: &[u8], out: &mut BytesMut) -> Result<(), UpstreamError> {
        if self.framing == Framing::Unknown {
            match chunk.iter().find(|b| !b.is_ascii_whitespace()) {
                None => return Ok(()),
                Some(b'[') => self.framing = Framing::Array,
                Some(_) => self.framing = Framing::Sse,
            }
        }
        let state = &mut self.state;
        match self.framing {
            Framing::Array => self.array.feed(chunk, |el| state.on_event(el, out)),
            _ => self.sse.feed(chunk, |ev| state.on_event(ev.data, out)),
        }
    }
}

impl StreamTranslator for GeminiStreamTranslator {
    fn feed(&mut self, chunk: Bytes, out: &mut BytesMut) -> Result<(), UpstreamError> {
        if let Some(e) = &self.state.failed {
            return Err(e.clone());
        }
        let result = self.dispatch(&chunk, out);
        if let Err(e) = &result {
            self.state.failed = Some(e.clone());
        }
        result
    }

    fn finish(&mut self, out: &mut BytesMut) -> Result<(), UpstreamError> {
        if let Some(e) = &self.state.failed {
            return Err(e.clone());
        }
        if self.framing == Framing::Sse {
            let state = &mut self.state;
            if let Err(e) = self.sse.finish(|ev| state.on_event(ev.data, out)) {
                self.state.failed = Some(e.clone());
                return Err(e);
            }
        }
        let state = &mut self.state;
        let complete = state.events > 0
            && !state.candidates.is_empty()
            && state.candidates.iter().all(|c| c.finished || !c.started);
        let incomplete_array = self.framing == Framing::Array && !self.array.closed;
        if !complete || incomplete_array {
            let e = UpstreamError::malformed("Gemini stream ended without a finishReason");
            state.failed = Some(e.clone());
            return Err(e);
        }
        if state.ctx.include_usage {
            let usage = state.usage.unwrap_or_default();
            if let Some(w) = &state.writer {
                w.usage(out, &usage);
            }
        }
        ChunkWriter::done(out);
        Ok(())
    }

    fn usage(&self) -> Option<Usage> {
        self.state.usage
    }
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;
    use proptest::prelude::*;

    fn state() -> State {
        GeminiStreamTranslator::new(ResponseContext {
            model: "m".into(),
            include_usage: true,
            created: 1,
            id: "chatcmpl-x".into(),
        })
        .state
    }

    /// (output, usage, error) with and without the fast path.
    fn both(events: &[String]) -> [(Vec<u8>, Option<Usage>, Option<UpstreamError>); 2] {
        [true, false].map(|fast| {
            let mut st = state();
            let mut out = BytesMut::new();
            let mut err = None;
            for ev in events {
                let r = if fast {
                    st.on_event(ev.as_bytes(), &mut out)
                } else {
                    st.events += 1;
                    st.writer
                        .get_or_insert_with(|| ChunkWriter::new(b"chatcmpl-x", 1, "m"));
                    st.walk(ev, &mut out)
                };
                if let Err(e) = r {
                    err = Some(e);
                    break;
                }
            }
            // Syntax-error positions differ (the fast path re-parses the remainder), so
            // compare errors by kind.
            let err = err.map(|e| {
                let syntax = e.message.starts_with("invalid Gemini stream event");
                UpstreamError {
                    message: if syntax { String::new() } else { e.message },
                    ..e
                }
            });
            (out.to_vec(), st.usage, err)
        })
    }

    #[test]
    fn shapes() {
        let (raw, usage) = fast_text_event(r#"{"candidates": [{"content": {"parts": [{"text": "a\"b"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 1, "promptTokensDetails": [{"modality": "TEXT","tokenCount": 1}]}, "modelVersion": "g"}"#).unwrap();
        assert_eq!(raw, r#""a\"b""#);
        assert_eq!(usage.unwrap().unwrap().prompt_token_count, Some(1));
        let (raw, usage) = fast_text_event(
            r#"{"candidates":[{"content":{"parts":[{"text":"x"}],"role":"model"}}]}"#,
        )
        .unwrap();
        assert_eq!((raw, usage.is_none()), (r#""x""#, true));
        for no in [
            r#"{"candidates":[{"content":{"parts":[{"text":"x","thought":true}],"role":"model"}}]}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"x"}],"role":"model"},"finishReason":"STOP"}]}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"x"}],"role":"model"},"index":1}]}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"x"}],"role":"model"}}],"usageMetadata":{"promptTokenCount":1,"promptTokenCount":2}}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"x"}],"role":"model"}}],"x":01}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"x"}],"role":"model"}}],"x":1.}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"x"}],"role":"model"}}],"error":{}}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"x"}],"role":"model"}}]} x"#,
        ] {
            assert!(fast_text_event(no).is_none(), "{no}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn fast_path_agrees_with_serde_walk(
            texts in prop::collection::vec(".{0,12}", 1..4),
            ws in prop::sample::select(vec!["", " ", "\n  "]),
            index in prop::sample::select(vec!["", ",\"index\": 0", ",\"index\":1"]),
            tail in prop::sample::select(vec![
                "}",
                ",\"usageMetadata\": {\"promptTokenCount\": 7,\"candidatesTokenCount\": 3,\"promptTokensDetails\": [{\"modality\": \"TEXT\",\"tokenCount\": 7}]},\"modelVersion\": \"g\",\"responseId\": \"r\"}",
                ",\"error\": {\"code\": 500, \"message\": \"boom\", \"status\": \"INTERNAL\"}}",
                ",\"usageMetadata\": {\"promptTokenCount\": }}",
                ",\"x\": [1, {\"y\": \"\\u00e9\"}]} ",
                ",}",
                "",
                ",\"usageMetadata\": null}",
                ",\"usageMetadata\": {\"promptTokenCount\": 1, \"promptTokenCount\": 2}}",
                ",\"usageMetadata\": {\"promptTokenCount\": -1}}",
                ",\"usageMetadata\": {\"promptTokenCount\": 1e3}}",
                ",\"usageMetadata\": {\"thoughtsTokenCount\": 18446744073709551616}}",
                ",\"usageMetadata\": {\"cachedContentTokenCount\": 5, \"x\": [true, false, null, -0.5e-3, {}, []]}, \"responseId\": \"r\"}",
                ",\"promptFeedback\": {\"blockReason\": \"SAFETY\"}}",
                ",\"modelVersion\": \"a\\u00e9\"}",
                ",\"modelVersion\": [1,]}",
                ",\"usageMetadata\": {}}  ",
                ",\"usageMetadata\": {\"promptTokensDetails\": [], \"promptTokensDetails\": []}}",
                ",\"usageMetadata\": {\"promptTokenCount\": null}}",
            ]),
        ) {
            let events: Vec<String> = texts
                .iter()
                .map(|t| {
                    let lit = serde_json::to_string(t).unwrap();
                    format!("{{{ws}\"candidates\":{ws}[{{\"content\":{ws}{{\"parts\": [{{\"text\":{ws}{lit}}}],\"role\": \"model\"}}{index}}}]{tail}")
                })
                .collect();
            let [fast, slow] = both(&events);
            prop_assert_eq!(fast, slow);
        }
    }
}
