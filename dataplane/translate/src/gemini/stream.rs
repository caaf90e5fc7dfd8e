//! Incremental Gemini `streamGenerateContent` → OpenAI `chat.completion.chunk` translator.

use bytes::{Bytes, BytesMut};
use serde::Deserializer as _;

use super::array_framing::ArraySplitter;
use super::call_id::write_generated_id;
use super::event::{EventSeed, PartsBuf};
use super::response::finish_reason;
use super::text_fast_path::fast_text_event;
use crate::json_out;
use crate::openai::request::hub as chat;
use crate::openai::{ChunkWriter, CONTENT, REASONING};
use crate::sse::SseParser;
use crate::{ResponseContext, StreamTranslator, UpstreamError, Usage};

/// Most candidates a response may carry (Gemini's `candidateCount` limit is 8).
const MAX_CANDIDATES: usize = 16;

#[derive(Debug, Clone, Copy, Default)]
pub(super) struct CandidateState {
    started: bool,
    pub(super) tools: u32,
    finished: bool,
}

/// How the upstream frames the stream, detected from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Unknown,
    /// `alt=sse`: `data: {...}\r\n\r\n`.
    Sse,
    /// Plain `streamGenerateContent`: one JSON array of responses.
    Array,
}

#[derive(Debug)]
pub(super) struct State {
    pub(super) ctx: ResponseContext,
    pub(super) writer: Option<ChunkWriter>,
    pub(super) candidates: Vec<CandidateState>,
    pub(super) events: u64,
    pub(super) usage: Option<Usage>,
    failed: Option<UpstreamError>,
    /// A translation error raised inside the serde walk, returned instead of serde's.
    pub(super) pending: Option<UpstreamError>,
}

/// Incremental Gemini `streamGenerateContent` → OpenAI `chat.completion.chunk` translator.
///
/// Accepts the `alt=sse` framing the data plane asks for, and also the plain JSON-array
/// framing Gemini uses without `alt=sse` (detected from the first byte).
#[derive(Debug)]
pub struct GeminiStreamTranslator {
    framing: Framing,
    sse: SseParser,
    array: ArraySplitter,
    pub(super) state: State,
}

impl GeminiStreamTranslator {
    /// A translator for one response stream.
    pub fn new(ctx: ResponseContext) -> Self {
        Self {
            framing: Framing::Unknown,
            sse: SseParser::new(),
            array: ArraySplitter::default(),
            state: State {
                ctx,
                writer: None,
                candidates: Vec::new(),
                events: 0,
                usage: None,
                failed: None,
                pending: None,
            },
        }
    }
}

impl State {
    /// Translate one streamed `GenerateContentResponse`, walking it in a single pass.
    pub(super) fn on_event(
        &mut self,
        data: &[u8],
        out: &mut BytesMut,
    ) -> Result<(), UpstreamError> {
        if data.trim_ascii() == b"[DONE]" {
            return Ok(());
        }
        self.events = self.events.saturating_add(1);
        if self.writer.is_none() {
            self.writer = Some(ChunkWriter::new(
                self.ctx.id.as_bytes(),
                self.ctx.created,
                &self.ctx.model,
            ));
        }
        // One UTF-8 check for the whole payload, then `from_str` skips the per-string checks.
        let data = std::str::from_utf8(data)
            .map_err(|e| UpstreamError::malformed(format!("invalid Gemini stream event: {e}")))?;
        if let Some((raw, usage)) = fast_text_event(data) {
            self.on_text(raw.as_bytes(), out);
            if let Some(Some(u)) = usage {
                self.usage = Some(u.usage());
            }
            return Ok(());
        }
        self.walk(data, out)
    }

    pub(super) fn walk(&mut self, data: &str, out: &mut BytesMut) -> Result<(), UpstreamError> {
        let mut de = serde_json::Deserializer::from_str(data);
        let result = de
            .deserialize_map(EventSeed { state: self, out })
            .and_then(|()| de.end());
        match result {
            Ok(()) => Ok(()),
            Err(e) => Err(self.pending.take().unwrap_or_else(|| {
                UpstreamError::malformed(format!("invalid Gemini stream event: {e}"))
            })),
        }
    }

    /// Text for choice 0 from the fast path (same effects as `on_candidate` with one part).
    fn on_text(&mut self, raw: &[u8], out: &mut BytesMut) {
        if self.candidates.is_empty() {
            self.candidates.push(CandidateState::default());
        }
        let (Some(w), Some(cand)) = (self.writer.as_ref(), self.candidates.first_mut()) else {
            return;
        };
        if cand.finished {
            return;
        }
        if !cand.started {
            cand.started = true;
            w.role(out, 0);
        }
        if !json_out::raw_is_empty_string(raw) {
            w.raw_text(out, 0, CONTENT, raw);
        }
    }

    /// The prompt was blocked: finish choice 0 with `content_filter`.
    pub(super) fn blocked(&mut self, out: &mut BytesMut) {
        if self.candidates.is_empty() {
            self.candidates.push(CandidateState::default());
        }
        let (Some(w), Some(cand)) = (self.writer.as_ref(), self.candidates.first_mut()) else {
            return;
        };
        if !cand.finished {
            if !cand.started {
                w.role(out, 0);
            }
            cand.started = true;
            cand.finished = true;
            w.finish(out, 0, "content_filter");
        }
    }

    pub(super) fn on_candidate(
        &mut self,
        choice: u32,
        parts: &PartsBuf<'_>,
        finish: Option<&str>,
        out: &mut BytesMut,
    ) -> Result<(), UpstreamError> {
        let ctx_id = self.ctx.id.as_str();
        let i = choice as usize;
        if i >= MAX_CANDIDATES {
            return Err(UpstreamError::malformed(format!(
                "Gemini candidate index {choice} out of range"
            )));
        }
        if self.candidates.len() <= i {
            self.candidates.resize(i + 1, CandidateState::default());
        }
        let (Some(w), Some(cand)) = (self.writer.as_ref(), self.candidates.get_mut(i)) else {
            return Ok(());
        };
        if cand.finished {
            return Ok(());
        }
        if !cand.started {
            cand.started = true;
            w.role(out, choice);
        }
        for p in parts.iter() {
            if let Some(raw) = p.text.and_then(json_out::raw_string) {
                if !json_out::raw_is_empty_string(raw) {
                    let field: &[u8] = if p.thought == Some(true) {
                        REASONING
                    } else {
                        CONTENT
                    };
                    w.raw_text(out, choice, field, raw);
                }
            }
            if let Some(fc) = &p.function_call {
                let index = cand.tools;
                cand.tools = cand.tools.saturating_add(1);
                let sig = p.thought_signature.as_deref();
                let given = fc.id.as_deref().filter(|s| !s.is_empty());
                let mut write_id = |o: &mut BytesMut| {
                    match given {
                        Some(id) => json_out::escaped(o, id.as_bytes()),
                        None => write_generated_id(o, ctx_id, choice, index),
                    }
                    if let Some(sig) = sig {
                        o.extend_from_slice(chat::THOUGHT_SIGNATURE_SEPARATOR.as_bytes());
                        json_out::escaped(o, sig.as_bytes());
                    }
                };
                let name = fc.name.as_deref().unwrap_or("");
                w.tool_start(out, choice, index, &mut write_id, name.as_bytes());
                match fc.args.map(|a| a.get().trim()) {
                    None | Some("null") => w.tool_args_raw(out, choice, index, b"\"{}\""),
                    Some(args) => w.tool_args_json(out, choice, index, args.as_bytes()),
                }
            }
        }
        if let Some(reason) = finish {
            cand.finished = true;
            w.finish(out, choice, finish_reason(reason, cand.tools > 0));
        }
        Ok(())
    }
}

impl GeminiStreamTranslator {
    fn dispatch(&mut self, chunk: &[u8], out: &mut BytesMut) -> Result<(), UpstreamError> {
        if self.framing == Framing::Unknown {
            match chunk.iter().find(|b| !b.is_ascii_whitespace()) {
                None => return Ok(()),
                Some(b'[') => self.framing = Framing::Array,
                Some(_) => self.framing = Framing::Sse,
            }
        }
        let state = &mut self.state;
        match self.framing {
            Framing::Array => self.array.feed(chunk, |el| state.on_event(el, out)),
            _ => self.sse.feed(chunk, |ev| state.on_event(ev.data, out)),
        }
    }
}

impl StreamTranslator for GeminiStreamTranslator {
    fn feed(&mut self, chunk: Bytes, out: &mut BytesMut) -> Result<(), UpstreamError> {
        if let Some(e) = &self.state.failed {
            return Err(e.clone());
        }
        let result = self.dispatch(&chunk, out);
        if let Err(e) = &result {
            self.state.failed = Some(e.clone());
        }
        result
    }

    fn finish(&mut self, out: &mut BytesMut) -> Result<(), UpstreamError> {
        if let Some(e) = &self.state.failed {
            return Err(e.clone());
        }
        if self.framing == Framing::Sse {
            let state = &mut self.state;
            if let Err(e) = self.sse.finish(|ev| state.on_event(ev.data, out)) {
                self.state.failed = Some(e.clone());
                return Err(e);
            }
        }
        let state = &mut self.state;
        let complete = state.events > 0
            && !state.candidates.is_empty()
            && state.candidates.iter().all(|c| c.finished || !c.started);
        let incomplete_array = self.framing == Framing::Array && !self.array.closed;
        if !complete || incomplete_array {
            let e = UpstreamError::malformed("Gemini stream ended without a finishReason");
            state.failed = Some(e.clone());
            return Err(e);
        }
        if state.ctx.include_usage {
            let usage = state.usage.unwrap_or_default();
            if let Some(w) = &state.writer {
                w.usage(out, &usage);
            }
        }
        ChunkWriter::done(out);
        Ok(())
    }

    fn usage(&self) -> Option<Usage> {
        self.state.usage
    }
}
