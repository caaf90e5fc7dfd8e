//! Hub events → OpenAI Responses answers (streamed and whole), and Responses error bodies.
//!
//! Streamed answers follow the grammar the openai SDKs' `responses.stream()` accumulates:
//! `response.created`, `response.in_progress`, then per output item
//! `response.output_item.added` … `response.output_item.done` (with
//! `content_part.*` / `reasoning_summary_part.*` and their text deltas inside), and at the
//! end `response.completed` (or `response.incomplete`) carrying the whole Response object.
//! Every event has a `sequence_number` one greater than the previous.
//!
//! The `*.done` events and the final object repeat the full text, so each open block's text
//! is kept (escaped, as received) and each finished item rendered once; the total kept is
//! capped at [`MAX_KEPT_BYTES`] (beyond it the repeated texts end early, on a delta
//! boundary so they stay valid JSON, while the deltas themselves are all sent).
//! Whole answers run the same state machine and write only the final object.

use std::ops::Range;

use bytes::{BufMut, BytesMut};

use crate::hub::{Block, Delta, Encoder, Event, StopReason};
use crate::json_out;
use crate::{ResponseContext, UpstreamError, Usage};

/// Most answer text (all items together) repeated in `*.done` events and the final object.
pub(crate) const MAX_KEPT_BYTES: usize = 8 * 1024 * 1024;

/// The encoder of one answer for a OpenAI Responses client.
pub(crate) fn encoder(stream: bool, ctx: ResponseContext) -> Box<dyn Encoder> {
    Box::new(ResponsesEncoder::new(stream, ctx))
}

/// An error answer body in OpenAI Responses's error format (the OpenAI error object).
pub(crate) fn error_body(err: &UpstreamError) -> Vec<u8> {
    crate::openai::error_body(err)
}

/// What an open block is in the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Refusal,
    Thinking,
    Call,
}

/// A hub block being written.
#[derive(Debug)]
struct OpenBlock {
    index: u32,
    kind: Kind,
    /// The output item it belongs to (a call is its own item).
    output_index: u32,
    /// Content part / summary part index inside a message / reasoning item.
    part: u32,
    /// The text (escaped) so far: text, refusal, summary or arguments.
    text: Vec<u8>,
    /// Calls: item id, call id and name, escaped.
    item_id: Vec<u8>,
    call_id: Vec<u8>,
    name: Vec<u8>,
}

/// The message or reasoning item open around text / thinking blocks.
#[derive(Debug)]
struct Container {
    reasoning: bool,
    output_index: u32,
    item_id: Vec<u8>,
    /// Rendered finished parts, comma-separated.
    parts: Vec<u8>,
    next_part: u32,
}

/// The Responses encoder (streamed or whole).
pub(crate) struct ResponsesEncoder {
    stream: bool,
    ctx: ResponseContext,
    seq: u64,
    started: bool,
    finished: bool,
    /// `resp_…`, escaped.
    id: Vec<u8>,
    next_output: u32,
    container: Option<Container>,
    blocks: Vec<OpenBlock>,
    /// Finished items rendered one after another, with their output index and span.
    output: Vec<u8>,
    items: Vec<(u32, Range<usize>)>,
    kept: usize,
    usage: Option<Usage>,
    stop: Option<StopReason>,
}

/// Item-id characters taken from an answer id: letters and digits only.
fn id_body(id: &[u8]) -> impl Iterator<Item = u8> + '_ {
    id.iter().copied().filter(u8::is_ascii_alphanumeric)
}

impl ResponsesEncoder {
    /// An encoder for one answer.
    pub(crate) fn new(stream: bool, ctx: ResponseContext) -> Self {
        Self {
            stream,
            ctx,
            seq: 0,
            started: false,
            finished: false,
            id: Vec::new(),
            next_output: 0,
            container: None,
            blocks: Vec::new(),
            output: Vec::new(),
            items: Vec::new(),
            kept: 0,
            usage: None,
            stop: None,
        }
    }

    /// The answer id: the upstream's when it is a Responses id, else one built from the
    /// context's id.
    fn set_id(&mut self, upstream: Option<&[u8]>) {
        self.id.clear();
        match upstream {
            Some(id) if id.starts_with(b"resp_") && id.len() > 5 => {
                self.id.extend_from_slice(id);
            }
            _ => {
                self.id.extend_from_slice(b"resp_");
                let ctx_id = self.ctx.id.as_bytes();
                let ctx_id = ctx_id
                    .strip_prefix(b"chatcmpl-")
                    .or_else(|| ctx_id.strip_prefix(b"resp_"))
                    .unwrap_or(ctx_id);
                self.id.extend(id_body(ctx_id));
                if self.id.len() == 5 {
                    self.id.extend_from_slice(b"0");
                }
            }
        }
    }

    /// An item id: `<prefix>_<answer id body>_<output index>`.
    fn item_id(&self, prefix: &[u8], output_index: u32) -> Vec<u8> {
        let body = self.id.strip_prefix(b"resp_").unwrap_or(&self.id);
        let mut id = Vec::with_capacity(prefix.len() + body.len() + 12);
        id.extend_from_slice(prefix);
        id.push(b'_');
        id.extend(id_body(body));
        id.push(b'_');
        json_out::uint(&mut id, u64::from(output_index));
        id
    }

    /// Starts an event: `event: <ty>` and the data up to the sequence number. `false` (and
    /// nothing written) for whole answers.
    fn head(&mut self, out: &mut BytesMut, ty: &str) -> bool {
        if !self.stream {
            return false;
        }
        out.put_slice(b"event: ");
        out.put_slice(ty.as_bytes());
        out.put_slice(b"\ndata: {\"type\":\"");
        out.put_slice(ty.as_bytes());
        out.put_slice(b"\",\"sequence_number\":");
        json_out::uint(out, self.seq);
        self.seq += 1;
        true
    }

    fn tail(out: &mut BytesMut) {
        out.put_slice(b"}\n\n");
    }

    fn start(&mut self, id: Option<&[u8]>, out: &mut BytesMut) {
        if self.started {
            return;
        }
        self.started = true;
        self.set_id(id);
        for ty in ["response.created", "response.in_progress"] {
            if self.head(out, ty) {
                out.put_slice(b",\"response\":");
                self.write_response(out, "in_progress", false);
                Self::tail(out);
            }
        }
    }

    /// `"item_id":…,"output_index":…` (no leading comma).
    fn locate(out: &mut BytesMut, item_id: &[u8], output_index: u32) {
        out.put_slice(b"\"item_id\":\"");
        out.put_slice(item_id);
        out.put_slice(b"\",\"output_index\":");
        json_out::uint(out, u64::from(output_index));
    }

    fn open_container(&mut self, reasoning: bool, out: &mut BytesMut) {
        let output_index = self.next_output;
        self.next_output = self.next_output.saturating_add(1);
        let prefix: &[u8] = if reasoning {
            super::SYNTHETIC_REASONING_ID.as_bytes()
        } else {
            b"msg"
        };
        let item_id = self.item_id(prefix, output_index);
        if self.head(out, "response.output_item.added") {
            out.put_slice(b",\"output_index\":");
            json_out::uint(out, u64::from(output_index));
            out.put_slice(b",\"item\":");
            if reasoning {
                out.put_slice(b"{\"id\":\"");
                out.put_slice(&item_id);
                out.put_slice(b"\",\"type\":\"reasoning\",\"summary\":[]}");
            } else {
                out.put_slice(b"{\"id\":\"");
                out.put_slice(&item_id);
                out.put_slice(
                    b"\",\"type\":\"message\",\"status\":\"in_progress\",\"content\":[],\"role\":\"assistant\"}",
                );
            }
            Self::tail(out);
        }
        self.container = Some(Container {
            reasoning,
            output_index,
            item_id,
            parts: Vec::new(),
            next_part: 0,
        });
    }

    /// Finishes the open message / reasoning item, with `encrypted` content for reasoning.
    fn close_container(&mut self, encrypted: Option<&[u8]>, out: &mut BytesMut) {
        let Some(output_index) = self.container.as_ref().map(|c| c.output_index) else {
            return;
        };
        // Blocks still open inside it end first (their parts go into it).
        while let Some(pos) = self
            .blocks
            .iter()
            .position(|b| b.kind != Kind::Call && b.output_index == output_index)
        {
            self.stop_block(pos, out);
        }
        let Some(c) = self.container.take() else {
            return;
        };
        // The parts now live in the rendered item (counted by `finish_item`).
        self.kept = self.kept.saturating_sub(c.parts.len());
        let status = self.item_status();
        let start = self.output.len();
        let item = &mut self.output;
        item.extend_from_slice(b"{\"id\":\"");
        item.extend_from_slice(&c.item_id);
        if c.reasoning {
            item.extend_from_slice(b"\",\"type\":\"reasoning\",\"summary\":[");
            item.extend_from_slice(&c.parts);
            item.push(b']');
            if let Some(enc) = encrypted {
                item.extend_from_slice(b",\"encrypted_content\":\"");
                item.extend_from_slice(enc);
                item.push(b'"');
            }
            item.push(b'}');
        } else {
            item.extend_from_slice(b"\",\"type\":\"message\",\"status\":\"");
            item.extend_from_slice(status.as_bytes());
            item.extend_from_slice(b"\",\"content\":[");
            item.extend_from_slice(&c.parts);
            item.extend_from_slice(b"],\"role\":\"assistant\"}");
        }
        self.finish_item(c.output_index, start, out);
    }

    /// Status of items finished now: `incomplete` once the answer stopped short.
    fn item_status(&self) -> &'static str {
        match self.stop {
            Some(StopReason::MaxTokens | StopReason::ContentFilter) if self.finished => {
                "incomplete"
            }
            _ => "completed",
        }
    }

    /// The item rendered at `output[start..]` is done: `response.output_item.done`.
    fn finish_item(&mut self, output_index: u32, start: usize, out: &mut BytesMut) {
        let end = self.output.len();
        self.kept = self.kept.saturating_add(end - start);
        if self.head(out, "response.output_item.done") {
            out.put_slice(b",\"output_index\":");
            json_out::uint(out, u64::from(output_index));
            out.put_slice(b",\"item\":");
            out.put_slice(self.output.get(start..end).unwrap_or_default());
            Self::tail(out);
        }
        self.items.push((output_index, start..end));
    }

    fn block_start(&mut self, index: u32, block: Block<'_>, out: &mut BytesMut) {
        match block {
            Block::Text | Block::Refusal | Block::Thinking => {
                let reasoning = block == Block::Thinking;
                let reuse = self
                    .container
                    .as_ref()
                    .is_some_and(|c| c.reasoning == reasoning);
                if !reuse {
                    self.close_container(None, out);
                    self.open_container(reasoning, out);
                }
                let Some(c) = self.container.as_mut() else {
                    return;
                };
                let part = c.next_part;
                c.next_part = c.next_part.saturating_add(1);
                let (output_index, item_id) = (c.output_index, c.item_id.clone());
                let kind = match block {
                    Block::Text => Kind::Text,
                    Block::Refusal => Kind::Refusal,
                    _ => Kind::Thinking,
                };
                let (ty, part_key, part_json): (&str, &[u8], &[u8]) = match kind {
                    Kind::Thinking => (
                        "response.reasoning_summary_part.added",
                        b",\"summary_index\":",
                        b"{\"type\":\"summary_text\",\"text\":\"\"}",
                    ),
                    Kind::Refusal => (
                        "response.content_part.added",
                        b",\"content_index\":",
                        b"{\"type\":\"refusal\",\"refusal\":\"\"}",
                    ),
                    _ => (
                        "response.content_part.added",
                        b",\"content_index\":",
                        b"{\"type\":\"output_text\",\"annotations\":[],\"logprobs\":[],\"text\":\"\"}",
                    ),
                };
                if self.head(out, ty) {
                    out.put_u8(b',');
                    Self::locate(out, &item_id, output_index);
                    out.put_slice(part_key);
                    json_out::uint(out, u64::from(part));
                    out.put_slice(b",\"part\":");
                    out.put_slice(part_json);
                    Self::tail(out);
                }
                self.blocks.push(OpenBlock {
                    index,
                    kind,
                    output_index,
                    part,
                    text: Vec::new(),
                    item_id,
                    call_id: Vec::new(),
                    name: Vec::new(),
                });
            }
            Block::RedactedThinking { data } => {
                // The payload goes out verbatim (with the upstream's reasoning id inside
                // when it came from a Responses upstream): the item id stays the one the
                // item was added with, as the SDKs require.
                match self.container.as_ref() {
                    Some(c) if c.reasoning => {}
                    _ => {
                        self.close_container(None, out);
                        self.open_container(true, out);
                    }
                }
                self.close_container(Some(data.raw()), out);
            }
            Block::ToolCall { id, name } => {
                self.close_container(None, out);
                let output_index = self.next_output;
                self.next_output = self.next_output.saturating_add(1);
                let item_id = self.item_id(b"fc", output_index);
                let b = OpenBlock {
                    index,
                    kind: Kind::Call,
                    output_index,
                    part: 0,
                    text: Vec::new(),
                    item_id,
                    call_id: id.raw().to_vec(),
                    name: name.raw().to_vec(),
                };
                if self.head(out, "response.output_item.added") {
                    out.put_slice(b",\"output_index\":");
                    json_out::uint(out, u64::from(output_index));
                    out.put_slice(b",\"item\":");
                    write_call(out, &b, b"in_progress", b"");
                    Self::tail(out);
                }
                self.blocks.push(b);
            }
        }
    }

    fn delta(&mut self, index: u32, delta: Delta<'_>, out: &mut BytesMut) {
        let Some(pos) = self.blocks.iter().position(|b| b.index == index) else {
            return;
        };
        let (kind, text) = match delta {
            Delta::Text(t) => (Kind::Text, t),
            Delta::Refusal(t) => (Kind::Refusal, t),
            Delta::Thinking(t) => (Kind::Thinking, t),
            Delta::Arguments(t) => (Kind::Call, t),
            // A thinking signature has no place in a Responses answer.
            Delta::Signature(_) => return,
        };
        let stream = self.stream;
        let seq = self.seq;
        let Some(b) = self.blocks.get_mut(pos) else {
            return;
        };
        // Text and refusal deltas follow their block; a mismatch is not written.
        if b.kind != kind || text.is_empty() {
            return;
        }
        if self.kept.saturating_add(text.raw().len()) <= MAX_KEPT_BYTES {
            b.text.extend_from_slice(text.raw());
            self.kept += text.raw().len();
        }
        if !stream {
            return;
        }
        let (ty, sub_key): (&[u8], &[u8]) = match kind {
            Kind::Text => (b"response.output_text.delta", b",\"content_index\":"),
            Kind::Refusal => (b"response.refusal.delta", b",\"content_index\":"),
            Kind::Thinking => (
                b"response.reasoning_summary_text.delta",
                b",\"summary_index\":",
            ),
            Kind::Call => (b"response.function_call_arguments.delta", b""),
        };
        out.put_slice(b"event: ");
        out.put_slice(ty);
        out.put_slice(b"\ndata: {\"type\":\"");
        out.put_slice(ty);
        out.put_slice(b"\",\"sequence_number\":");
        json_out::uint(out, seq);
        out.put_u8(b',');
        Self::locate(out, &b.item_id, b.output_index);
        if !sub_key.is_empty() {
            out.put_slice(sub_key);
            json_out::uint(out, u64::from(b.part));
        }
        out.put_slice(b",\"delta\":\"");
        out.put_slice(text.raw());
        if kind == Kind::Text {
            out.put_slice(b"\",\"logprobs\":[]}\n\n");
        } else {
            out.put_slice(b"\"}\n\n");
        }
        self.seq += 1;
    }

    /// Ends the block at `pos`: its `*.done` events, and its part into the container (or,
    /// for a call, the whole item).
    fn stop_block(&mut self, pos: usize, out: &mut BytesMut) {
        if pos >= self.blocks.len() {
            return;
        }
        let b = self.blocks.remove(pos);
        match b.kind {
            Kind::Call => {
                let args: &[u8] = if b.text.is_empty() { b"{}" } else { &b.text };
                if self.head(out, "response.function_call_arguments.done") {
                    out.put_u8(b',');
                    Self::locate(out, &b.item_id, b.output_index);
                    out.put_slice(b",\"arguments\":\"");
                    out.put_slice(args);
                    out.put_u8(b'"');
                    Self::tail(out);
                }
                // The arguments now live in the rendered item (counted by `finish_item`).
                self.kept = self.kept.saturating_sub(b.text.len());
                let status = self.item_status();
                let start = self.output.len();
                write_call(&mut self.output, &b, status.as_bytes(), args);
                self.finish_item(b.output_index, start, out);
            }
            Kind::Text | Kind::Refusal | Kind::Thinking => {
                let mut part = Vec::with_capacity(b.text.len() + 64);
                match b.kind {
                    Kind::Text => {
                        part.extend_from_slice(
                            b"{\"type\":\"output_text\",\"annotations\":[],\"logprobs\":[],\"text\":\"",
                        );
                    }
                    Kind::Refusal => {
                        part.extend_from_slice(b"{\"type\":\"refusal\",\"refusal\":\"")
                    }
                    _ => part.extend_from_slice(b"{\"type\":\"summary_text\",\"text\":\""),
                }
                part.extend_from_slice(&b.text);
                part.extend_from_slice(b"\"}");
                let (done_ty, key, sub_key, part_ty): (&str, &[u8], &[u8], &str) = match b.kind {
                    Kind::Text => (
                        "response.output_text.done",
                        b",\"text\":\"",
                        b",\"content_index\":",
                        "response.content_part.done",
                    ),
                    Kind::Refusal => (
                        "response.refusal.done",
                        b",\"refusal\":\"",
                        b",\"content_index\":",
                        "response.content_part.done",
                    ),
                    _ => (
                        "response.reasoning_summary_text.done",
                        b",\"text\":\"",
                        b",\"summary_index\":",
                        "response.reasoning_summary_part.done",
                    ),
                };
                if self.head(out, done_ty) {
                    out.put_u8(b',');
                    Self::locate(out, &b.item_id, b.output_index);
                    out.put_slice(sub_key);
                    json_out::uint(out, u64::from(b.part));
                    out.put_slice(key);
                    out.put_slice(&b.text);
                    if b.kind == Kind::Text {
                        out.put_slice(b"\",\"logprobs\":[]");
                    } else {
                        out.put_u8(b'"');
                    }
                    Self::tail(out);
                }
                if self.head(out, part_ty) {
                    out.put_u8(b',');
                    Self::locate(out, &b.item_id, b.output_index);
                    out.put_slice(sub_key);
                    json_out::uint(out, u64::from(b.part));
                    out.put_slice(b",\"part\":");
                    out.put_slice(&part);
                    Self::tail(out);
                }
                // The text now lives in the part (counted instead of the block's text).
                self.kept = (self.kept + part.len()).saturating_sub(b.text.len());
                if let Some(c) = self
                    .container
                    .as_mut()
                    .filter(|c| c.output_index == b.output_index)
                {
                    if !c.parts.is_empty() {
                        c.parts.push(b',');
                    }
                    c.parts.extend_from_slice(&part);
                }
            }
        }
    }

    /// The Response object with everything finished so far.
    fn write_response(&self, out: &mut BytesMut, status: &str, done: bool) {
        out.put_slice(b"{\"id\":\"");
        out.put_slice(&self.id);
        out.put_slice(b"\",\"object\":\"response\",\"created_at\":");
        json_out::uint(out, self.ctx.created);
        out.put_slice(b",\"status\":\"");
        out.put_slice(status.as_bytes());
        out.put_slice(b"\",\"background\":false,\"error\":null,\"incomplete_details\":");
        match (done, self.stop) {
            (true, Some(StopReason::MaxTokens)) => {
                out.put_slice(b"{\"reason\":\"max_output_tokens\"}")
            }
            (true, Some(StopReason::ContentFilter)) => {
                out.put_slice(b"{\"reason\":\"content_filter\"}")
            }
            _ => out.put_slice(b"null"),
        }
        out.put_slice(b",\"instructions\":null,\"max_output_tokens\":null,\"model\":");
        json_out::string(out, self.ctx.model.as_bytes());
        out.put_slice(b",\"output\":[");
        if done {
            let mut items: Vec<&(u32, Range<usize>)> = self.items.iter().collect();
            items.sort_by_key(|(i, _)| *i);
            for (n, (_, span)) in items.into_iter().enumerate() {
                if n > 0 {
                    out.put_u8(b',');
                }
                out.put_slice(self.output.get(span.clone()).unwrap_or_default());
            }
        }
        out.put_slice(
            b"],\"parallel_tool_calls\":true,\"previous_response_id\":null,\
              \"reasoning\":{\"effort\":null,\"summary\":null},\"store\":false,\
              \"temperature\":null,\"text\":{\"format\":{\"type\":\"text\"}},\
              \"tool_choice\":\"auto\",\"tools\":[],\"top_p\":null,\"truncation\":\"disabled\",\
              \"usage\":",
        );
        match (done, &self.usage) {
            (true, Some(u)) => write_usage(out, u),
            _ => out.put_slice(b"null"),
        }
        out.put_slice(b",\"user\":null,\"metadata\":{}}");
    }
}

/// A `function_call` item.
fn write_call<B: BufMut>(out: &mut B, b: &OpenBlock, status: &[u8], args: &[u8]) {
    out.put_slice(b"{\"id\":\"");
    out.put_slice(&b.item_id);
    out.put_slice(b"\",\"type\":\"function_call\",\"status\":\"");
    out.put_slice(status);
    out.put_slice(b"\",\"arguments\":\"");
    out.put_slice(args);
    out.put_slice(b"\",\"call_id\":\"");
    out.put_slice(&b.call_id);
    out.put_slice(b"\",\"name\":\"");
    out.put_slice(&b.name);
    out.put_slice(b"\"}");
}

/// Responses `usage`: input includes cached tokens, output includes reasoning tokens.
fn write_usage(out: &mut BytesMut, u: &Usage) {
    out.put_slice(b"{\"input_tokens\":");
    json_out::uint(out, u.prompt_tokens);
    out.put_slice(b",\"input_tokens_details\":{\"cached_tokens\":");
    json_out::uint(out, u.cached_tokens);
    out.put_slice(b",\"cache_write_tokens\":");
    json_out::uint(out, u.cache_write_tokens);
    out.put_slice(b"},\"output_tokens\":");
    json_out::uint(out, u.completion_tokens);
    out.put_slice(b",\"output_tokens_details\":{\"reasoning_tokens\":");
    json_out::uint(out, u.reasoning_tokens);
    out.put_slice(b"},\"total_tokens\":");
    let total = if u.total_tokens == 0 {
        u.prompt_tokens.saturating_add(u.completion_tokens)
    } else {
        u.total_tokens
    };
    json_out::uint(out, total);
    out.put_u8(b'}');
}

impl Encoder for ResponsesEncoder {
    fn event(&mut self, ev: Event<'_>, out: &mut BytesMut) {
        if self.finished {
            return;
        }
        match ev {
            Event::Start { id, .. } => self.start(id.map(|i| i.raw()), out),
            Event::BlockStart { index, block } => {
                self.start(None, out);
                self.block_start(index, block, out);
            }
            Event::Delta { index, delta } => self.delta(index, delta, out),
            Event::BlockStop { index } => {
                if let Some(pos) = self.blocks.iter().position(|b| b.index == index) {
                    self.stop_block(pos, out);
                }
            }
            Event::Usage(u) => self.usage = Some(u),
            Event::Stop { reason, .. } => self.stop = Some(reason),
        }
    }

    fn finish(&mut self, out: &mut BytesMut) {
        if self.finished {
            return;
        }
        self.start(None, out);
        self.finished = true;
        while !self.blocks.is_empty() {
            // Calls first in opening order; text parts close with their container.
            self.stop_block(0, out);
        }
        self.close_container(None, out);
        let status = match self.stop {
            Some(StopReason::MaxTokens | StopReason::ContentFilter) => "incomplete",
            _ => "completed",
        };
        if self.stream {
            let ty = if status == "incomplete" {
                "response.incomplete"
            } else {
                "response.completed"
            };
            if self.head(out, ty) {
                out.put_slice(b",\"response\":");
                self.write_response(out, status, true);
                Self::tail(out);
            }
        } else {
            self.write_response(out, status, true);
        }
    }

    /// Streamed: the `error` event. Whole answers write nothing: the caller answers with
    /// [`error_body`] instead.
    fn error(&mut self, err: &UpstreamError, out: &mut BytesMut) {
        if !self.stream || self.finished {
            return;
        }
        self.finished = true;
        out.put_slice(b"event: error\ndata: {\"type\":\"error\",\"sequence_number\":");
        json_out::uint(out, self.seq);
        self.seq += 1;
        out.put_slice(b",\"code\":");
        json_out::string(
            out,
            err.code.as_deref().unwrap_or(err.error_type).as_bytes(),
        );
        out.put_slice(b",\"message\":");
        json_out::string(out, err.message.as_bytes());
        out.put_slice(b",\"param\":");
        match &err.param {
            Some(p) => json_out::string(out, p.as_bytes()),
            None => out.put_slice(b"null"),
        }
        out.put_slice(b"}\n\n");
    }
}
