//! The client's OpenAI Chat Completions request, parsed and validated once into a
//! provider-neutral model that the Anthropic and Gemini builders convert from.
//!
//! Request building is once per request (not the streaming hot path), so this side uses
//! `serde_json::Value` for the flexible parts and reports precise `param` paths.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::TranslateError;

/// Who said a message, after system/developer messages were pulled out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    User,
    Assistant,
    Tool,
}

/// Where an image (or file) comes from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Media {
    /// `data:<mime>;base64,<data>` URL, already validated as base64.
    Inline { mime: String, data: String },
    /// An `http(s)` URL the provider fetches itself.
    Url { url: String, mime: Option<String> },
}

/// One piece of message content.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Part {
    Text(String),
    Image(Media),
}

/// An assistant tool call being replayed to the provider.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolCall {
    pub id: String,
    pub name: String,
    /// Parsed `function.arguments` (always a JSON object).
    pub arguments: Value,
}

/// One non-system message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Message {
    pub role: Role,
    pub parts: Vec<Part>,
    pub tool_calls: Vec<ToolCall>,
    /// For `Role::Tool`: the id of the call this answers.
    pub tool_call_id: Option<String>,
    /// For `Role::Tool`: the function name, when the client gave it (`name`) or it was
    /// recovered from the earlier assistant tool call with the same id.
    pub tool_name: Option<String>,
    /// Index in the client's `messages` array, for error params.
    pub index: usize,
}

/// A function tool the model may call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tool {
    pub name: String,
    pub description: Option<String>,
    pub parameters: Option<Value>,
}

/// `tool_choice` / legacy `function_call`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ToolChoice {
    Auto,
    None,
    Required,
    Function(String),
}

/// `response_format`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema(Value),
}

/// The validated request.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChatRequest {
    pub system: Vec<String>,
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub stop: Vec<String>,
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub n: Option<u64>,
    pub seed: Option<i64>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
    pub stream: bool,
    pub response_format: Option<ResponseFormat>,
    pub reasoning_effort: Option<String>,
    pub user: Option<String>,
}

/// Thinking budget (tokens) for an OpenAI `reasoning_effort`; `None` disables thinking.
pub(crate) fn thinking_budget(effort: &str) -> Option<u64> {
    match effort {
        "low" => Some(1024),
        "medium" => Some(2048),
        "high" => Some(4096),
        "xhigh" => Some(8192),
        _ => None,
    }
}

/// Separator used to carry a Gemini `thoughtSignature` inside an OpenAI tool-call id, so
/// it can be replayed when the client sends the tool call back (Gemini 3 requires it).
pub(crate) const THOUGHT_SIGNATURE_SEPARATOR: &str = "__thought__";

fn num(v: &Value, param: &str) -> Result<Option<f64>, TranslateError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n
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

fn uint(v: &Value, param: &str) -> Result<Option<u64>, TranslateError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n.as_u64().map(Some).ok_or_else(|| {
            TranslateError::new(format!("'{param}' must be a non-negative integer"), param)
        }),
        _ => Err(TranslateError::new(
            format!("'{param}' must be a non-negative integer"),
            param,
        )),
    }
}

fn opt_str(v: &Value, param: &str) -> Result<Option<String>, TranslateError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(TranslateError::new(
            format!("'{param}' must be a string"),
            param,
        )),
    }
}

/// Parse a `data:` or `http(s):` URL into [`Media`].
pub(crate) fn parse_media_url(url: &str, param: &str) -> Result<Media, TranslateError> {
    if let Some(rest) = url.strip_prefix("data:") {
        let Some((meta, data)) = rest.split_once(',') else {
            return Err(TranslateError::new("invalid data URL: missing ','", param));
        };
        let Some(mime) = meta.strip_suffix(";base64") else {
            return Err(TranslateError::new(
                "invalid data URL: only base64-encoded data URLs are supported",
                param,
            ));
        };
        let mime = mime.split(';').next().unwrap_or("").trim();
        if mime.is_empty() || !mime.contains('/') {
            return Err(TranslateError::new(
                "invalid data URL: missing media type",
                param,
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
                param,
            ));
        }
        return Ok(Media::Inline {
            mime: mime.to_ascii_lowercase(),
            data: data.to_owned(),
        });
    }
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        if url.len() <= "http://".len() || url.contains(char::is_whitespace) {
            return Err(TranslateError::new("invalid image URL", param));
        }
        return Ok(Media::Url {
            url: url.to_owned(),
            mime: mime_from_extension(url),
        });
    }
    Err(TranslateError::new(
        "invalid image URL: expected an http(s) URL or a base64 data URL",
        param,
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
fn parse_content(v: &Value, param: &str, allow_images: bool) -> Result<Vec<Part>, TranslateError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![Part::Text(s.clone())]),
        Value::Array(items) => {
            let mut parts = Vec::with_capacity(items.len());
            for (j, item) in items.iter().enumerate() {
                let p = format!("{param}[{j}]");
                let Value::Object(obj) = item else {
                    return Err(TranslateError::new("content part must be an object", p));
                };
                let ty = obj.get("type").and_then(Value::as_str).unwrap_or("");
                match ty {
                    "text" | "input_text" => {
                        let text = obj.get("text").and_then(Value::as_str).ok_or_else(|| {
                            TranslateError::new(
                                "text part needs a string 'text'",
                                format!("{p}.text"),
                            )
                        })?;
                        parts.push(Part::Text(text.to_owned()));
                    }
                    "image_url" if allow_images => {
                        let url = match obj.get("image_url") {
                            Some(Value::String(s)) => Some(s.as_str()),
                            Some(Value::Object(o)) => o.get("url").and_then(Value::as_str),
                            _ => None,
                        };
                        let param = format!("{p}.image_url.url");
                        let url = url.ok_or_else(|| {
                            TranslateError::new(
                                "image_url part needs a string 'url'",
                                param.clone(),
                            )
                        })?;
                        parts.push(Part::Image(parse_media_url(url, &param)?));
                    }
                    "file" if allow_images => {
                        let data = obj
                            .get("file")
                            .and_then(|f| f.get("file_data"))
                            .and_then(Value::as_str);
                        let param = format!("{p}.file.file_data");
                        let data = data.ok_or_else(|| {
                            TranslateError::new(
                                "file part needs 'file.file_data' as a base64 data URL (file ids are not supported)",
                                param.clone(),
                            )
                        })?;
                        parts.push(Part::Image(parse_media_url(data, &param)?));
                    }
                    "refusal" => {
                        if let Some(text) = obj.get("refusal").and_then(Value::as_str) {
                            parts.push(Part::Text(text.to_owned()));
                        }
                    }
                    other => {
                        return Err(TranslateError::new(
                            format!("unsupported content part type '{other}' for this provider"),
                            format!("{p}.type"),
                        ))
                    }
                }
            }
            Ok(parts)
        }
        _ => Err(TranslateError::new(
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

fn parse_arguments(v: Option<&Value>, param: &str) -> Result<Value, TranslateError> {
    match v {
        None | Some(Value::Null) => Ok(Value::Object(Map::new())),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Value::Object(Map::new())),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => Ok(v),
            Ok(_) => Err(TranslateError::new(
                "function arguments must be a JSON object",
                param,
            )),
            Err(e) => Err(TranslateError::new(
                format!("function arguments are not valid JSON: {e}"),
                param,
            )),
        },
        Some(v @ Value::Object(_)) => Ok(v.clone()),
        Some(_) => Err(TranslateError::new(
            "function arguments must be a JSON string",
            param,
        )),
    }
}

fn parse_tool_calls(v: &Value, param: &str) -> Result<Vec<ToolCall>, TranslateError> {
    let items = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => return Err(TranslateError::new("tool_calls must be an array", param)),
    };
    let mut calls = Vec::with_capacity(items.len());
    for (j, item) in items.iter().enumerate() {
        let p = format!("{param}[{j}]");
        let id = item.get("id").and_then(Value::as_str).ok_or_else(|| {
            TranslateError::new("tool call needs a string 'id'", format!("{p}.id"))
        })?;
        let f = item.get("function").ok_or_else(|| {
            TranslateError::new("tool call needs a 'function'", format!("{p}.function"))
        })?;
        let name = f.get("name").and_then(Value::as_str).ok_or_else(|| {
            TranslateError::new(
                "tool call needs 'function.name'",
                format!("{p}.function.name"),
            )
        })?;
        let arguments = parse_arguments(f.get("arguments"), &format!("{p}.function.arguments"))?;
        calls.push(ToolCall {
            id: id.to_owned(),
            name: name.to_owned(),
            arguments,
        });
    }
    Ok(calls)
}

fn parse_function_def(v: &Value, param: &str) -> Result<Tool, TranslateError> {
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            TranslateError::new("function needs a non-empty 'name'", format!("{param}.name"))
        })?;
    let description = opt_str(
        v.get("description").unwrap_or(&Value::Null),
        &format!("{param}.description"),
    )?;
    let parameters = match v.get("parameters") {
        None | Some(Value::Null) => None,
        Some(p @ Value::Object(_)) => Some(p.clone()),
        Some(_) => {
            return Err(TranslateError::new(
                "'parameters' must be a JSON schema object",
                format!("{param}.parameters"),
            ))
        }
    };
    Ok(Tool {
        name: name.to_owned(),
        description,
        parameters,
    })
}

fn parse_tool_choice(v: &Value, param: &str) -> Result<Option<ToolChoice>, TranslateError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => match s.as_str() {
            "auto" => Ok(Some(ToolChoice::Auto)),
            "none" => Ok(Some(ToolChoice::None)),
            "required" | "any" => Ok(Some(ToolChoice::Required)),
            other => Err(TranslateError::new(
                format!("invalid {param} '{other}': expected auto, none, required or an object"),
                param,
            )),
        },
        Value::Object(o) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .or_else(|| o.get("name"))
                .and_then(Value::as_str);
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

impl ChatRequest {
    /// Parse and validate the client's raw OpenAI body.
    pub(crate) fn parse(body: &[u8]) -> Result<Self, TranslateError> {
        let root: Value = serde_json::from_slice(body)
            .map_err(|e| TranslateError::body(format!("request body is not valid JSON: {e}")))?;
        let Value::Object(root) = root else {
            return Err(TranslateError::body("request body must be a JSON object"));
        };
        let get = |k: &str| root.get(k).unwrap_or(&Value::Null);
        let mut req = ChatRequest::default();

        // Tools first: legacy `functions` and modern `tools`.
        match get("tools") {
            Value::Null => {}
            Value::Array(items) => {
                for (i, t) in items.iter().enumerate() {
                    let p = format!("tools[{i}]");
                    let ty = t.get("type").and_then(Value::as_str).unwrap_or("function");
                    if ty != "function" {
                        return Err(TranslateError::new(
                            format!("unsupported tool type '{ty}': only function tools can be translated"),
                            format!("{p}.type"),
                        ));
                    }
                    let f = t.get("function").ok_or_else(|| {
                        TranslateError::new("tool needs a 'function'", format!("{p}.function"))
                    })?;
                    req.tools
                        .push(parse_function_def(f, &format!("{p}.function"))?);
                }
            }
            _ => return Err(TranslateError::new("'tools' must be an array", "tools")),
        }
        match get("functions") {
            Value::Null => {}
            Value::Array(items) => {
                for (i, f) in items.iter().enumerate() {
                    req.tools
                        .push(parse_function_def(f, &format!("functions[{i}]"))?);
                }
            }
            _ => {
                return Err(TranslateError::new(
                    "'functions' must be an array",
                    "functions",
                ))
            }
        }
        req.tool_choice = parse_tool_choice(get("tool_choice"), "tool_choice")?;
        if req.tool_choice.is_none() {
            req.tool_choice = parse_tool_choice(get("function_call"), "function_call")?;
        }
        req.parallel_tool_calls = match get("parallel_tool_calls") {
            Value::Null => None,
            Value::Bool(b) => Some(*b),
            _ => {
                return Err(TranslateError::new(
                    "'parallel_tool_calls' must be a boolean",
                    "parallel_tool_calls",
                ))
            }
        };

        // Messages.
        let Value::Array(messages) = get("messages") else {
            return Err(TranslateError::new(
                "'messages' must be an array",
                "messages",
            ));
        };
        if messages.is_empty() {
            return Err(TranslateError::new(
                "'messages' must not be empty",
                "messages",
            ));
        }
        let mut legacy_calls = 0usize;
        for (i, m) in messages.iter().enumerate() {
            let p = format!("messages[{i}]");
            let Value::Object(m) = m else {
                return Err(TranslateError::new("message must be an object", p));
            };
            let role = m.get("role").and_then(Value::as_str).ok_or_else(|| {
                TranslateError::new("message needs a string 'role'", format!("{p}.role"))
            })?;
            let content = m.get("content").unwrap_or(&Value::Null);
            let content_param = format!("{p}.content");
            match role {
                "system" | "developer" => {
                    let text = text_of(&parse_content(content, &content_param, false)?);
                    if !text.is_empty() {
                        req.system.push(text);
                    }
                }
                "user" => {
                    if content.is_null() {
                        return Err(TranslateError::new(
                            "user message needs 'content'",
                            content_param,
                        ));
                    }
                    req.messages.push(Message {
                        role: Role::User,
                        parts: parse_content(content, &content_param, true)?,
                        tool_calls: Vec::new(),
                        tool_call_id: None,
                        tool_name: None,
                        index: i,
                    });
                }
                "assistant" => {
                    let mut tool_calls = parse_tool_calls(
                        m.get("tool_calls").unwrap_or(&Value::Null),
                        &format!("{p}.tool_calls"),
                    )?;
                    if let Some(fc) = m.get("function_call").filter(|v| !v.is_null()) {
                        let fp = format!("{p}.function_call");
                        let name = fc.get("name").and_then(Value::as_str).ok_or_else(|| {
                            TranslateError::new("function_call needs 'name'", format!("{fp}.name"))
                        })?;
                        legacy_calls += 1;
                        tool_calls.push(ToolCall {
                            id: format!("call_legacy_{legacy_calls}"),
                            name: name.to_owned(),
                            arguments: parse_arguments(
                                fc.get("arguments"),
                                &format!("{fp}.arguments"),
                            )?,
                        });
                    }
                    req.messages.push(Message {
                        role: Role::Assistant,
                        parts: parse_content(content, &content_param, false)?,
                        tool_calls,
                        tool_call_id: None,
                        tool_name: None,
                        index: i,
                    });
                }
                "tool" | "function" => {
                    let name =
                        opt_str(m.get("name").unwrap_or(&Value::Null), &format!("{p}.name"))?;
                    let id = if role == "tool" {
                        m.get("tool_call_id")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                            .ok_or_else(|| {
                                TranslateError::new(
                                    "tool message needs a string 'tool_call_id'",
                                    format!("{p}.tool_call_id"),
                                )
                            })?
                    } else {
                        // Legacy function result: answers the latest call of that name.
                        let name = name.as_deref().ok_or_else(|| {
                            TranslateError::new(
                                "function message needs 'name'",
                                format!("{p}.name"),
                            )
                        })?;
                        req.messages
                            .iter()
                            .rev()
                            .flat_map(|m| m.tool_calls.iter().rev())
                            .find(|c| c.name == name)
                            .map(|c| c.id.clone())
                            .ok_or_else(|| {
                                TranslateError::new(
                                    format!(
                                        "function message '{name}' has no matching function_call"
                                    ),
                                    format!("{p}.name"),
                                )
                            })?
                    };
                    let recovered = req
                        .messages
                        .iter()
                        .rev()
                        .flat_map(|m| m.tool_calls.iter())
                        .find(|c| c.id == id)
                        .map(|c| c.name.clone());
                    req.messages.push(Message {
                        role: Role::Tool,
                        parts: parse_content(content, &content_param, false)?,
                        tool_calls: Vec::new(),
                        tool_call_id: Some(id),
                        tool_name: recovered.or(name),
                        index: i,
                    });
                }
                other => {
                    return Err(TranslateError::new(
                        format!("unsupported message role '{other}'"),
                        format!("{p}.role"),
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

        req.stop = match get("stop") {
            Value::Null => Vec::new(),
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => items
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
        req.max_tokens = match uint(get("max_completion_tokens"), "max_completion_tokens")? {
            Some(n) => Some(n),
            None => uint(get("max_tokens"), "max_tokens")?,
        };
        if req.max_tokens == Some(0) {
            return Err(TranslateError::new(
                "'max_tokens' must be at least 1",
                "max_tokens",
            ));
        }
        req.temperature = num(get("temperature"), "temperature")?;
        if req.temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
            return Err(TranslateError::new(
                "'temperature' must be between 0 and 2",
                "temperature",
            ));
        }
        req.top_p = num(get("top_p"), "top_p")?;
        if req.top_p.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
            return Err(TranslateError::new(
                "'top_p' must be between 0 and 1",
                "top_p",
            ));
        }
        req.n = uint(get("n"), "n")?;
        if req.n == Some(0) {
            return Err(TranslateError::new("'n' must be at least 1", "n"));
        }
        req.seed = match get("seed") {
            Value::Null => None,
            Value::Number(n) => Some(
                n.as_i64()
                    .ok_or_else(|| TranslateError::new("'seed' must be an integer", "seed"))?,
            ),
            _ => return Err(TranslateError::new("'seed' must be an integer", "seed")),
        };
        req.presence_penalty = num(get("presence_penalty"), "presence_penalty")?;
        req.frequency_penalty = num(get("frequency_penalty"), "frequency_penalty")?;
        req.stream = match get("stream") {
            Value::Null => false,
            Value::Bool(b) => *b,
            _ => return Err(TranslateError::new("'stream' must be a boolean", "stream")),
        };
        req.response_format = match get("response_format") {
            Value::Null => None,
            Value::Object(o) => match o.get("type").and_then(Value::as_str) {
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
                    Some(ResponseFormat::JsonSchema(schema.clone()))
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
        req.reasoning_effort = opt_str(get("reasoning_effort"), "reasoning_effort")?;
        req.user = opt_str(get("user"), "user")?;
        Ok(req)
    }
}

/// The text of a tool result's parts (tool messages carry text only).
pub(crate) fn tool_result_text(parts: &[Part]) -> String {
    text_of(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

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
