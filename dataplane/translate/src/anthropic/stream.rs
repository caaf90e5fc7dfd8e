//! Incremental Anthropic Messages SSE → OpenAI `chat.completion.chunk` translator.

use bytes::{Bytes, BytesMut};
use serde_json::value::RawValue;

use super::error::error_from_wire;
use super::response::finish_reason;
use super::text_fast_path::fast_text_delta;
use super::usage::UsageAcc;
use super::wire::StreamEvent;
use crate::json_out;
use crate::openai::{ChunkWriter, CONTENT, REASONING};
use crate::sse::SseParser;
use crate::{ResponseContext, StreamTranslator, UpstreamError, Usage};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    None,
    Text,
    Thinking,
    Tool { index: u32, has_args: bool },
}

/// Per-stream state; everything here is fixed-size except the SSE parser's capped buffers
/// and the chunk head rendered once.
#[derive(Debug)]
struct State {
    pub(super) ctx: ResponseContext,
    writer: Option<ChunkWriter>,
    pub(super) block: Block,
    next_tool: u32,
    pub(super) finish: Option<&'static str>,
    finish_sent: bool,
    stopped: bool,
    pub(super) usage: UsageAcc,
    failed: Option<UpstreamError>,
}

/// Incremental Anthropic Messages SSE → OpenAI `chat.completion.chunk` translator.
#[derive(Debug)]
pub struct AnthropicStreamTranslator {
    sse: SseParser,
    state: State,
}

impl AnthropicStreamTranslator {
    /// A translator for one response stream.
    pub fn new(ctx: ResponseContext) -> Self {
        Self {
            sse: SseParser::new(),
            state: State {
                ctx,
                writer: None,
                block: Block::None,
                next_tool: 0,
                finish: None,
                finish_sent: false,
                stopped: false,
                usage: UsageAcc::default(),
                failed: None,
            },
        }
    }
}

fn raw_nonempty_string(raw: Option<&RawValue>) -> Option<&[u8]> {
    raw.and_then(json_out::raw_string)
        .filter(|s| !json_out::raw_is_empty_string(s))
}

impl State {
    /// The chunk writer, creating it (and sending the role chunk) on first use.
    fn writer(&mut self, out: &mut BytesMut, id: Option<&str>) -> &ChunkWriter {
        if self.writer.is_none() {
            let id = id.unwrap_or(&self.ctx.id);
            let w = ChunkWriter::new(id.as_bytes(), self.ctx.created, &self.ctx.model);
            w.role(out, 0);
            self.writer = Some(w);
        }
        self.writer.get_or_insert_with(ChunkWriter::default)
    }

    fn close_block(&mut self, out: &mut BytesMut) {
        if let Block::Tool {
            index,
            has_args: false,
        } = self.block
        {
            self.writer(out, None)
                .tool_args_raw(out, 0, index, b"\"{}\"");
        }
        self.block = Block::None;
    }

    fn on_event(&mut self, data: &[u8], out: &mut BytesMut) -> Result<(), UpstreamError> {
        // One UTF-8 check for the whole payload, then `from_str` skips the per-string checks.
        let data = std::str::from_utf8(data).map_err(|e| {
            UpstreamError::malformed(format!("invalid Anthropic stream event: {e}"))
        })?;
        if let Some(raw) = fast_text_delta(data) {
            if !json_out::raw_is_empty_string(raw.as_bytes()) {
                self.writer(out, None)
                    .raw_text(out, 0, CONTENT, raw.as_bytes());
            }
            return Ok(());
        }
        let ev: StreamEvent<'_> = serde_json::from_str(data).map_err(|e| {
            UpstreamError::malformed(format!("invalid Anthropic stream event: {e}"))
        })?;
        match ev.ty.as_ref() {
            "message_start" => {
                let id = ev.message.as_ref().and_then(|m| m.id.as_deref());
                self.writer(out, id);
                if let Some(u) = ev.message.as_ref().and_then(|m| m.usage.as_ref()) {
                    self.usage.merge(u);
                }
            }
            "content_block_start" => {
                self.close_block(out);
                let Some(block) = ev.content_block else {
                    return Ok(());
                };
                match block.ty.as_ref() {
                    "text" => {
                        self.block = Block::Text;
                        if let Some(raw) = raw_nonempty_string(block.text) {
                            self.writer(out, None).raw_text(out, 0, CONTENT, raw);
                        }
                    }
                    "thinking" => {
                        self.block = Block::Thinking;
                        if let Some(raw) = raw_nonempty_string(block.thinking) {
                            self.writer(out, None).raw_text(out, 0, REASONING, raw);
                        }
                    }
                    "tool_use" => {
                        let index = self.next_tool;
                        self.next_tool = self.next_tool.saturating_add(1);
                        let id = block.id.as_deref().unwrap_or("");
                        let name = block.name.as_deref().unwrap_or("");
                        let w = self.writer(out, None);
                        w.tool_start(
                            out,
                            0,
                            index,
                            &mut |o| json_out::escaped(o, id.as_bytes()),
                            name.as_bytes(),
                        );
                        let input = block.input.map(|r| r.get().trim()).unwrap_or("{}");
                        let has_args = !(input == "{}" || input.is_empty() || input == "null");
                        if has_args {
                            w.tool_args_json(out, 0, index, input.as_bytes());
                        }
                        self.block = Block::Tool { index, has_args };
                    }
                    // redacted_thinking, server tool blocks, ...: nothing the client can use.
                    _ => self.block = Block::None,
                }
            }
            "content_block_delta" => {
                let Some(delta) = ev.delta else {
                    return Ok(());
                };
                match delta.ty.as_deref() {
                    Some("text_delta") => {
                        if let Some(raw) = raw_nonempty_string(delta.text) {
                            self.writer(out, None).raw_text(out, 0, CONTENT, raw);
                        }
                    }
                    Some("thinking_delta") => {
                        if let Some(raw) = raw_nonempty_string(delta.thinking) {
                            self.writer(out, None).raw_text(out, 0, REASONING, raw);
                        }
                    }
                    Some("input_json_delta") => {
                        if let (Block::Tool { index, .. }, Some(raw)) =
                            (self.block, raw_nonempty_string(delta.partial_json))
                        {
                            self.writer(out, None).tool_args_raw(out, 0, index, raw);
                            self.block = Block::Tool {
                                index,
                                has_args: true,
                            };
                        }
                    }
                    // signature_delta, citations_delta, ...
                    _ => {}
                }
            }
            "content_block_stop" => self.close_block(out),
            "message_delta" => {
                if let Some(u) = &ev.usage {
                    self.usage.merge(u);
                }
                if let Some(reason) = ev.delta.as_ref().and_then(|d| d.stop_reason.as_deref()) {
                    self.finish = Some(finish_reason(reason));
                }
                self.send_finish(out);
            }
            "message_stop" => {
                self.close_block(out);
                self.send_finish(out);
                self.stopped = true;
            }
            "error" => return Err(error_from_wire(None, ev.error.as_ref())),
            // ping and future event types.
            _ => {}
        }
        Ok(())
    }

    fn send_finish(&mut self, out: &mut BytesMut) {
        if self.finish_sent {
            return;
        }
        if let Some(reason) = self.finish {
            self.close_block(out);
            self.writer(out, None).finish(out, 0, reason);
            self.finish_sent = true;
        }
    }
}

impl StreamTranslator for AnthropicStreamTranslator {
    fn feed(&mut self, chunk: Bytes, out: &mut BytesMut) -> Result<(), UpstreamError> {
        if let Some(e) = &self.state.failed {
            return Err(e.clone());
        }
        let state = &mut self.state;
        let result = self.sse.feed(&chunk, |ev| state.on_event(ev.data, out));
        if let Err(e) = &result {
            self.state.failed = Some(e.clone());
        }
        result
    }

    fn finish(&mut self, out: &mut BytesMut) -> Result<(), UpstreamError> {
        if let Some(e) = &self.state.failed {
            return Err(e.clone());
        }
        let state = &mut self.state;
        if let Err(e) = self.sse.finish(|ev| state.on_event(ev.data, out)) {
            self.state.failed = Some(e.clone());
            return Err(e);
        }
        let state = &mut self.state;
        if !state.stopped {
            let e = UpstreamError::malformed("Anthropic stream ended before message_stop");
            state.failed = Some(e.clone());
            return Err(e);
        }
        if state.finish.is_none() {
            state.finish = Some("stop");
            state.send_finish(out);
        }
        if state.ctx.include_usage {
            let usage = state.usage.usage();
            state.writer(out, None).usage(out, &usage);
        }
        ChunkWriter::done(out);
        Ok(())
    }

    fn usage(&self) -> Option<Usage> {
        self.state.usage.seen.then(|| self.state.usage.usage())
    }
}
