//! The provider-neutral ("hub") form of the client's OpenAI Chat Completions request,
//! which the Anthropic and Gemini builders convert from. Built from a request the boundary
//! parse ([`super::ChatRequest`]) validated, or from a raw body (then checked fully).
//!
//! Request building is once per request (not the streaming hot path), so this side uses
//! `serde_json::Value` for the flexible parts and reports precise `param` paths.

use std::collections::HashMap;
use std::fmt;

use base64::Engine as _;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::json_in::{raw_value_token, Json, Key, Skip, NULL, RAW_VALUE_TOKEN};
use crate::TranslateError;

pub(crate) use crate::hub::request::*;

/// Where a value sits in the client's request, for an error's `param`.
///
/// Built on the stack as the parser descends and formatted only when an error is
/// returned: formatting `messages[3].content` for every message and part of every
/// request cost more than the rest of the validation.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'p> {
    /// A top-level field (`n`) or a fixed dotted path (`response_format.type`).
    Field(&'static str),
    /// An array element: `messages[3]`.
    Index(&'p Param<'p>, usize),
    /// A member, or a fixed dotted path below one: `.content`, `.image_url.url`.
    Member(&'p Param<'p>, &'static str),
}

impl<'p> Param<'p> {
    /// `self[i]`.
    pub(crate) fn index(&'p self, i: usize) -> Param<'p> {
        Param::Index(self, i)
    }

    /// `self.name` (`name` may itself be dotted).
    pub(crate) fn member(&'p self, name: &'static str) -> Param<'p> {
        Param::Member(self, name)
    }
}

impl fmt::Display for Param<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Param::Field(name) => f.write_str(name),
            Param::Index(parent, i) => write!(f, "{parent}[{i}]"),
            Param::Member(parent, name) => write!(f, "{parent}.{name}"),
        }
    }
}

/// An error about `param`, formatting the path only now.
fn error(message: impl Into<String>, param: Param<'_>) -> TranslateError {
    TranslateError::new(message, param.to_string())
}

fn num(v: &Json<'_>, param: &'static str) -> Result<Option<f64>, TranslateError> {
    match v {
        Json::Null => Ok(None),
        Json::Number(n) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| TranslateError::new(format!("'{param}' must be a number"), param)),
        _ => Err(TranslateError::new(
            format!("'{param}' must be a number"),
            param,
        )),
    }
}

fn uint(v: &Json<'_>, param: &'static str) -> Result<Option<u64>, TranslateError> {
    match v {
        Json::Null => Ok(None),
        Json::Number(n) => n.as_u64().map(Some).ok_or_else(|| {
            TranslateError::new(format!("'{param}' must be a non-negative integer"), param)
        }),
        _ => Err(TranslateError::new(
            format!("'{param}' must be a non-negative integer"),
            param,
        )),
    }
}

fn opt_str(v: &Json<'_>, param: Param<'_>) -> Result<Option<String>, TranslateError> {
    match v {
        Json::Null => Ok(None),
        Json::Str(s) => Ok(Some(s.as_ref().to_owned())),
        _ => Err(error(format!("'{param}' must be a string"), param)),
    }
}

/// Parse a `data:` or `http(s):` URL into [`Media`].
///
/// `param` (a `&str` or a [`Param`]) is formatted only if the URL is rejected.
pub(crate) fn parse_media_url(
    url: &str,
    param: impl fmt::Display,
) -> Result<Media, TranslateError> {
    if let Some(rest) = url.strip_prefix("data:") {
        let Some((meta, data)) = rest.split_once(',') else {
            return Err(TranslateError::new(
                "invalid data URL: missing ','",
                param.to_string(),
            ));
        };
        let Some(mime) = meta.strip_suffix(";base64") else {
            return Err(TranslateError::new(
                "invalid data URL: only base64-encoded data URLs are supported",
                param.to_string(),
            ));
        };
        let mime = mime.split(';').next().unwrap_or("").trim();
        if mime.is_empty() || !mime.contains('/') {
            return Err(TranslateError::new(
                "invalid data URL: missing media type",
                param.to_string(),
            ));
        }
        let data = data.trim();
        if data.is_empty()
            || base64::engine::general_purpose::STANDARD
                .decode(data.as_bytes())
                .is_err()
        {
            return Err(TranslateError::new(
                "invalid data URL: data is not valid base64",
                param.to_string(),
            ));
        }
        return Ok(Media::Inline {
            mime: mime.to_ascii_lowercase(),
            data: data.to_owned(),
        });
    }
    // Compared in place rather than lower-casing a copy of the prefix.
    let has_scheme = |scheme: &str| {
        url.as_bytes()
            .get(..scheme.len())
            .is_some_and(|b| b.eq_ignore_ascii_case(scheme.as_bytes()))
    };
    if has_scheme("https://") || has_scheme("http://") {
        if url.len() <= "http://".len() || url.contains(char::is_whitespace) {
            return Err(TranslateError::new("invalid image URL", param.to_string()));
        }
        return Ok(Media::Url {
            url: url.to_owned(),
            mime: mime_from_extension(url),
        });
    }
    Err(TranslateError::new(
        "invalid image URL: expected an http(s) URL or a base64 data URL",
        param.to_string(),
    ))
}

fn mime_from_extension(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    let mime = match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        _ => return None,
    };
    Some(mime.to_owned())
}

/// Parse `content` (string, array of parts or null) into parts.
fn parse_content(
    v: &Json<'_>,
    param: Param<'_>,
    allow_images: bool,
) -> Result<Vec<Part>, TranslateError> {
    match v {
        Json::Null => Ok(Vec::new()),
        Json::Str(s) => Ok(vec![Part::Text(s.as_ref().to_owned())]),
        Json::Array(items) => {
            let mut parts = Vec::with_capacity(items.len());
            for (j, item) in items.iter().enumerate() {
                let p = param.index(j);
                let Json::Object(obj) = item else {
                    return Err(error("content part must be an object", p));
                };
                let ty = obj.get("type").and_then(Json::as_str).unwrap_or("");
                match ty {
                    "text" | "input_text" => {
                        let text = obj.get("text").and_then(Json::as_str).ok_or_else(|| {
                            error("text part needs a string 'text'", p.member("text"))
                        })?;
                        parts.push(Part::Text(text.to_owned()));
                    }
                    "image_url" if allow_images => {
                        let url = match obj.get("image_url") {
                            Some(Json::Str(s)) => Some(s.as_ref()),
                            Some(Json::Object(o)) => o.get("url").and_then(Json::as_str),
                            _ => None,
                        };
                        let param = p.member("image_url.url");
                        let url =
                            url.ok_or_else(|| error("image_url part needs a string 'url'", param))?;
                        parts.push(Part::Image(parse_media_url(url, param)?));
                    }
                    "file" if allow_images => {
                        let data = obj
                            .get("file")
                            .and_then(|f| f.get("file_data"))
                            .and_then(Json::as_str);
                        let param = p.member("file.file_data");
                        let data = data.ok_or_else(|| {
                            error(
                                "file part needs 'file.file_data' as a base64 data URL (file ids are not supported)",
                                param,
                            )
                        })?;
                        parts.push(Part::Image(parse_media_url(data, param)?));
                    }
                    "refusal" => {
                        if let Some(text) = obj.get("refusal").and_then(Json::as_str) {
                            parts.push(Part::Text(text.to_owned()));
                        }
                    }
                    other => {
                        return Err(error(
                            format!("unsupported content part type '{other}' for this provider"),
                            p.member("type"),
                        ))
                    }
                }
            }
            Ok(parts)
        }
        _ => Err(error(
            "content must be a string, an array of content parts or null",
            param,
        )),
    }
}

fn text_of(parts: &[Part]) -> String {
    let mut s = String::new();
    for p in parts {
        if let Part::Text(t) = p {
            if !s.is_empty() {
                s.push('\n');
            }
            s.push_str(t);
        }
    }
    s
}

fn parse_arguments(v: Option<&Json<'_>>, param: Param<'_>) -> Result<Value, TranslateError> {
    match v {
        None | Some(Json::Null) => Ok(Value::Object(Map::new())),
        Some(Json::Str(s)) if s.trim().is_empty() => Ok(Value::Object(Map::new())),
        Some(Json::Str(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => Ok(v),
            Ok(_) => Err(error("function arguments must be a JSON object", param)),
            Err(e) => Err(error(
                format!("function arguments are not valid JSON: {e}"),
                param,
            )),
        },
        Some(v @ Json::Object(_)) => Ok(v.to_value()),
        Some(_) => Err(error("function arguments must be a JSON string", param)),
    }
}

fn parse_tool_calls(v: &Json<'_>, param: Param<'_>) -> Result<Vec<ToolCall>, TranslateError> {
    let items = match v {
        Json::Null => return Ok(Vec::new()),
        Json::Array(items) => items,
        _ => return Err(error("tool_calls must be an array", param)),
    };
    let mut calls = Vec::with_capacity(items.len());
    for (j, item) in items.iter().enumerate() {
        let p = param.index(j);
        let id = item
            .get("id")
            .and_then(Json::as_str)
            .ok_or_else(|| error("tool call needs a string 'id'", p.member("id")))?;
        let f = item
            .get("function")
            .ok_or_else(|| error("tool call needs a 'function'", p.member("function")))?;
        let name = f
            .get("name")
            .and_then(Json::as_str)
            .ok_or_else(|| error("tool call needs 'function.name'", p.member("function.name")))?;
        let arguments = parse_arguments(f.get("arguments"), p.member("function.arguments"))?;
        calls.push(ToolCall {
            id: id.to_owned(),
            name: name.to_owned(),
            arguments,
        });
    }
    Ok(calls)
}

fn parse_function_def(
    v: &Json<'_>,
    param: Param<'_>,
    index: usize,
    legacy: bool,
) -> Result<Tool, TranslateError> {
    let name = v
        .get("name")
        .and_then(Json::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| error("function needs a non-empty 'name'", param.member("name")))?;
    let description = opt_str(
        v.get("description").unwrap_or(&NULL),
        param.member("description"),
    )?;
    let parameters = match v.get("parameters") {
        None | Some(Json::Null) => None,
        Some(p @ Json::Object(_)) => Some(p.to_value()),
        Some(_) => {
            return Err(error(
                "'parameters' must be a JSON schema object",
                param.member("parameters"),
            ))
        }
    };
    Ok(Tool {
        name: name.to_owned(),
        description,
        parameters,
        index,
        legacy,
    })
}

fn parse_tool_choice(
    v: &Json<'_>,
    param: &'static str,
) -> Result<Option<ToolChoice>, TranslateError> {
    match v {
        Json::Null => Ok(None),
        Json::Str(s) => match s.as_ref() {
            "auto" => Ok(Some(ToolChoice::Auto)),
            "none" => Ok(Some(ToolChoice::None)),
            "required" | "any" => Ok(Some(ToolChoice::Required)),
            other => Err(TranslateError::new(
                format!("invalid {param} '{other}': expected auto, none, required or an object"),
                param,
            )),
        },
        Json::Object(o) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .or_else(|| o.get("name"))
                .and_then(Json::as_str);
            match name {
                Some(n) => Ok(Some(ToolChoice::Function(n.to_owned()))),
                None => Err(TranslateError::new(
                    format!("{param} object needs function.name"),
                    param,
                )),
            }
        }
        _ => Err(TranslateError::new(
            format!("{param} must be a string or an object"),
            param,
        )),
    }
}

/// The top-level members the parser reads, `null` when absent. Every other member is
/// only checked ([`Skip`]), so unread fields cost no allocation.
#[derive(Debug, Default)]
struct Root<'a> {
    tools: Json<'a>,
    functions: Json<'a>,
    tool_choice: Json<'a>,
    function_call: Json<'a>,
    parallel_tool_calls: Json<'a>,
    messages: Json<'a>,
    stop: Json<'a>,
    max_completion_tokens: Json<'a>,
    max_tokens: Json<'a>,
    temperature: Json<'a>,
    top_p: Json<'a>,
    n: Json<'a>,
    seed: Json<'a>,
    presence_penalty: Json<'a>,
    frequency_penalty: Json<'a>,
    stream: Json<'a>,
    response_format: Json<'a>,
    reasoning_effort: Json<'a>,
    user: Json<'a>,
}

impl<'a> Root<'a> {
    /// Where the member `key` goes, or `None` for a member the parser does not read.
    fn slot(&mut self, key: &str) -> Option<&mut Json<'a>> {
        Some(match key {
            "tools" => &mut self.tools,
            "functions" => &mut self.functions,
            "tool_choice" => &mut self.tool_choice,
            "function_call" => &mut self.function_call,
            "parallel_tool_calls" => &mut self.parallel_tool_calls,
            "messages" => &mut self.messages,
            "stop" => &mut self.stop,
            "max_completion_tokens" => &mut self.max_completion_tokens,
            "max_tokens" => &mut self.max_tokens,
            "temperature" => &mut self.temperature,
            "top_p" => &mut self.top_p,
            "n" => &mut self.n,
            "seed" => &mut self.seed,
            "presence_penalty" => &mut self.presence_penalty,
            "frequency_penalty" => &mut self.frequency_penalty,
            "stream" => &mut self.stream,
            "response_format" => &mut self.response_format,
            "reasoning_effort" => &mut self.reasoning_effort,
            "user" => &mut self.user,
            _ => return None,
        })
    }
}

/// The client body: an object's readable members, or a note that it was valid JSON but
/// not an object (still checked to the end, so a later syntax error wins as before).
// Built once per request on the stack and unpacked at once; boxing `Root` would only
// add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Body<'a> {
    Object(Root<'a>),
    NotObject,
}

impl<'de> Deserialize<'de> for Body<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(BodyVisitor)
    }
}

struct BodyVisitor;

impl<'de> Visitor<'de> for BodyVisitor {
    type Value = Body<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Body<'de>, E> {
        Ok(Body::NotObject)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Body<'de>, E> {
        Ok(Body::NotObject)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Body<'de>, E> {
        Ok(Body::NotObject)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Body<'de>, E> {
        Ok(Body::NotObject)
    }
    fn visit_str<E>(self, _: &str) -> Result<Body<'de>, E> {
        Ok(Body::NotObject)
    }
    fn visit_unit<E>(self) -> Result<Body<'de>, E> {
        Ok(Body::NotObject)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Body<'de>, A::Error> {
        Skip.visit_seq(seq).map(|_| Body::NotObject)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Body<'de>, A::Error> {
        let mut root = Root::default();
        let mut first = true;
        while let Some(Key(key)) = map.next_key()? {
            if std::mem::take(&mut first) && key == RAW_VALUE_TOKEN {
                // `Value` parses such an object from the string it holds (see json_in).
                return Ok(match raw_value_token::<Value, A>(&mut map)? {
                    Value::Object(members) => {
                        for (k, v) in members {
                            if let Some(slot) = root.slot(&k) {
                                *slot = Json::from_value(v);
                            }
                        }
                        Body::Object(root)
                    }
                    _ => Body::NotObject,
                });
            }
            // A repeated key overwrites, as in a `serde_json::Map`.
            match root.slot(&key) {
                Some(slot) => *slot = map.next_value()?,
                None => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(Body::Object(root))
    }
}

impl HubRequest {
    /// Parse and validate the client's raw OpenAI body (no boundary parse before it).
    pub(crate) fn parse(body: &[u8]) -> Result<Self, TranslateError> {
        Self::parse_body(body, false)
    }

    /// The neutral form of a request [`ChatRequest::parse`](super::ChatRequest::parse)
    /// validated: the shape of `messages` (array, objects, known roles, not empty) and the
    /// ranges of `temperature`, `top_p` and `n` are not checked again.
    pub(crate) fn from_checked(req: &super::ChatRequest) -> Result<Self, TranslateError> {
        Self::parse_body(&req.body, true)
    }

    fn parse_body(body: &[u8], boundary_checked: bool) -> Result<Self, TranslateError> {
        let root: Body<'_> = serde_json::from_slice(body)
            .map_err(|e| TranslateError::body(format!("request body is not valid JSON: {e}")))?;
        let Body::Object(root) = root else {
            return Err(TranslateError::body("request body must be a JSON object"));
        };
        let mut req = HubRequest::default();

        // Tools first: legacy `functions` and modern `tools`.
        match &root.tools {
            Json::Null => {}
            Json::Array(items) => {
                let tools = Param::Field("tools");
                for (i, t) in items.iter().enumerate() {
                    let p = tools.index(i);
                    let ty = t.get("type").and_then(Json::as_str).unwrap_or("function");
                    if ty != "function" {
                        return Err(error(
                            format!("unsupported tool type '{ty}': only function tools can be translated"),
                            p.member("type"),
                        ));
                    }
                    let f = t
                        .get("function")
                        .ok_or_else(|| error("tool needs a 'function'", p.member("function")))?;
                    req.tools
                        .push(parse_function_def(f, p.member("function"), i, false)?);
                }
            }
            _ => return Err(TranslateError::new("'tools' must be an array", "tools")),
        }
        match &root.functions {
            Json::Null => {}
            Json::Array(items) => {
                let functions = Param::Field("functions");
                for (i, f) in items.iter().enumerate() {
                    req.tools
                        .push(parse_function_def(f, functions.index(i), i, true)?);
                }
            }
            _ => {
                return Err(TranslateError::new(
                    "'functions' must be an array",
                    "functions",
                ))
            }
        }
        req.tool_choice = parse_tool_choice(&root.tool_choice, "tool_choice")?;
        if req.tool_choice.is_none() {
            req.tool_choice = parse_tool_choice(&root.function_call, "function_call")?;
        }
        req.parallel_tool_calls = match root.parallel_tool_calls {
            Json::Null => None,
            Json::Bool(b) => Some(b),
            _ => {
                return Err(TranslateError::new(
                    "'parallel_tool_calls' must be a boolean",
                    "parallel_tool_calls",
                ))
            }
        };

        // Messages.
        let Json::Array(messages) = &root.messages else {
            return Err(TranslateError::new(
                "'messages' must be an array",
                "messages",
            ));
        };
        if messages.is_empty() && !boundary_checked {
            return Err(TranslateError::new(
                "'messages' must not be empty",
                "messages",
            ));
        }
        req.messages.reserve(messages.len());
        let messages_param = Param::Field("messages");
        let mut legacy_calls = 0usize;
        // Earlier assistant tool calls, for tool messages to find theirs in one lookup
        // (a scan of all earlier messages per tool message was quadratic in the body):
        // call id → function name, and function name → id of its latest call.
        let mut name_by_call_id: HashMap<String, String> = HashMap::new();
        let mut latest_call_by_name: HashMap<String, String> = HashMap::new();
        for (i, m) in messages.iter().enumerate() {
            let p = messages_param.index(i);
            let Json::Object(m) = m else {
                return Err(error("message must be an object", p));
            };
            let role = m
                .get("role")
                .and_then(Json::as_str)
                .ok_or_else(|| error("message needs a string 'role'", p.member("role")))?;
            let content = m.get("content").unwrap_or(&NULL);
            let content_param = p.member("content");
            match role {
                "system" | "developer" => {
                    let text = text_of(&parse_content(content, content_param, false)?);
                    if !text.is_empty() {
                        req.system.push(text);
                    }
                }
                "user" => {
                    if content.is_null() {
                        return Err(error("user message needs 'content'", content_param));
                    }
                    req.messages.push(Message {
                        is_error: false,
                        role: Role::User,
                        parts: parse_content(content, content_param, true)?,
                        tool_calls: Vec::new(),
                        tool_call_id: None,
                        tool_name: None,
                        index: i,
                    });
                }
                "assistant" => {
                    let mut tool_calls = parse_tool_calls(
                        m.get("tool_calls").unwrap_or(&NULL),
                        p.member("tool_calls"),
                    )?;
                    if let Some(fc) = m.get("function_call").filter(|v| !v.is_null()) {
                        let fp = p.member("function_call");
                        let name = fc.get("name").and_then(Json::as_str).ok_or_else(|| {
                            error("function_call needs 'name'", fp.member("name"))
                        })?;
                        legacy_calls += 1;
                        tool_calls.push(ToolCall {
                            id: format!("call_legacy_{legacy_calls}"),
                            name: name.to_owned(),
                            arguments: parse_arguments(
                                fc.get("arguments"),
                                fp.member("arguments"),
                            )?,
                        });
                    }
                    // The latest message wins; within one, its first call with an id does.
                    for call in tool_calls.iter().rev() {
                        name_by_call_id.insert(call.id.clone(), call.name.clone());
                    }
                    for call in &tool_calls {
                        latest_call_by_name.insert(call.name.clone(), call.id.clone());
                    }
                    req.messages.push(Message {
                        is_error: false,
                        role: Role::Assistant,
                        parts: parse_content(content, content_param, false)?,
                        tool_calls,
                        tool_call_id: None,
                        tool_name: None,
                        index: i,
                    });
                }
                "tool" | "function" => {
                    let name = opt_str(m.get("name").unwrap_or(&NULL), p.member("name"))?;
                    let id = if role == "tool" {
                        m.get("tool_call_id")
                            .and_then(Json::as_str)
                            .map(str::to_owned)
                            .ok_or_else(|| {
                                error(
                                    "tool message needs a string 'tool_call_id'",
                                    p.member("tool_call_id"),
                                )
                            })?
                    } else {
                        // Legacy function result: answers the latest call of that name.
                        let name = name.as_deref().ok_or_else(|| {
                            error("function message needs 'name'", p.member("name"))
                        })?;
                        latest_call_by_name.get(name).cloned().ok_or_else(|| {
                            error(
                                format!("function message '{name}' has no matching function_call"),
                                p.member("name"),
                            )
                        })?
                    };
                    let recovered = name_by_call_id.get(&id).cloned();
                    req.messages.push(Message {
                        is_error: false,
                        role: Role::Tool,
                        parts: parse_content(content, content_param, false)?,
                        tool_calls: Vec::new(),
                        tool_call_id: Some(id),
                        tool_name: recovered.or(name),
                        index: i,
                    });
                }
                other => {
                    return Err(error(
                        format!("unsupported message role '{other}'"),
                        p.member("role"),
                    ))
                }
            }
        }
        if req.messages.is_empty() {
            return Err(TranslateError::new(
                "'messages' must contain at least one user, assistant or tool message",
                "messages",
            ));
        }

        req.stop = match &root.stop {
            Json::Null => Vec::new(),
            Json::Str(s) => vec![s.as_ref().to_owned()],
            Json::Array(items) => items
                .iter()
                .map(|s| {
                    s.as_str().map(str::to_owned).ok_or_else(|| {
                        TranslateError::new("'stop' entries must be strings", "stop")
                    })
                })
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(TranslateError::new(
                    "'stop' must be a string or an array",
                    "stop",
                ))
            }
        };
        req.max_tokens = match uint(&root.max_completion_tokens, "max_completion_tokens")? {
            Some(n) => Some(n),
            None => uint(&root.max_tokens, "max_tokens")?,
        };
        if req.max_tokens == Some(0) {
            return Err(TranslateError::new(
                "'max_tokens' must be at least 1",
                "max_tokens",
            ));
        }
        req.temperature = num(&root.temperature, "temperature")?;
        if !boundary_checked && req.temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
            return Err(TranslateError::new(
                "'temperature' must be between 0 and 2",
                "temperature",
            ));
        }
        req.top_p = num(&root.top_p, "top_p")?;
        if !boundary_checked && req.top_p.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
            return Err(TranslateError::new(
                "'top_p' must be between 0 and 1",
                "top_p",
            ));
        }
        req.n = uint(&root.n, "n")?;
        if !boundary_checked && req.n == Some(0) {
            return Err(TranslateError::new("'n' must be at least 1", "n"));
        }
        req.seed = match &root.seed {
            Json::Null => None,
            Json::Number(n) => Some(
                n.as_i64()
                    .ok_or_else(|| TranslateError::new("'seed' must be an integer", "seed"))?,
            ),
            _ => return Err(TranslateError::new("'seed' must be an integer", "seed")),
        };
        req.presence_penalty = num(&root.presence_penalty, "presence_penalty")?;
        req.frequency_penalty = num(&root.frequency_penalty, "frequency_penalty")?;
        req.stream = match root.stream {
            Json::Null => false,
            Json::Bool(b) => b,
            _ => return Err(TranslateError::new("'stream' must be a boolean", "stream")),
        };
        req.response_format = match &root.response_format {
            Json::Null => None,
            Json::Object(o) => match o.get("type").and_then(Json::as_str) {
                Some("text") => Some(ResponseFormat::Text),
                Some("json_object") => Some(ResponseFormat::JsonObject),
                Some("json_schema") => {
                    let schema = o
                        .get("json_schema")
                        .and_then(|s| s.get("schema"))
                        .filter(|s| s.is_object())
                        .ok_or_else(|| {
                            TranslateError::new(
                                "json_schema response_format needs json_schema.schema (an object)",
                                "response_format.json_schema.schema",
                            )
                        })?;
                    Some(ResponseFormat::JsonSchema(schema.to_value()))
                }
                _ => {
                    return Err(TranslateError::new(
                        "response_format.type must be text, json_object or json_schema",
                        "response_format.type",
                    ))
                }
            },
            _ => {
                return Err(TranslateError::new(
                    "'response_format' must be an object",
                    "response_format",
                ))
            }
        };
        req.reasoning_effort = opt_str(&root.reasoning_effort, Param::Field("reasoning_effort"))?;
        req.user = opt_str(&root.user, Param::Field("user"))?;
        Ok(req)
    }
}

/// Serialize a provider request body. Sized for about the client's body (`input_len`
/// bytes), which the output roughly matches, so that the buffer is not regrown and
/// copied several times while it is written.
pub(crate) fn encode<T: Serialize>(body: &T, input_len: usize) -> Result<Vec<u8>, TranslateError> {
    let mut out = Vec::with_capacity(input_len.saturating_add(128));
    serde_json::to_writer(&mut out, body)
        .map_err(|e| TranslateError::body(format!("cannot encode request: {e}")))?;
    Ok(out)
}

/// The text of a tool result's parts (tool messages carry text only).
pub(crate) fn tool_result_text(parts: &[Part]) -> String {
    text_of(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_format_like_openai() {
        let messages = Param::Field("messages");
        let m = messages.index(3);
        let content = m.member("content");
        assert_eq!(
            content.index(0).member("image_url.url").to_string(),
            "messages[3].content[0].image_url.url"
        );
        assert_eq!(
            m.member("tool_calls")
                .index(1)
                .member("function.name")
                .to_string(),
            "messages[3].tool_calls[1].function.name"
        );
        assert_eq!(
            Param::Field("response_format.type").to_string(),
            "response_format.type"
        );
        let e = error("bad", content);
        assert_eq!(e.param.as_deref(), Some("messages[3].content"));
        assert_eq!(e.message, "bad");
    }

    #[test]
    fn url_schemes_are_case_insensitive_and_need_a_host() {
        assert!(matches!(
            parse_media_url("HTTP://x.test/a", "p"),
            Ok(Media::Url { .. })
        ));
        assert!(
            matches!(parse_media_url("hTtPs://x.test/a.gif", Param::Field("p")), Ok(Media::Url { mime: Some(m), .. }) if m == "image/gif")
        );
        assert_eq!(
            parse_media_url("http://", "messages[0].content[1].image_url.url").map_err(|e| e.param),
            Err(Some("messages[0].content[1].image_url.url".to_owned()))
        );
        // A multi-byte character straddling the scheme's length is not a scheme.
        assert!(parse_media_url("https:/é", "p").is_err());
        assert!(parse_media_url("httpé://x", "p").is_err());
        assert!(parse_media_url("https", "p").is_err());
    }

    #[test]
    fn data_urls() {
        assert!(matches!(
            parse_media_url("data:image/png;base64,aGVsbG8=", "p"),
            Ok(Media::Inline { .. })
        ));
        assert!(parse_media_url("data:image/png;base64,***", "p").is_err());
        assert!(parse_media_url("data:image/png,raw", "p").is_err());
        assert!(parse_media_url("ftp://x/y.png", "p").is_err());
        assert_eq!(
            parse_media_url("https://x.test/a.PNG?x=1", "p"),
            Ok(Media::Url {
                url: "https://x.test/a.PNG?x=1".into(),
                mime: Some("image/png".into())
            })
        );
    }
}
