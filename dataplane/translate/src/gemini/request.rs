//! OpenAI Chat Completions request → Gemini `generateContent` body.

use serde_json::Value;

use super::call_id::split_call_id;
use super::schema::{json_size, reduce_schema, single_member, SchemaBudget};
use super::wire::{
    Content, ContentPart, FunctionCallingConfig, FunctionDeclaration, FunctionDeclarations,
    GenerationConfig, RequestBody, SystemInstruction, ThinkingConfig, ToolConfig,
};
use crate::openai::request::hub::{
    self as chat, HubRequest, Part, ResponseFormat, Role, ToolChoice,
};
use crate::openai::request::ChatRequest;
use crate::{TranslateError, UpstreamRequest};

/// Translate the client's raw OpenAI Chat Completions body into a Gemini
/// `generateContent` body. Streaming is chosen by the URL ([`super::path`]), not the body.
pub fn build_request(
    openai_body: &[u8],
    upstream_model: &str,
) -> Result<UpstreamRequest, TranslateError> {
    let req = HubRequest::parse(openai_body)?;
    Ok(UpstreamRequest {
        body: build(&req, openai_body.len(), upstream_model, true)?,
        stream: req.stream,
    })
}

/// [`build_request`] for a request the boundary parse ([`ChatRequest::parse`]) already
/// validated: what it checked is not checked again.
pub fn build_request_from(
    req: &ChatRequest,
    upstream_model: &str,
) -> Result<UpstreamRequest, TranslateError> {
    let hub = HubRequest::from_checked(req)?;
    Ok(UpstreamRequest {
        body: build(&hub, req.body.len(), upstream_model, true)?,
        stream: hub.stream,
    })
}

/// The `generateContent` body for a request in hub form; `input_len` (the client body's
/// size) sizes the output buffer. `candidates`: whether `n` > 1 may become
/// `candidateCount` (the original OpenAI-only API; hub answers carry one candidate).
pub(super) fn build(
    req: &HubRequest,
    input_len: usize,
    upstream_model: &str,
    candidates: bool,
) -> Result<Vec<u8>, TranslateError> {
    let _ = upstream_model; // Gemini names the model in the URL path.

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
                        Part::Thinking { .. } | Part::RedactedThinking(_) => {}
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
                let text = chat::tool_result_text(&m.parts);
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
        top_k: req.top_k,
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
        if n > 1 && !candidates {
            // The hub answer carries one candidate: more would be dropped on the way back.
            return Err(TranslateError::new(
                "Gemini answers are translated with one candidate: n must be 1",
                "n",
            ));
        }
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
    if let Some(budget) = req.thinking_budget {
        // An explicit budget wins over the effort.
        gen.thinking_config = Some(ThinkingConfig {
            include_thoughts: (budget > 0).then_some(true),
            thinking_budget: budget,
        });
    } else if let Some(effort) = req.reasoning_effort.as_deref() {
        gen.thinking_config = match chat::thinking_budget(effort) {
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
    chat::encode(&body, input_len)
}
