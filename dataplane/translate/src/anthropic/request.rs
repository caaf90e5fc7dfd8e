//! OpenAI Chat Completions request → Anthropic Messages body.

use super::wire::{
    ContentBlock, Metadata, RequestBody, System, Thinking, ToolChoiceOut, ToolDef, Turn,
};
use super::DEFAULT_MAX_TOKENS;
use crate::openai::request::hub::{self as chat, HubRequest, Media, Part, Role, ToolChoice};
use crate::openai::request::ChatRequest;
use crate::{TranslateError, UpstreamRequest};

/// An image or document block; `index` is the client message's, named only on error.
fn media_block(media: &Media, index: usize) -> Result<ContentBlock<'_>, TranslateError> {
    if let Media::Inline { mime, .. } = media {
        if !matches!(
            mime.as_str(),
            "image/jpeg" | "image/png" | "image/gif" | "image/webp" | "application/pdf"
        ) {
            return Err(TranslateError::new(
                format!(
                    "Anthropic does not accept media type '{mime}' (jpeg, png, gif, webp or pdf)"
                ),
                format!("messages[{index}].content"),
            ));
        }
    }
    Ok(ContentBlock::Media(media))
}

/// Translate the client's raw OpenAI Chat Completions body into an Anthropic Messages body.
///
/// Gateway-only fields (`provider`, `backend`, `fallback_providers`, `timeout`,
/// `retry_count`) and OpenAI fields without an Anthropic equivalent (penalties, seed,
/// logprobs, ...) are ignored.
pub fn build_request(
    openai_body: &[u8],
    upstream_model: &str,
) -> Result<UpstreamRequest, TranslateError> {
    build(
        HubRequest::parse(openai_body)?,
        openai_body.len(),
        upstream_model,
    )
}

/// [`build_request`] for a request the boundary parse ([`ChatRequest::parse`]) already
/// validated: what it checked is not checked again.
pub fn build_request_from(
    req: &ChatRequest,
    upstream_model: &str,
) -> Result<UpstreamRequest, TranslateError> {
    build(
        HubRequest::from_checked(req)?,
        req.body.len(),
        upstream_model,
    )
}

fn build(
    req: HubRequest,
    input_len: usize,
    upstream_model: &str,
) -> Result<UpstreamRequest, TranslateError> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(TranslateError::new(
            "Anthropic does not support n > 1 (multiple choices)",
            "n",
        ));
    }

    // Messages, with consecutive same-role turns merged (tool results become user turns).
    let mut messages: Vec<Turn<'_>> = Vec::new();
    let last = req.messages.len().saturating_sub(1);
    for (k, m) in req.messages.iter().enumerate() {
        let mut blocks = Vec::new();
        let role = match m.role {
            Role::User | Role::Assistant => {
                for part in &m.parts {
                    match part {
                        Part::Text(t) => {
                            // Anthropic rejects empty text blocks and a final assistant turn
                            // (prefill) that ends in whitespace.
                            let t = if k == last && m.role == Role::Assistant {
                                t.trim_end()
                            } else {
                                t
                            };
                            if !t.is_empty() {
                                blocks.push(ContentBlock::Text(t));
                            }
                        }
                        Part::Image(media) => blocks.push(media_block(media, m.index)?),
                        // Replayed reasoning: the egress adapter decides (signatures are
                        // only valid for the provider that made them).
                        Part::Thinking { .. } | Part::RedactedThinking(_) => {}
                    }
                }
                blocks.extend(m.tool_calls.iter().map(ContentBlock::ToolUse));
                if m.role == Role::User {
                    "user"
                } else {
                    "assistant"
                }
            }
            Role::Tool => {
                blocks.push(ContentBlock::ToolResult {
                    tool_use_id: m.tool_call_id.as_deref().unwrap_or_default(),
                    content: chat::tool_result_text(&m.parts),
                });
                "user"
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match messages.last_mut() {
            Some(turn) if turn.role == role => turn.content.extend(blocks),
            _ => messages.push(Turn {
                content: blocks,
                role,
            }),
        }
    }
    if messages.is_empty() {
        return Err(TranslateError::new(
            "'messages' has no content to send",
            "messages",
        ));
    }

    let system = match req.system.as_slice() {
        [] => None,
        [one] => Some(System::One(one)),
        many => Some(System::Blocks(
            many.iter().map(|t| ContentBlock::Text(t)).collect(),
        )),
    };

    let budget = req
        .reasoning_effort
        .as_deref()
        .and_then(chat::thinking_budget);
    let mut max_tokens = req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    if let Some(budget) = budget {
        max_tokens = max_tokens.saturating_add(budget);
    }
    let temperature = req
        .temperature
        .map(|t| t.clamp(0.0, 1.0))
        .filter(|&t| budget.is_none() || t == 1.0);
    let top_p = req.top_p.filter(|&p| budget.is_none() || p >= 0.95);

    let mut tool_choice = None;
    if !req.tools.is_empty() {
        let (ty, name) = match &req.tool_choice {
            None | Some(ToolChoice::Auto) => ("auto", None),
            Some(ToolChoice::None) => ("none", None),
            Some(ToolChoice::Required) => ("any", None),
            Some(ToolChoice::Function(name)) => {
                if !req.tools.iter().any(|t| &t.name == name) {
                    return Err(TranslateError::new(
                        format!("tool_choice names function '{name}' which is not in 'tools'"),
                        "tool_choice",
                    ));
                }
                ("tool", Some(name.as_str()))
            }
        };
        let disable_parallel = req.parallel_tool_calls == Some(false);
        if req.tool_choice.is_some() || disable_parallel {
            tool_choice = Some(ToolChoiceOut {
                disable_parallel_tool_use: disable_parallel && ty != "none",
                name,
                r#type: ty,
            });
        }
    } else if let Some(ToolChoice::Function(name)) = &req.tool_choice {
        return Err(TranslateError::new(
            format!("tool_choice names function '{name}' but no tools were given"),
            "tool_choice",
        ));
    }

    let body = RequestBody {
        max_tokens,
        messages,
        metadata: req.user.as_deref().map(|user_id| Metadata { user_id }),
        model: upstream_model,
        stop_sequences: &req.stop,
        stream: req.stream,
        system,
        temperature,
        thinking: budget.map(|budget_tokens| Thinking {
            budget_tokens,
            r#type: "enabled",
        }),
        tool_choice,
        tools: req.tools.iter().map(ToolDef).collect(),
        top_p,
    };
    Ok(UpstreamRequest {
        body: chat::encode(&body, input_len)?,
        stream: req.stream,
    })
}
