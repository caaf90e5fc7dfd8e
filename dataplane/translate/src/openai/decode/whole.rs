//! The whole (non-streamed) answer: one `chat.completion` body.

use crate::hub::{Block, Decoder, Delta, Escaped, Event, Sink, StopReason};
use crate::{UpstreamError, Usage};

use super::wire::{each_tool_call, string, Completion};
use super::{answer_error, stop_reason, MAX_TOOL_CALLS};

/// Collects the body, then decodes it at [`Decoder::finish`].
#[derive(Debug, Default)]
pub(super) struct WholeDecoder {
    body: Vec<u8>,
}

impl WholeDecoder {
    pub(super) fn new() -> Self {
        Self::default()
    }
}

fn malformed(e: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::malformed(format!("invalid OpenAI chat.completion body: {e}"))
}

impl Decoder for WholeDecoder {
    fn feed(&mut self, chunk: &[u8], _: &mut dyn Sink) -> Result<(), UpstreamError> {
        self.body.extend_from_slice(chunk);
        Ok(())
    }

    fn finish(&mut self, sink: &mut dyn Sink) -> Result<(), UpstreamError> {
        let body = std::mem::take(&mut self.body);
        decode(&body, sink)
    }
}

/// Emits one text-like block holding `text`.
fn block(sink: &mut dyn Sink, index: &mut u32, block: Block<'_>, delta: Option<Delta<'_>>) {
    let i = *index;
    *index += 1;
    sink.event(Event::BlockStart { index: i, block });
    if let Some(delta) = delta {
        sink.event(Event::Delta { index: i, delta });
    }
    sink.event(Event::BlockStop { index: i });
}

fn decode(body: &[u8], sink: &mut dyn Sink) -> Result<(), UpstreamError> {
    let text = std::str::from_utf8(body).map_err(malformed)?;
    let answer: Completion<'_> = serde_json::from_str(text).map_err(malformed)?;
    if answer.error.is_some_and(|e| e.get() != "null") || answer.object.as_deref() == Some("error")
    {
        return Err(answer_error(body));
    }
    let choice = answer
        .choices
        .0
        .ok_or_else(|| malformed("no choice with index 0"))?;
    sink.event(Event::Start {
        id: string(answer.id, "id")
            .map_err(malformed)?
            .filter(|i| !i.is_empty()),
        model: string(answer.model, "model")
            .map_err(malformed)?
            .filter(|m| !m.is_empty()),
    });
    let mut index = 0u32;
    let mut calls = 0usize;
    if let Some(m) = &choice.message {
        let reasoning = match string(m.reasoning_content, "reasoning_content") {
            Ok(Some(r)) => Some(r),
            _ => string(m.reasoning, "reasoning").ok().flatten(),
        };
        if let Some(t) = reasoning.filter(|t| !t.is_empty()) {
            block(sink, &mut index, Block::Thinking, Some(Delta::Thinking(t)));
        }
        let content = string(m.content, "message.content").map_err(malformed)?;
        if let Some(t) = content.filter(|t| !t.is_empty()) {
            block(sink, &mut index, Block::Text, Some(Delta::Text(t)));
        }
        let refusal = string(m.refusal, "message.refusal").map_err(malformed)?;
        if let Some(t) = refusal.filter(|t| !t.is_empty()) {
            block(sink, &mut index, Block::Refusal, Some(Delta::Refusal(t)));
        }
        if let Some(raw) = m.tool_calls {
            each_tool_call(raw, |k, call| {
                calls += 1;
                if calls > MAX_TOOL_CALLS {
                    return Err(malformed(format!("more than {MAX_TOOL_CALLS} tool calls")));
                }
                let f = call
                    .function
                    .as_ref()
                    .ok_or_else(|| malformed(format!("tool_calls[{k}] has no function")))?;
                let name = string(f.name, "tool_calls.function.name")
                    .map_err(malformed)?
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| malformed(format!("tool_calls[{k}] has no function name")))?;
                let id = string(call.id, "tool_calls.id").map_err(malformed)?;
                let synthetic;
                let id = match id.filter(|i| !i.is_empty()) {
                    Some(id) => id,
                    None => {
                        synthetic = format!("call_{k}");
                        Escaped::from_json_contents(synthetic.as_bytes())
                    }
                };
                let args = string(f.arguments, "tool_calls.function.arguments")
                    .map_err(malformed)?
                    .filter(|a| !a.is_empty());
                block(
                    sink,
                    &mut index,
                    Block::ToolCall { id, name },
                    args.map(Delta::Arguments),
                );
                Ok(())
            })
            .map_err(|e| match e {
                Ok(e) => e,
                Err(msg) => malformed(msg),
            })?;
        }
    }
    if let Some(u) = answer.usage {
        sink.event(Event::Usage(Usage::from(u)));
    }
    let reason = match choice.finish_reason.as_deref().map(stop_reason) {
        Some(StopReason::EndTurn) | None if calls > 0 => StopReason::ToolUse,
        Some(r) => r,
        None => StopReason::EndTurn,
    };
    sink.event(Event::Stop {
        reason,
        sequence: None,
    });
    Ok(())
}
