//! Hub events → Anthropic Messages answers (streamed and whole), and Anthropic error
//! bodies.
//!
//! The streamed grammar is exactly the one Anthropic sends and its SDKs accumulate:
//! `message_start` (message with empty `content` and the usage known so far), `ping`, then
//! per block `content_block_start` / `content_block_delta`s / `content_block_stop`, then
//! `message_delta` (stop reason, stop sequence, usage) and `message_stop`.
//!
//! - `message_start` is written at the first event after `Start` that is not usage, so an
//!   upstream that reports input usage up front (Anthropic) has it there.
//! - `message_delta` is written at the end: OpenAI and Responses upstreams report usage only
//!   after their finish reason. Its usage carries `output_tokens` and, once any usage is
//!   known, `input_tokens` and both cache counts: the SDKs overwrite the `message_start`
//!   values with every count present (anthropic-python `accumulate_event`), so the final
//!   message has the upstream's numbers.
//! - Usage back in Anthropic terms: `input_tokens = prompt − cached − cache_write`.
//! - Block indexes are renumbered from 0 in opening order; a refusal is a text block;
//!   deltas a block cannot carry (a signature outside thinking, …) are dropped.

use bytes::{BufMut, BytesMut};
use serde_json::value::RawValue;

use crate::hub::{Block, Delta, Encoder, Escaped, Event, StopReason};
use crate::json_out;
use crate::{ResponseContext, UpstreamError, Usage};

/// The encoder of one answer for an Anthropic Messages client.
pub(crate) fn encoder(stream: bool, ctx: ResponseContext) -> Box<dyn Encoder> {
    if stream {
        Box::new(StreamEncoder::new(ctx))
    } else {
        Box::new(MessageEncoder::new(ctx))
    }
}

/// An error answer body in Anthropic Messages' error format:
/// `{"type":"error","error":{"type":…,"message":…}}`.
pub(crate) fn error_body(err: &UpstreamError) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + err.message.len());
    write_error(&mut out, err);
    out
}

/// Anthropic's error type for an HTTP status.
fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        408 | 504 => "timeout_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        s if s >= 500 => "api_error",
        _ => "invalid_request_error",
    }
}

fn write_error<B: BufMut>(out: &mut B, err: &UpstreamError) {
    out.put_slice(b"{\"type\":\"error\",\"error\":{\"type\":\"");
    out.put_slice(error_type(err.status).as_bytes());
    out.put_slice(b"\",\"message\":");
    json_out::string(out, err.message.as_bytes());
    out.put_slice(b"}}");
}

/// Anthropic's `stop_reason` for a hub stop reason.
pub(super) fn stop_reason(reason: StopReason) -> &'static str {
    match reason {
        StopReason::EndTurn => "end_turn",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::ToolUse => "tool_use",
        StopReason::ContentFilter | StopReason::Refusal => "refusal",
        StopReason::PauseTurn => "pause_turn",
    }
}

/// `"input_tokens":…,"cache_creation_input_tokens":…,"cache_read_input_tokens":…`.
fn write_input_usage<B: BufMut>(out: &mut B, u: &Usage) {
    let input = u
        .prompt_tokens
        .saturating_sub(u.cached_tokens)
        .saturating_sub(u.cache_write_tokens);
    out.put_slice(b"\"input_tokens\":");
    json_out::uint(out, input);
    out.put_slice(b",\"cache_creation_input_tokens\":");
    json_out::uint(out, u.cache_write_tokens);
    out.put_slice(b",\"cache_read_input_tokens\":");
    json_out::uint(out, u.cached_tokens);
}

/// A whole `usage` object.
fn write_usage<B: BufMut>(out: &mut B, u: &Usage) {
    out.put_u8(b'{');
    write_input_usage(out, u);
    out.put_slice(b",\"output_tokens\":");
    json_out::uint(out, u.completion_tokens);
    out.put_u8(b'}');
}

/// `"` + escaped contents + `"`.
fn quoted<B: BufMut>(out: &mut B, s: &[u8]) {
    out.put_u8(b'"');
    out.put_slice(s);
    out.put_u8(b'"');
}

/// The message head shared by `message_start` and the whole answer: id through model.
fn write_head<B: BufMut>(out: &mut B, id: Option<&[u8]>, ctx: &ResponseContext) {
    out.put_slice(b"{\"id\":\"");
    // The upstream's id when it is a Messages id; another protocol's (`chatcmpl-…`,
    // `resp_…`) gives way to the gateway's `msg_<request id>`.
    match id {
        Some(id) if id.starts_with(b"msg_") => out.put_slice(id),
        _ => json_out::escaped(out, ctx.id.as_bytes()),
    }
    out.put_slice(b"\",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    json_out::string(out, ctx.model.as_bytes());
}

/// What an open block is in Anthropic terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `text` (also a hub refusal).
    Text,
    Thinking,
    RedactedThinking,
    ToolUse,
}

impl Kind {
    fn of(block: &Block<'_>) -> Self {
        match block {
            Block::Text | Block::Refusal => Kind::Text,
            Block::Thinking => Kind::Thinking,
            Block::RedactedThinking { .. } => Kind::RedactedThinking,
            Block::ToolCall { .. } => Kind::ToolUse,
        }
    }
}

/// The delta a block of `kind` carries: its `content_block_delta` type, field name and
/// escaped value (`None` when a block of this kind cannot carry it, or it is empty).
fn delta_for<'a>(kind: Kind, delta: Delta<'a>) -> Option<(&'static [u8], Escaped<'a>)> {
    let (wire, value): (&'static [u8], Escaped<'a>) = match (kind, delta) {
        (Kind::Text, Delta::Text(t) | Delta::Refusal(t)) => (b"\"text_delta\",\"text\":\"", t),
        (Kind::Thinking, Delta::Thinking(t)) => (b"\"thinking_delta\",\"thinking\":\"", t),
        (Kind::Thinking, Delta::Signature(s)) => (b"\"signature_delta\",\"signature\":\"", s),
        (Kind::ToolUse, Delta::Arguments(a)) => (b"\"input_json_delta\",\"partial_json\":\"", a),
        _ => return None,
    };
    (!value.is_empty()).then_some((wire, value))
}

/// Streamed answer: Anthropic's SSE event grammar.
struct StreamEncoder {
    ctx: ResponseContext,
    /// The upstream's answer id (escaped), kept until `message_start` is written.
    id: Option<Vec<u8>>,
    /// `message_start` (and the `ping` after it) written.
    started: bool,
    /// Open blocks: (hub index, client index, kind).
    open: Vec<(u32, u32, Kind)>,
    next: u32,
    usage: Option<Usage>,
    stop: Option<StopReason>,
    /// The matched stop sequence (escaped).
    sequence: Option<Vec<u8>>,
}

impl StreamEncoder {
    fn new(ctx: ResponseContext) -> Self {
        Self {
            ctx,
            id: None,
            started: false,
            open: Vec::new(),
            next: 0,
            usage: None,
            stop: None,
            sequence: None,
        }
    }

    fn start(&mut self, out: &mut BytesMut) {
        if self.started {
            return;
        }
        self.started = true;
        out.put_slice(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":");
        write_head(out, self.id.as_deref(), &self.ctx);
        out.put_slice(b",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":");
        write_usage(out, &self.usage.unwrap_or_default());
        out.put_slice(b"}}\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\n");
    }

    fn event_head(out: &mut BytesMut, name: &[u8], index: u32) {
        out.put_slice(b"event: ");
        out.put_slice(name);
        out.put_slice(b"\ndata: {\"type\":\"");
        out.put_slice(name);
        out.put_slice(b"\",\"index\":");
        json_out::uint(out, u64::from(index));
    }

    fn block_stop(out: &mut BytesMut, index: u32) {
        Self::event_head(out, b"content_block_stop", index);
        out.put_slice(b"}\n\n");
    }

    fn close_all(&mut self, out: &mut BytesMut) {
        // In the order they opened.
        self.open.sort_unstable_by_key(|&(_, client, _)| client);
        for (_, client, _) in self.open.drain(..) {
            Self::block_stop(out, client);
        }
    }
}

impl Encoder for StreamEncoder {
    fn event(&mut self, ev: Event<'_>, out: &mut BytesMut) {
        match ev {
            Event::Start { id, .. } => {
                if let (false, None, Some(id)) = (self.started, &self.id, id) {
                    self.id = Some(id.raw().to_vec());
                }
            }
            Event::Usage(u) => self.usage = Some(u),
            Event::BlockStart { index, block } => {
                self.start(out);
                if let Some(at) = self.open.iter().position(|&(hub, ..)| hub == index) {
                    let (_, client, _) = self.open.swap_remove(at);
                    Self::block_stop(out, client);
                }
                let client = self.next;
                self.next = self.next.saturating_add(1);
                let kind = Kind::of(&block);
                self.open.push((index, client, kind));
                Self::event_head(out, b"content_block_start", client);
                out.put_slice(b",\"content_block\":");
                match block {
                    Block::Text | Block::Refusal => {
                        out.put_slice(b"{\"type\":\"text\",\"text\":\"\"}");
                    }
                    Block::Thinking => {
                        out.put_slice(
                            b"{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}",
                        );
                    }
                    Block::RedactedThinking { data } => {
                        out.put_slice(b"{\"type\":\"redacted_thinking\",\"data\":");
                        quoted(out, data.raw());
                        out.put_u8(b'}');
                    }
                    Block::ToolCall { id, name } => {
                        out.put_slice(b"{\"type\":\"tool_use\",\"id\":");
                        quoted(out, id.raw());
                        out.put_slice(b",\"name\":");
                        quoted(out, name.raw());
                        out.put_slice(b",\"input\":{}}");
                    }
                }
                out.put_slice(b"}\n\n");
            }
            Event::Delta { index, delta } => {
                let Some(&(_, client, kind)) = self.open.iter().find(|&&(hub, ..)| hub == index)
                else {
                    return;
                };
                let Some((wire, value)) = delta_for(kind, delta) else {
                    return;
                };
                self.start(out);
                out.reserve(96 + value.raw().len());
                Self::event_head(out, b"content_block_delta", client);
                out.put_slice(b",\"delta\":{\"type\":");
                out.put_slice(wire);
                out.put_slice(value.raw());
                out.put_slice(b"\"}}\n\n");
            }
            Event::BlockStop { index } => {
                if let Some(at) = self.open.iter().position(|&(hub, ..)| hub == index) {
                    self.start(out);
                    let (_, client, _) = self.open.swap_remove(at);
                    Self::block_stop(out, client);
                }
            }
            Event::Stop { reason, sequence } => {
                self.start(out);
                self.close_all(out);
                if self.stop.is_none() {
                    self.stop = Some(reason);
                    self.sequence = sequence.map(|s| s.raw().to_vec());
                }
            }
        }
    }

    fn finish(&mut self, out: &mut BytesMut) {
        self.start(out);
        self.close_all(out);
        let reason = self.stop.unwrap_or(StopReason::EndTurn);
        out.put_slice(
            b"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"",
        );
        out.put_slice(stop_reason(reason).as_bytes());
        out.put_slice(b"\",\"stop_sequence\":");
        match &self.sequence {
            Some(s) => quoted(out, s),
            None => out.put_slice(b"null"),
        }
        out.put_slice(b"},\"usage\":{");
        if let Some(u) = &self.usage {
            write_input_usage(out, u);
            out.put_u8(b',');
        }
        out.put_slice(b"\"output_tokens\":");
        json_out::uint(out, self.usage.map_or(0, |u| u.completion_tokens));
        out.put_slice(b"}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    }

    fn error(&mut self, err: &UpstreamError, out: &mut BytesMut) {
        out.put_slice(b"event: error\ndata: ");
        write_error(out, err);
        out.put_slice(b"\n\n");
    }
}

/// One content block of a whole answer; strings kept escaped.
#[derive(Debug)]
struct Content {
    kind: Kind,
    /// Text, thinking, redacted data, or the tool's argument fragments.
    body: Vec<u8>,
    /// Thinking signature, or the tool's id.
    signature_or_id: Vec<u8>,
    /// The tool's name.
    name: Vec<u8>,
}

/// Whole answer: blocks kept until the end, then one message object.
struct MessageEncoder {
    ctx: ResponseContext,
    id: Option<Vec<u8>>,
    content: Vec<Content>,
    /// Open blocks: (hub index, position in `content`).
    open: Vec<(u32, usize)>,
    usage: Option<Usage>,
    stop: Option<StopReason>,
    sequence: Option<Vec<u8>>,
}

impl MessageEncoder {
    fn new(ctx: ResponseContext) -> Self {
        Self {
            ctx,
            id: None,
            content: Vec::new(),
            open: Vec::new(),
            usage: None,
            stop: None,
            sequence: None,
        }
    }

    /// A tool's `input`: the arguments' JSON object, minified; `{}` when there were none
    /// or they are not one JSON object (a call cut short by the token limit).
    fn write_input(out: &mut BytesMut, args: &[u8]) {
        let text = Escaped::from_json_contents(args).decode();
        let text = text.trim();
        match serde_json::from_str::<&RawValue>(text) {
            Ok(raw) if raw.get().starts_with('{') => json_out::minified(out, raw.get().as_bytes()),
            _ => out.put_slice(b"{}"),
        }
    }
}

impl Encoder for MessageEncoder {
    fn event(&mut self, ev: Event<'_>, _out: &mut BytesMut) {
        match ev {
            Event::Start { id, .. } => {
                if let (None, Some(id)) = (&self.id, id) {
                    self.id = Some(id.raw().to_vec());
                }
            }
            Event::BlockStart { index, block } => {
                self.open.retain(|&(hub, _)| hub != index);
                let (body, signature_or_id, name) = match block {
                    Block::RedactedThinking { data } => {
                        (data.raw().to_vec(), Vec::new(), Vec::new())
                    }
                    Block::ToolCall { id, name } => {
                        (Vec::new(), id.raw().to_vec(), name.raw().to_vec())
                    }
                    _ => (Vec::new(), Vec::new(), Vec::new()),
                };
                self.open.push((index, self.content.len()));
                self.content.push(Content {
                    kind: Kind::of(&block),
                    body,
                    signature_or_id,
                    name,
                });
            }
            Event::Delta { index, delta } => {
                let Some(&(_, at)) = self.open.iter().find(|&&(hub, _)| hub == index) else {
                    return;
                };
                let Some(c) = self.content.get_mut(at) else {
                    return;
                };
                match (c.kind, delta) {
                    (Kind::Thinking, Delta::Signature(s)) => {
                        c.signature_or_id.clear();
                        c.signature_or_id.extend_from_slice(s.raw());
                    }
                    (kind, delta) => {
                        if let Some((_, value)) = delta_for(kind, delta) {
                            c.body.extend_from_slice(value.raw());
                        }
                    }
                }
            }
            Event::BlockStop { index } => self.open.retain(|&(hub, _)| hub != index),
            Event::Usage(u) => self.usage = Some(u),
            Event::Stop { reason, sequence } => {
                self.open.clear();
                if self.stop.is_none() {
                    self.stop = Some(reason);
                    self.sequence = sequence.map(|s| s.raw().to_vec());
                }
            }
        }
    }

    fn finish(&mut self, out: &mut BytesMut) {
        let size: usize = self.content.iter().map(|c| c.body.len() + 64).sum();
        out.reserve(256 + size);
        write_head(out, self.id.as_deref(), &self.ctx);
        out.put_slice(b",\"content\":[");
        for (i, c) in self.content.iter().enumerate() {
            if i > 0 {
                out.put_u8(b',');
            }
            match c.kind {
                Kind::Text => {
                    out.put_slice(b"{\"type\":\"text\",\"text\":");
                    quoted(out, &c.body);
                }
                Kind::Thinking => {
                    out.put_slice(b"{\"type\":\"thinking\",\"thinking\":");
                    quoted(out, &c.body);
                    out.put_slice(b",\"signature\":");
                    quoted(out, &c.signature_or_id);
                }
                Kind::RedactedThinking => {
                    out.put_slice(b"{\"type\":\"redacted_thinking\",\"data\":");
                    quoted(out, &c.body);
                }
                Kind::ToolUse => {
                    out.put_slice(b"{\"type\":\"tool_use\",\"id\":");
                    quoted(out, &c.signature_or_id);
                    out.put_slice(b",\"name\":");
                    quoted(out, &c.name);
                    out.put_slice(b",\"input\":");
                    Self::write_input(out, &c.body);
                }
            }
            out.put_u8(b'}');
        }
        out.put_slice(b"],\"stop_reason\":\"");
        out.put_slice(stop_reason(self.stop.unwrap_or(StopReason::EndTurn)).as_bytes());
        out.put_slice(b"\",\"stop_sequence\":");
        match &self.sequence {
            Some(s) => quoted(out, s),
            None => out.put_slice(b"null"),
        }
        out.put_slice(b",\"usage\":");
        write_usage(out, &self.usage.unwrap_or_default());
        out.put_u8(b'}');
    }

    fn error(&mut self, err: &UpstreamError, out: &mut BytesMut) {
        write_error(out, err);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn ctx() -> ResponseContext {
        ResponseContext {
            model: "client-model".into(),
            include_usage: false,
            created: 1,
            id: "msg_ctx".into(),
            json_array: false,
        }
    }

    fn esc(s: &'static str) -> Escaped<'static> {
        Escaped::from_json_contents(s.as_bytes())
    }

    /// A turn as an OpenAI upstream reports it: no id, usage after the stop.
    fn late_usage_turn() -> Vec<Event<'static>> {
        vec![
            Event::Start {
                id: None,
                model: None,
            },
            Event::BlockStart {
                index: 0,
                block: Block::Thinking,
            },
            Event::Delta {
                index: 0,
                delta: Delta::Thinking(esc("plan")),
            },
            Event::Delta {
                index: 0,
                delta: Delta::Signature(esc("sig")),
            },
            Event::BlockStop { index: 0 },
            Event::BlockStart {
                index: 1,
                block: Block::Text,
            },
            Event::Delta {
                index: 1,
                delta: Delta::Text(esc("say \\\"hi\\\"")),
            },
            // Interleaved: a tool call opens before the text block closes.
            Event::BlockStart {
                index: 2,
                block: Block::ToolCall {
                    id: esc("call_1"),
                    name: esc("f"),
                },
            },
            Event::Delta {
                index: 2,
                delta: Delta::Arguments(esc("{\\\"a\\\":")),
            },
            Event::Delta {
                index: 2,
                delta: Delta::Arguments(esc("1}")),
            },
            Event::Delta {
                index: 2,
                delta: Delta::Signature(esc("dropped")),
            },
            Event::BlockStart {
                index: 3,
                block: Block::Refusal,
            },
            Event::Delta {
                index: 3,
                delta: Delta::Refusal(esc("no")),
            },
            Event::Stop {
                reason: StopReason::ToolUse,
                sequence: None,
            },
            Event::Usage(Usage {
                prompt_tokens: 120,
                completion_tokens: 9,
                total_tokens: 129,
                cached_tokens: 100,
                reasoning_tokens: 0,
                cache_write_tokens: 15,
            }),
        ]
    }

    fn run(stream: bool, events: Vec<Event<'static>>) -> String {
        let mut enc = encoder(stream, ctx());
        let mut out = BytesMut::new();
        for ev in events {
            enc.event(ev, &mut out);
        }
        enc.finish(&mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    /// (event name, data) of every SSE frame.
    fn frames(s: &str) -> Vec<(String, Value)> {
        assert!(s.ends_with("\n\n"));
        s.split("\n\n")
            .filter(|f| !f.is_empty())
            .map(|f| {
                let (event, data) = f.split_once('\n').unwrap();
                let name = event.strip_prefix("event: ").unwrap();
                let data: Value =
                    serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
                assert_eq!(data["type"], name, "event name = data type");
                (name.to_owned(), data)
            })
            .collect()
    }

    #[test]
    fn stream_grammar_in_order() {
        let f = frames(&run(true, late_usage_turn()));
        let names: Vec<&str> = f.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "content_block_stop",
                "content_block_stop",
                "message_delta",
                "message_stop",
            ]
        );
        assert_eq!(
            f[0].1["message"],
            json!({"id": "msg_ctx", "type": "message", "role": "assistant", "model": "client-model",
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}})
        );
        assert_eq!(
            f[2].1["content_block"],
            json!({"type": "thinking", "thinking": "", "signature": ""})
        );
        assert_eq!(
            f[4].1["delta"],
            json!({"type": "signature_delta", "signature": "sig"})
        );
        assert_eq!(
            f[7].1["delta"],
            json!({"type": "text_delta", "text": "say \"hi\""})
        );
        assert_eq!(
            f[8].1,
            json!({"type": "content_block_start", "index": 2,
                "content_block": {"type": "tool_use", "id": "call_1", "name": "f", "input": {}}})
        );
        assert_eq!(
            f[10].1["delta"],
            json!({"type": "input_json_delta", "partial_json": "1}"})
        );
        assert_eq!(
            f[11].1["content_block"],
            json!({"type": "text", "text": ""})
        );
        assert_eq!(f[12].1["delta"]["text"], "no");
        let stops: Vec<&Value> = f[13..16].iter().map(|(_, d)| &d["index"]).collect();
        assert_eq!(stops, [&json!(1), &json!(2), &json!(3)]);
        assert_eq!(
            f[16].1,
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
                "usage": {"input_tokens": 5, "cache_creation_input_tokens": 15, "cache_read_input_tokens": 100, "output_tokens": 9}})
        );
    }

    #[test]
    fn message_start_waits_for_upfront_usage_and_keeps_upstream_id() {
        let events = vec![
            Event::Start {
                id: Some(esc("msg_up")),
                model: Some(esc("claude")),
            },
            Event::Usage(Usage {
                prompt_tokens: 10,
                completion_tokens: 1,
                total_tokens: 11,
                ..Usage::default()
            }),
            Event::Stop {
                reason: StopReason::StopSequence,
                sequence: Some(esc("\\n\\n")),
            },
        ];
        let f = frames(&run(true, events));
        assert_eq!(f[0].1["message"]["id"], "msg_up");
        assert_eq!(f[0].1["message"]["usage"]["input_tokens"], 10);
        assert_eq!(f[0].1["message"]["usage"]["output_tokens"], 1);
        assert_eq!(
            f[2].1["delta"],
            json!({"stop_reason": "stop_sequence", "stop_sequence": "\n\n"})
        );
        // Nothing at all: still a complete, well-formed answer.
        let f = frames(&run(true, Vec::new()));
        assert_eq!(f.len(), 4);
        assert_eq!(f[2].1["usage"], json!({"output_tokens": 0}));
        assert_eq!(f[2].1["delta"]["stop_reason"], "end_turn");
    }

    #[test]
    fn whole_message() {
        let v: Value = serde_json::from_str(&run(false, late_usage_turn())).unwrap();
        assert_eq!(
            v,
            json!({"id": "msg_ctx", "type": "message", "role": "assistant", "model": "client-model",
                "content": [
                    {"type": "thinking", "thinking": "plan", "signature": "sig"},
                    {"type": "text", "text": "say \"hi\""},
                    {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}},
                    {"type": "text", "text": "no"},
                ],
                "stop_reason": "tool_use", "stop_sequence": null,
                "usage": {"input_tokens": 5, "cache_creation_input_tokens": 15, "cache_read_input_tokens": 100, "output_tokens": 9}})
        );
        // Cut-short arguments cannot be an `input` object.
        let events = vec![
            Event::BlockStart {
                index: 0,
                block: Block::ToolCall {
                    id: esc("t"),
                    name: esc("g"),
                },
            },
            Event::Delta {
                index: 0,
                delta: Delta::Arguments(esc("{\\\"a\\\":")),
            },
            Event::Stop {
                reason: StopReason::MaxTokens,
                sequence: None,
            },
        ];
        let v: Value = serde_json::from_str(&run(false, events)).unwrap();
        assert_eq!(v["content"][0]["input"], json!({}));
        assert_eq!(v["stop_reason"], "max_tokens");
    }

    #[test]
    fn errors() {
        for (status, ty) in [
            (400, "invalid_request_error"),
            (401, "authentication_error"),
            (403, "permission_error"),
            (404, "not_found_error"),
            (413, "request_too_large"),
            (429, "rate_limit_error"),
            (500, "api_error"),
            (502, "api_error"),
            (503, "overloaded_error"),
            (529, "overloaded_error"),
        ] {
            let e = UpstreamError::new(status, "server_error", "bad \"thing\"");
            let v: Value = serde_json::from_slice(&error_body(&e)).unwrap();
            assert_eq!(
                v,
                json!({"type": "error", "error": {"type": ty, "message": "bad \"thing\""}})
            );
        }
        let mut enc = encoder(true, ctx());
        let mut out = BytesMut::new();
        enc.error(
            &UpstreamError::new(503, "server_error", "Overloaded"),
            &mut out,
        );
        let f = frames(std::str::from_utf8(&out).unwrap());
        assert_eq!(f[0].0, "error");
        assert_eq!(f[0].1["error"]["type"], "overloaded_error");
    }
}
