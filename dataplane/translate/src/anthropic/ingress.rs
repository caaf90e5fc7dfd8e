//! An Anthropic Messages client request → hub form.
//!
//! Validated at the boundary with Anthropic's own rules; every refusal is a 400 naming the
//! field the way a JSON path does (`messages[2].content[0].source.type`), and the message
//! names it too (Anthropic's error format has no `param`).
//!
//! Mapping:
//! - `system` (string or text blocks) → system texts; `cache_control` anywhere is dropped
//!   (it changes billing, never the answer).
//! - `tool_result` blocks become one tool message each (its name recovered from the
//!   earlier `tool_use`), placed before the rest of their user turn.
//! - A plain-text `document` (`source.type: text`) becomes text; PDFs (base64 or URL) are
//!   media.
//! - Unknown top-level fields are ignored; server tools (`tools[i].type` such as
//!   `web_search_20250305`) and content blocks no provider can replay are refused.

use std::collections::HashMap;
use std::fmt;

use base64::Engine as _;

use crate::hub::request::{
    HubRequest, Ingress, Media, Message, Part, Role, Tool, ToolCall, ToolChoice,
};
use crate::json_in::{Json, Object, NULL};
use crate::openai::request::check_shape;
use crate::openai::request::hub::Param;
use crate::openai::{check_model_name, RequestLimits};
use crate::TranslateError;

/// Image media types Anthropic accepts.
const IMAGE_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

/// Parses and validates an Anthropic Messages request body.
pub(crate) fn parse(body: &[u8], limits: &RequestLimits) -> Result<Ingress, TranslateError> {
    parse_request(body, limits, true)
}

/// [`parse`], with `max_tokens` required only for a Messages request (a `count_tokens`
/// body has none).
pub(super) fn parse_request(
    body: &[u8],
    limits: &RequestLimits,
    needs_max_tokens: bool,
) -> Result<Ingress, TranslateError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| TranslateError::body("request body is not valid UTF-8"))?;
    check_shape(text.as_bytes(), limits)?;
    let root: Json<'_> = serde_json::from_str(text)
        .map_err(|e| TranslateError::body(format!("request body is not valid JSON: {e}")))?;
    let Json::Object(root) = root else {
        return Err(TranslateError::body("request body must be a JSON object"));
    };
    let field = |key: &str| root.get(key).unwrap_or(&NULL);

    let model = match field("model") {
        Json::Str(m) => m,
        Json::Null => return Err(error("is required", Param::Field("model"))),
        _ => return Err(error("must be a string", Param::Field("model"))),
    };
    check_model_name(model, limits.max_model_name_bytes)
        .map_err(|why| error(why, Param::Field("model")))?;

    let mut req = HubRequest {
        max_tokens: uint(field("max_tokens"), Param::Field("max_tokens"))?,
        ..HubRequest::default()
    };
    match req.max_tokens {
        None if needs_max_tokens => return Err(error("is required", Param::Field("max_tokens"))),
        Some(0) => return Err(error("must be at least 1", Param::Field("max_tokens"))),
        _ => {}
    }
    req.system = system(field("system"))?;
    req.tools = tools(field("tools"), limits)?;
    (req.tool_choice, req.parallel_tool_calls) = tool_choice(field("tool_choice"))?;
    req.messages = messages(field("messages"), limits)?;
    req.stop = match field("stop_sequences") {
        Json::Null => Vec::new(),
        Json::Array(items) => {
            let p = Param::Field("stop_sequences");
            let mut stop = Vec::with_capacity(items.len());
            for (k, s) in items.iter().enumerate() {
                stop.push(string(s, p.index(k))?.to_owned());
            }
            stop
        }
        _ => {
            return Err(error(
                "must be an array of strings",
                Param::Field("stop_sequences"),
            ))
        }
    };
    req.temperature = unit_number(field("temperature"), "temperature")?;
    req.top_p = unit_number(field("top_p"), "top_p")?;
    req.top_k = uint(field("top_k"), Param::Field("top_k"))?;
    req.stream = match field("stream") {
        Json::Null => false,
        Json::Bool(b) => *b,
        _ => return Err(error("must be a boolean", Param::Field("stream"))),
    };
    req.user = match field("metadata") {
        Json::Null => None,
        Json::Object(m) => match m.get("user_id").unwrap_or(&NULL) {
            Json::Null => None,
            Json::Str(u) => Some(u.as_ref().to_owned()),
            _ => return Err(error("must be a string", Param::Field("metadata.user_id"))),
        },
        _ => return Err(error("must be an object", Param::Field("metadata"))),
    };
    req.thinking_budget = thinking(field("thinking"))?;
    Ok(Ingress {
        hub: req,
        model: Some(model.as_ref().to_owned()),
    })
}

/// A 400 naming `param` in its message and as its `param`.
fn error(why: impl fmt::Display, param: Param<'_>) -> TranslateError {
    let param = param.to_string();
    TranslateError::new(format!("`{param}` {why}"), param)
}

fn string<'j>(v: &'j Json<'_>, param: Param<'_>) -> Result<&'j str, TranslateError> {
    v.as_str().ok_or_else(|| error("must be a string", param))
}

fn object<'j, 'a>(v: &'j Json<'a>, param: Param<'_>) -> Result<&'j Object<'a>, TranslateError> {
    match v {
        Json::Object(o) => Ok(o),
        _ => Err(error("must be an object", param)),
    }
}

fn uint(v: &Json<'_>, param: Param<'_>) -> Result<Option<u64>, TranslateError> {
    match v {
        Json::Null => Ok(None),
        Json::Number(n) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| error("must be a non-negative integer", param)),
        _ => Err(error("must be a non-negative integer", param)),
    }
}

/// A number in 0..=1 (`temperature`, `top_p`).
fn unit_number(v: &Json<'_>, name: &'static str) -> Result<Option<f64>, TranslateError> {
    match v {
        Json::Null => Ok(None),
        Json::Number(n) => match n.as_f64() {
            Some(x) if (0.0..=1.0).contains(&x) => Ok(Some(x)),
            _ => Err(error("must be between 0 and 1", Param::Field(name))),
        },
        _ => Err(error("must be a number", Param::Field(name))),
    }
}

fn system(v: &Json<'_>) -> Result<Vec<String>, TranslateError> {
    let p = Param::Field("system");
    match v {
        Json::Null => Ok(Vec::new()),
        Json::Str(s) if s.is_empty() => Ok(Vec::new()),
        Json::Str(s) => Ok(vec![s.as_ref().to_owned()]),
        Json::Array(blocks) => {
            let mut texts = Vec::with_capacity(blocks.len());
            for (k, b) in blocks.iter().enumerate() {
                let p = p.index(k);
                let b = object(b, p)?;
                match b.get("type").and_then(Json::as_str) {
                    Some("text") => {}
                    _ => return Err(error("must be \"text\"", p.member("type"))),
                }
                let t = string(b.get("text").unwrap_or(&NULL), p.member("text"))?;
                if !t.is_empty() {
                    texts.push(t.to_owned());
                }
            }
            Ok(texts)
        }
        _ => Err(error("must be a string or an array of text blocks", p)),
    }
}

fn tools(v: &Json<'_>, limits: &RequestLimits) -> Result<Vec<Tool>, TranslateError> {
    let p = Param::Field("tools");
    let items = match v {
        Json::Null => return Ok(Vec::new()),
        Json::Array(items) => items,
        _ => return Err(error("must be an array", p)),
    };
    if items.len() > limits.max_tools {
        return Err(error(
            format!(
                "has {} entries, more than the limit of {}",
                items.len(),
                limits.max_tools
            ),
            p,
        ));
    }
    let mut tools = Vec::with_capacity(items.len());
    for (i, t) in items.iter().enumerate() {
        let p = p.index(i);
        let t = object(t, p)?;
        match t.get("type").unwrap_or(&NULL) {
            Json::Null => {}
            Json::Str(ty) if ty == "custom" => {}
            Json::Str(ty) => {
                return Err(error(
                    format!("names the server tool '{ty}', which the gateway cannot offer: only client tools (name, description, input_schema) are supported"),
                    p.member("type"),
                ))
            }
            _ => return Err(error("must be a string", p.member("type"))),
        }
        let name = string(t.get("name").unwrap_or(&NULL), p.member("name"))?;
        if name.is_empty() {
            return Err(error("must not be empty", p.member("name")));
        }
        let description = match t.get("description").unwrap_or(&NULL) {
            Json::Null => None,
            d => Some(string(d, p.member("description"))?.to_owned()),
        };
        let schema = t.get("input_schema").unwrap_or(&NULL);
        if !schema.is_object() {
            return Err(error(
                "must be a JSON schema object",
                p.member("input_schema"),
            ));
        }
        tools.push(Tool {
            name: name.to_owned(),
            description,
            parameters: Some(schema.to_value()),
            index: i,
            legacy: false,
        });
    }
    Ok(tools)
}

fn tool_choice(v: &Json<'_>) -> Result<(Option<ToolChoice>, Option<bool>), TranslateError> {
    let p = Param::Field("tool_choice");
    let o = match v {
        Json::Null => return Ok((None, None)),
        v => object(v, p)?,
    };
    let choice = match o.get("type").and_then(Json::as_str) {
        Some("auto") => ToolChoice::Auto,
        Some("any") => ToolChoice::Required,
        Some("none") => ToolChoice::None,
        Some("tool") => {
            let name = string(o.get("name").unwrap_or(&NULL), p.member("name"))?;
            ToolChoice::Function(name.to_owned())
        }
        _ => {
            return Err(error(
                "must be \"auto\", \"any\", \"tool\" or \"none\"",
                p.member("type"),
            ))
        }
    };
    let parallel = match o.get("disable_parallel_tool_use").unwrap_or(&NULL) {
        Json::Null | Json::Bool(false) => None,
        Json::Bool(true) => Some(false),
        _ => {
            return Err(error(
                "must be a boolean",
                p.member("disable_parallel_tool_use"),
            ))
        }
    };
    Ok((Some(choice), parallel))
}

fn thinking(v: &Json<'_>) -> Result<Option<u64>, TranslateError> {
    let p = Param::Field("thinking");
    let o = match v {
        Json::Null => return Ok(None),
        v => object(v, p)?,
    };
    match o.get("type").and_then(Json::as_str) {
        Some("enabled") => {
            let budget = uint(
                o.get("budget_tokens").unwrap_or(&NULL),
                p.member("budget_tokens"),
            )?;
            match budget {
                Some(b) if b > 0 => Ok(Some(b)),
                _ => Err(error(
                    "must be a positive integer",
                    p.member("budget_tokens"),
                )),
            }
        }
        Some("disabled") => Ok(None),
        _ => Err(error(
            "must be \"enabled\" or \"disabled\"",
            p.member("type"),
        )),
    }
}

fn messages(v: &Json<'_>, limits: &RequestLimits) -> Result<Vec<Message>, TranslateError> {
    let p = Param::Field("messages");
    let items = match v {
        Json::Null => return Err(error("is required", p)),
        Json::Array(items) => items,
        _ => return Err(error("must be an array", p)),
    };
    if items.is_empty() {
        return Err(error("must contain at least one message", p));
    }
    if items.len() > limits.max_messages {
        return Err(error(
            format!(
                "has {} entries, more than the limit of {}",
                items.len(),
                limits.max_messages
            ),
            p,
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    // Earlier tool calls' names by id, for the results that answer them.
    let mut names: HashMap<String, String> = HashMap::new();
    for (i, m) in items.iter().enumerate() {
        let p = p.index(i);
        let m = object(m, p)?;
        let role = match m.get("role").and_then(Json::as_str) {
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            _ => return Err(error("must be \"user\" or \"assistant\"", p.member("role"))),
        };
        let mut msg = Message {
            role,
            parts: Vec::new(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            tool_name: None,
            is_error: false,
            index: i,
        };
        let content_param = p.member("content");
        match m.get("content").unwrap_or(&NULL) {
            Json::Str(s) => msg.parts.push(Part::Text(s.as_ref().to_owned())),
            Json::Array(blocks) => {
                for (j, b) in blocks.iter().enumerate() {
                    let bp = content_param.index(j);
                    let b = object(b, bp)?;
                    let ty = b.get("type").and_then(Json::as_str).unwrap_or("");
                    match (ty, role) {
                        ("tool_use", Role::Assistant) => {
                            let call = tool_use(b, bp)?;
                            names.insert(call.id.clone(), call.name.clone());
                            msg.tool_calls.push(call);
                        }
                        ("tool_result", Role::User) => {
                            let mut result = tool_result(b, bp, i)?;
                            result.tool_name = result
                                .tool_call_id
                                .as_ref()
                                .and_then(|id| names.get(id))
                                .cloned();
                            out.push(result);
                        }
                        ("thinking", Role::Assistant) => {
                            let text =
                                string(b.get("thinking").unwrap_or(&NULL), bp.member("thinking"))?;
                            let signature = string(
                                b.get("signature").unwrap_or(&NULL),
                                bp.member("signature"),
                            )?;
                            msg.parts.push(Part::Thinking {
                                text: text.to_owned(),
                                signature: Some(signature.to_owned()),
                            });
                        }
                        ("redacted_thinking", Role::Assistant) => {
                            let data = string(b.get("data").unwrap_or(&NULL), bp.member("data"))?;
                            msg.parts.push(Part::RedactedThinking(data.to_owned()));
                        }
                        ("tool_use" | "thinking" | "redacted_thinking", Role::User)
                        | ("tool_result", Role::Assistant) => {
                            let side = if role == Role::User {
                                "user"
                            } else {
                                "assistant"
                            };
                            return Err(error(
                                format!("'{ty}' blocks are not allowed in {side} messages"),
                                bp.member("type"),
                            ));
                        }
                        _ => msg.parts.push(content_part(b, bp, ty)?),
                    }
                }
            }
            _ => {
                return Err(error(
                    "must be a string or an array of content blocks",
                    content_param,
                ))
            }
        }
        // A user turn of tool results only adds no message of its own.
        let results_only = role == Role::User
            && msg.parts.is_empty()
            && out.last().is_some_and(|m: &Message| m.index == i);
        if !results_only {
            out.push(msg);
        }
    }
    Ok(out)
}

/// A text, image or document block.
fn content_part(b: &Object<'_>, p: Param<'_>, ty: &str) -> Result<Part, TranslateError> {
    match ty {
        "text" => Ok(Part::Text(
            string(b.get("text").unwrap_or(&NULL), p.member("text"))?.to_owned(),
        )),
        "image" => media(b, p, false),
        "document" => media(b, p, true),
        "" => Err(error("must be a string", p.member("type"))),
        other => Err(error(
            format!("'{other}' content blocks are not supported by the gateway"),
            p.member("type"),
        )),
    }
}

/// An `image` or `document` block's `source`.
fn media(b: &Object<'_>, p: Param<'_>, document: bool) -> Result<Part, TranslateError> {
    let sp = p.member("source");
    let source = object(b.get("source").unwrap_or(&NULL), sp)?;
    let field = |k: &str| source.get(k).unwrap_or(&NULL);
    match source.get("type").and_then(Json::as_str) {
        Some("base64") => {
            let mime = string(field("media_type"), sp.member("media_type"))?;
            let allowed = if document {
                mime == "application/pdf"
            } else {
                IMAGE_TYPES.contains(&mime)
            };
            if !allowed {
                let want = if document {
                    "application/pdf"
                } else {
                    "image/jpeg, image/png, image/gif or image/webp"
                };
                return Err(error(format!("must be {want}"), sp.member("media_type")));
            }
            let data = string(field("data"), sp.member("data"))?;
            if data.is_empty()
                || base64::engine::general_purpose::STANDARD
                    .decode(data.as_bytes())
                    .is_err()
            {
                return Err(error("is not valid base64", sp.member("data")));
            }
            Ok(Part::Image(Media::Inline {
                mime: mime.to_owned(),
                data: data.to_owned(),
            }))
        }
        Some("url") => {
            let url = string(field("url"), sp.member("url"))?;
            let scheme = |s: &str| {
                url.as_bytes()
                    .get(..s.len())
                    .is_some_and(|b| b.eq_ignore_ascii_case(s.as_bytes()))
            };
            if !(scheme("https://") || scheme("http://")) || url.contains(char::is_whitespace) {
                return Err(error("must be an http(s) URL", sp.member("url")));
            }
            let mime = if document {
                Some("application/pdf".to_owned())
            } else {
                image_type_of(url)
            };
            Ok(Part::Image(Media::Url {
                url: url.to_owned(),
                mime,
            }))
        }
        Some("text") if document => Ok(Part::Text(
            string(field("data"), sp.member("data"))?.to_owned(),
        )),
        _ => Err(error(
            if document {
                "must be \"base64\", \"url\" or \"text\" (file ids and content sources are not supported)"
            } else {
                "must be \"base64\" or \"url\" (file ids are not supported)"
            },
            sp.member("type"),
        )),
    }
}

/// An image's media type from its URL's extension, when it has a known one.
fn image_type_of(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    let mime = match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        _ => return None,
    };
    Some(mime.to_owned())
}

fn tool_use(b: &Object<'_>, p: Param<'_>) -> Result<ToolCall, TranslateError> {
    let id = string(b.get("id").unwrap_or(&NULL), p.member("id"))?;
    let name = string(b.get("name").unwrap_or(&NULL), p.member("name"))?;
    let input = b.get("input").unwrap_or(&NULL);
    if !input.is_object() {
        return Err(error("must be an object", p.member("input")));
    }
    Ok(ToolCall {
        id: id.to_owned(),
        name: name.to_owned(),
        arguments: input.to_value(),
    })
}

/// A `tool_result` block as a tool message (`index`: its user turn's).
fn tool_result(b: &Object<'_>, p: Param<'_>, index: usize) -> Result<Message, TranslateError> {
    let id = string(
        b.get("tool_use_id").unwrap_or(&NULL),
        p.member("tool_use_id"),
    )?;
    let is_error = match b.get("is_error").unwrap_or(&NULL) {
        Json::Null => false,
        Json::Bool(e) => *e,
        _ => return Err(error("must be a boolean", p.member("is_error"))),
    };
    let cp = p.member("content");
    let parts = match b.get("content").unwrap_or(&NULL) {
        Json::Null => Vec::new(),
        Json::Str(s) => vec![Part::Text(s.as_ref().to_owned())],
        Json::Array(blocks) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for (k, c) in blocks.iter().enumerate() {
                let kp = cp.index(k);
                let c = object(c, kp)?;
                let ty = c.get("type").and_then(Json::as_str).unwrap_or("");
                parts.push(content_part(c, kp, ty)?);
            }
            parts
        }
        _ => return Err(error("must be a string or an array of content blocks", cp)),
    };
    Ok(Message {
        role: Role::Tool,
        parts,
        tool_calls: Vec::new(),
        tool_call_id: Some(id.to_owned()),
        tool_name: None,
        is_error,
        index,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse_json(v: serde_json::Value) -> Result<Ingress, TranslateError> {
        parse(&serde_json::to_vec(&v).unwrap(), &RequestLimits::default())
    }

    fn param(v: serde_json::Value) -> String {
        let e = parse_json(v).unwrap_err();
        let p = e.param.clone().unwrap_or_default();
        assert!(e.message.contains(&p), "{e:?} names its field");
        p
    }

    #[test]
    fn full_conversation() {
        let png = "iVBORw0KGgo=";
        let i = parse_json(json!({
            "model": "claude-x",
            "max_tokens": 100,
            "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
                    {"type": "image", "source": {"type": "url", "url": "https://x.test/a.webp"}},
                    {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": png}},
                    {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain"}}]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hm", "signature": "sig"},
                    {"type": "redacted_thinking", "data": "opaque"},
                    {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "r"}], "is_error": true},
                    {"type": "text", "text": "and?"}]}
            ],
            "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
            "stop_sequences": ["END"],
            "temperature": 0.5, "top_p": 0.9, "top_k": 7, "stream": true,
            "metadata": {"user_id": "u1"},
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "service_tier": "auto"
        }))
        .unwrap();
        assert_eq!(i.model.as_deref(), Some("claude-x"));
        let h = i.hub;
        assert_eq!(h.system, ["be brief"]);
        assert_eq!(h.max_tokens, Some(100));
        assert_eq!(h.messages.len(), 4, "user, assistant, tool result, user");
        assert_eq!(h.messages[0].parts.len(), 5);
        assert_eq!(
            h.messages[0].parts[2],
            Part::Image(Media::Url {
                url: "https://x.test/a.webp".into(),
                mime: Some("image/webp".into())
            })
        );
        assert_eq!(h.messages[0].parts[4], Part::Text("plain".into()));
        assert_eq!(
            h.messages[1].parts,
            [
                Part::Thinking {
                    text: "hm".into(),
                    signature: Some("sig".into())
                },
                Part::RedactedThinking("opaque".into())
            ]
        );
        assert_eq!(h.messages[1].tool_calls[0].arguments, json!({"a": 1}));
        let r = &h.messages[2];
        assert_eq!((r.role, r.is_error, r.index), (Role::Tool, true, 2));
        assert_eq!(r.tool_name.as_deref(), Some("f"));
        assert_eq!(h.messages[3].parts, [Part::Text("and?".into())]);
        assert_eq!(h.tools[0].parameters, Some(json!({"type": "object"})));
        assert_eq!(h.tool_choice, Some(ToolChoice::Required));
        assert_eq!(h.parallel_tool_calls, Some(false));
        assert_eq!(h.stop, ["END"]);
        assert_eq!(
            (h.temperature, h.top_p, h.top_k),
            (Some(0.5), Some(0.9), Some(7))
        );
        assert!(h.stream);
        assert_eq!(h.user.as_deref(), Some("u1"));
        assert_eq!(h.thinking_budget, Some(2048));
    }

    #[test]
    fn errors_name_the_field() {
        let base = |extra: serde_json::Value| {
            let mut v = json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            v
        };
        assert_eq!(param(json!({"max_tokens": 5, "messages": []})), "model");
        assert_eq!(
            param(json!({"model": "m", "messages": [{"role": "user", "content": "x"}]})),
            "max_tokens"
        );
        assert_eq!(param(base(json!({"messages": []}))), "messages");
        assert_eq!(param(base(json!({"max_tokens": 0}))), "max_tokens");
        assert_eq!(
            param(base(
                json!({"messages": [{"role": "system", "content": "x"}]})
            )),
            "messages[0].role"
        );
        assert_eq!(
            param(base(
                json!({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                {"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}]}]})
            )),
            "messages[2].content[0].source.type"
        );
        assert_eq!(
            param(base(json!({"messages": [{"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/tiff", "data": "AAAA"}}]}]}))),
            "messages[0].content[0].source.media_type"
        );
        assert_eq!(
            param(base(json!({"messages": [{"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "***"}}]}]}))),
            "messages[0].content[0].source.data"
        );
        assert_eq!(
            param(base(
                json!({"messages": [{"role": "user", "content": [{"type": "thinking", "thinking": "x", "signature": "s"}]}]})
            )),
            "messages[0].content[0].type"
        );
        assert_eq!(
            param(base(
                json!({"messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": "x"}]}]})
            )),
            "messages[0].content[0].input"
        );
        assert_eq!(
            param(base(
                json!({"messages": [{"role": "user", "content": [{"type": "search_result"}]}]})
            )),
            "messages[0].content[0].type"
        );
        assert_eq!(
            param(base(
                json!({"tools": [{"name": "f", "input_schema": {}}, {"type": "web_search_20250305", "name": "web_search"}]})
            )),
            "tools[1].type"
        );
        assert_eq!(
            param(base(json!({"tools": [{"name": "f"}]}))),
            "tools[0].input_schema"
        );
        assert_eq!(
            param(base(json!({"tool_choice": {"type": "tool"}}))),
            "tool_choice.name"
        );
        assert_eq!(
            param(base(json!({"tool_choice": {"type": "required"}}))),
            "tool_choice.type"
        );
        assert_eq!(param(base(json!({"temperature": 1.5}))), "temperature");
        assert_eq!(
            param(base(json!({"stop_sequences": ["a", 1]}))),
            "stop_sequences[1]"
        );
        assert_eq!(
            param(base(json!({"thinking": {"type": "enabled"}}))),
            "thinking.budget_tokens"
        );
        assert_eq!(
            param(base(json!({"metadata": {"user_id": 5}}))),
            "metadata.user_id"
        );
        assert_eq!(
            param(base(json!({"system": [{"type": "image"}]}))),
            "system[0].type"
        );
    }

    #[test]
    fn limits_are_respected() {
        let limits = RequestLimits {
            max_messages: 2,
            max_tools: 1,
            ..RequestLimits::default()
        };
        let msgs = json!([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]);
        let body = json!({"model": "m", "max_tokens": 1, "messages": msgs});
        let e = parse(&serde_json::to_vec(&body).unwrap(), &limits).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages"));
        let tool = json!({"name": "f", "input_schema": {}});
        let body = json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "a"}], "tools": [tool, tool]});
        let e = parse(&serde_json::to_vec(&body).unwrap(), &limits).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("tools"));
        let deep = format!(
            "{{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{{\"role\":\"user\",\"content\":\"a\"}}],\"metadata\":{}{}}}",
            "[".repeat(200),
            "]".repeat(200)
        );
        assert!(parse(deep.as_bytes(), &RequestLimits::default()).is_err());
        let long = "m".repeat(limits.max_model_name_bytes + 1);
        let body =
            json!({"model": long, "max_tokens": 1, "messages": [{"role": "user", "content": "a"}]});
        assert_eq!(
            parse(&serde_json::to_vec(&body).unwrap(), &limits)
                .unwrap_err()
                .param
                .as_deref(),
            Some("model")
        );
        assert!(parse(b"[]", &limits).is_err());
        assert!(parse(b"\xff", &limits).is_err());
    }
}
