//! Anthropic Messages answers (streamed SSE and whole JSON) → hub events.
//!
//! - `message_start` → `Start{id, model}` and `Usage`; `message_delta` → `Usage` (running
//!   total: `output_tokens` is cumulative, later counts replace earlier ones) and
//!   `Stop{reason, sequence}`; `message_stop` ends the answer (a stream without it fails).
//! - Blocks: `text`, `thinking` (+ `signature_delta`), `redacted_thinking` and `tool_use`
//!   (a non-empty `input` in the start block becomes one `Arguments` fragment) map to hub
//!   blocks renumbered from 0; other blocks (server tools and their results, MCP, …) and
//!   `citations_delta` are dropped, with their deltas.
//! - `ping` is ignored; `event: error` is an [`UpstreamError`].
//! - Hot path: `text_delta` events in Anthropic's exact compact form take a validating
//!   fast path ([`fast_text_delta`]); everything else is borrowed-deserialised with serde.
//!   Text is passed on as escaped in the upstream's JSON, never decoded.

use serde_json::value::RawValue;

use super::error::error_from_wire;
use super::text_fast_path::fast_text_delta;
use super::usage::UsageAcc;
use super::wire::{escaped, escaped_or_empty, StreamDelta, StreamEvent, WireBlock, WireMessage};
use crate::hub::{Block, Decoder, Delta, Escaped, Event, Sink, StopReason};
use crate::json_out;
use crate::sse::SseParser;
use crate::UpstreamError;

/// Most content blocks one answer may hold open at once. Anthropic opens one at a time;
/// the cap keeps a misbehaving upstream from growing the block table without bound.
const MAX_OPEN_BLOCKS: usize = 64;

/// The decoder of one Anthropic Messages answer.
pub(crate) fn decoder(stream: bool) -> Box<dyn Decoder> {
    if stream {
        Box::new(StreamDecoder::default())
    } else {
        Box::new(WholeDecoder::default())
    }
}

/// The hub stop reason for an Anthropic `stop_reason`.
pub(super) fn stop_reason(reason: &str) -> StopReason {
    match reason {
        "max_tokens" | "model_context_window_exceeded" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "tool_use" => StopReason::ToolUse,
        "refusal" => StopReason::Refusal,
        "pause_turn" => StopReason::PauseTurn,
        // end_turn and anything new.
        _ => StopReason::EndTurn,
    }
}

fn malformed(e: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::malformed(format!("invalid Anthropic stream event: {e}"))
}

/// A non-empty string value's escaped contents.
fn nonempty(raw: Option<&RawValue>) -> Option<Escaped<'_>> {
    raw.and_then(escaped).filter(|e| !e.is_empty())
}

/// A tool's `input` (JSON text) as one argument fragment: minified, escaped as a JSON
/// string's contents into `scratch`. `None` for an empty input (`{}`, `null`).
fn input_fragment<'s>(input: Option<&RawValue>, scratch: &'s mut Vec<u8>) -> Option<Escaped<'s>> {
    let input = input?.get().trim();
    scratch.clear();
    json_out::json_as_string(scratch, input.as_bytes());
    let inner = scratch.get(1..scratch.len().saturating_sub(1))?;
    (!matches!(inner, b"{}" | b"null" | b"")).then_some(Escaped::from_json_contents(inner))
}

/// The blocks of an answer: what each upstream block index became.
#[derive(Debug, Default)]
struct Blocks {
    /// (upstream index, hub index or `None` for a dropped block), for open blocks.
    open: Vec<(u32, Option<u32>)>,
    next: u32,
}

impl Blocks {
    /// Opens upstream block `up`; its hub index, or `None` when `keep` is false.
    fn open(&mut self, up: u32, keep: bool) -> Result<Option<u32>, UpstreamError> {
        if self.open.len() >= MAX_OPEN_BLOCKS {
            return Err(UpstreamError::malformed(format!(
                "Anthropic stream holds more than {MAX_OPEN_BLOCKS} open content blocks"
            )));
        }
        let hub = keep.then(|| {
            let i = self.next;
            self.next = self.next.saturating_add(1);
            i
        });
        self.open.push((up, hub));
        Ok(hub)
    }

    /// The hub index of open upstream block `up` (`None`: unknown or dropped).
    fn hub(&self, up: u32) -> Option<u32> {
        self.open
            .iter()
            .find(|(u, _)| *u == up)
            .and_then(|(_, h)| *h)
    }

    /// Closes upstream block `up`: its hub index when it was kept.
    fn close(&mut self, up: u32) -> Option<u32> {
        let at = self.open.iter().position(|(u, _)| *u == up)?;
        self.open.remove(at).1
    }
}

/// Per-answer state shared by the streamed and whole decoders.
#[derive(Debug, Default)]
struct State {
    started: bool,
    stop_sent: bool,
    usage: UsageAcc,
    blocks: Blocks,
    /// Reused for a tool `input` escaped as one argument fragment.
    scratch: Vec<u8>,
}

impl State {
    fn start(&mut self, id: Option<&RawValue>, model: Option<&RawValue>, sink: &mut dyn Sink) {
        if !self.started {
            self.started = true;
            sink.event(Event::Start {
                id: id.and_then(escaped),
                model: model.and_then(escaped),
            });
        }
    }

    /// Opens upstream block `up` as `block` says (`None`: dropped).
    fn block_start(
        &mut self,
        up: u32,
        block: &WireBlock<'_>,
        sink: &mut dyn Sink,
    ) -> Result<(), UpstreamError> {
        if let Some(index) = self.blocks.close(up) {
            sink.event(Event::BlockStop { index });
        }
        let kind = match block.ty.as_ref() {
            "text" => Block::Text,
            "thinking" => Block::Thinking,
            "redacted_thinking" => Block::RedactedThinking {
                data: escaped_or_empty(block.data),
            },
            "tool_use" => Block::ToolCall {
                id: escaped_or_empty(block.id),
                name: escaped_or_empty(block.name),
            },
            // Server tools and their results, MCP, container uploads, …: nothing any client
            // surface can replay.
            _ => {
                self.blocks.open(up, false)?;
                return Ok(());
            }
        };
        let Some(index) = self.blocks.open(up, true)? else {
            return Ok(());
        };
        sink.event(Event::BlockStart { index, block: kind });
        let delta = |delta| Event::Delta { index, delta };
        match kind {
            Block::Text => {
                if let Some(t) = nonempty(block.text) {
                    sink.event(delta(Delta::Text(t)));
                }
            }
            Block::Thinking => {
                if let Some(t) = nonempty(block.thinking) {
                    sink.event(delta(Delta::Thinking(t)));
                }
                if let Some(s) = nonempty(block.signature) {
                    sink.event(delta(Delta::Signature(s)));
                }
            }
            Block::ToolCall { .. } => {
                if let Some(args) = input_fragment(block.input, &mut self.scratch) {
                    sink.event(delta(Delta::Arguments(args)));
                }
            }
            Block::RedactedThinking { .. } | Block::Refusal => {}
        }
        Ok(())
    }

    fn block_delta(&mut self, up: u32, d: &StreamDelta<'_>, sink: &mut dyn Sink) {
        let Some(index) = self.blocks.hub(up) else {
            return;
        };
        let delta = match d.ty.as_deref() {
            Some("text_delta") => nonempty(d.text).map(Delta::Text),
            Some("thinking_delta") => nonempty(d.thinking).map(Delta::Thinking),
            Some("signature_delta") => nonempty(d.signature).map(Delta::Signature),
            Some("input_json_delta") => nonempty(d.partial_json).map(Delta::Arguments),
            // citations_delta and anything new.
            _ => None,
        };
        if let Some(delta) = delta {
            sink.event(Event::Delta { index, delta });
        }
    }

    fn close_all(&mut self, sink: &mut dyn Sink) {
        for (_, hub) in self.blocks.open.drain(..) {
            if let Some(index) = hub {
                sink.event(Event::BlockStop { index });
            }
        }
    }

    fn stop(&mut self, reason: StopReason, sequence: Option<Escaped<'_>>, sink: &mut dyn Sink) {
        self.close_all(sink);
        if !self.stop_sent {
            self.stop_sent = true;
            sink.event(Event::Stop { reason, sequence });
        }
    }
}

/// A streamed answer: SSE frames of Anthropic's stream events.
#[derive(Debug, Default)]
struct StreamDecoder {
    sse: SseParser,
    events: StreamEvents,
}

/// What the streamed decoder keeps between events.
#[derive(Debug, Default)]
struct StreamEvents {
    state: State,
    /// `message_stop` seen: the answer is complete.
    stopped: bool,
}

impl StreamEvents {
    fn on_event(&mut self, data: &[u8], sink: &mut dyn Sink) -> Result<(), UpstreamError> {
        // One UTF-8 check for the whole payload, then `from_str` skips the per-string checks.
        let data = std::str::from_utf8(data).map_err(malformed)?;
        if let Some((up, lit)) = fast_text_delta(data) {
            let text = lit
                .as_bytes()
                .get(1..lit.len().saturating_sub(1))
                .unwrap_or_default();
            if let (false, Some(index), false) =
                (self.stopped, self.state.blocks.hub(up), text.is_empty())
            {
                sink.event(Event::Delta {
                    index,
                    delta: Delta::Text(Escaped::from_json_contents(text)),
                });
            }
            return Ok(());
        }
        let ev: StreamEvent<'_> = serde_json::from_str(data).map_err(malformed)?;
        if ev.ty == "error" {
            return Err(error_from_wire(None, ev.error.as_ref()));
        }
        if self.stopped {
            // Nothing may follow the answer's end.
            return Ok(());
        }
        // Events without an index (never sent by Anthropic) share one.
        let up = ev.index.unwrap_or(u32::MAX);
        let state = &mut self.state;
        match ev.ty.as_ref() {
            "message_start" => {
                let msg = ev.message.as_ref();
                state.start(msg.and_then(|m| m.id), msg.and_then(|m| m.model), sink);
                if let Some(u) = msg.and_then(|m| m.usage.as_ref()) {
                    state.usage.merge(u);
                    sink.event(Event::Usage(state.usage.usage()));
                }
            }
            "content_block_start" => {
                if let Some(block) = &ev.content_block {
                    state.block_start(up, block, sink)?;
                }
            }
            "content_block_delta" => {
                if let Some(d) = &ev.delta {
                    state.block_delta(up, d, sink);
                }
            }
            "content_block_stop" => {
                if let Some(index) = state.blocks.close(up) {
                    sink.event(Event::BlockStop { index });
                }
            }
            "message_delta" => {
                if let Some(u) = &ev.usage {
                    state.usage.merge(u);
                    sink.event(Event::Usage(state.usage.usage()));
                }
                let d = ev.delta.as_ref();
                if let Some(reason) = d.and_then(|d| d.stop_reason.as_deref()) {
                    let sequence = d.and_then(|d| d.stop_sequence).and_then(escaped);
                    state.stop(stop_reason(reason), sequence, sink);
                }
            }
            "message_stop" => {
                state.stop(StopReason::EndTurn, None, sink);
                self.stopped = true;
            }
            // ping and event types added later.
            _ => {}
        }
        Ok(())
    }
}

impl Decoder for StreamDecoder {
    fn feed(&mut self, chunk: &[u8], sink: &mut dyn Sink) -> Result<(), UpstreamError> {
        let events = &mut self.events;
        self.sse.feed(chunk, |ev| events.on_event(ev.data, sink))
    }

    fn finish(&mut self, sink: &mut dyn Sink) -> Result<(), UpstreamError> {
        let events = &mut self.events;
        self.sse.finish(|ev| events.on_event(ev.data, sink))?;
        if !self.events.stopped {
            return Err(UpstreamError::malformed(
                "Anthropic stream ended before message_stop",
            ));
        }
        Ok(())
    }
}

/// A whole answer: one message object (or an error object), decoded at the end.
#[derive(Debug, Default)]
struct WholeDecoder {
    body: Vec<u8>,
}

impl Decoder for WholeDecoder {
    fn feed(&mut self, chunk: &[u8], _: &mut dyn Sink) -> Result<(), UpstreamError> {
        self.body.extend_from_slice(chunk);
        Ok(())
    }

    fn finish(&mut self, sink: &mut dyn Sink) -> Result<(), UpstreamError> {
        let msg: WireMessage<'_> = serde_json::from_slice(&self.body)
            .map_err(|e| UpstreamError::malformed(format!("invalid Anthropic response: {e}")))?;
        if msg.error.is_some() || msg.ty.as_deref() == Some("error") {
            return Err(error_from_wire(None, msg.error.as_ref()));
        }
        let mut state = State::default();
        state.start(msg.id, msg.model, sink);
        for (up, block) in (0u32..).zip(&msg.content) {
            // Each block opens and closes at once (the signature is in the block itself).
            state.block_start(up, block, sink)?;
            if let Some(index) = state.blocks.close(up) {
                sink.event(Event::BlockStop { index });
            }
        }
        if let Some(u) = &msg.usage {
            state.usage.merge(u);
            sink.event(Event::Usage(state.usage.usage()));
        }
        let reason = msg
            .stop_reason
            .as_deref()
            .map_or(StopReason::EndTurn, stop_reason);
        state.stop(reason, msg.stop_sequence.and_then(escaped), sink);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Usage;

    /// Events rendered as owned strings, for comparison.
    #[derive(Default)]
    struct Record(Vec<String>);

    impl Sink for Record {
        fn event(&mut self, ev: Event<'_>) {
            self.0.push(format!("{ev:?}").replace("Escaped(", "E("));
        }
    }

    fn decode(stream: bool, input: &[u8]) -> (Vec<String>, Result<(), UpstreamError>) {
        let mut d = decoder(stream);
        let mut r = Record::default();
        let res = d.feed(input, &mut r).and_then(|()| d.finish(&mut r));
        (r.0, res)
    }

    fn text(s: &[String]) -> String {
        s.join("\n")
    }

    const STREAM: &str = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude-x\",\"usage\":{\"input_tokens\":5,\"cache_read_input_tokens\":100,\"cache_creation_input_tokens\":7,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hm\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"c2ln\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_1\",\"name\":\"web_search\",\"input\":{}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
        "event: ping\ndata: {\"type\": \"ping\"}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"text_delta\",\"text\":\"a \\\"b\\\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"citations_delta\",\"citation\":{}}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":3,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"f\",\"input\":{\"x\": \"y\"}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":3}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"stop_sequence\",\"stop_sequence\":\"END\"},\"usage\":{\"output_tokens\":9}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );

    #[test]
    fn stream_events_in_hub_terms() {
        let (ev, r) = decode(true, STREAM.as_bytes());
        r.unwrap();
        let usage = |output| Usage {
            prompt_tokens: 112,
            completion_tokens: output,
            total_tokens: 112 + output,
            cached_tokens: 100,
            reasoning_tokens: 0,
            cache_write_tokens: 7,
        };
        let want = [
            "Start { id: Some(E([109, 115, 103, 95, 49])), model: Some(E([99, 108, 97, 117, 100, 101, 45, 120])) }".to_owned(),
            format!("Usage({:?})", usage(1)),
            "BlockStart { index: 0, block: Thinking }".into(),
            "Delta { index: 0, delta: Thinking(E([104, 109])) }".into(),
            "Delta { index: 0, delta: Signature(E([99, 50, 108, 110])) }".into(),
            "BlockStop { index: 0 }".into(),
            "BlockStart { index: 1, block: Text }".into(),
            format!("Delta {{ index: 1, delta: Text(E({:?})) }}", br#"a \"b\""#),
            "BlockStop { index: 1 }".into(),
            format!("BlockStart {{ index: 2, block: ToolCall {{ id: E({:?}), name: E({:?}) }} }}", b"toolu_1", b"f"),
            format!("Delta {{ index: 2, delta: Arguments(E({:?})) }}", br#"{\"x\":\"y\"}"#),
            "BlockStop { index: 2 }".into(),
            format!("Usage({:?})", usage(9)),
            format!("Stop {{ reason: StopSequence, sequence: Some(E({:?})) }}", b"END"),
        ];
        assert_eq!(text(&ev), text(&want));
    }

    #[test]
    fn stream_split_anywhere_decodes_the_same() {
        let (whole, _) = decode(true, STREAM.as_bytes());
        for cut in 0..=STREAM.len() {
            let mut d = decoder(true);
            let mut r = Record::default();
            d.feed(&STREAM.as_bytes()[..cut], &mut r).unwrap();
            d.feed(&STREAM.as_bytes()[cut..], &mut r).unwrap();
            d.finish(&mut r).unwrap();
            assert_eq!(r.0, whole, "cut at {cut}");
        }
    }

    #[test]
    fn stream_errors() {
        let cut = STREAM.find("event: message_stop").unwrap();
        let (ev, r) = decode(true, &STREAM.as_bytes()[..cut]);
        assert!(r.unwrap_err().message.contains("before message_stop"));
        assert!(ev.last().unwrap().starts_with("Stop"));
        let err = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
        let (_, r) = decode(true, err.as_bytes());
        let e = r.unwrap_err();
        assert_eq!(
            (e.status, e.code.as_deref()),
            (503, Some("overloaded_error"))
        );
        let (_, r) = decode(true, b"data: {not json\n\n");
        assert_eq!(r.unwrap_err().status, 502);
        let mut many = String::new();
        for i in 0..=MAX_OPEN_BLOCKS {
            many.push_str(&format!("data: {{\"type\":\"content_block_start\",\"index\":{i},\"content_block\":{{\"type\":\"text\",\"text\":\"\"}}}}\n\n"));
        }
        let (_, r) = decode(true, many.as_bytes());
        assert!(r.unwrap_err().message.contains("open content blocks"));
    }

    #[test]
    fn stop_reasons() {
        for (wire, hub) in [
            ("end_turn", StopReason::EndTurn),
            ("max_tokens", StopReason::MaxTokens),
            ("stop_sequence", StopReason::StopSequence),
            ("tool_use", StopReason::ToolUse),
            ("refusal", StopReason::Refusal),
            ("pause_turn", StopReason::PauseTurn),
            ("something_new", StopReason::EndTurn),
        ] {
            assert_eq!(stop_reason(wire), hub);
        }
    }

    #[test]
    fn whole_message() {
        let body = br#"{"id":"msg_2","type":"message","role":"assistant","model":"m","content":[
            {"type":"thinking","thinking":"t","signature":"s"},
            {"type":"redacted_thinking","data":"r"},
            {"type":"web_search_tool_result","tool_use_id":"x","content":[]},
            {"type":"text","text":"hi"},
            {"type":"tool_use","id":"toolu_2","name":"g","input":{}}],
            "stop_reason":"tool_use","stop_sequence":null,
            "usage":{"input_tokens":3,"output_tokens":4}}"#;
        let (ev, r) = decode(false, body);
        r.unwrap();
        let kinds: Vec<&str> = ev
            .iter()
            .map(|e| e.split([' ', '(']).next().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "Start",
                "BlockStart",
                "Delta",
                "Delta",
                "BlockStop",
                "BlockStart",
                "BlockStop",
                "BlockStart",
                "Delta",
                "BlockStop",
                "BlockStart",
                "BlockStop",
                "Usage",
                "Stop"
            ]
        );
        assert!(ev[5].contains("RedactedThinking"));
        assert!(ev[10].contains("ToolCall") && ev[10].contains("index: 3"));
        assert_eq!(ev[13], "Stop { reason: ToolUse, sequence: None }");

        let (_, r) = decode(
            false,
            br#"{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}"#,
        );
        assert_eq!(r.unwrap_err().status, 429);
        let (_, r) = decode(false, br#"{"id":"msg_3","content":[{"type":"te"#);
        assert_eq!(r.unwrap_err().status, 502);
    }
}
