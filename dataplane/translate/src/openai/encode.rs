//! Hub events → OpenAI Chat Completions answers: `chat.completion.chunk` SSE for a
//! streamed answer, one `chat.completion` object for a whole one.
//!
//! Text, reasoning and argument fragments arrive JSON-escaped ([`Escaped`]) and are copied
//! between quotes as they are; a streamed answer costs one chunk write per delta and keeps
//! only per-block state.

use bytes::{BufMut, BytesMut};

use super::chunk::{write_usage, ChunkWriter, CONTENT, REASONING};
use super::error::write_error_event;
use crate::hub::{Block, Delta, Encoder, Escaped, Event, StopReason};
use crate::json_out;
use crate::{ResponseContext, UpstreamError, Usage};

/// Delta key for refusal text.
const REFUSAL: &[u8] = b"\"refusal\":";

/// The encoder of one answer for an OpenAI Chat client.
pub(crate) fn encoder(stream: bool, ctx: ResponseContext) -> Box<dyn Encoder> {
    if stream {
        Box::new(ChunkEncoder::new(ctx))
    } else {
        Box::new(CompletionEncoder::new(ctx))
    }
}

/// The OpenAI `finish_reason` for a hub stop reason.
pub(crate) fn finish_reason(reason: StopReason) -> &'static str {
    match reason {
        StopReason::EndTurn | StopReason::StopSequence | StopReason::PauseTurn => "stop",
        StopReason::MaxTokens => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::ContentFilter | StopReason::Refusal => "content_filter",
    }
}

/// What an open block becomes in OpenAI terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// `delta.content`.
    Content,
    /// `delta.reasoning_content`.
    Reasoning,
    /// `delta.refusal`.
    Refusal,
    /// `delta.tool_calls[index]`; `has_args` once a fragment was sent.
    Tool { index: u32, has_args: bool },
    /// Nothing the client can use (redacted reasoning).
    Ignored,
}

/// Open blocks by hub index. Answers open few blocks at a time; a linear scan of a small
/// vector beats a map, and the vector is reused for the whole answer.
#[derive(Debug, Default)]
struct Blocks {
    open: Vec<(u32, Slot)>,
    next_tool: u32,
}

impl Blocks {
    fn start(&mut self, index: u32, block: &Block<'_>) -> Slot {
        let slot = match block {
            Block::Text => Slot::Content,
            Block::Thinking => Slot::Reasoning,
            Block::Refusal => Slot::Refusal,
            Block::RedactedThinking { .. } => Slot::Ignored,
            Block::ToolCall { .. } => {
                let index = self.next_tool;
                self.next_tool = self.next_tool.saturating_add(1);
                Slot::Tool {
                    index,
                    has_args: false,
                }
            }
        };
        self.open.retain(|(i, _)| *i != index);
        self.open.push((index, slot));
        slot
    }

    fn get(&mut self, index: u32) -> Option<&mut Slot> {
        self.open
            .iter_mut()
            .find(|(i, _)| *i == index)
            .map(|(_, s)| s)
    }

    fn stop(&mut self, index: u32) -> Option<Slot> {
        let at = self.open.iter().position(|(i, _)| *i == index)?;
        Some(self.open.swap_remove(at).1)
    }
}

/// Streamed answer: one `chat.completion.chunk` per event that carries content.
struct ChunkEncoder {
    ctx: ResponseContext,
    writer: Option<ChunkWriter>,
    blocks: Blocks,
    usage: Option<Usage>,
    finish_sent: bool,
}

impl ChunkEncoder {
    fn new(ctx: ResponseContext) -> Self {
        Self {
            ctx,
            writer: None,
            blocks: Blocks::default(),
            usage: None,
            finish_sent: false,
        }
    }

    /// The chunk writer, created (and the role chunk sent) on first use; `id` is the
    /// upstream's answer id when it gave one.
    fn writer(&mut self, out: &mut BytesMut, id: Option<Escaped<'_>>) -> &ChunkWriter {
        if self.writer.is_none() {
            let id = id.map(|e| e.decode());
            let id = id.as_deref().unwrap_or(&self.ctx.id);
            let w = ChunkWriter::new(id.as_bytes(), self.ctx.created, &self.ctx.model);
            w.role(out, 0);
            self.writer = Some(w);
        }
        self.writer.get_or_insert_with(ChunkWriter::default)
    }

    fn text(&mut self, out: &mut BytesMut, key: &[u8], text: Escaped<'_>) {
        if text.is_empty() {
            return;
        }
        let w = self.writer(out, None);
        w.begin(out, 0);
        out.extend_from_slice(key);
        quoted(out, text);
        ChunkWriter::end(out, None);
    }

    fn close(&mut self, out: &mut BytesMut, slot: Slot) {
        if let Slot::Tool {
            index,
            has_args: false,
        } = slot
        {
            self.writer(out, None)
                .tool_args_raw(out, 0, index, b"\"{}\"");
        }
    }
}

impl Encoder for ChunkEncoder {
    fn event(&mut self, ev: Event<'_>, out: &mut BytesMut) {
        match ev {
            Event::Start { id, .. } => {
                self.writer(out, id);
            }
            Event::BlockStart { index, block } => {
                let slot = self.blocks.start(index, &block);
                if let (Slot::Tool { index: tool, .. }, Block::ToolCall { id, name }) =
                    (slot, block)
                {
                    let w = self.writer(out, None);
                    w.tool_start(
                        out,
                        0,
                        tool,
                        &mut |o| o.extend_from_slice(id.raw()),
                        name.decode().as_bytes(),
                    );
                }
            }
            Event::Delta { index, delta } => {
                let Some(slot) = self.blocks.get(index) else {
                    return;
                };
                match (*slot, delta) {
                    (Slot::Content, Delta::Text(t)) => self.text(out, CONTENT, t),
                    (Slot::Reasoning, Delta::Thinking(t)) => self.text(out, REASONING, t),
                    (Slot::Refusal, Delta::Refusal(t)) => self.text(out, REFUSAL, t),
                    (Slot::Tool { index: tool, .. }, Delta::Arguments(a)) if !a.is_empty() => {
                        *slot = Slot::Tool {
                            index: tool,
                            has_args: true,
                        };
                        let w = self.writer(out, None);
                        w.tool_args_begin(out, 0, tool);
                        quoted(out, a);
                        ChunkWriter::tool_args_end(out);
                    }
                    // Signatures and anything a block of this kind does not carry.
                    _ => {}
                }
            }
            Event::BlockStop { index } => {
                if let Some(slot) = self.blocks.stop(index) {
                    self.close(out, slot);
                }
            }
            Event::Usage(u) => self.usage = Some(u),
            Event::Stop { reason, .. } => {
                if self.finish_sent {
                    return;
                }
                while let Some((_, slot)) = self.blocks.open.pop() {
                    self.close(out, slot);
                }
                self.writer(out, None).finish(out, 0, finish_reason(reason));
                self.finish_sent = true;
            }
        }
    }

    fn finish(&mut self, out: &mut BytesMut) {
        if !self.finish_sent {
            self.event(
                Event::Stop {
                    reason: StopReason::EndTurn,
                    sequence: None,
                },
                out,
            );
        }
        if self.ctx.include_usage {
            let usage = self.usage.unwrap_or_default();
            self.writer(out, None).usage(out, &usage);
        }
        ChunkWriter::done(out);
    }

    fn error(&mut self, err: &UpstreamError, out: &mut BytesMut) {
        write_error_event(err, out);
    }
}

/// One tool call of a whole answer.
#[derive(Debug, Default)]
struct Call {
    id: Vec<u8>,
    name: Vec<u8>,
    /// Argument fragments, escaped, concatenated.
    args: Vec<u8>,
}

/// Whole answer: content kept until the end, then one `chat.completion` object.
struct CompletionEncoder {
    ctx: ResponseContext,
    id: Option<Vec<u8>>,
    blocks: Blocks,
    has_text: bool,
    text: Vec<u8>,
    reasoning: Vec<u8>,
    refusal: Option<Vec<u8>>,
    calls: Vec<Call>,
    usage: Option<Usage>,
    finish: &'static str,
}

impl CompletionEncoder {
    fn new(ctx: ResponseContext) -> Self {
        Self {
            ctx,
            id: None,
            blocks: Blocks::default(),
            has_text: false,
            text: Vec::new(),
            reasoning: Vec::new(),
            refusal: None,
            calls: Vec::new(),
            usage: None,
            finish: "stop",
        }
    }
}

impl Encoder for CompletionEncoder {
    fn event(&mut self, ev: Event<'_>, _out: &mut BytesMut) {
        match ev {
            Event::Start { id, .. } => {
                if let Some(id) = id {
                    self.id = Some(id.raw().to_vec());
                }
            }
            Event::BlockStart { index, block } => {
                let slot = self.blocks.start(index, &block);
                match (slot, block) {
                    (Slot::Content, _) => self.has_text = true,
                    (Slot::Refusal, _) => {
                        self.refusal.get_or_insert_with(Vec::new);
                    }
                    (Slot::Tool { .. }, Block::ToolCall { id, name }) => self.calls.push(Call {
                        id: id.raw().to_vec(),
                        name: name.raw().to_vec(),
                        args: Vec::new(),
                    }),
                    _ => {}
                }
            }
            Event::Delta { index, delta } => {
                let Some(slot) = self.blocks.get(index) else {
                    return;
                };
                match (*slot, delta) {
                    (Slot::Content, Delta::Text(t)) => self.text.extend_from_slice(t.raw()),
                    (Slot::Reasoning, Delta::Thinking(t)) => {
                        self.reasoning.extend_from_slice(t.raw());
                    }
                    (Slot::Refusal, Delta::Refusal(t)) => self
                        .refusal
                        .get_or_insert_with(Vec::new)
                        .extend_from_slice(t.raw()),
                    (Slot::Tool { index: tool, .. }, Delta::Arguments(a)) => {
                        if let Some(call) = self.calls.get_mut(tool as usize) {
                            call.args.extend_from_slice(a.raw());
                        }
                    }
                    _ => {}
                }
            }
            Event::BlockStop { index } => {
                self.blocks.stop(index);
            }
            Event::Usage(u) => self.usage = Some(u),
            Event::Stop { reason, .. } => self.finish = finish_reason(reason),
        }
    }

    fn finish(&mut self, out: &mut BytesMut) {
        out.reserve(256 + self.text.len() + self.reasoning.len());
        out.put_slice(b"{\"id\":\"");
        match &self.id {
            Some(id) => out.put_slice(id),
            None => json_out::escaped(out, self.ctx.id.as_bytes()),
        }
        out.put_slice(b"\",\"object\":\"chat.completion\",\"created\":");
        json_out::uint(out, self.ctx.created);
        out.put_slice(b",\"model\":");
        json_out::string(out, self.ctx.model.as_bytes());
        out.put_slice(
            b",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":",
        );
        if self.has_text || (self.calls.is_empty() && self.refusal.is_none()) {
            out.put_u8(b'"');
            out.put_slice(&self.text);
            out.put_u8(b'"');
        } else {
            out.put_slice(b"null");
        }
        if !self.reasoning.is_empty() {
            out.put_slice(b",\"reasoning_content\":\"");
            out.put_slice(&self.reasoning);
            out.put_u8(b'"');
        }
        if let Some(refusal) = &self.refusal {
            out.put_slice(b",\"refusal\":\"");
            out.put_slice(refusal);
            out.put_u8(b'"');
        }
        if !self.calls.is_empty() {
            out.put_slice(b",\"tool_calls\":[");
            for (i, call) in self.calls.iter().enumerate() {
                if i > 0 {
                    out.put_u8(b',');
                }
                out.put_slice(b"{\"id\":\"");
                out.put_slice(&call.id);
                out.put_slice(b"\",\"type\":\"function\",\"function\":{\"name\":\"");
                out.put_slice(&call.name);
                out.put_slice(b"\",\"arguments\":\"");
                if call.args.is_empty() {
                    out.put_slice(b"{}");
                } else {
                    out.put_slice(&call.args);
                }
                out.put_slice(b"\"}}");
            }
            out.put_u8(b']');
        }
        out.put_slice(b"},\"logprobs\":null,\"finish_reason\":\"");
        out.put_slice(self.finish.as_bytes());
        out.put_slice(b"\"}]");
        if let Some(u) = &self.usage {
            out.put_slice(b",\"usage\":");
            write_usage(out, u);
        }
        out.put_u8(b'}');
    }

    fn error(&mut self, err: &UpstreamError, out: &mut BytesMut) {
        out.put_slice(&super::error_body(err));
    }
}

/// `"` + escaped contents + `"`.
fn quoted(out: &mut BytesMut, s: Escaped<'_>) {
    out.reserve(s.raw().len() + 2);
    out.put_u8(b'"');
    out.put_slice(s.raw());
    out.put_u8(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(include_usage: bool) -> ResponseContext {
        ResponseContext {
            model: "m".into(),
            include_usage,
            created: 7,
            id: "chatcmpl-x".into(),
            json_array: false,
        }
    }

    fn esc(s: &str) -> Escaped<'_> {
        Escaped::from_json_contents(s.as_bytes())
    }

    fn tool_turn() -> Vec<Event<'static>> {
        vec![
            Event::Start {
                id: Some(esc("msg_1")),
                model: None,
            },
            Event::BlockStart {
                index: 0,
                block: Block::Text,
            },
            Event::Delta {
                index: 0,
                delta: Delta::Text(esc("Hi \\\"there\\\"")),
            },
            Event::BlockStop { index: 0 },
            Event::BlockStart {
                index: 1,
                block: Block::ToolCall {
                    id: esc("call_1"),
                    name: esc("get"),
                },
            },
            Event::Delta {
                index: 1,
                delta: Delta::Arguments(esc("{\\\"a\\\":")),
            },
            Event::Delta {
                index: 1,
                delta: Delta::Arguments(esc("1}")),
            },
            Event::BlockStop { index: 1 },
            Event::BlockStart {
                index: 2,
                block: Block::ToolCall {
                    id: esc("call_2"),
                    name: esc("now"),
                },
            },
            Event::BlockStop { index: 2 },
            Event::Usage(Usage {
                prompt_tokens: 3,
                completion_tokens: 4,
                total_tokens: 7,
                ..Usage::default()
            }),
            Event::Stop {
                reason: StopReason::ToolUse,
                sequence: None,
            },
        ]
    }

    fn run(stream: bool, include_usage: bool) -> String {
        let mut enc = encoder(stream, ctx(include_usage));
        let mut out = BytesMut::new();
        for ev in tool_turn() {
            enc.event(ev, &mut out);
        }
        enc.finish(&mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn stream_carries_text_calls_finish_usage_and_done() {
        let s = run(true, true);
        let events: Vec<serde_json::Value> = s
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        assert!(s.ends_with("data: [DONE]\n\n"));
        assert_eq!(events[0]["id"], "msg_1");
        assert_eq!(events[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(events[1]["choices"][0]["delta"]["content"], "Hi \"there\"");
        let mut args = [String::new(), String::new()];
        for e in &events {
            if let Some(calls) = e["choices"][0]["delta"]["tool_calls"].as_array() {
                let i = calls[0]["index"].as_u64().unwrap() as usize;
                args[i].push_str(calls[0]["function"]["arguments"].as_str().unwrap());
            }
        }
        assert_eq!(args, ["{\"a\":1}".to_string(), "{}".to_string()]);
        let finish = &events[events.len() - 2];
        assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");
        let usage = &events[events.len() - 1];
        assert_eq!(usage["usage"]["total_tokens"], 7);
        assert_eq!(usage["choices"].as_array().unwrap().len(), 0);
    }

    #[test]
    fn stream_without_include_usage_has_no_usage_chunk() {
        assert!(!run(true, false).contains("\"usage\""));
    }

    #[test]
    fn whole_answer_is_one_completion() {
        let v: serde_json::Value = serde_json::from_str(&run(false, false)).unwrap();
        let m = &v["choices"][0]["message"];
        assert_eq!(v["id"], "msg_1");
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(m["content"], "Hi \"there\"");
        assert_eq!(m["tool_calls"][0]["function"]["arguments"], "{\"a\":1}");
        assert_eq!(m["tool_calls"][1]["function"]["arguments"], "{}");
        assert_eq!(m["tool_calls"][1]["id"], "call_2");
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(v["usage"]["prompt_tokens"], 3);
    }
}
