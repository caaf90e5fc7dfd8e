//! The streamed answer: `chat.completion.chunk` SSE events up to `data: [DONE]`.

use crate::hub::{Block, Decoder, Delta, Escaped, Event, Sink, StopReason};
use crate::sse::SseParser;
use crate::{UpstreamError, Usage};

use super::fast_path::{chunk as fast_chunk, Fast};
use super::wire::{each_tool_call, string, Chunk, Message, ToolCall};
use super::{answer_error, stop_reason, MAX_TOOL_CALLS};

/// Most bytes of a tool call (id and argument fragments) held while its name has not
/// arrived yet; OpenAI sends the name first, so this only bounds odd upstreams.
const MAX_PENDING: usize = 64 * 1024;

/// The open text-like block, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    None,
    Text(u32),
    Thinking(u32),
    Refusal(u32),
}

/// Kinds of text-like content in a delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Thinking,
    Refusal,
}

/// One OpenAI tool call (`tool_calls[k]`) of the answer.
#[derive(Debug, Default)]
struct ToolSlot {
    /// Hub block index once the call's block started.
    block: Option<u32>,
    closed: bool,
    /// Id and argument fragments that came before the name (then the block starts).
    pending_id: Vec<u8>,
    pending_args: Vec<u8>,
}

/// Per-answer state: fixed-size but for the tool slots (at most [`MAX_TOOL_CALLS`], and
/// kept when the stream ends so a reused decoder would not reallocate them).
#[derive(Debug)]
struct State {
    started: bool,
    open: Open,
    tools: Vec<ToolSlot>,
    /// Tool blocks started and not stopped.
    open_tools: usize,
    next_index: u32,
    finish: Option<StopReason>,
    saw_tool: bool,
    done: bool,
    /// Synthesised tool-call ids (`call_<k>`) for upstreams that send none.
    scratch: Vec<u8>,
}

/// Decodes a streamed OpenAI Chat Completions answer.
#[derive(Debug)]
pub(super) struct StreamDecoder {
    sse: SseParser,
    state: State,
}

impl StreamDecoder {
    pub(super) fn new() -> Self {
        Self {
            sse: SseParser::new(),
            state: State {
                started: false,
                open: Open::None,
                tools: Vec::new(),
                open_tools: 0,
                next_index: 0,
                finish: None,
                saw_tool: false,
                done: false,
                scratch: Vec::new(),
            },
        }
    }
}

impl Decoder for StreamDecoder {
    fn feed(&mut self, chunk: &[u8], sink: &mut dyn Sink) -> Result<(), UpstreamError> {
        let state = &mut self.state;
        self.sse
            .feed(chunk, |ev| state.on_event(ev.event, ev.data, sink))
    }

    fn finish(&mut self, sink: &mut dyn Sink) -> Result<(), UpstreamError> {
        let state = &mut self.state;
        self.sse
            .finish(|ev| state.on_event(ev.event, ev.data, sink))?;
        if !self.state.done {
            return Err(UpstreamError::malformed(
                "OpenAI stream ended before data: [DONE]",
            ));
        }
        Ok(())
    }
}

fn malformed(e: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::malformed(format!("invalid OpenAI stream chunk: {e}"))
}

impl State {
    fn on_event(
        &mut self,
        event: &[u8],
        data: &[u8],
        sink: &mut dyn Sink,
    ) -> Result<(), UpstreamError> {
        let data = data.trim_ascii();
        if self.done || data.is_empty() {
            return Ok(());
        }
        if event == b"error" {
            return Err(answer_error(data));
        }
        if data == b"[DONE]" {
            return self.on_done(sink);
        }
        // One UTF-8 check for the whole payload, then `from_str` skips the per-string checks.
        let data = std::str::from_utf8(data).map_err(malformed)?;
        if self.started && self.fast(data, sink) {
            return Ok(());
        }
        let chunk: Chunk<'_> = serde_json::from_str(data).map_err(malformed)?;
        if chunk.error.is_some_and(|e| e.get() != "null")
            || chunk.object.as_deref() == Some("error")
        {
            return Err(answer_error(data.as_bytes()));
        }
        if !self.started {
            self.started = true;
            // Azure's first chunk (prompt filter results) has `"id":""` and `"model":""`:
            // no id rather than an empty one.
            let id = string(chunk.id, "id").map_err(malformed)?;
            let model = string(chunk.model, "model").map_err(malformed)?;
            sink.event(Event::Start {
                id: id.filter(|i| !i.is_empty()),
                model: model.filter(|m| !m.is_empty()),
            });
        }
        if let Some(choice) = chunk.choices.0 {
            if let Some(delta) = &choice.delta {
                self.delta(delta, sink)?;
            }
            if let Some(reason) = choice.finish_reason.as_deref() {
                self.close_all(sink)?;
                self.finish = Some(stop_reason(reason));
            }
        }
        if let Some(u) = chunk.usage {
            sink.event(Event::Usage(Usage::from(u)));
        }
        Ok(())
    }

    /// Handles a chunk on the fast path; `false` when it needs the full parse (including a
    /// tool call whose block is not open).
    fn fast(&mut self, data: &str, sink: &mut dyn Sink) -> bool {
        fn contents(lit: &str) -> Option<Escaped<'_>> {
            lit.as_bytes()
                .get(1..lit.len().saturating_sub(1))
                .map(Escaped::from_json_contents)
        }
        match fast_chunk(data) {
            None => false,
            Some(Fast::Text(lit)) => {
                if let Some(text) = contents(lit).filter(|t| !t.is_empty()) {
                    self.content(Kind::Text, text, sink);
                }
                true
            }
            Some(Fast::Arguments(k, lit)) => {
                let Some(ToolSlot {
                    block: Some(index),
                    closed: false,
                    ..
                }) = self.tools.get(k as usize)
                else {
                    return false;
                };
                if let Some(args) = contents(lit).filter(|a| !a.is_empty()) {
                    sink.event(Event::Delta {
                        index: *index,
                        delta: Delta::Arguments(args),
                    });
                }
                true
            }
        }
    }

    fn delta(&mut self, delta: &Message<'_>, sink: &mut dyn Sink) -> Result<(), UpstreamError> {
        let reasoning = match string(delta.reasoning_content, "reasoning_content") {
            Ok(Some(r)) => Some(r),
            // `reasoning` is a string where it is used for text; other shapes carry nothing.
            _ => string(delta.reasoning, "reasoning").ok().flatten(),
        };
        if let Some(text) = reasoning.filter(|t| !t.is_empty()) {
            self.content(Kind::Thinking, text, sink);
        }
        if let Some(text) = string(delta.content, "delta.content")
            .map_err(malformed)?
            .filter(|t| !t.is_empty())
        {
            self.content(Kind::Text, text, sink);
        }
        if let Some(text) = string(delta.refusal, "delta.refusal")
            .map_err(malformed)?
            .filter(|t| !t.is_empty())
        {
            self.content(Kind::Refusal, text, sink);
        }
        if let Some(raw) = delta.tool_calls {
            each_tool_call(raw, |i, call| self.tool_call(i, &call, sink)).map_err(|e| match e {
                Ok(e) => e,
                Err(msg) => malformed(msg),
            })?;
        }
        Ok(())
    }

    /// Text, reasoning or refusal for the open block of that kind, opening it first
    /// (and stopping whatever else is open) when needed.
    fn content(&mut self, kind: Kind, text: Escaped<'_>, sink: &mut dyn Sink) {
        let index = match (kind, self.open) {
            (Kind::Text, Open::Text(i))
            | (Kind::Thinking, Open::Thinking(i))
            | (Kind::Refusal, Open::Refusal(i)) => i,
            _ => {
                self.close_open(sink);
                self.close_tools(sink);
                let index = self.next_block();
                let (block, open) = match kind {
                    Kind::Text => (Block::Text, Open::Text(index)),
                    Kind::Thinking => (Block::Thinking, Open::Thinking(index)),
                    Kind::Refusal => (Block::Refusal, Open::Refusal(index)),
                };
                sink.event(Event::BlockStart { index, block });
                self.open = open;
                index
            }
        };
        let delta = match kind {
            Kind::Text => Delta::Text(text),
            Kind::Thinking => Delta::Thinking(text),
            Kind::Refusal => Delta::Refusal(text),
        };
        sink.event(Event::Delta { index, delta });
    }

    fn tool_call(
        &mut self,
        position: usize,
        call: &ToolCall<'_>,
        sink: &mut dyn Sink,
    ) -> Result<(), UpstreamError> {
        let mut k = call.index.map_or(position, |k| k as usize);
        let id = string(call.id, "tool_calls.id").map_err(malformed)?;
        let (name, args) = match &call.function {
            Some(f) => (
                string(f.name, "tool_calls.function.name").map_err(malformed)?,
                string(f.arguments, "tool_calls.function.arguments").map_err(malformed)?,
            ),
            None => (None, None),
        };
        let args = args.filter(|a| !a.is_empty());
        // OpenAI names a call in its first fragment only. A name for a call that already
        // started is another call under a reused index (Gemini's and some Ollama
        // OpenAI-compatible endpoints send every whole call as index 0, or without one).
        let renamed = name.is_some_and(|n| !n.is_empty())
            && self
                .tools
                .get(k)
                .is_some_and(|s| s.block.is_some() || s.closed);
        if renamed {
            k = self.tools.len();
        }
        if k >= MAX_TOOL_CALLS {
            return Err(malformed(format!(
                "tool_calls index {k} exceeds the limit of {MAX_TOOL_CALLS} calls"
            )));
        }
        if self.tools.len() <= k {
            self.tools.resize_with(k + 1, ToolSlot::default);
        }
        let Some(slot) = self.tools.get_mut(k) else {
            return Ok(());
        };
        if slot.closed {
            if args.is_some() {
                return Err(malformed(format!(
                    "tool_calls[{k}] continued after other content followed it"
                )));
            }
            return Ok(());
        }
        if let Some(index) = slot.block {
            if let Some(args) = args {
                sink.event(Event::Delta {
                    index,
                    delta: Delta::Arguments(args),
                });
            }
            return Ok(());
        }
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            // The name has not come yet: hold what did, within bounds.
            if slot.pending_id.is_empty() {
                if let Some(id) = id {
                    slot.pending_id.extend_from_slice(id.raw());
                }
            }
            if let Some(args) = args {
                slot.pending_args.extend_from_slice(args.raw());
            }
            if slot.pending_id.len() + slot.pending_args.len() > MAX_PENDING {
                return Err(malformed(format!(
                    "tool_calls[{k}] sent {MAX_PENDING} bytes without a function name"
                )));
            }
            return Ok(());
        };
        // The call's block starts: stop a text-like block in progress.
        self.close_open(sink);
        let index = self.next_block();
        self.saw_tool = true;
        self.open_tools += 1;
        let State { tools, scratch, .. } = self;
        let Some(slot) = tools.get_mut(k) else {
            return Ok(());
        };
        slot.block = Some(index);
        let id = match id.filter(|i| !i.is_empty()) {
            Some(id) => id,
            None if !slot.pending_id.is_empty() => Escaped::from_json_contents(&slot.pending_id),
            None => {
                scratch.clear();
                scratch.extend_from_slice(b"call_");
                scratch.extend_from_slice(itoa::Buffer::new().format(k).as_bytes());
                Escaped::from_json_contents(scratch)
            }
        };
        sink.event(Event::BlockStart {
            index,
            block: Block::ToolCall { id, name },
        });
        if !slot.pending_args.is_empty() {
            sink.event(Event::Delta {
                index,
                delta: Delta::Arguments(Escaped::from_json_contents(&slot.pending_args)),
            });
        }
        slot.pending_id = Vec::new();
        slot.pending_args = Vec::new();
        if let Some(args) = args {
            sink.event(Event::Delta {
                index,
                delta: Delta::Arguments(args),
            });
        }
        Ok(())
    }

    fn next_block(&mut self) -> u32 {
        let i = self.next_index;
        self.next_index = self.next_index.saturating_add(1);
        i
    }

    fn close_open(&mut self, sink: &mut dyn Sink) {
        match std::mem::replace(&mut self.open, Open::None) {
            Open::None => {}
            Open::Text(index) | Open::Thinking(index) | Open::Refusal(index) => {
                sink.event(Event::BlockStop { index });
            }
        }
    }

    fn close_tools(&mut self, sink: &mut dyn Sink) {
        if self.open_tools == 0 {
            return;
        }
        for slot in &mut self.tools {
            if let (Some(index), false) = (slot.block, slot.closed) {
                slot.closed = true;
                sink.event(Event::BlockStop { index });
            }
        }
        self.open_tools = 0;
    }

    /// Stops every open block; a tool call that never got its name is an error.
    fn close_all(&mut self, sink: &mut dyn Sink) -> Result<(), UpstreamError> {
        self.close_open(sink);
        self.close_tools(sink);
        if let Some(k) = self.tools.iter().position(|s| {
            s.block.is_none()
                && !s.closed
                && (!s.pending_id.is_empty() || !s.pending_args.is_empty())
        }) {
            return Err(malformed(format!("tool_calls[{k}] has no function name")));
        }
        Ok(())
    }

    fn on_done(&mut self, sink: &mut dyn Sink) -> Result<(), UpstreamError> {
        if !self.started {
            self.started = true;
            sink.event(Event::Start {
                id: None,
                model: None,
            });
        }
        self.close_all(sink)?;
        let reason = match self.finish {
            // Some compatible servers finish a tool-calling turn with `stop`.
            Some(StopReason::EndTurn) | None if self.saw_tool => StopReason::ToolUse,
            Some(r) => r,
            None => StopReason::EndTurn,
        };
        sink.event(Event::Stop {
            reason,
            sequence: None,
        });
        self.done = true;
        Ok(())
    }
}
