//! Hub request → Anthropic Messages body (and the OpenAI Chat entry points into it).

use super::wire::{
    ContentBlock, Metadata, RequestBody, System, Thinking, ToolChoiceOut, ToolDef,
    ToolResultContent, Turn,
};
use super::DEFAULT_MAX_TOKENS;
use crate::hub::request::{self as hub, HubRequest, Media, Message, Part, Role, ToolChoice};
use crate::openai::request::hub as chat;
use crate::openai::request::ChatRequest;
use crate::{TranslateError, UpstreamRequest};

/// Anthropic's smallest thinking budget; a smaller non-zero budget is raised to it.
const MIN_THINKING_BUDGET: u64 = 1024;

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
    let req = HubRequest::parse(openai_body)?;
    Ok(UpstreamRequest {
        body: build_body(&req, openai_body.len(), upstream_model)?,
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
        body: build_body(&hub, req.body.len(), upstream_model)?,
        stream: hub.stream,
    })
}

/// The content of a tool result: a string for text, blocks when it carries media.
fn tool_result_content(m: &Message) -> Result<ToolResultContent<'_>, TranslateError> {
    if !m.parts.iter().any(|p| matches!(p, Part::Image(_))) {
        return Ok(ToolResultContent::Text(chat::tool_result_text(&m.parts)));
    }
    let mut blocks = Vec::with_capacity(m.parts.len());
    for part in &m.parts {
        match part {
            Part::Text(t) if !t.is_empty() => blocks.push(ContentBlock::Text(t)),
            Part::Image(media) => blocks.push(media_block(media, m.index)?),
            _ => {}
        }
    }
    Ok(ToolResultContent::Blocks(blocks))
}

/// The Messages body for `req` naming `upstream_model`; `input_len` (the client body's
/// size) only sizes the output buffer.
///
/// Replayed reasoning is sent only in assistant turns and only where Anthropic accepts it:
/// thinking with a signature, redacted thinking verbatim (both first in their turn, as
/// Anthropic requires). An explicit `thinking_budget` wins over `reasoning_effort`.
pub(super) fn build_body(
    req: &HubRequest,
    input_len: usize,
    upstream_model: &str,
) -> Result<Vec<u8>, TranslateError> {
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
                if m.role == Role::Assistant {
                    for part in &m.parts {
                        match part {
                            Part::Thinking {
                                text,
                                signature: Some(signature),
                            } => blocks.push(ContentBlock::Thinking {
                                thinking: text,
                                signature,
                            }),
                            Part::RedactedThinking(data) => {
                                blocks.push(ContentBlock::RedactedThinking(data))
                            }
                            _ => {}
                        }
                    }
                }
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
                        // Written first (above); unsigned thinking cannot be replayed.
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
                    content: tool_result_content(m)?,
                    is_error: m.is_error,
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

    let mut max_tokens = req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    let budget = match req.thinking_budget {
        // Anthropic's budget is part of `max_tokens`, which must exceed it: raised only
        // when it would not.
        Some(0) => None,
        Some(budget) => {
            let budget = budget.max(MIN_THINKING_BUDGET);
            if max_tokens <= budget {
                max_tokens = max_tokens.saturating_add(budget);
            }
            Some(budget)
        }
        // OpenAI's `max_tokens` is the answer's room: the budget comes on top.
        None => {
            let budget = req
                .reasoning_effort
                .as_deref()
                .and_then(hub::thinking_budget);
            if let Some(budget) = budget {
                max_tokens = max_tokens.saturating_add(budget);
            }
            budget
        }
    };
    let temperature = req
        .temperature
        .map(|t| t.clamp(0.0, 1.0))
        .filter(|&t| budget.is_none() || t == 1.0);
    let top_p = req.top_p.filter(|&p| budget.is_none() || p >= 0.95);
    // Thinking does not combine with `top_k`.
    let top_k = req.top_k.filter(|_| budget.is_none());

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
        top_k,
        top_p,
    };
    chat::encode(&body, input_len)
}
