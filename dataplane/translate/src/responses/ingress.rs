//! A OpenAI Responses client request (`POST /v1/responses`) → hub form.
//!
//! Sluice keeps no state, so everything that refers to something stored upstream
//! (`previous_response_id`, `conversation`, stored `prompt`s, `item_reference` items,
//! `file_id`s) and background responses are refused with a 400 naming the field; `store`
//! is accepted and the answer reports `store: false`. Built-in tools (web search, file
//! search, computer use, …) are refused: only function tools cross providers.
//!
//! Request parsing is once per request, so this side reads a `serde_json::Value`.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::hub::request::{
    HubRequest, Ingress, Message, Part, ResponseFormat, Role, Tool, ToolCall, ToolChoice,
};
use crate::openai::request::hub::{parse_media_url, Param};
use crate::openai::{check_model_name, RequestLimits};
use crate::TranslateError;

/// Parses and validates a OpenAI Responses request body.
pub(crate) fn parse(body: &[u8], limits: &RequestLimits) -> Result<Ingress, TranslateError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| TranslateError::body("request body is not valid UTF-8"))?;
    let root: Value = serde_json::from_str(text).map_err(|e| {
        TranslateError::body(format!("request body is not a valid JSON object: {e}"))
    })?;
    let Value::Object(root) = root else {
        return Err(TranslateError::body("request body must be a JSON object"));
    };
    check_shape(&root, limits)?;
    let get = |k: &str| root.get(k).unwrap_or(&Value::Null);

    refuse_state(&root)?;

    let model = match get("model") {
        Value::String(m) => m.clone(),
        Value::Null => {
            return Err(TranslateError::new(
                "missing required field `model`",
                "model",
            ))
        }
        _ => return Err(TranslateError::new("`model` must be a string", "model")),
    };
    check_model_name(&model, limits.max_model_name_bytes)
        .map_err(|why| TranslateError::new(format!("`model` {why}"), "model"))?;

    let mut req = HubRequest::default();
    match get("instructions") {
        Value::Null => {}
        Value::String(s) => {
            if !s.is_empty() {
                req.system.push(s.clone());
            }
        }
        _ => {
            return Err(TranslateError::new(
                "`instructions` must be a string",
                "instructions",
            ))
        }
    }
    parse_input(get("input"), limits, &mut req)?;
    parse_tools(get("tools"), limits, &mut req)?;
    req.tool_choice = parse_tool_choice(get("tool_choice"))?;
    req.parallel_tool_calls = opt_bool(get("parallel_tool_calls"), "parallel_tool_calls")?;
    req.max_tokens = opt_uint(get("max_output_tokens"), "max_output_tokens")?;
    if req.max_tokens == Some(0) {
        return Err(TranslateError::new(
            "`max_output_tokens` must be at least 1",
            "max_output_tokens",
        ));
    }
    req.temperature = opt_range(get("temperature"), "temperature", 0.0, 2.0)?;
    req.top_p = opt_range(get("top_p"), "top_p", 0.0, 1.0)?;
    req.stream = opt_bool(get("stream"), "stream")?.unwrap_or(false);
    req.response_format = parse_text(get("text"))?;
    match get("reasoning") {
        Value::Null => {}
        Value::Object(r) => {
            req.reasoning_effort =
                opt_string(r.get("effort").unwrap_or(&Value::Null), "reasoning.effort")?;
        }
        _ => {
            return Err(TranslateError::new(
                "`reasoning` must be an object",
                "reasoning",
            ))
        }
    }
    req.user = opt_string(get("user"), "user")?;
    let safety_identifier = opt_string(get("safety_identifier"), "safety_identifier")?;
    if req.user.is_none() {
        req.user = safety_identifier;
    }
    opt_bool(get("store"), "store")?;
    if !matches!(get("metadata"), Value::Null | Value::Object(_)) {
        return Err(TranslateError::new(
            "`metadata` must be an object",
            "metadata",
        ));
    }
    match get("include") {
        Value::Null => {}
        Value::Array(items) if items.iter().all(Value::is_string) => {}
        _ => {
            return Err(TranslateError::new(
                "`include` must be an array of strings",
                "include",
            ))
        }
    }
    if opt_uint(get("top_logprobs"), "top_logprobs")?.unwrap_or(0) > 0 {
        return Err(TranslateError::new(
            "`top_logprobs` is not supported by Sluice",
            "top_logprobs",
        ));
    }
    Ok(Ingress {
        hub: req,
        model: Some(model),
    })
}

/// The stateful features, refused: Sluice stores nothing.
fn refuse_state(root: &Map<String, Value>) -> Result<(), TranslateError> {
    for (field, what) in [
        (
            "previous_response_id",
            "previous_response_id is not supported; send the full input",
        ),
        (
            "conversation",
            "conversations are not supported; send the full input",
        ),
        (
            "prompt",
            "stored prompts are not supported; send instructions and input",
        ),
    ] {
        if root.get(field).is_some_and(|v| !v.is_null()) {
            return Err(TranslateError::new(
                format!("Sluice is stateless: {what}"),
                field,
            ));
        }
    }
    if root.get("background") == Some(&Value::Bool(true)) {
        return Err(TranslateError::new(
            "Sluice is stateless: background responses are not supported",
            "background",
        ));
    }
    Ok(())
}

/// Nesting depth (the body's object is level 1, as in the Chat surface's shape scan) and
/// members per object, named by the top-level member they occur in.
fn check_shape(root: &Map<String, Value>, limits: &RequestLimits) -> Result<(), TranslateError> {
    fn walk(v: &Value, depth: usize, limits: &RequestLimits) -> Result<(), &'static str> {
        let deep = depth > limits.max_json_depth;
        match v {
            Value::Array(_) | Value::Object(_) if deep => Err("is nested deeper than the limit"),
            Value::Array(items) => items.iter().try_for_each(|i| walk(i, depth + 1, limits)),
            Value::Object(o) => {
                if o.len() > limits.max_object_keys {
                    return Err("has an object with more members than the limit");
                }
                o.values().try_for_each(|i| walk(i, depth + 1, limits))
            }
            _ => Ok(()),
        }
    }
    if root.len() > limits.max_object_keys {
        return Err(TranslateError::body(format!(
            "the request body has more than the limit of {} members",
            limits.max_object_keys
        )));
    }
    for (k, v) in root {
        walk(v, 2, limits).map_err(|why| {
            TranslateError::new(
                format!(
                    "`{k}` {why} ({} levels, {} members)",
                    limits.max_json_depth, limits.max_object_keys
                ),
                k.clone(),
            )
        })?;
    }
    Ok(())
}

fn error(message: impl Into<String>, param: Param<'_>) -> TranslateError {
    TranslateError::new(message, param.to_string())
}

fn opt_bool(v: &Value, param: &'static str) -> Result<Option<bool>, TranslateError> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        _ => Err(TranslateError::new(
            format!("`{param}` must be a boolean"),
            param,
        )),
    }
}

fn opt_uint(v: &Value, param: &'static str) -> Result<Option<u64>, TranslateError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n.as_u64().map(Some).ok_or_else(|| {
            TranslateError::new(format!("`{param}` must be a non-negative integer"), param)
        }),
        _ => Err(TranslateError::new(
            format!("`{param}` must be a non-negative integer"),
            param,
        )),
    }
}

fn opt_range(
    v: &Value,
    param: &'static str,
    lo: f64,
    hi: f64,
) -> Result<Option<f64>, TranslateError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_f64() {
            Some(f) if (lo..=hi).contains(&f) => Ok(Some(f)),
            _ => Err(TranslateError::new(
                format!("`{param}` must be between {lo} and {hi}"),
                param,
            )),
        },
        _ => Err(TranslateError::new(
            format!("`{param}` must be a number"),
            param,
        )),
    }
}

fn opt_string(v: &Value, param: &str) -> Result<Option<String>, TranslateError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(TranslateError::new(
            format!("`{param}` must be a string"),
            param,
        )),
    }
}

fn str_at<'v>(
    o: &'v Map<String, Value>,
    key: &'static str,
    p: Param<'_>,
) -> Result<&'v str, TranslateError> {
    o.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| error(format!("needs a string `{key}`"), p.member(key)))
}

/// Content parts (`input_text`, `input_image`, `input_file`, `output_text`, `refusal`).
fn parse_parts(v: &Value, p: Param<'_>, assistant: bool) -> Result<Vec<Part>, TranslateError> {
    let items = match v {
        Value::String(s) => return Ok(vec![Part::Text(s.clone())]),
        Value::Array(items) => items,
        _ => {
            return Err(error(
                "content must be a string or an array of content parts",
                p,
            ))
        }
    };
    let mut parts = Vec::with_capacity(items.len());
    for (j, item) in items.iter().enumerate() {
        let pj = p.index(j);
        let Value::Object(o) = item else {
            return Err(error("content part must be an object", pj));
        };
        let ty = o.get("type").and_then(Value::as_str).unwrap_or("");
        match ty {
            "input_text" | "output_text" | "text" => {
                parts.push(Part::Text(str_at(o, "text", pj)?.to_owned()))
            }
            "refusal" => parts.push(Part::Text(str_at(o, "refusal", pj)?.to_owned())),
            "input_image" if !assistant => {
                if o.get("file_id").is_some_and(|f| !f.is_null()) {
                    return Err(error(
                        "Sluice is stateless: file ids are not supported; send the image as image_url (a data: or http(s) URL)",
                        pj.member("file_id"),
                    ));
                }
                let param = pj.member("image_url");
                let url = o
                    .get("image_url")
                    .and_then(Value::as_str)
                    .ok_or_else(|| error("input_image needs a string `image_url`", param))?;
                parts.push(Part::Image(parse_media_url(url, param)?));
            }
            "input_file" if !assistant => {
                if o.get("file_id").is_some_and(|f| !f.is_null()) {
                    return Err(error(
                        "Sluice is stateless: file ids are not supported; send file_data as a base64 data: URL",
                        pj.member("file_id"),
                    ));
                }
                let (key, url) = match (o.get("file_data"), o.get("file_url")) {
                    (Some(Value::String(d)), _) => ("file_data", d.as_str()),
                    (_, Some(Value::String(u))) => ("file_url", u.as_str()),
                    _ => {
                        return Err(error(
                            "input_file needs `file_data` (a base64 data: URL) or `file_url`",
                            pj.member("file_data"),
                        ))
                    }
                };
                parts.push(Part::Image(parse_media_url(url, pj.member(key))?));
            }
            other => {
                return Err(error(
                    format!("unsupported content part type '{other}'"),
                    pj.member("type"),
                ))
            }
        }
    }
    Ok(parts)
}

/// The assistant message to add assistant-side items to: the last one when it is an
/// assistant message, else a new one.
fn assistant(req: &mut HubRequest, index: usize) -> &mut Message {
    if req
        .messages
        .last()
        .is_none_or(|m| m.role != Role::Assistant)
    {
        req.messages.push(Message {
            role: Role::Assistant,
            parts: Vec::new(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            tool_name: None,
            is_error: false,
            index,
        });
    }
    let last = req.messages.len() - 1;
    // in bounds: an assistant message was just ensured at the end.
    #[allow(clippy::indexing_slicing)]
    &mut req.messages[last]
}

fn parse_input(
    v: &Value,
    limits: &RequestLimits,
    req: &mut HubRequest,
) -> Result<(), TranslateError> {
    let input = Param::Field("input");
    let items = match v {
        Value::String(s) => {
            req.messages.push(Message {
                role: Role::User,
                parts: vec![Part::Text(s.clone())],
                tool_calls: Vec::new(),
                tool_call_id: None,
                tool_name: None,
                is_error: false,
                index: 0,
            });
            return Ok(());
        }
        Value::Array(items) => items,
        Value::Null => {
            return Err(TranslateError::new(
                "missing required field `input`",
                "input",
            ))
        }
        _ => {
            return Err(TranslateError::new(
                "`input` must be a string or an array of input items",
                "input",
            ))
        }
    };
    if items.len() > limits.max_messages {
        return Err(TranslateError::new(
            format!(
                "`input` has {} items, more than the limit of {}",
                items.len(),
                limits.max_messages
            ),
            "input",
        ));
    }
    let mut call_names: HashMap<String, String> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let p = input.index(i);
        let Value::Object(o) = item else {
            return Err(error("input item must be an object", p));
        };
        let ty = match o.get("type") {
            None | Some(Value::Null) if o.contains_key("role") => "message",
            Some(Value::String(t)) => t.as_str(),
            _ => return Err(error("input item needs a string `type`", p.member("type"))),
        };
        match ty {
            "message" => {
                let role = str_at(o, "role", p)?;
                let content = o.get("content").unwrap_or(&Value::Null);
                let cp = p.member("content");
                match role {
                    "system" | "developer" => {
                        let text = text_of(&parse_parts(content, cp, false)?);
                        if !text.is_empty() {
                            req.system.push(text);
                        }
                    }
                    "user" => {
                        let parts = parse_parts(content, cp, false)?;
                        req.messages.push(Message {
                            role: Role::User,
                            parts,
                            tool_calls: Vec::new(),
                            tool_call_id: None,
                            tool_name: None,
                            is_error: false,
                            index: i,
                        });
                    }
                    "assistant" => {
                        let parts = parse_parts(content, cp, true)?;
                        assistant(req, i).parts.extend(parts);
                    }
                    other => {
                        return Err(error(
                            format!("unsupported message role '{other}'"),
                            p.member("role"),
                        ))
                    }
                }
            }
            "function_call" => {
                let call_id = str_at(o, "call_id", p)?.to_owned();
                let name = str_at(o, "name", p)?.to_owned();
                let ap = p.member("arguments");
                let arguments = match o.get("arguments") {
                    None | Some(Value::Null) => Value::Object(Map::new()),
                    Some(Value::String(s)) if s.trim().is_empty() => Value::Object(Map::new()),
                    Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
                        Ok(v @ Value::Object(_)) => v,
                        Ok(_) => return Err(error("function arguments must be a JSON object", ap)),
                        Err(e) => {
                            return Err(error(format!("function arguments are not valid JSON: {e}"), ap))
                        }
                    },
                    Some(_) => return Err(error("`arguments` must be a JSON string", ap)),
                };
                call_names.insert(call_id.clone(), name.clone());
                assistant(req, i).tool_calls.push(ToolCall {
                    id: call_id,
                    name,
                    arguments,
                });
            }
            "function_call_output" => {
                let call_id = str_at(o, "call_id", p)?.to_owned();
                let parts = match o.get("output") {
                    Some(v @ (Value::String(_) | Value::Array(_))) => {
                        parse_parts(v, p.member("output"), false)?
                    }
                    _ => {
                        return Err(error(
                            "function_call_output needs `output` (a string or content parts)",
                            p.member("output"),
                        ))
                    }
                };
                req.messages.push(Message {
                    role: Role::Tool,
                    parts,
                    tool_calls: Vec::new(),
                    tool_name: call_names.get(&call_id).cloned(),
                    tool_call_id: Some(call_id),
                    is_error: false,
                    index: i,
                });
            }
            "reasoning" => {
                let mut summary = Vec::new();
                if let Some(Value::Array(parts)) = o.get("summary") {
                    for (j, s) in parts.iter().enumerate() {
                        let text = s.get("text").and_then(Value::as_str).ok_or_else(|| {
                            error(
                                "summary part needs a string `text`",
                                p.member("summary").index(j).member("text"),
                            )
                        })?;
                        summary.push(text.to_owned());
                    }
                }
                let encrypted = opt_string(
                    o.get("encrypted_content").unwrap_or(&Value::Null),
                    &p.member("encrypted_content").to_string(),
                )?;
                let id = o.get("id").and_then(Value::as_str).unwrap_or("");
                let msg = assistant(req, i);
                // One thinking part per summary part, as the decoder makes one block each.
                msg.parts.extend(summary.into_iter().map(|text| Part::Thinking {
                    text,
                    signature: None,
                }));
                if let Some(enc) = encrypted.filter(|e| !e.is_empty()) {
                    msg.parts
                        .push(Part::RedactedThinking(super::reasoning_data(id, &enc)));
                }
            }
            "item_reference" => {
                return Err(error(
                    "Sluice is stateless: item references are not supported; send the item itself",
                    p.member("type"),
                ))
            }
            other => {
                return Err(error(
                    format!("input item type '{other}' is not supported by Sluice (built-in tool calls do not cross providers)"),
                    p.member("type"),
                ))
            }
        }
    }
    if req.messages.is_empty() {
        return Err(TranslateError::new(
            "`input` must contain at least one user, assistant or tool item",
            "input",
        ));
    }
    Ok(())
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

fn parse_tools(
    v: &Value,
    limits: &RequestLimits,
    req: &mut HubRequest,
) -> Result<(), TranslateError> {
    let items = match v {
        Value::Null => return Ok(()),
        Value::Array(items) => items,
        _ => return Err(TranslateError::new("`tools` must be an array", "tools")),
    };
    if items.len() > limits.max_tools {
        return Err(TranslateError::new(
            format!(
                "`tools` has {} entries, more than the limit of {}",
                items.len(),
                limits.max_tools
            ),
            "tools",
        ));
    }
    let tools = Param::Field("tools");
    for (i, t) in items.iter().enumerate() {
        let p = tools.index(i);
        let Value::Object(o) = t else {
            return Err(error("tool must be an object", p));
        };
        match o.get("type").and_then(Value::as_str) {
            Some("function") => {}
            Some(other) => {
                return Err(error(
                    format!("tool type '{other}' is not supported by Sluice: only function tools are (built-in tools do not cross providers)"),
                    p.member("type"),
                ))
            }
            None => return Err(error("tool needs a string `type`", p.member("type"))),
        }
        let name = o
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| error("function tool needs a non-empty `name`", p.member("name")))?;
        let description = opt_string(
            o.get("description").unwrap_or(&Value::Null),
            &p.member("description").to_string(),
        )?;
        let parameters = match o.get("parameters") {
            None | Some(Value::Null) => None,
            Some(s @ Value::Object(_)) => Some(s.clone()),
            Some(_) => {
                return Err(error(
                    "`parameters` must be a JSON schema object",
                    p.member("parameters"),
                ))
            }
        };
        if !matches!(o.get("strict"), None | Some(Value::Null | Value::Bool(_))) {
            return Err(error("`strict` must be a boolean", p.member("strict")));
        }
        req.tools.push(Tool {
            name: name.to_owned(),
            description,
            parameters,
            index: i,
            legacy: false,
        });
    }
    Ok(())
}

fn parse_tool_choice(v: &Value) -> Result<Option<ToolChoice>, TranslateError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => match s.as_str() {
            "auto" => Ok(Some(ToolChoice::Auto)),
            "none" => Ok(Some(ToolChoice::None)),
            "required" => Ok(Some(ToolChoice::Required)),
            other => Err(TranslateError::new(
                format!("invalid tool_choice '{other}': expected auto, none, required or an object"),
                "tool_choice",
            )),
        },
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("function") => {
                let name = o.get("name").and_then(Value::as_str).ok_or_else(|| {
                    TranslateError::new("tool_choice needs a string `name`", "tool_choice.name")
                })?;
                Ok(Some(ToolChoice::Function(name.to_owned())))
            }
            Some(other) => Err(TranslateError::new(
                format!("tool_choice type '{other}' is not supported by Sluice: only function tools are"),
                "tool_choice.type",
            )),
            None => Err(TranslateError::new(
                "tool_choice object needs a string `type`",
                "tool_choice.type",
            )),
        },
        _ => Err(TranslateError::new(
            "`tool_choice` must be a string or an object",
            "tool_choice",
        )),
    }
}

/// `text.format` → response format (`text.verbosity` is not carried).
fn parse_text(v: &Value) -> Result<Option<ResponseFormat>, TranslateError> {
    let format = match v {
        Value::Null => return Ok(None),
        Value::Object(o) => match o.get("format") {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Object(f)) => f,
            Some(_) => {
                return Err(TranslateError::new(
                    "`text.format` must be an object",
                    "text.format",
                ))
            }
        },
        _ => return Err(TranslateError::new("`text` must be an object", "text")),
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(Some(ResponseFormat::Text)),
        Some("json_object") => Ok(Some(ResponseFormat::JsonObject)),
        Some("json_schema") => {
            let schema = format
                .get("schema")
                .filter(|s| s.is_object())
                .ok_or_else(|| {
                    TranslateError::new(
                        "json_schema format needs `schema` (an object)",
                        "text.format.schema",
                    )
                })?;
            Ok(Some(ResponseFormat::JsonSchema(schema.clone())))
        }
        _ => Err(TranslateError::new(
            "text.format.type must be text, json_object or json_schema",
            "text.format.type",
        )),
    }
}
