//! A Gemini generateContent client request → hub form.
//!
//! Keys are accepted in camelCase (google-genai, the REST reference) and snake_case (which
//! the REST API also takes). The model is named in the URL path, so [`Ingress::model`] is
//! `None`. Errors name the field as a path (`contents[1].parts[0].inlineData.mimeType`).
//!
//! Mapping:
//! - `contents[]`: `user` (or `function`) turns become user messages, `model` turns
//!   assistant messages. `functionResponse` parts become tool messages answering the
//!   earlier `functionCall` with the same `id`, else the first unanswered call of that name.
//!   Calls without an `id` get `call_<content>_<part>`; a `thoughtSignature` on a call is
//!   carried inside its id (`<id>__thought__<signature>`), as answers carry it.
//!   `text` + `thought: true` is replayed reasoning ([`Part::Thinking`], with its
//!   signature); `inlineData` / `fileData` are media.
//! - `systemInstruction.parts[].text` → system texts.
//! - `tools[].functionDeclarations[]` (schemas in Gemini's OpenAPI form are turned into
//!   JSON Schema: lower-case types, `nullable` → `[T, "null"]`; `parametersJsonSchema` is
//!   taken as is). Other tools (`googleSearch`, `codeExecution`, …) are refused.
//! - `toolConfig.functionCallingConfig`: `AUTO`/`VALIDATED` → auto, `NONE` → none, `ANY` →
//!   required (one allowed name → that function). Allowed names that leave out declared
//!   functions drop those declarations (Gemini would not let the model call them).
//! - `generationConfig`: sampling fields, `stopSequences`, `seed`, penalties,
//!   `responseMimeType` + `responseSchema`/`responseJsonSchema`, `thinkingConfig`
//!   (`thinkingBudget` → budget, `thinkingLevel` → effort). `candidateCount` > 1,
//!   non-text `responseModalities`, `responseLogprobs`, `speechConfig` and `imageConfig`
//!   are refused.
//! - Dropped (no other provider has them, and they do not change a well-formed answer):
//!   `safetySettings`, `cachedContent`, `labels`, `generationConfig.mediaResolution`,
//!   `generationConfig.thinkingConfig.includeThoughts` (thoughts are always passed on),
//!   a `thoughtSignature` on a plain text part, function declarations' `response` schemas.
//! - A `functionResponse.response` with `error` and no `output` is a failed tool result.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::hub::request::{
    HubRequest, Ingress, Media, Message, Part, ResponseFormat, Role, Tool, ToolCall, ToolChoice,
    THOUGHT_SIGNATURE_SEPARATOR,
};
use crate::openai::RequestLimits;
use crate::TranslateError;

/// Parses and validates a Gemini generateContent request body.
pub(crate) fn parse(body: &[u8], limits: &RequestLimits) -> Result<Ingress, TranslateError> {
    let root: Value = serde_json::from_slice(body)
        .map_err(|e| TranslateError::body(format!("request body is not valid JSON: {e}")))?;
    check_shape(&root, limits, 0, "")?;
    let Value::Object(root) = root else {
        return Err(TranslateError::body("request body must be a JSON object"));
    };
    let mut req = HubRequest::default();
    let mut calls = Calls::default();

    if let Some(sys) = field(&root, "systemInstruction", "system_instruction") {
        req.system = system(sys)?;
    }
    tools(&root, &mut req, limits)?;
    tool_config(&root, &mut req)?;
    generation_config(&root, &mut req)?;

    let contents = field(&root, "contents", "contents")
        .ok_or_else(|| TranslateError::new("'contents' is required", "contents"))?;
    let Value::Array(contents) = contents else {
        return Err(TranslateError::new(
            "'contents' must be an array",
            "contents",
        ));
    };
    if contents.len() > limits.max_messages {
        return Err(TranslateError::new(
            format!("'contents' has more than {} entries", limits.max_messages),
            "contents",
        ));
    }
    for (i, content) in contents.iter().enumerate() {
        turn(content, i, &mut req, &mut calls)?;
    }
    if req.messages.is_empty() {
        return Err(TranslateError::new(
            "'contents' must contain at least one turn with parts",
            "contents",
        ));
    }
    Ok(Ingress {
        hub: req,
        model: None,
    })
}

/// `obj[camel]`, else `obj[snake]`; `null` reads as absent.
fn field<'v>(obj: &'v Map<String, Value>, camel: &str, snake: &str) -> Option<&'v Value> {
    obj.get(camel)
        .or_else(|| obj.get(snake))
        .filter(|v| !v.is_null())
}

fn err(message: impl Into<String>, param: impl Into<String>) -> TranslateError {
    TranslateError::new(message, param)
}

/// Nesting depth and members per object, within `limits`.
fn check_shape(
    v: &Value,
    limits: &RequestLimits,
    depth: usize,
    top: &str,
) -> Result<(), TranslateError> {
    let param = || {
        if top.is_empty() {
            "body".to_owned()
        } else {
            top.to_owned()
        }
    };
    // `depth` containers enclose `v`; a container adds one more level.
    let container = matches!(v, Value::Object(_) | Value::Array(_));
    if container && depth + 1 > limits.max_json_depth {
        return Err(err(
            format!("JSON nested deeper than {} levels", limits.max_json_depth),
            param(),
        ));
    }
    match v {
        Value::Object(m) => {
            if m.len() > limits.max_object_keys {
                return Err(err(
                    format!("an object has more than {} members", limits.max_object_keys),
                    param(),
                ));
            }
            for (k, item) in m {
                let top = if depth == 0 { k.as_str() } else { top };
                check_shape(item, limits, depth + 1, top)?;
            }
        }
        Value::Array(items) => {
            for item in items {
                check_shape(item, limits, depth + 1, top)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn object<'v>(
    v: &'v Value,
    param: &dyn Fn() -> String,
) -> Result<&'v Map<String, Value>, TranslateError> {
    v.as_object()
        .ok_or_else(|| err(format!("'{}' must be an object", param()), param()))
}

fn string<'v>(
    v: Option<&'v Value>,
    param: &dyn Fn() -> String,
) -> Result<Option<&'v str>, TranslateError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(err(format!("'{}' must be a string", param()), param())),
    }
}

fn number(v: Option<&Value>, param: &str) -> Result<Option<f64>, TranslateError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| err(format!("'{param}' must be a number"), param)),
        Some(_) => Err(err(format!("'{param}' must be a number"), param)),
    }
}

fn integer(v: Option<&Value>, param: &str) -> Result<Option<i64>, TranslateError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or_else(|| err(format!("'{param}' must be an integer"), param)),
        Some(_) => Err(err(format!("'{param}' must be an integer"), param)),
    }
}

fn positive(v: Option<&Value>, param: &str) -> Result<Option<u64>, TranslateError> {
    match integer(v, param)? {
        None => Ok(None),
        Some(n) => u64::try_from(n)
            .ok()
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| err(format!("'{param}' must be a positive integer"), param)),
    }
}

/// `systemInstruction`: a `Content` (its `role` is ignored) or, leniently, a string.
fn system(v: &Value) -> Result<Vec<String>, TranslateError> {
    if let Value::String(s) = v {
        return Ok(vec![s.clone()]);
    }
    let obj = object(v, &|| "systemInstruction".to_owned())?;
    let Some(Value::Array(parts)) = field(obj, "parts", "parts") else {
        return Err(err(
            "'systemInstruction.parts' must be an array",
            "systemInstruction.parts",
        ));
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, p) in parts.iter().enumerate() {
        let param = || format!("systemInstruction.parts[{j}].text");
        let p = object(p, &|| format!("systemInstruction.parts[{j}]"))?;
        match string(p.get("text"), &param)? {
            Some(t) if !t.is_empty() => out.push(t.to_owned()),
            Some(_) => {}
            None => {
                return Err(err(
                    "system instructions can only hold text parts",
                    format!("systemInstruction.parts[{j}]"),
                ))
            }
        }
    }
    Ok(out)
}

/// Tool calls of the conversation so far, for function responses to find theirs.
#[derive(Default)]
struct Calls {
    /// (Gemini id or synthesised id, full hub id, name, answered).
    open: Vec<(String, String, String, bool)>,
}

/// Checks base64 (standard or URL-safe alphabet, padding optional).
fn is_base64(data: &str) -> bool {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let cfg = GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let standard = GeneralPurpose::new(&base64::alphabet::STANDARD, cfg);
    let url = GeneralPurpose::new(&base64::alphabet::URL_SAFE, cfg);
    !data.is_empty() && (standard.decode(data).is_ok() || url.decode(data).is_ok())
}

/// Part keys the hub cannot carry, refused by name.
const UNSUPPORTED_PARTS: &[(&str, &str)] = &[
    ("executableCode", "executable_code"),
    ("codeExecutionResult", "code_execution_result"),
    ("videoMetadata", "video_metadata"),
    ("toolCall", "tool_call"),
    ("toolResponse", "tool_response"),
];

fn turn(
    content: &Value,
    i: usize,
    req: &mut HubRequest,
    calls: &mut Calls,
) -> Result<(), TranslateError> {
    let content = object(content, &|| format!("contents[{i}]"))?;
    let role = match string(content.get("role"), &|| format!("contents[{i}].role"))? {
        None | Some("user") | Some("function") => Role::User,
        Some("model") => Role::Assistant,
        Some(other) => {
            return Err(err(
                format!("unsupported role '{other}': expected 'user' or 'model'"),
                format!("contents[{i}].role"),
            ))
        }
    };
    let parts = match field(content, "parts", "parts") {
        None => return Ok(()),
        Some(Value::Array(p)) => p,
        Some(_) => {
            return Err(err(
                format!("'contents[{i}].parts' must be an array"),
                format!("contents[{i}].parts"),
            ))
        }
    };
    let new_message = |role| Message {
        role,
        parts: Vec::new(),
        tool_calls: Vec::new(),
        tool_call_id: None,
        tool_name: None,
        is_error: false,
        index: i,
    };
    if role == Role::Assistant {
        // Calls of earlier model turns that were not answered stay answerable by name.
        calls.open.retain(|c| !c.3);
    }
    let mut msg = new_message(role);
    for (j, p) in parts.iter().enumerate() {
        let at = |s: &str| format!("contents[{i}].parts[{j}]{s}");
        let p = object(p, &|| at(""))?;
        for (camel, snake) in UNSUPPORTED_PARTS {
            if field(p, camel, snake).is_some() {
                return Err(err(
                    format!("'{camel}' parts cannot be translated for this provider"),
                    at(&format!(".{camel}")),
                ));
            }
        }
        let signature = string(field(p, "thoughtSignature", "thought_signature"), &|| {
            at(".thoughtSignature")
        })?;
        let thought = match p.get("thought") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(err("'thought' must be a boolean", at(".thought"))),
        };
        if let Some(text) = string(p.get("text"), &|| at(".text"))? {
            if thought {
                if role != Role::Assistant {
                    return Err(err("thought parts belong to 'model' turns", at(".thought")));
                }
                msg.parts.push(Part::Thinking {
                    text: text.to_owned(),
                    signature: signature.map(str::to_owned),
                });
            } else if !text.is_empty() {
                msg.parts.push(Part::Text(text.to_owned()));
            }
        } else if let Some(d) = field(p, "inlineData", "inline_data") {
            let d = object(d, &|| at(".inlineData"))?;
            let mime = string(field(d, "mimeType", "mime_type"), &|| {
                at(".inlineData.mimeType")
            })?
            .filter(|m| m.contains('/'))
            .ok_or_else(|| {
                err(
                    "inlineData needs a 'mimeType' (type/subtype)",
                    at(".inlineData.mimeType"),
                )
            })?;
            let data = string(d.get("data"), &|| at(".inlineData.data"))?.unwrap_or("");
            if !is_base64(data) {
                return Err(err(
                    "inlineData.data must be base64",
                    at(".inlineData.data"),
                ));
            }
            msg.parts.push(Part::Image(Media::Inline {
                mime: mime.to_ascii_lowercase(),
                data: data.to_owned(),
            }));
        } else if let Some(f) = field(p, "fileData", "file_data") {
            let f = object(f, &|| at(".fileData"))?;
            let uri = string(field(f, "fileUri", "file_uri"), &|| at(".fileData.fileUri"))?
                .filter(|u| !u.is_empty())
                .ok_or_else(|| err("fileData needs a 'fileUri'", at(".fileData.fileUri")))?;
            let mime = string(field(f, "mimeType", "mime_type"), &|| {
                at(".fileData.mimeType")
            })?;
            msg.parts.push(Part::Image(Media::Url {
                url: uri.to_owned(),
                mime: mime.map(str::to_owned),
            }));
        } else if let Some(fc) = field(p, "functionCall", "function_call") {
            if role != Role::Assistant {
                return Err(err(
                    "functionCall parts belong to 'model' turns",
                    at(".functionCall"),
                ));
            }
            let fc = object(fc, &|| at(".functionCall"))?;
            let name = string(fc.get("name"), &|| at(".functionCall.name"))?
                .filter(|n| !n.is_empty())
                .ok_or_else(|| err("functionCall needs a 'name'", at(".functionCall.name")))?;
            let arguments = match fc.get("args") {
                None | Some(Value::Null) => Value::Object(Map::new()),
                Some(v @ Value::Object(_)) => v.clone(),
                Some(_) => return Err(err("'args' must be an object", at(".functionCall.args"))),
            };
            let base = match string(fc.get("id"), &|| at(".functionCall.id"))? {
                Some(id) if !id.is_empty() => id.to_owned(),
                _ => format!("call_{i}_{j}"),
            };
            let mut id = base.clone();
            if let Some(sig) = signature {
                id.push_str(THOUGHT_SIGNATURE_SEPARATOR);
                id.push_str(sig);
            }
            calls.open.push((base, id.clone(), name.to_owned(), false));
            msg.tool_calls.push(ToolCall {
                id,
                name: name.to_owned(),
                arguments,
            });
        } else if let Some(fr) = field(p, "functionResponse", "function_response") {
            if role != Role::User {
                return Err(err(
                    "functionResponse parts belong to 'user' turns",
                    at(".functionResponse"),
                ));
            }
            let fr = object(fr, &|| at(".functionResponse"))?;
            let name = string(fr.get("name"), &|| at(".functionResponse.name"))?
                .filter(|n| !n.is_empty())
                .ok_or_else(|| {
                    err(
                        "functionResponse needs a 'name'",
                        at(".functionResponse.name"),
                    )
                })?;
            let given =
                string(fr.get("id"), &|| at(".functionResponse.id"))?.filter(|s| !s.is_empty());
            let call = calls.open.iter_mut().find(|c| {
                !c.3 && match given {
                    Some(id) => c.0 == id || c.1 == id,
                    None => c.2 == name,
                }
            });
            let id = match (call, given) {
                (Some(c), _) => {
                    c.3 = true;
                    c.1.clone()
                }
                (None, Some(id)) => id.to_owned(),
                (None, None) => {
                    return Err(err(
                        format!(
                        "functionResponse '{name}' answers no earlier functionCall of that name"
                    ),
                        at(".functionResponse.name"),
                    ))
                }
            };
            let response = match fr.get("response") {
                None | Some(Value::Null) => Value::Object(Map::new()),
                Some(v @ Value::Object(_)) => v.clone(),
                Some(_) => {
                    return Err(err(
                        "'response' must be an object",
                        at(".functionResponse.response"),
                    ))
                }
            };
            // Text before the response stays before it.
            if !msg.parts.is_empty() {
                req.messages
                    .push(std::mem::replace(&mut msg, new_message(role)));
            }
            let mut tool = new_message(Role::Tool);
            tool.parts.push(Part::Text(response.to_string()));
            tool.tool_call_id = Some(id);
            tool.tool_name = Some(name.to_owned());
            // Gemini's convention: `output` for a result, `error` for a failure.
            tool.is_error = response.get("error").is_some() && response.get("output").is_none();
            req.messages.push(tool);
        } else if signature.is_some() || thought {
            // A bare signature (or empty thought) part: replayed reasoning with no text.
            if role == Role::Assistant {
                msg.parts.push(Part::Thinking {
                    text: String::new(),
                    signature: signature.map(str::to_owned),
                });
            }
        } else {
            return Err(err(
                "part has no data: expected text, inlineData, fileData, functionCall or functionResponse",
                at(""),
            ));
        }
    }
    if !msg.parts.is_empty() || !msg.tool_calls.is_empty() {
        req.messages.push(msg);
    }
    Ok(())
}

/// Tools the hub cannot carry, refused by name.
const UNSUPPORTED_TOOLS: &[(&str, &str)] = &[
    ("googleSearch", "google_search"),
    ("googleSearchRetrieval", "google_search_retrieval"),
    ("codeExecution", "code_execution"),
    ("urlContext", "url_context"),
    ("retrieval", "retrieval"),
    ("computerUse", "computer_use"),
    ("fileSearch", "file_search"),
    ("googleMaps", "google_maps"),
    ("enterpriseWebSearch", "enterprise_web_search"),
];

fn tools(
    root: &Map<String, Value>,
    req: &mut HubRequest,
    limits: &RequestLimits,
) -> Result<(), TranslateError> {
    let Some(list) = field(root, "tools", "tools") else {
        return Ok(());
    };
    let Value::Array(list) = list else {
        return Err(err("'tools' must be an array", "tools"));
    };
    for (i, t) in list.iter().enumerate() {
        let t = object(t, &|| format!("tools[{i}]"))?;
        for (camel, snake) in UNSUPPORTED_TOOLS {
            if t.contains_key(*camel) || t.contains_key(*snake) {
                return Err(err(
                    format!(
                        "the '{camel}' tool cannot be translated: only functionDeclarations can"
                    ),
                    format!("tools[{i}].{camel}"),
                ));
            }
        }
        let decls = match field(t, "functionDeclarations", "function_declarations") {
            None => continue,
            Some(Value::Array(d)) => d,
            Some(_) => {
                return Err(err(
                    "'functionDeclarations' must be an array",
                    format!("tools[{i}].functionDeclarations"),
                ))
            }
        };
        for (j, d) in decls.iter().enumerate() {
            let at = |s: &str| format!("tools[{i}].functionDeclarations[{j}]{s}");
            let d = object(d, &|| at(""))?;
            let name = string(d.get("name"), &|| at(".name"))?
                .filter(|n| !n.is_empty())
                .ok_or_else(|| err("function declaration needs a 'name'", at(".name")))?;
            let description = string(d.get("description"), &|| at(".description"))?;
            let parameters =
                if let Some(s) = field(d, "parametersJsonSchema", "parameters_json_schema") {
                    object(s, &|| at(".parametersJsonSchema"))?;
                    Some(s.clone())
                } else if let Some(s) = d.get("parameters").filter(|v| !v.is_null()) {
                    object(s, &|| at(".parameters"))?;
                    Some(json_schema(s))
                } else {
                    None
                };
            req.tools.push(Tool {
                name: name.to_owned(),
                description: description.map(str::to_owned),
                parameters,
                index: req.tools.len(),
                legacy: false,
            });
            if req.tools.len() > limits.max_tools {
                return Err(err(
                    format!("more than {} function declarations", limits.max_tools),
                    "tools",
                ));
            }
        }
    }
    Ok(())
}

/// Gemini's OpenAPI-style `Schema` → JSON Schema: lower-case type names, `nullable: true`
/// → `type: [T, "null"]`; everything else is kept.
fn json_schema(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let nullable = m.get("nullable") == Some(&Value::Bool(true));
            let mut out = Map::new();
            for (k, item) in m {
                match (k.as_str(), item) {
                    ("nullable", _) => {}
                    ("type", Value::String(t)) => {
                        let t = Value::String(t.to_ascii_lowercase());
                        out.insert(
                            k.clone(),
                            if nullable {
                                Value::Array(vec![t, Value::from("null")])
                            } else {
                                t
                            },
                        );
                    }
                    ("properties", Value::Object(props)) => {
                        let props = props
                            .iter()
                            .map(|(name, s)| (name.clone(), json_schema(s)))
                            .collect();
                        out.insert(k.clone(), Value::Object(props));
                    }
                    ("items", _) => {
                        out.insert(k.clone(), json_schema(item));
                    }
                    ("anyOf", Value::Array(items)) => {
                        out.insert(
                            k.clone(),
                            Value::Array(items.iter().map(json_schema).collect()),
                        );
                    }
                    _ => {
                        out.insert(k.clone(), item.clone());
                    }
                }
            }
            if nullable && !out.contains_key("type") {
                out.insert("nullable".into(), Value::Bool(true));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn tool_config(root: &Map<String, Value>, req: &mut HubRequest) -> Result<(), TranslateError> {
    let Some(tc) = field(root, "toolConfig", "tool_config") else {
        return Ok(());
    };
    let tc = object(tc, &|| "toolConfig".to_owned())?;
    let Some(fcc) = field(tc, "functionCallingConfig", "function_calling_config") else {
        return Ok(());
    };
    const P: &str = "toolConfig.functionCallingConfig";
    let fcc = object(fcc, &|| P.to_owned())?;
    let mode = string(fcc.get("mode"), &|| format!("{P}.mode"))?;
    let names: Vec<&str> = match field(fcc, "allowedFunctionNames", "allowed_function_names") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|n| {
                n.as_str().ok_or_else(|| {
                    err(
                        "allowed function names must be strings",
                        format!("{P}.allowedFunctionNames"),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(err(
                "'allowedFunctionNames' must be an array",
                format!("{P}.allowedFunctionNames"),
            ))
        }
    };
    for n in &names {
        if !req.tools.iter().any(|t| t.name == *n) {
            return Err(err(
                format!("allowed function '{n}' is not declared in 'tools'"),
                format!("{P}.allowedFunctionNames"),
            ));
        }
    }
    req.tool_choice = match mode.map(str::to_ascii_uppercase).as_deref() {
        None | Some("MODE_UNSPECIFIED") => None,
        Some("AUTO" | "VALIDATED") => Some(ToolChoice::Auto),
        Some("NONE") => Some(ToolChoice::None),
        Some("ANY") => match names.as_slice() {
            [one] => Some(ToolChoice::Function((*one).to_owned())),
            _ => Some(ToolChoice::Required),
        },
        Some(other) => {
            return Err(err(
                format!("unsupported function calling mode '{other}'"),
                format!("{P}.mode"),
            ))
        }
    };
    if !names.is_empty() && !matches!(req.tool_choice, Some(ToolChoice::Function(_))) {
        req.tools.retain(|t| names.contains(&t.name.as_str()));
        for (i, t) in req.tools.iter_mut().enumerate() {
            t.index = i;
        }
    }
    Ok(())
}

fn generation_config(
    root: &Map<String, Value>,
    req: &mut HubRequest,
) -> Result<(), TranslateError> {
    let Some(gc) = field(root, "generationConfig", "generation_config") else {
        return Ok(());
    };
    const P: &str = "generationConfig";
    let gc = object(gc, &|| P.to_owned())?;
    let get = |camel: &str, snake: &str| field(gc, camel, snake);
    let p = |name: &str| format!("{P}.{name}");

    req.temperature = number(get("temperature", "temperature"), &p("temperature"))?;
    if req.temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
        return Err(err(
            "'temperature' must be between 0 and 2",
            p("temperature"),
        ));
    }
    req.top_p = number(get("topP", "top_p"), &p("topP"))?;
    if req.top_p.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
        return Err(err("'topP' must be between 0 and 1", p("topP")));
    }
    req.top_k = positive(get("topK", "top_k"), &p("topK"))?;
    req.max_tokens = positive(
        get("maxOutputTokens", "max_output_tokens"),
        &p("maxOutputTokens"),
    )?;
    req.seed = integer(get("seed", "seed"), &p("seed"))?;
    req.presence_penalty = number(
        get("presencePenalty", "presence_penalty"),
        &p("presencePenalty"),
    )?;
    req.frequency_penalty = number(
        get("frequencyPenalty", "frequency_penalty"),
        &p("frequencyPenalty"),
    )?;
    if let Some(n) = positive(
        get("candidateCount", "candidate_count"),
        &p("candidateCount"),
    )? {
        if n > 1 {
            return Err(err(
                "only one candidate can be translated (candidateCount must be 1)",
                p("candidateCount"),
            ));
        }
    }
    match get("stopSequences", "stop_sequences") {
        None => {}
        Some(Value::Array(items)) => {
            for s in items {
                let s = s
                    .as_str()
                    .ok_or_else(|| err("stop sequences must be strings", p("stopSequences")))?;
                req.stop.push(s.to_owned());
            }
        }
        Some(_) => return Err(err("'stopSequences' must be an array", p("stopSequences"))),
    }
    let text_only = |m: &Value| m.as_str().map(str::to_ascii_uppercase).as_deref() == Some("TEXT");
    match get("responseModalities", "response_modalities") {
        None => {}
        Some(Value::Array(items)) if items.iter().all(text_only) => {}
        Some(Value::Array(_)) => {
            return Err(err(
                "only TEXT responses can be translated",
                p("responseModalities"),
            ))
        }
        Some(_) => {
            return Err(err(
                "'responseModalities' must be an array",
                p("responseModalities"),
            ))
        }
    }
    for (camel, snake) in [
        ("speechConfig", "speech_config"),
        ("imageConfig", "image_config"),
        ("logprobs", "logprobs"),
        ("routingConfig", "routing_config"),
    ] {
        if get(camel, snake).is_some() {
            return Err(err(format!("'{camel}' cannot be translated"), p(camel)));
        }
    }
    if get("responseLogprobs", "response_logprobs") == Some(&Value::Bool(true)) {
        return Err(err(
            "'responseLogprobs' cannot be translated",
            p("responseLogprobs"),
        ));
    }

    let mime = string(get("responseMimeType", "response_mime_type"), &|| {
        p("responseMimeType")
    })?;
    let schema = get("responseJsonSchema", "response_json_schema")
        .map(|s| (s.clone(), "responseJsonSchema"))
        .or_else(|| {
            get("responseSchema", "response_schema").map(|s| (json_schema(s), "responseSchema"))
        });
    req.response_format = match (mime, schema) {
        (None | Some("text/plain"), None) => None,
        (Some("application/json"), None) => Some(ResponseFormat::JsonObject),
        (Some("application/json"), Some((s, name))) => {
            object(&s, &|| p(name))?;
            Some(ResponseFormat::JsonSchema(s))
        }
        (_, Some((_, name))) => {
            return Err(err(
                "a response schema needs responseMimeType 'application/json'",
                p(name),
            ))
        }
        (Some(other), None) => {
            return Err(err(
                format!("responseMimeType '{other}' cannot be translated"),
                p("responseMimeType"),
            ))
        }
    };

    if let Some(tc) = get("thinkingConfig", "thinking_config") {
        let tc = object(tc, &|| p("thinkingConfig"))?;
        let budget = integer(
            field(tc, "thinkingBudget", "thinking_budget"),
            &p("thinkingConfig.thinkingBudget"),
        )?;
        req.thinking_budget = match budget {
            None | Some(-1) => None,
            Some(b) => Some(u64::try_from(b).map_err(|_| {
                err(
                    "'thinkingBudget' must be -1, 0 or positive",
                    p("thinkingConfig.thinkingBudget"),
                )
            })?),
        };
        match string(field(tc, "thinkingLevel", "thinking_level"), &|| {
            p("thinkingConfig.thinkingLevel")
        })? {
            None => {}
            Some(level) => {
                let effort = match level.to_ascii_lowercase().as_str() {
                    "minimal" => "minimal",
                    "low" => "low",
                    "medium" => "medium",
                    "high" => "high",
                    _ => {
                        return Err(err(
                            format!("unknown thinkingLevel '{level}'"),
                            p("thinkingConfig.thinkingLevel"),
                        ))
                    }
                };
                req.reasoning_effort = Some(effort.to_owned());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> HubRequest {
        parse(body.as_bytes(), &RequestLimits::default())
            .unwrap_or_else(|e| panic!("{body}: {e:?}"))
            .hub
    }

    fn bad(body: &str) -> String {
        parse(body.as_bytes(), &RequestLimits::default())
            .err()
            .and_then(|e| e.param)
            .unwrap_or_else(|| panic!("accepted {body}"))
    }

    #[test]
    fn conversation_with_calls_and_responses() {
        let r = ok(r#"{"system_instruction":{"parts":[{"text":"sys"}]},
            "contents":[
              {"role":"user","parts":[{"text":"hi"},{"inline_data":{"mime_type":"image/PNG","data":"aGVsbG8="}}]},
              {"role":"model","parts":[{"text":"why","thought":true,"thoughtSignature":"s1"},{"functionCall":{"name":"f","args":{"a":1}},"thoughtSignature":"s2"},{"functionCall":{"id":"x","name":"g"}}]},
              {"role":"user","parts":[{"functionResponse":{"name":"g","id":"x","response":{"r":2}}},{"functionResponse":{"name":"f","response":{"r":1}}},{"text":"go on"}]}],
            "generationConfig":{"temperature":0.5,"topK":40,"maxOutputTokens":100,"stopSequences":["END"],"thinkingConfig":{"thinkingBudget":1024},"responseMimeType":"application/json","responseSchema":{"type":"OBJECT","nullable":true,"properties":{"a":{"type":"STRING"}}}}}"#);
        assert_eq!(r.system, ["sys"]);
        assert_eq!(r.messages.len(), 5);
        assert_eq!(
            r.messages[0].parts[1],
            Part::Image(Media::Inline {
                mime: "image/png".into(),
                data: "aGVsbG8=".into()
            })
        );
        let m = &r.messages[1];
        assert_eq!(
            m.parts,
            [Part::Thinking {
                text: "why".into(),
                signature: Some("s1".into())
            }]
        );
        assert_eq!(m.tool_calls[0].id, "call_1_1__thought__s2");
        assert_eq!(m.tool_calls[1].id, "x");
        assert_eq!(r.messages[2].tool_call_id.as_deref(), Some("x"));
        assert_eq!(
            r.messages[3].tool_call_id.as_deref(),
            Some("call_1_1__thought__s2")
        );
        assert_eq!(r.messages[3].tool_name.as_deref(), Some("f"));
        assert_eq!(r.messages[3].parts, [Part::Text(r#"{"r":1}"#.into())]);
        assert_eq!(r.messages[4].parts, [Part::Text("go on".into())]);
        assert_eq!(
            (r.top_k, r.max_tokens, r.thinking_budget),
            (Some(40), Some(100), Some(1024))
        );
        assert_eq!(
            r.response_format,
            Some(ResponseFormat::JsonSchema(
                serde_json::json!({"type":["object","null"],"properties":{"a":{"type":"string"}}})
            ))
        );
    }

    #[test]
    fn failed_tool_results_and_depth() {
        let r = ok(
            r#"{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f"}}]},{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"error":"boom"}}}]}]}"#,
        );
        assert!(r.messages[1].is_error);
        assert_eq!(r.messages[1].tool_call_id.as_deref(), Some("call_0_0"));
        let body = br#"{"contents":[{"parts":[{"text":"x"}]}]}"#;
        for (depth, fits) in [(4, false), (5, true)] {
            let limits = RequestLimits {
                max_json_depth: depth,
                ..RequestLimits::default()
            };
            assert_eq!(parse(body, &limits).is_ok(), fits, "{depth}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2000, failure_persistence: None, ..Default::default() })]
        /// Any JSON (or not) is an answer, never a panic; errors are 400s.
        #[test]
        fn never_panics(body in proptest::prelude::any::<Vec<u8>>(), pick in 0usize..6, text in ".{0,8}") {
            let samples = [
                format!(r#"{{"contents":[{{"role":"model","parts":[{{"functionCall":{{"name":{text:?},"args":{{}}}}}}]}},{{"parts":[{{"functionResponse":{{"name":{text:?}}}}}]}}]}}"#),
                format!(r#"{{"contents":[{{"parts":[{{"text":{text:?},"thought":true}}]}}],"generationConfig":{{"thinkingConfig":{{"thinkingBudget":-1}}}}}}"#),
                format!(r#"{{"contents":[{{"parts":[{{"inlineData":{{"mimeType":{text:?},"data":{text:?}}}}}]}}],"tools":[{{"functionDeclarations":[{{"name":{text:?},"parameters":{{"type":{text:?}}}}}]}}]}}"#),
                format!(r#"{{"contents":[{{"parts":[{{"text":"x"}}]}}],"toolConfig":{{"functionCallingConfig":{{"mode":{text:?}}}}},"generationConfig":{{"responseMimeType":{text:?}}}}}"#),
                String::from_utf8_lossy(&body).into_owned(),
                format!(r#"{{"contents":[{{"parts":[{{"text":{text:?}}}]}}],"generationConfig":{{"topK":-1,"seed":1e400}}}}"#),
            ];
            let input = &samples[pick];
            if let Err(e) = parse(input.as_bytes(), &RequestLimits::default()) {
                proptest::prop_assert_eq!(e.status(), 400);
            }
        }
    }

    #[test]
    fn tool_config_modes() {
        let tools = r#""tools":[{"functionDeclarations":[{"name":"a"},{"name":"b","parameters":{"type":"OBJECT"}}]}]"#;
        let with = |cfg: &str| {
            ok(&format!(
                r#"{{"contents":[{{"parts":[{{"text":"x"}}]}}],{tools},"toolConfig":{{"functionCallingConfig":{cfg}}}}}"#
            ))
        };
        assert_eq!(
            with(r#"{"mode":"ANY","allowedFunctionNames":["b"]}"#).tool_choice,
            Some(ToolChoice::Function("b".into()))
        );
        let r = with(r#"{"mode":"ANY","allowedFunctionNames":["a","b"]}"#);
        assert_eq!(
            (r.tool_choice, r.tools.len()),
            (Some(ToolChoice::Required), 2)
        );
        assert_eq!(
            with(r#"{"mode":"NONE"}"#).tool_choice,
            Some(ToolChoice::None)
        );
        assert_eq!(
            with(r#"{"mode":"VALIDATED"}"#).tool_choice,
            Some(ToolChoice::Auto)
        );
        assert_eq!(
            with(r#"{"mode":"AUTO"}"#).tools[1].parameters,
            Some(serde_json::json!({"type":"object"}))
        );
    }

    #[test]
    fn errors_name_the_field() {
        let c = r#""contents":[{"parts":[{"text":"x"}]}]"#;
        for (body, param) in [
            (r#"{"contents":[{"parts":[{"text":"x"}]},{"role":"user","parts":[{"inlineData":{"data":"aGk="}}]}]}"#.to_owned(), "contents[1].parts[0].inlineData.mimeType"),
            (r#"{"contents":[{"parts":[{"inlineData":{"mimeType":"image/png","data":"@@"}}]}]}"#.to_owned(), "contents[0].parts[0].inlineData.data"),
            (format!(r#"{{{c},"tools":[{{"googleSearch":{{}}}}]}}"#), "tools[0].googleSearch"),
            (format!(r#"{{{c},"generationConfig":{{"candidateCount":2}}}}"#), "generationConfig.candidateCount"),
            (format!(r#"{{{c},"generationConfig":{{"responseModalities":["IMAGE"]}}}}"#), "generationConfig.responseModalities"),
            (r#"{"contents":[{"role":"user","parts":[{"functionResponse":{"name":"f","response":{}}}]}]}"#.to_owned(), "contents[0].parts[0].functionResponse.name"),
            (r#"{"contents":[{"role":"system","parts":[{"text":"x"}]}]}"#.to_owned(), "contents[0].role"),
            (r#"{"contents":[{"parts":[{"executableCode":{}}]}]}"#.to_owned(), "contents[0].parts[0].executableCode"),
            (format!(r#"{{{c},"toolConfig":{{"functionCallingConfig":{{"mode":"ANY","allowedFunctionNames":["nope"]}}}}}}"#), "toolConfig.functionCallingConfig.allowedFunctionNames"),
            (r#"{"contents":{}}"#.to_owned(), "contents"),
            (format!(r#"{{{c},"generationConfig":{{"temperature":3}}}}"#), "generationConfig.temperature"),
        ] {
            assert_eq!(bad(&body), param, "{body}");
        }
        let limits = RequestLimits {
            max_messages: 1,
            ..RequestLimits::default()
        };
        let e = parse(
            br#"{"contents":[{"parts":[{"text":"x"}]},{"parts":[{"text":"y"}]}]}"#,
            &limits,
        )
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("contents"));
        let limits = RequestLimits {
            max_json_depth: 3,
            ..RequestLimits::default()
        };
        let e = parse(br#"{"contents":[{"parts":[{"text":"x"}]}]}"#, &limits).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("contents"));
    }

    /// The recorded fixtures' directory, or `None` after a loud SKIPPED line.
    fn fixtures() -> Option<std::path::PathBuf> {
        let dir = std::env::var_os("SLUICE_FIXTURES")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../../../shared/fixtures")
            });
        if dir.join("gemini").is_dir() {
            Some(dir)
        } else {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: fixtures absent at {}",
                dir.display()
            );
            None
        }
    }

    /// `v` without the members named `keys`, at any depth.
    fn without(v: &Value, keys: &[&str]) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(k, _)| !keys.contains(&k.as_str()))
                    .map(|(k, x)| (k.clone(), without(x, keys)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(|x| without(x, keys)).collect()),
            other => other.clone(),
        }
    }

    /// Every recorded Gemini request parses, and the egress writes the same value for
    /// every field both sides carry (dropped fields are listed in the module docs).
    #[test]
    fn fixture_requests_round_trip() {
        use serde_json::json;
        let Some(dir) = fixtures() else { return };
        let mut seen = 0;
        let mut names: Vec<_> = std::fs::read_dir(dir.join("gemini"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".request.json"))
            .collect();
        names.sort();
        for path in names {
            let name = path.display().to_string();
            let body = std::fs::read(&path).unwrap();
            let hub = parse(&body, &RequestLimits::default())
                .unwrap_or_else(|e| panic!("{name}: {e:?}"))
                .hub;
            let out: Value =
                serde_json::from_slice(&super::super::egress::build(&hub, "m").unwrap()).unwrap();
            let input: Value = serde_json::from_slice(&body).unwrap();
            seen += 1;

            // Contents: equal once synthesised ids are set aside; given ids are kept.
            let ids = |v: &Value| -> Vec<String> {
                let mut found = Vec::new();
                for c in v["contents"].as_array().unwrap() {
                    for p in c["parts"].as_array().unwrap() {
                        for k in ["functionCall", "functionResponse"] {
                            if let Some(id) = p[k]["id"].as_str() {
                                found.push(id.to_owned());
                            }
                        }
                    }
                }
                found
            };
            let given = ids(&input);
            assert!(given.iter().all(|id| ids(&out).contains(id)), "{name}: ids");
            assert_eq!(
                without(&out["contents"], &["id"]),
                without(&input["contents"], &["id"]),
                "{name}: contents"
            );
            // System instruction: the same parts (its role is not part of the hub form).
            assert_eq!(
                out["systemInstruction"]["parts"], input["systemInstruction"]["parts"],
                "{name}: systemInstruction"
            );
            // Generation config: every carried field.
            let gin = &input["generationConfig"];
            let gout = &out["generationConfig"];
            for k in [
                "temperature",
                "topP",
                "topK",
                "maxOutputTokens",
                "stopSequences",
                "seed",
                "presencePenalty",
                "frequencyPenalty",
                "responseMimeType",
            ] {
                assert_eq!(gout[k], gin[k], "{name}: generationConfig.{k}");
            }
            let budget = &gin["thinkingConfig"];
            let budget = if budget["thinkingBudget"].is_null() {
                &budget["thinking_budget"]
            } else {
                &budget["thinkingBudget"]
            };
            assert_eq!(
                &gout["thinkingConfig"]["thinkingBudget"], budget,
                "{name}: thinkingBudget"
            );
            // Tools: names, descriptions, schemas (reduced as the egress always does).
            let decl_in = input["tools"][0]["functionDeclarations"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let decl_out = out["tools"][0]["functionDeclarations"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert_eq!(decl_in.len(), decl_out.len(), "{name}: tools");
            for (a, b) in decl_in.iter().zip(&decl_out) {
                assert_eq!(a["name"], b["name"]);
                assert_eq!(a["description"], b["description"], "{name}: description");
                let schema = if a["parameters"].is_null() {
                    &a["parameters_json_schema"]
                } else {
                    &a["parameters"]
                };
                let want = crate::gemini::schema(&json_schema(schema), "p").unwrap();
                assert_eq!(b["parameters"], want, "{name}: parameters");
            }
            // Tool config: the mode; allowed names when they narrow the choice.
            let fin = &input["toolConfig"]["functionCallingConfig"];
            let fout = &out["toolConfig"]["functionCallingConfig"];
            assert_eq!(fout["mode"], fin["mode"], "{name}: mode");
            if let Some(names) = fout["allowedFunctionNames"].as_array() {
                assert_eq!(Some(names), fin["allowedFunctionNames"].as_array());
            }
        }
        assert_eq!(seen, 8, "every recorded request");
        let _ = json!(null);
    }
}
