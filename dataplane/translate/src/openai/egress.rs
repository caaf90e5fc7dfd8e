//! Hub form → an OpenAI Chat Completions upstream request body, for clients of another
//! protocol sent to an OpenAI-compatible provider. (OpenAI clients going to OpenAI pass
//! through [`super::ChatRequest::passthrough_body`] instead.)
//!
//! Mapping:
//! - `system` (system/developer text) → one leading `system` message, parts joined by a
//!   blank line.
//! - user parts → `text` / `image_url` parts (a data URL for inline media); one text part
//!   is sent as a plain string.
//! - assistant text → `content`, tool calls → `tool_calls` (`arguments` as a JSON string);
//!   replayed reasoning (`Part::Thinking`, `Part::RedactedThinking`) is dropped: OpenAI
//!   Chat takes no reasoning input, and it does not change the answer.
//! - tool results → `tool` messages with `tool_call_id` (text only; `is_error` has no
//!   field and is dropped — the result's text says what failed).
//! - `max_tokens` → `max_completion_tokens`; `thinking_budget` (without an explicit
//!   `reasoning_effort`) → the nearest `reasoning_effort` (0 → `minimal`, then `low` /
//!   `medium` / `high` around 1024 / 2048 / 4096 tokens).
//! - `top_k` has no OpenAI field and is dropped; `n > 1` is refused (the answer is
//!   decoded as one choice).
//! - `tool_choice` and `parallel_tool_calls` are sent only with `tools` (OpenAI refuses
//!   them alone).
//! - A streamed request asks for `stream_options.include_usage` (the decoder needs it).

use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::Value;

use crate::hub::request::{HubRequest, Media, Message, Part, ResponseFormat, Role, ToolChoice};
use crate::TranslateError;

/// The OpenAI Chat Completions request body for `req`, naming `model`.
pub(crate) fn build(req: &HubRequest, model: &str) -> Result<Vec<u8>, TranslateError> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(TranslateError::new(
            "'n' greater than 1 cannot be translated: the answer is read as one choice",
            "n",
        ));
    }
    for m in &req.messages {
        check_message(m)?;
    }
    let body = Body { req, model };
    let mut out = Vec::with_capacity(256 + 64 * req.messages.len());
    serde_json::to_writer(&mut out, &body)
        .map_err(|e| TranslateError::body(format!("cannot encode request: {e}")))?;
    Ok(out)
}

/// What OpenAI Chat cannot take in a message, as an error naming it.
fn check_message(m: &Message) -> Result<(), TranslateError> {
    let param = || format!("messages[{}].content", m.index);
    match m.role {
        Role::User => Ok(()),
        Role::Assistant => {
            if m.parts.iter().any(|p| matches!(p, Part::Image(_))) {
                return Err(TranslateError::new(
                    "OpenAI Chat assistant messages cannot carry images",
                    param(),
                ));
            }
            Ok(())
        }
        Role::Tool => {
            if m.tool_call_id.is_none() {
                return Err(TranslateError::new(
                    "a tool result needs the id of the call it answers",
                    format!("messages[{}]", m.index),
                ));
            }
            if m.parts.iter().any(|p| matches!(p, Part::Image(_))) {
                return Err(TranslateError::new(
                    "OpenAI Chat tool results carry text only, not images",
                    param(),
                ));
            }
            Ok(())
        }
    }
}

/// `reasoning_effort` for a thinking budget: the nearest OpenAI effort (geometric middle
/// between neighbours), capped at `high`, the highest every reasoning model accepts.
fn effort_for_budget(budget: u64) -> &'static str {
    match budget {
        0 => "minimal",
        1..=1448 => "low",
        1449..=2896 => "medium",
        _ => "high",
    }
}

struct Body<'a> {
    req: &'a HubRequest,
    model: &'a str,
}

impl Serialize for Body<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.req;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("model", self.model)?;
        m.serialize_entry("messages", &Messages(r))?;
        if !r.tools.is_empty() {
            m.serialize_entry("tools", &Tools(r))?;
            if let Some(p) = r.parallel_tool_calls {
                m.serialize_entry("parallel_tool_calls", &p)?;
            }
        }
        // OpenAI refuses `tool_choice` and `parallel_tool_calls` without `tools`; with no
        // tools the model cannot call one whatever the choice said.
        match r.tool_choice.as_ref().filter(|_| !r.tools.is_empty()) {
            None => {}
            Some(ToolChoice::Auto) => m.serialize_entry("tool_choice", "auto")?,
            Some(ToolChoice::None) => m.serialize_entry("tool_choice", "none")?,
            Some(ToolChoice::Required) => m.serialize_entry("tool_choice", "required")?,
            Some(ToolChoice::Function(name)) => m.serialize_entry(
                "tool_choice",
                &serde_json::json!({"type": "function", "function": {"name": name}}),
            )?,
        }
        match &r.response_format {
            None => {}
            Some(ResponseFormat::Text) => {
                m.serialize_entry("response_format", &serde_json::json!({"type": "text"}))?
            }
            Some(ResponseFormat::JsonObject) => m.serialize_entry(
                "response_format",
                &serde_json::json!({"type": "json_object"}),
            )?,
            Some(ResponseFormat::JsonSchema(schema)) => m.serialize_entry(
                "response_format",
                &serde_json::json!({
                    "type": "json_schema",
                    "json_schema": {"name": "response", "schema": schema}
                }),
            )?,
        }
        if let Some(n) = r.max_tokens {
            m.serialize_entry("max_completion_tokens", &n)?;
        }
        if let Some(t) = r.temperature {
            m.serialize_entry("temperature", &t)?;
        }
        if let Some(p) = r.top_p {
            m.serialize_entry("top_p", &p)?;
        }
        if !r.stop.is_empty() {
            m.serialize_entry("stop", &r.stop)?;
        }
        if let Some(seed) = r.seed {
            m.serialize_entry("seed", &seed)?;
        }
        if let Some(p) = r.presence_penalty {
            m.serialize_entry("presence_penalty", &p)?;
        }
        if let Some(p) = r.frequency_penalty {
            m.serialize_entry("frequency_penalty", &p)?;
        }
        match (&r.reasoning_effort, r.thinking_budget) {
            (Some(effort), _) => m.serialize_entry("reasoning_effort", effort)?,
            (None, Some(budget)) => {
                m.serialize_entry("reasoning_effort", effort_for_budget(budget))?
            }
            (None, None) => {}
        }
        if let Some(user) = &r.user {
            m.serialize_entry("user", user)?;
        }
        m.serialize_entry("stream", &r.stream)?;
        if r.stream {
            m.serialize_entry(
                "stream_options",
                &serde_json::json!({"include_usage": true}),
            )?;
        }
        m.end()
    }
}

struct Messages<'a>(&'a HubRequest);

impl Serialize for Messages<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut seq = s.serialize_seq(None)?;
        if !r.system.is_empty() {
            seq.serialize_element(&SystemMessage(&r.system))?;
        }
        for m in &r.messages {
            seq.serialize_element(&OneMessage(m))?;
        }
        seq.end()
    }
}

struct SystemMessage<'a>(&'a [String]);

impl Serialize for SystemMessage<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("role", "system")?;
        match self.0 {
            [one] => m.serialize_entry("content", one)?,
            many => m.serialize_entry("content", &many.join("\n\n"))?,
        }
        m.end()
    }
}

/// A message's text parts as `content`: a string for one part, text parts for several
/// (kept apart as the client sent them), `empty` for none. Replayed reasoning is left out.
struct TextContent<'a> {
    parts: &'a [Part],
    empty: Value,
}

impl Serialize for TextContent<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut texts = self.parts.iter().filter_map(|p| match p {
            Part::Text(t) => Some(t.as_str()),
            _ => None,
        });
        match (texts.next(), texts.next()) {
            (None, _) => self.empty.serialize(s),
            (Some(one), None) => s.serialize_str(one),
            (Some(_), Some(_)) => s.collect_seq(self.parts.iter().filter_map(|p| match p {
                Part::Text(t) => Some(serde_json::json!({"type": "text", "text": t})),
                _ => None,
            })),
        }
    }
}

struct OneMessage<'a>(&'a Message);

impl Serialize for OneMessage<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let msg = self.0;
        let mut m = s.serialize_map(None)?;
        match msg.role {
            Role::User => {
                m.serialize_entry("role", "user")?;
                if msg.parts.iter().all(|p| !matches!(p, Part::Image(_))) {
                    let content = TextContent {
                        parts: &msg.parts,
                        empty: Value::String(String::new()),
                    };
                    m.serialize_entry("content", &content)?;
                } else {
                    m.serialize_entry("content", &UserParts(&msg.parts))?;
                }
            }
            Role::Assistant => {
                m.serialize_entry("role", "assistant")?;
                // `null` content is only valid beside tool calls (a turn that replayed
                // reasoning alone has neither).
                let empty = if msg.tool_calls.is_empty() {
                    Value::String(String::new())
                } else {
                    Value::Null
                };
                let content = TextContent {
                    parts: &msg.parts,
                    empty,
                };
                m.serialize_entry("content", &content)?;
                if !msg.tool_calls.is_empty() {
                    let calls: Vec<Value> = msg
                        .tool_calls
                        .iter()
                        .map(|c| {
                            serde_json::json!({
                                "id": c.id,
                                "type": "function",
                                "function": {"name": c.name, "arguments": c.arguments.to_string()},
                            })
                        })
                        .collect();
                    m.serialize_entry("tool_calls", &calls)?;
                }
            }
            Role::Tool => {
                m.serialize_entry("role", "tool")?;
                m.serialize_entry("tool_call_id", &msg.tool_call_id)?;
                let content = TextContent {
                    parts: &msg.parts,
                    empty: Value::String(String::new()),
                };
                m.serialize_entry("content", &content)?;
            }
        }
        m.end()
    }
}

struct UserParts<'a>(&'a [Part]);

impl Serialize for UserParts<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for p in self.0 {
            match p {
                Part::Text(t) => {
                    seq.serialize_element(&serde_json::json!({"type": "text", "text": t}))?
                }
                Part::Image(media) => {
                    let url = match media {
                        Media::Inline { mime, data } => format!("data:{mime};base64,{data}"),
                        Media::Url { url, .. } => url.clone(),
                    };
                    seq.serialize_element(
                        &serde_json::json!({"type": "image_url", "image_url": {"url": url}}),
                    )?
                }
                Part::Thinking { .. } | Part::RedactedThinking(_) => {}
            }
        }
        seq.end()
    }
}

struct Tools<'a>(&'a HubRequest);

impl Serialize for Tools<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.tools.len()))?;
        for t in &self.0.tools {
            let mut f = serde_json::Map::new();
            f.insert("name".into(), Value::String(t.name.clone()));
            if let Some(d) = &t.description {
                f.insert("description".into(), Value::String(d.clone()));
            }
            if let Some(p) = &t.parameters {
                f.insert("parameters".into(), p.clone());
            }
            seq.serialize_element(&serde_json::json!({"type": "function", "function": f}))?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests;
