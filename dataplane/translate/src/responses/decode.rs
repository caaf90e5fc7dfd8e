//! OpenAI Responses answers (streamed and whole) → hub events.
//!
//! Streamed: SSE frames parsed incrementally; the delta events take a validating fast path
//! ([`super::fast_path`]), the rest deserialise into borrowed structs. Only the open blocks
//! (a few words each) are kept between frames. The SSE event cap is raised over the
//! default because the terminal `response.completed` event repeats the whole answer.
//!
//! Whole: the body is buffered (capped) and read once at the end.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::fast_path::{fast_delta, DeltaKind};
use super::wire::{escaped, nonempty, upstream_error, Item, Part, ResponseObject, StreamEvent};
use crate::hub::{Block, Decoder, Delta, Escaped, Event, Sink, StopReason};
use crate::sse::SseParser;
use crate::UpstreamError;

/// Largest SSE event accepted: `response.completed` carries the whole output again.
const MAX_EVENT_BYTES: usize = 32 * 1024 * 1024;
/// Largest whole (non-streamed) answer body accepted.
const MAX_WHOLE_BYTES: usize = 64 * 1024 * 1024;
/// Most blocks open at once (items are streamed one after another; a few may overlap).
const MAX_OPEN_BLOCKS: usize = 64;

/// The decoder of one OpenAI Responses answer.
pub(crate) fn decoder(stream: bool) -> Box<dyn Decoder> {
    if stream {
        Box::new(StreamDecoder {
            sse: SseParser::with_limit(MAX_EVENT_BYTES),
            state: State::default(),
        })
    } else {
        Box::new(WholeDecoder::default())
    }
}

fn malformed(e: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::malformed(format!("invalid OpenAI Responses stream event: {e}"))
}

/// What an open block belongs to inside its output item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// A message content part (`content_index`).
    Content(u32),
    /// A reasoning summary part (`summary_index`).
    Summary(u32),
    /// A reasoning item's raw `reasoning_text` part (`content_index`).
    ReasoningText(u32),
    /// The function call item itself.
    Call,
}

#[derive(Debug, Clone, Copy)]
struct Open {
    output_index: u32,
    slot: Slot,
    index: u32,
    /// For calls: whether any arguments were sent.
    has_args: bool,
}

#[derive(Debug, Default)]
struct State {
    started: bool,
    stopped: bool,
    next_block: u32,
    open: Vec<Open>,
    saw_call: bool,
    /// Scratch for the `<id>:<encrypted>` reasoning payload.
    scratch: Vec<u8>,
}

impl State {
    fn start(&mut self, id: Option<Escaped<'_>>, model: Option<Escaped<'_>>, sink: &mut dyn Sink) {
        if !self.started {
            self.started = true;
            sink.event(Event::Start { id, model });
        }
    }

    fn find(&self, output_index: u32, slot: Slot) -> Option<usize> {
        self.open
            .iter()
            .position(|o| o.output_index == output_index && o.slot == slot)
    }

    /// The hub index of the block at (`output_index`, `slot`), opening it as `block`.
    fn open_block(
        &mut self,
        output_index: u32,
        slot: Slot,
        block: Block<'_>,
        sink: &mut dyn Sink,
    ) -> Result<usize, UpstreamError> {
        if let Some(pos) = self.find(output_index, slot) {
            return Ok(pos);
        }
        if self.open.len() >= MAX_OPEN_BLOCKS {
            return Err(malformed("too many output items open at once"));
        }
        self.start(None, None, sink);
        let index = self.next_block;
        self.next_block = self.next_block.saturating_add(1);
        if matches!(block, Block::ToolCall { .. }) {
            self.saw_call = true;
        }
        sink.event(Event::BlockStart { index, block });
        self.open.push(Open {
            output_index,
            slot,
            index,
            has_args: false,
        });
        Ok(self.open.len() - 1)
    }

    fn close_at(&mut self, pos: usize, sink: &mut dyn Sink) {
        if pos < self.open.len() {
            let o = self.open.remove(pos);
            sink.event(Event::BlockStop { index: o.index });
        }
    }

    fn close(&mut self, output_index: u32, slot: Slot, sink: &mut dyn Sink) {
        if let Some(pos) = self.find(output_index, slot) {
            self.close_at(pos, sink);
        }
    }

    fn close_all(&mut self, sink: &mut dyn Sink) {
        for o in self.open.drain(..) {
            sink.event(Event::BlockStop { index: o.index });
        }
    }

    fn delta(
        &mut self,
        kind: DeltaKind,
        output_index: u32,
        sub: u32,
        raw: &[u8],
        sink: &mut dyn Sink,
    ) -> Result<(), UpstreamError> {
        let text = Escaped::from_json_contents(raw);
        let (slot, block, delta) = match kind {
            DeltaKind::Text => (Slot::Content(sub), Block::Text, Delta::Text(text)),
            DeltaKind::Refusal => (Slot::Content(sub), Block::Refusal, Delta::Refusal(text)),
            DeltaKind::Summary => (Slot::Summary(sub), Block::Thinking, Delta::Thinking(text)),
            DeltaKind::ReasoningText => (
                Slot::ReasoningText(sub),
                Block::Thinking,
                Delta::Thinking(text),
            ),
            DeltaKind::Arguments => {
                let Some(pos) = self.find(output_index, Slot::Call) else {
                    return Err(malformed(
                        "function_call_arguments.delta for an item that was never added",
                    ));
                };
                if let Some(o) = self.open.get_mut(pos) {
                    if !text.is_empty() {
                        o.has_args = true;
                        sink.event(Event::Delta {
                            index: o.index,
                            delta: Delta::Arguments(text),
                        });
                    }
                }
                return Ok(());
            }
        };
        let pos = self.open_block(output_index, slot, block, sink)?;
        if let (Some(o), false) = (self.open.get(pos), text.is_empty()) {
            sink.event(Event::Delta {
                index: o.index,
                delta,
            });
        }
        Ok(())
    }

    fn item_added(
        &mut self,
        output_index: u32,
        item: &Item<'_>,
        sink: &mut dyn Sink,
    ) -> Result<(), UpstreamError> {
        if &*item.ty != "function_call" {
            // Messages and reasoning open their blocks with their parts; built-in tool
            // calls (web search, …) have nothing a client of another protocol can use.
            return Ok(());
        }
        let block = Block::ToolCall {
            id: escaped(item.call_id).unwrap_or(Escaped::from_json_contents(b"")),
            name: escaped(item.name).unwrap_or(Escaped::from_json_contents(b"")),
        };
        let pos = self.open_block(output_index, Slot::Call, block, sink)?;
        if let (Some(o), Some(args)) = (self.open.get_mut(pos), nonempty(item.arguments)) {
            o.has_args = true;
            sink.event(Event::Delta {
                index: o.index,
                delta: Delta::Arguments(args),
            });
        }
        Ok(())
    }

    fn part_added(
        &mut self,
        output_index: u32,
        content_index: u32,
        part: &Part<'_>,
        sink: &mut dyn Sink,
    ) -> Result<(), UpstreamError> {
        let (kind, text) = match &*part.ty {
            "output_text" => (DeltaKind::Text, part.text),
            "refusal" => (DeltaKind::Refusal, part.refusal),
            "reasoning_text" => (DeltaKind::ReasoningText, part.text),
            _ => return Ok(()),
        };
        let raw = escaped(text).map_or(&b""[..], |e| e.raw());
        self.delta(kind, output_index, content_index, raw, sink)
    }

    fn item_done(
        &mut self,
        output_index: u32,
        item: &Item<'_>,
        sink: &mut dyn Sink,
    ) -> Result<(), UpstreamError> {
        match &*item.ty {
            "function_call" => {
                if self.find(output_index, Slot::Call).is_none() {
                    // Added never came (or came without the call): the done item is whole.
                    self.item_added(output_index, item, sink)?;
                }
                if let Some(pos) = self.find(output_index, Slot::Call) {
                    if let (Some(o), Some(args)) =
                        (self.open.get(pos).copied(), nonempty(item.arguments))
                    {
                        if !o.has_args {
                            sink.event(Event::Delta {
                                index: o.index,
                                delta: Delta::Arguments(args),
                            });
                        }
                    }
                    self.close_at(pos, sink);
                }
            }
            ty => {
                while let Some(pos) = self
                    .open
                    .iter()
                    .position(|o| o.output_index == output_index)
                {
                    self.close_at(pos, sink);
                }
                if ty == "reasoning" {
                    self.redacted(item, sink)?;
                }
            }
        }
        Ok(())
    }

    /// A `RedactedThinking` block for a reasoning item's encrypted content, if any.
    fn redacted(&mut self, item: &Item<'_>, sink: &mut dyn Sink) -> Result<(), UpstreamError> {
        let Some(enc) = nonempty(item.encrypted_content) else {
            return Ok(());
        };
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        if let Some(id) = nonempty(item.id).filter(|id| {
            !id.raw().contains(&b':')
                && !id
                    .raw()
                    .starts_with(super::SYNTHETIC_REASONING_ID.as_bytes())
        }) {
            scratch.extend_from_slice(id.raw());
            scratch.push(b':');
        }
        scratch.extend_from_slice(enc.raw());
        self.start(None, None, sink);
        let index = self.next_block;
        self.next_block = self.next_block.saturating_add(1);
        sink.event(Event::BlockStart {
            index,
            block: Block::RedactedThinking {
                data: Escaped::from_json_contents(&scratch),
            },
        });
        sink.event(Event::BlockStop { index });
        self.scratch = scratch;
        Ok(())
    }

    /// `response.completed` / `response.incomplete`: usage, then the stop reason.
    fn end(&mut self, response: Option<&ResponseObject<'_>>, sink: &mut dyn Sink) {
        self.start(None, None, sink);
        self.close_all(sink);
        if let Some(u) = response.and_then(|r| r.usage.as_ref()) {
            sink.event(Event::Usage(u.to_usage()));
        }
        let reason = stop_reason(response, self.saw_call);
        sink.event(Event::Stop {
            reason,
            sequence: None,
        });
        self.stopped = true;
    }

    fn on_event(&mut self, data: &[u8], sink: &mut dyn Sink) -> Result<(), UpstreamError> {
        if self.stopped {
            return Ok(());
        }
        // One UTF-8 check for the payload, then `from_str` skips the per-string checks.
        let data = std::str::from_utf8(data).map_err(malformed)?;
        if let Some(d) = fast_delta(data) {
            return self.delta(d.kind, d.output_index, d.sub, d.delta, sink);
        }
        let ev: StreamEvent<'_> = serde_json::from_str(data).map_err(malformed)?;
        let output_index = ev.output_index.unwrap_or(0);
        match &*ev.ty {
            "response.created" | "response.in_progress" | "response.queued" => {
                let r = ev.response.as_ref();
                self.start(
                    r.and_then(|r| nonempty(r.id)),
                    r.and_then(|r| nonempty(r.model)),
                    sink,
                );
            }
            "response.output_item.added" => {
                if let Some(item) = &ev.item {
                    self.item_added(output_index, item, sink)?;
                }
            }
            "response.content_part.added" => {
                if let Some(part) = &ev.part {
                    self.part_added(output_index, ev.content_index.unwrap_or(0), part, sink)?;
                }
            }
            "response.reasoning_summary_part.added" => {
                let slot = Slot::Summary(ev.summary_index.unwrap_or(0));
                self.open_block(output_index, slot, Block::Thinking, sink)?;
                if let Some(text) = ev.part.as_ref().and_then(|p| nonempty(p.text)) {
                    let sub = ev.summary_index.unwrap_or(0);
                    self.delta(DeltaKind::Summary, output_index, sub, text.raw(), sink)?;
                }
            }
            ty if DeltaKind::of(ty).is_some() => {
                if let (Some(kind), Some(delta)) = (DeltaKind::of(ty), escaped(ev.delta)) {
                    let sub = ev.content_index.or(ev.summary_index).unwrap_or(0);
                    self.delta(kind, output_index, sub, delta.raw(), sink)?;
                }
            }
            "response.content_part.done" => {
                let content_index = ev.content_index.unwrap_or(0);
                self.close(output_index, Slot::Content(content_index), sink);
                self.close(output_index, Slot::ReasoningText(content_index), sink);
            }
            "response.reasoning_summary_part.done" => {
                let slot = Slot::Summary(ev.summary_index.unwrap_or(0));
                self.close(output_index, slot, sink);
            }
            "response.output_item.done" => {
                if let Some(item) = &ev.item {
                    self.item_done(output_index, item, sink)?;
                }
            }
            "response.completed" | "response.incomplete" => self.end(ev.response.as_ref(), sink),
            "response.failed" => {
                let r = ev.response.as_ref();
                return Err(match r.and_then(|r| r.error.as_ref()) {
                    Some(e) => e.to_upstream(500, "response failed"),
                    None => {
                        UpstreamError::new(500, "server_error", "OpenAI Responses response failed")
                    }
                });
            }
            "error" => {
                return Err(match &ev.error {
                    Some(e) => e.to_upstream(500, "stream error"),
                    None => upstream_error(
                        ev.code,
                        ev.message.as_deref(),
                        ev.param.as_deref(),
                        None,
                        500,
                        "stream error",
                    ),
                });
            }
            // *.done events repeat what the deltas said; in_progress of built-in tools,
            // annotations, audio, … carry nothing the hub has.
            _ => {}
        }
        Ok(())
    }
}

/// The hub stop reason for a terminal Response.
fn stop_reason(response: Option<&ResponseObject<'_>>, saw_call: bool) -> StopReason {
    let status = response.and_then(|r| r.status.as_deref());
    if status == Some("incomplete") {
        let reason = response
            .and_then(|r| r.incomplete_details.as_ref())
            .and_then(|d| d.reason.as_deref());
        return match reason {
            Some("content_filter") => StopReason::ContentFilter,
            Some("max_output_tokens") => StopReason::MaxTokens,
            // `max_messages`, `steered`: the turn paused and may be continued.
            Some(_) => StopReason::PauseTurn,
            None => StopReason::MaxTokens,
        };
    }
    if saw_call {
        StopReason::ToolUse
    } else {
        StopReason::EndTurn
    }
}

/// Streamed answers.
struct StreamDecoder {
    sse: SseParser,
    state: State,
}

impl Decoder for StreamDecoder {
    fn feed(&mut self, chunk: &[u8], sink: &mut dyn Sink) -> Result<(), UpstreamError> {
        let state = &mut self.state;
        self.sse.feed(chunk, |ev| state.on_event(ev.data, sink))
    }

    fn finish(&mut self, sink: &mut dyn Sink) -> Result<(), UpstreamError> {
        let state = &mut self.state;
        self.sse.finish(|ev| state.on_event(ev.data, sink))?;
        if !self.state.stopped {
            return Err(UpstreamError::malformed(
                "OpenAI Responses stream ended before response.completed",
            ));
        }
        Ok(())
    }
}

/// Whole answers: the body is kept until its end.
#[derive(Default)]
struct WholeDecoder {
    body: Vec<u8>,
}

impl Decoder for WholeDecoder {
    fn feed(&mut self, chunk: &[u8], _: &mut dyn Sink) -> Result<(), UpstreamError> {
        if self.body.len().saturating_add(chunk.len()) > MAX_WHOLE_BYTES {
            return Err(UpstreamError::malformed(format!(
                "OpenAI Responses answer larger than {MAX_WHOLE_BYTES} bytes"
            )));
        }
        self.body.extend_from_slice(chunk);
        Ok(())
    }

    fn finish(&mut self, sink: &mut dyn Sink) -> Result<(), UpstreamError> {
        let body = std::mem::take(&mut self.body);
        decode_whole(&body, sink)
    }
}

/// A whole Response object (or an error envelope) → events.
pub(super) fn decode_whole(body: &[u8], sink: &mut dyn Sink) -> Result<(), UpstreamError> {
    let bad = |e: serde_json::Error| {
        UpstreamError::malformed(format!("invalid OpenAI Responses answer: {e}"))
    };
    let text = std::str::from_utf8(body)
        .map_err(|e| UpstreamError::malformed(format!("invalid OpenAI Responses answer: {e}")))?;
    let r: ResponseObject<'_> = serde_json::from_str(text).map_err(bad)?;
    if let Some(e) = &r.error {
        return Err(e.to_upstream(500, "response failed"));
    }
    match r.status.as_deref() {
        Some("failed") | Some("cancelled") => {
            return Err(UpstreamError::new(
                500,
                "server_error",
                "OpenAI Responses response failed",
            ))
        }
        Some("queued") | Some("in_progress") => {
            return Err(UpstreamError::malformed(
                "OpenAI Responses answer is not finished (background responses are not supported)",
            ))
        }
        _ => {}
    }
    if r.output.is_none() {
        return Err(UpstreamError::malformed(
            "OpenAI Responses answer has no output",
        ));
    }
    let mut state = State::default();
    state.start(nonempty(r.id), nonempty(r.model), sink);
    let items: Vec<Item<'_>> = match r.output {
        Some(raw) => serde_json::from_str(raw.get()).map_err(bad)?,
        None => Vec::new(),
    };
    for (i, item) in items.iter().enumerate() {
        let output_index = u32::try_from(i).unwrap_or(u32::MAX);
        match &*item.ty {
            "message" => {
                for (j, part) in parts(item.content).map_err(bad)?.iter().enumerate() {
                    let j = u32::try_from(j).unwrap_or(u32::MAX);
                    state.part_added(output_index, j, part, sink)?;
                    state.close(output_index, Slot::Content(j), sink);
                }
            }
            "reasoning" => {
                let summary = parts(item.summary).map_err(bad)?;
                for (j, part) in summary.iter().enumerate() {
                    let j = u32::try_from(j).unwrap_or(u32::MAX);
                    let text = escaped(part.text).map_or(&b""[..], |e| e.raw());
                    state.open_block(output_index, Slot::Summary(j), Block::Thinking, sink)?;
                    state.delta(DeltaKind::Summary, output_index, j, text, sink)?;
                    state.close(output_index, Slot::Summary(j), sink);
                }
                // Raw reasoning text (open-weight models) when there is no summary.
                if summary.is_empty() {
                    for (j, part) in parts(item.content).map_err(bad)?.iter().enumerate() {
                        let j = u32::try_from(j).unwrap_or(u32::MAX);
                        state.part_added(output_index, j, part, sink)?;
                        state.close(output_index, Slot::ReasoningText(j), sink);
                    }
                }
                state.redacted(item, sink)?;
            }
            "function_call" => {
                state.item_added(output_index, item, sink)?;
                state.item_done(output_index, item, sink)?;
            }
            _ => {}
        }
    }
    state.end(Some(&r), sink);
    Ok(())
}

/// An item's `content` / `summary` parts (`null` or absent: none).
fn parts(raw: Option<&RawValue>) -> Result<Vec<Part<'_>>, serde_json::Error> {
    #[derive(Deserialize)]
    struct Parts<'a>(#[serde(borrow)] Option<Vec<Part<'a>>>);
    match raw {
        Some(r) => Ok(serde_json::from_str::<Parts<'_>>(r.get())?
            .0
            .unwrap_or_default()),
        None => Ok(Vec::new()),
    }
}
