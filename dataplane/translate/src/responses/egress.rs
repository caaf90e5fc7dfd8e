//! Hub form → a OpenAI Responses upstream request body (stateless: `store: false`).
//!
//! - System prompts join into `instructions`; user and assistant messages become
//!   `message` items, assistant tool calls `function_call` items, tool results
//!   `function_call_output` items.
//! - Reasoning is replayed only when OpenAI can read it: a `RedactedThinking` part that
//!   came from a Responses upstream (`<rs_id>:<encrypted>`) becomes a `reasoning` item with
//!   the summary of the `Thinking` part before it; other providers' thinking is dropped.
//! - Function tools are written with `strict: false` (the hub does not carry strictness,
//!   and Responses would otherwise apply strict mode to every schema).
//! - `include: ["reasoning.encrypted_content"]` is asked for whenever reasoning is, so the
//!   reasoning can be replayed without stored state.

use serde_json::{json, Map, Value};

use crate::hub::request::{HubRequest, Media, Message, Part, ResponseFormat, Role, ToolChoice};
use crate::TranslateError;

/// The OpenAI Responses request body for `req`, naming `model`.
pub(crate) fn build(req: &HubRequest, model: &str) -> Result<Vec<u8>, TranslateError> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(TranslateError::new(
            "OpenAI Responses returns one answer: `n` greater than 1 is not supported",
            "n",
        ));
    }
    if !req.stop.is_empty() {
        return Err(TranslateError::new(
            "OpenAI Responses has no stop sequences: `stop` is not supported for this model",
            "stop",
        ));
    }
    for (field, value) in [
        ("presence_penalty", req.presence_penalty),
        ("frequency_penalty", req.frequency_penalty),
    ] {
        if value.is_some_and(|v| v != 0.0) {
            return Err(TranslateError::new(
                format!("OpenAI Responses has no `{field}`: not supported for this model"),
                field,
            ));
        }
    }
    if req.top_k.is_some() {
        return Err(TranslateError::new(
            "OpenAI Responses has no `top_k`: not supported for this model",
            "top_k",
        ));
    }

    let mut body = Map::new();
    body.insert("model".into(), Value::String(model.to_owned()));
    if !req.system.is_empty() {
        body.insert(
            "instructions".into(),
            Value::String(req.system.join("\n\n")),
        );
    }
    let mut input = Vec::with_capacity(req.messages.len() + 4);
    for m in &req.messages {
        write_message(m, &mut input)?;
    }
    body.insert("input".into(), Value::Array(input));
    if !req.tools.is_empty() {
        let tools = req
            .tools
            .iter()
            .map(|t| {
                let mut o = Map::new();
                o.insert("type".into(), json!("function"));
                o.insert("name".into(), Value::String(t.name.clone()));
                if let Some(d) = &t.description {
                    o.insert("description".into(), Value::String(d.clone()));
                }
                o.insert(
                    "parameters".into(),
                    t.parameters
                        .clone()
                        .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                );
                o.insert("strict".into(), Value::Bool(false));
                Value::Object(o)
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = &req.tool_choice {
        let v = match choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Function(name) => json!({"type": "function", "name": name}),
        };
        body.insert("tool_choice".into(), v);
    }
    if let Some(p) = req.parallel_tool_calls {
        body.insert("parallel_tool_calls".into(), Value::Bool(p));
    }
    if let Some(n) = req.max_tokens {
        body.insert("max_output_tokens".into(), json!(n));
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(t) = req.top_p {
        body.insert("top_p".into(), json!(t));
    }
    if let Some(format) = &req.response_format {
        let f = match format {
            ResponseFormat::Text => json!({"type": "text"}),
            ResponseFormat::JsonObject => json!({"type": "json_object"}),
            ResponseFormat::JsonSchema(schema) => {
                json!({"type": "json_schema", "name": "response", "schema": schema, "strict": false})
            }
        };
        body.insert("text".into(), json!({ "format": f }));
    }
    let effort = req.reasoning_effort.clone().or_else(|| {
        req.thinking_budget.map(|b| {
            match b {
                0..=1024 => "low",
                1025..=4095 => "medium",
                _ => "high",
            }
            .to_owned()
        })
    });
    if let Some(effort) = effort {
        body.insert("reasoning".into(), json!({ "effort": effort }));
        if effort != "none" {
            body.insert("include".into(), json!(["reasoning.encrypted_content"]));
        }
    }
    if let Some(u) = &req.user {
        body.insert("user".into(), Value::String(u.clone()));
    }
    body.insert("stream".into(), Value::Bool(req.stream));
    body.insert("store".into(), Value::Bool(false));
    serde_json::to_vec(&Value::Object(body))
        .map_err(|e| TranslateError::body(format!("cannot encode request: {e}")))
}

fn image_url(media: &Media) -> String {
    match media {
        Media::Inline { mime, data } => format!("data:{mime};base64,{data}"),
        Media::Url { url, .. } => url.clone(),
    }
}

/// User (and tool) content as Responses input parts; a lone text stays a string.
fn input_content(parts: &[Part]) -> Value {
    if let [Part::Text(t)] = parts {
        return Value::String(t.clone());
    }
    Value::Array(
        parts
            .iter()
            .filter_map(|p| match p {
                Part::Text(t) => Some(json!({"type": "input_text", "text": t})),
                Part::Image(m @ Media::Inline { mime, .. }) if !mime.starts_with("image/") => {
                    Some(json!({"type": "input_file", "file_data": image_url(m)}))
                }
                Part::Image(m) => Some(
                    json!({"type": "input_image", "image_url": image_url(m), "detail": "auto"}),
                ),
                Part::Thinking { .. } | Part::RedactedThinking(_) => None,
            })
            .collect(),
    )
}

fn write_message(m: &Message, input: &mut Vec<Value>) -> Result<(), TranslateError> {
    match m.role {
        Role::User => input.push(json!({
            "type": "message",
            "role": "user",
            "content": input_content(&m.parts),
        })),
        Role::Tool => {
            let id = m.tool_call_id.as_deref().ok_or_else(|| {
                TranslateError::new(
                    "tool result without a call id",
                    format!("messages[{}].tool_call_id", m.index),
                )
            })?;
            let output = match input_content(&m.parts) {
                Value::Array(a) if a.is_empty() => Value::String(String::new()),
                v => v,
            };
            input.push(json!({"type": "function_call_output", "call_id": id, "output": output}));
        }
        Role::Assistant => {
            // Summaries since the last reasoning item, replayed with the next one.
            let mut summary: Vec<&str> = Vec::new();
            let mut text = String::new();
            for p in &m.parts {
                match p {
                    Part::Thinking { text, .. } => summary.push(text),
                    Part::RedactedThinking(data) => {
                        if let (Some(id), enc) = super::split_reasoning_data(data) {
                            let summary: Vec<Value> = summary
                                .iter()
                                .map(|s| json!({"type": "summary_text", "text": s}))
                                .collect();
                            input.push(json!({
                                "type": "reasoning",
                                "id": id,
                                "summary": summary,
                                "encrypted_content": enc,
                            }));
                        }
                        summary.clear();
                    }
                    Part::Text(t) => text.push_str(t),
                    // An assistant turn cannot carry images in Responses input.
                    Part::Image(_) => {
                        return Err(TranslateError::new(
                            "OpenAI Responses does not take images in assistant messages",
                            format!("messages[{}].content", m.index),
                        ))
                    }
                }
            }
            if !text.is_empty() {
                input.push(json!({
                    "type": "message",
                    "role": "assistant",
                    "content": text,
                }));
            }
            for call in &m.tool_calls {
                let arguments = serde_json::to_string(&call.arguments)
                    .map_err(|e| TranslateError::body(format!("cannot encode arguments: {e}")))?;
                input.push(json!({
                    "type": "function_call",
                    "call_id": call.id,
                    "name": call.name,
                    "arguments": arguments,
                }));
            }
        }
    }
    Ok(())
}
