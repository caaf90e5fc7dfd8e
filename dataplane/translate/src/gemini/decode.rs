//! Gemini generateContent answers (streamed and whole) → hub events.
//!
//! - Framing of a streamed answer is detected from its first byte: `alt=sse` (`data:
//!   {…}\r\n\r\n`) or the plain `streamGenerateContent` JSON array (`[{…}\r\n,{…}]`). A
//!   whole answer is one `GenerateContentResponse`, walked exactly like one streamed event.
//! - Each event is walked once with serde seeds over borrowed structs (no `Value` tree);
//!   the common text event goes through the validating fast path ([`fast_text_event`]).
//!   Strings reach the events as they were escaped in the upstream's bytes.
//! - `Start` carries `responseId` / `modelVersion`. Gemini writes them after `candidates`,
//!   so the first event alone is scanned for them before its walk.
//! - Parts: text → a `Text` block, `thought: true` → a `Thinking` block, a
//!   `thoughtSignature` on a text or thought part → `Delta::Signature` closing a `Thinking`
//!   block (one is opened, empty, when the part was plain text). A `functionCall` is one
//!   `ToolCall` block with a single `Arguments` fragment (the `args` object, minified). Its
//!   id is the call's `id`, else `call_<seed>_<n>` (seed: the `responseId`, or the
//!   context id for [`super::GeminiStreamTranslator`]); a `thoughtSignature` on the call is
//!   carried inside the id after [`THOUGHT_SIGNATURE_SEPARATOR`] so any client replays it.
//! - Candidates other than index 0 are ignored (the hub answer has one; the Gemini egress
//!   never asks for more). Parts Gemini may send that the hub has no block for
//!   (`inlineData`, `executableCode`, `codeExecutionResult`, `fileData`) are ignored.
//! - `Stop` is sent when the answer ends (`finish`), after the last `Usage`: Gemini may
//!   repeat `usageMetadata` after the `finishReason` event.

use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer as _};
use serde_json::value::RawValue;

use super::array_framing::ArraySplitter;
use super::error::error_from_wire;
use super::text_fast_path::fast_text_event;
use super::wire::{StreamUsage, WireError, WirePromptFeedback, WireUsage};
use crate::hub::request::THOUGHT_SIGNATURE_SEPARATOR;
use crate::hub::{Block, Decoder, Delta, Escaped, Event, Sink, StopReason};
use crate::json_in::Skip;
use crate::json_out::{self, BStr};
use crate::sse::SseParser;
use crate::UpstreamError;

/// Largest whole (non-streamed) answer accepted, bytes.
const MAX_WHOLE_BYTES: usize = 64 * 1024 * 1024;

/// The decoder of one Gemini generateContent answer.
pub(crate) fn decoder(stream: bool) -> Box<dyn Decoder> {
    Box::new(GeminiDecoder::new(stream, None))
}

/// How the upstream frames the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Streamed, not yet known (decided by the first non-blank byte).
    Unknown,
    /// `alt=sse`: `data: {...}\r\n\r\n`.
    Sse,
    /// Plain `streamGenerateContent`: one JSON array of responses.
    Array,
    /// A whole `generateContent` body.
    Whole,
}

/// The kind of the text-like block currently open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Thinking,
}

/// Gemini answer → hub events (see the module docs).
#[derive(Debug)]
pub(crate) struct GeminiDecoder {
    framing: Framing,
    sse: SseParser,
    array: ArraySplitter,
    whole: Vec<u8>,
    pub(super) state: State,
}

impl GeminiDecoder {
    /// A decoder; `call_id_seed` fixes the seed of synthesised tool-call ids (else the
    /// answer's `responseId`).
    pub(crate) fn new(stream: bool, call_id_seed: Option<&str>) -> Self {
        let mut seed = Vec::new();
        if let Some(s) = call_id_seed {
            json_out::escaped(
                &mut seed,
                s.strip_prefix("chatcmpl-").unwrap_or(s).as_bytes(),
            );
        }
        Self {
            framing: if stream {
                Framing::Unknown
            } else {
                Framing::Whole
            },
            sse: SseParser::new(),
            array: ArraySplitter::default(),
            whole: Vec::new(),
            state: State {
                seed_fixed: call_id_seed.is_some(),
                seed,
                ..State::default()
            },
        }
    }
}

/// What is kept between events of one answer.
#[derive(Debug, Default)]
pub(super) struct State {
    /// Seed of synthesised tool-call ids, JSON-escaped.
    seed: Vec<u8>,
    seed_fixed: bool,
    pub(super) events: u64,
    started: bool,
    /// Index and kind of the open text/thinking block.
    open: Option<(u32, Open)>,
    next_index: u32,
    tools: u32,
    saw_candidate: bool,
    /// Why candidate 0 finished (sent as `Stop` at the end).
    stop: Option<StopReason>,
    blocked: bool,
    stopped: bool,
    /// Tool-call id, name and arguments of the call being emitted (reused).
    scratch: Vec<u8>,
    /// A translation error raised inside the serde walk, returned instead of serde's.
    pending: Option<UpstreamError>,
}

/// Fail the serde walk with a translation error parked in `slot`.
fn park<E: serde::de::Error>(slot: &mut Option<UpstreamError>, e: UpstreamError) -> E {
    let msg = e.message.clone();
    *slot = Some(e);
    E::custom(msg)
}

/// The contents of a raw JSON string literal (between its quotes), or `None` when `raw`
/// is not a string.
fn contents(raw: &RawValue) -> Option<Escaped<'_>> {
    let s = raw.get().as_bytes();
    let inner = s.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    Some(Escaped::from_json_contents(inner))
}

/// The normalised stop reason for a Gemini `finishReason`; `Err` for a malformed call.
pub(super) fn stop_reason(
    reason: &str,
    made_tool_calls: bool,
) -> Result<StopReason, UpstreamError> {
    Ok(match reason {
        "MAX_TOKENS" => StopReason::MaxTokens,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION"
        | "LANGUAGE" => StopReason::ContentFilter,
        "MALFORMED_FUNCTION_CALL" | "UNEXPECTED_TOOL_CALL" | "TOO_MANY_TOOL_CALLS" => {
            let mut e = UpstreamError::new(
                502,
                "server_error",
                format!(
                    "Gemini stopped with {reason}: the model produced an invalid function call"
                ),
            );
            e.code = Some(reason.to_owned());
            return Err(e);
        }
        _ if made_tool_calls => StopReason::ToolUse,
        // STOP, FINISH_REASON_UNSPECIFIED, OTHER, ...
        _ => StopReason::EndTurn,
    })
}

/// The first event's `responseId` and `modelVersion` (Gemini sends them last).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Head<'a> {
    #[serde(default, borrow)]
    response_id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    model_version: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<Skip>,
}

/// One part of a candidate's content, strings kept escaped.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Part<'a> {
    #[serde(default, borrow)]
    text: Option<&'a RawValue>,
    #[serde(default)]
    thought: Option<bool>,
    #[serde(default, borrow)]
    function_call: Option<FunctionCall<'a>>,
    #[serde(default, borrow)]
    thought_signature: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct FunctionCall<'a> {
    #[serde(default, borrow)]
    id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    name: Option<&'a RawValue>,
    #[serde(default, borrow)]
    args: Option<&'a RawValue>,
}

impl State {
    pub(super) fn emit_start(&mut self, data: &str, sink: &mut dyn Sink) {
        if self.started {
            return;
        }
        let head: Option<Head<'_>> = serde_json::from_str(data).ok();
        let Some(head) = head else { return };
        if head.error.is_some() {
            return;
        }
        self.started = true;
        let id = head.response_id.and_then(contents);
        if !self.seed_fixed {
            if let Some(id) = id {
                self.seed.clear();
                self.seed.extend_from_slice(id.raw());
            }
        }
        sink.event(Event::Start {
            id,
            model: head.model_version.and_then(contents),
        });
    }

    /// One `GenerateContentResponse` (a streamed event or the whole body).
    pub(super) fn on_event(
        &mut self,
        data: &[u8],
        sink: &mut dyn Sink,
    ) -> Result<(), UpstreamError> {
        if data.trim_ascii() == b"[DONE]" {
            return Ok(());
        }
        self.events = self.events.saturating_add(1);
        // One UTF-8 check for the whole payload, then `from_str` skips the per-string checks.
        let data = std::str::from_utf8(data)
            .map_err(|e| UpstreamError::malformed(format!("invalid Gemini answer: {e}")))?;
        self.emit_start(data, sink);
        if let Some((raw, usage)) = fast_text_event(data) {
            if let Some(inner) = raw
                .as_bytes()
                .strip_prefix(b"\"")
                .and_then(|r| r.strip_suffix(b"\""))
            {
                self.saw_candidate = true;
                if self.stop.is_none() && !inner.is_empty() {
                    self.text(Open::Text, Escaped::from_json_contents(inner), sink);
                }
            }
            if let Some(Some(u)) = usage {
                sink.event(Event::Usage(u.usage()));
            }
            return Ok(());
        }
        self.walk(data, sink)
    }

    pub(super) fn walk(&mut self, data: &str, sink: &mut dyn Sink) -> Result<(), UpstreamError> {
        let mut de = serde_json::Deserializer::from_str(data);
        let result = de
            .deserialize_map(EventSeed { state: self, sink })
            .and_then(|()| de.end());
        match result {
            Ok(()) => Ok(()),
            Err(e) => Err(self.pending.take().unwrap_or_else(|| {
                UpstreamError::malformed(format!("invalid Gemini answer: {e}"))
            })),
        }
    }

    fn close(&mut self, sink: &mut dyn Sink) {
        if let Some((index, _)) = self.open.take() {
            sink.event(Event::BlockStop { index });
        }
    }

    fn open(&mut self, kind: Open, sink: &mut dyn Sink) -> u32 {
        match self.open {
            Some((index, k)) if k == kind => index,
            _ => {
                self.close(sink);
                let index = self.next_index;
                self.next_index = self.next_index.saturating_add(1);
                let block = match kind {
                    Open::Text => Block::Text,
                    Open::Thinking => Block::Thinking,
                };
                sink.event(Event::BlockStart { index, block });
                self.open = Some((index, kind));
                index
            }
        }
    }

    fn text(&mut self, kind: Open, text: Escaped<'_>, sink: &mut dyn Sink) {
        let index = self.open(kind, sink);
        let delta = match kind {
            Open::Text => Delta::Text(text),
            Open::Thinking => Delta::Thinking(text),
        };
        sink.event(Event::Delta { index, delta });
    }

    fn signature(&mut self, sig: Escaped<'_>, sink: &mut dyn Sink) {
        let index = self.open(Open::Thinking, sink);
        sink.event(Event::Delta {
            index,
            delta: Delta::Signature(sig),
        });
        self.close(sink);
    }

    fn function_call(
        &mut self,
        fc: &FunctionCall<'_>,
        sig: Option<Escaped<'_>>,
        sink: &mut dyn Sink,
    ) -> Result<(), UpstreamError> {
        self.close(sink);
        let name = match fc.name {
            None => Escaped::from_json_contents(b""),
            Some(n) => contents(n).ok_or_else(|| {
                UpstreamError::malformed("Gemini functionCall.name is not a string")
            })?,
        };
        let n = self.tools;
        self.tools = self.tools.saturating_add(1);
        let s = &mut self.scratch;
        s.clear();
        match fc.id.and_then(contents).filter(|id| !id.is_empty()) {
            Some(id) => s.extend_from_slice(id.raw()),
            None => {
                s.extend_from_slice(b"call_");
                if self.seed.is_empty() {
                    s.extend_from_slice(b"gemini");
                } else {
                    s.extend_from_slice(&self.seed);
                }
                s.push(b'_');
                json_out::uint(s, u64::from(n));
            }
        }
        if let Some(sig) = sig {
            s.extend_from_slice(THOUGHT_SIGNATURE_SEPARATOR.as_bytes());
            s.extend_from_slice(sig.raw());
        }
        let id_end = s.len();
        match fc.args.map(|a| a.get().trim()) {
            None | Some("null") => s.extend_from_slice(b"\"{}\""),
            Some(args) => json_out::json_as_string(s, args.as_bytes()),
        }
        let (id, args) = s.split_at(id_end);
        let args = args
            .strip_prefix(b"\"")
            .and_then(|a| a.strip_suffix(b"\""))
            .unwrap_or_default();
        let index = self.next_index;
        self.next_index = self.next_index.saturating_add(1);
        sink.event(Event::BlockStart {
            index,
            block: Block::ToolCall {
                id: Escaped::from_json_contents(id),
                name,
            },
        });
        sink.event(Event::Delta {
            index,
            delta: Delta::Arguments(Escaped::from_json_contents(args)),
        });
        sink.event(Event::BlockStop { index });
        Ok(())
    }

    fn on_candidate(
        &mut self,
        choice: u32,
        parts: &PartsBuf<'_>,
        finish: Option<&str>,
        sink: &mut dyn Sink,
    ) -> Result<(), UpstreamError> {
        if choice != 0 || self.stop.is_some() {
            return Ok(());
        }
        self.saw_candidate = true;
        for p in parts.iter() {
            let sig = p.thought_signature.and_then(contents);
            if let Some(fc) = &p.function_call {
                self.function_call(fc, sig, sink)?;
                continue;
            }
            let thought = p.thought == Some(true);
            let text = p.text.and_then(contents).filter(|t| !t.is_empty());
            match (thought, text, sig) {
                (true, Some(t), _) => self.text(Open::Thinking, t, sink),
                (false, Some(t), Some(sig)) => {
                    // The signature belongs to the reasoning before this text.
                    self.signature(sig, sink);
                    self.text(Open::Text, t, sink);
                    continue;
                }
                (false, Some(t), None) => self.text(Open::Text, t, sink),
                _ => {}
            }
            if let Some(sig) = sig {
                self.signature(sig, sink);
            }
        }
        if let Some(reason) = finish {
            self.close(sink);
            self.stop = Some(stop_reason(reason, self.tools > 0)?);
        }
        Ok(())
    }

    /// The answer ended: `Stop`, or `Err` when it never finished.
    fn end(&mut self, whole: bool, sink: &mut dyn Sink) -> Result<(), UpstreamError> {
        if self.stopped {
            return Ok(());
        }
        let reason = match self.stop {
            Some(r) => r,
            None if self.blocked && !self.saw_candidate => StopReason::ContentFilter,
            None if whole && self.saw_candidate => stop_reason("STOP", self.tools > 0)?,
            None if whole && self.events > 0 => {
                return Err(UpstreamError::malformed("Gemini answer has no candidates"))
            }
            None => {
                return Err(UpstreamError::malformed(
                    "Gemini answer ended without a finishReason",
                ))
            }
        };
        self.close(sink);
        self.stopped = true;
        sink.event(Event::Stop {
            reason,
            sequence: None,
        });
        Ok(())
    }
}

impl Decoder for GeminiDecoder {
    fn feed(&mut self, chunk: &[u8], sink: &mut dyn Sink) -> Result<(), UpstreamError> {
        if self.framing == Framing::Unknown {
            match chunk.iter().find(|b| !b.is_ascii_whitespace()) {
                None => return Ok(()),
                Some(b'[') => self.framing = Framing::Array,
                Some(_) => self.framing = Framing::Sse,
            }
        }
        let state = &mut self.state;
        match self.framing {
            Framing::Array => self.array.feed(chunk, |el| state.on_event(el, sink)),
            Framing::Whole => {
                if self.whole.len().saturating_add(chunk.len()) > MAX_WHOLE_BYTES {
                    return Err(UpstreamError::malformed(format!(
                        "Gemini answer larger than {MAX_WHOLE_BYTES} bytes"
                    )));
                }
                self.whole.extend_from_slice(chunk);
                Ok(())
            }
            Framing::Sse | Framing::Unknown => {
                self.sse.feed(chunk, |ev| state.on_event(ev.data, sink))
            }
        }
    }

    fn finish(&mut self, sink: &mut dyn Sink) -> Result<(), UpstreamError> {
        let state = &mut self.state;
        match self.framing {
            Framing::Sse => self.sse.finish(|ev| state.on_event(ev.data, sink))?,
            Framing::Array if !self.array.closed => {
                return Err(UpstreamError::malformed(
                    "Gemini stream ended inside its JSON array",
                ))
            }
            Framing::Whole => {
                let body = std::mem::take(&mut self.whole);
                if body.trim_ascii().is_empty() {
                    return Err(UpstreamError::malformed("Gemini answer is empty"));
                }
                state.on_event(&body, sink)?;
                return state.end(true, sink);
            }
            _ => {}
        }
        state.end(false, sink)
    }
}

/// Parts of one candidate, kept on the stack (spilling to the heap past four) until the
/// candidate's `index` is known: Gemini sends `index` after `content`.
pub(super) struct PartsBuf<'de> {
    inline: [Option<Part<'de>>; 4],
    len: usize,
    overflow: Vec<Part<'de>>,
}

impl<'de> PartsBuf<'de> {
    fn new() -> Self {
        Self {
            inline: [None, None, None, None],
            len: 0,
            overflow: Vec::new(),
        }
    }

    fn push(&mut self, p: Part<'de>) {
        match self.inline.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(p);
                self.len += 1;
            }
            None => self.overflow.push(p),
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Part<'de>> {
        self.inline.iter().flatten().chain(self.overflow.iter())
    }
}

struct EventSeed<'s> {
    state: &'s mut State,
    sink: &'s mut dyn Sink,
}

impl<'de> Visitor<'de> for EventSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a Gemini GenerateContentResponse object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<BStr<'de>>()? {
            match &*key {
                "candidates" => map.next_value_seed(CandidatesSeed {
                    state: &mut *self.state,
                    sink: &mut *self.sink,
                })?,
                "usageMetadata" => {
                    let u: Option<StreamUsage> = map.next_value()?;
                    if let Some(u) = u {
                        self.sink.event(Event::Usage(WireUsage::from(u).usage()));
                    }
                }
                "promptFeedback" => {
                    let f: Option<WirePromptFeedback<'de>> = map.next_value()?;
                    if f.and_then(|f| f.block_reason).is_some() {
                        self.state.blocked = true;
                    }
                }
                "error" => {
                    let e: WireError<'de> = map.next_value()?;
                    let e = error_from_wire(None, &e);
                    return Err(park(&mut self.state.pending, e));
                }
                _ => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(())
    }
}

struct CandidatesSeed<'s> {
    state: &'s mut State,
    sink: &'s mut dyn Sink,
}

impl<'de> DeserializeSeed<'de> for CandidatesSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CandidatesSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of candidates")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut position = 0u32;
        while seq
            .next_element_seed(CandidateSeed {
                state: &mut *self.state,
                sink: &mut *self.sink,
                position,
            })?
            .is_some()
        {
            position = position.saturating_add(1);
        }
        Ok(())
    }
}

struct CandidateSeed<'s> {
    state: &'s mut State,
    sink: &'s mut dyn Sink,
    position: u32,
}

impl<'de> DeserializeSeed<'de> for CandidateSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for CandidateSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a candidate object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut parts = PartsBuf::new();
        let mut index = None;
        let mut finish: Option<BStr<'de>> = None;
        while let Some(key) = map.next_key::<BStr<'de>>()? {
            match &*key {
                "content" => map.next_value_seed(ContentSeed { parts: &mut parts })?,
                "finishReason" => finish = map.next_value()?,
                "index" => index = map.next_value()?,
                _ => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        let choice = index.unwrap_or(self.position);
        self.state
            .on_candidate(choice, &parts, finish.as_deref(), self.sink)
            .map_err(|e| park(&mut self.state.pending, e))
    }
}

struct ContentSeed<'p, 'de> {
    parts: &'p mut PartsBuf<'de>,
}

impl<'de> DeserializeSeed<'de> for ContentSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ContentSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a content object")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<BStr<'de>>()? {
            if &*key == "parts" {
                map.next_value_seed(PartsSeed {
                    parts: &mut *self.parts,
                })?;
            } else {
                map.next_value::<Skip>()?;
            }
        }
        Ok(())
    }
}

struct PartsSeed<'p, 'de> {
    parts: &'p mut PartsBuf<'de>,
}

impl<'de> DeserializeSeed<'de> for PartsSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PartsSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of parts")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(p) = seq.next_element::<Part<'de>>()? {
            self.parts.push(p);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Events rendered as text for comparison.
    #[derive(Default)]
    struct Log(Vec<String>);

    impl Sink for Log {
        fn event(&mut self, ev: Event<'_>) {
            let s = |e: &Escaped<'_>| String::from_utf8_lossy(e.raw()).into_owned();
            self.0.push(match ev {
                Event::Start { id, model } => format!(
                    "start {} {}",
                    id.as_ref().map(s).unwrap_or_default(),
                    model.as_ref().map(s).unwrap_or_default()
                ),
                Event::BlockStart { index, block } => match block {
                    Block::ToolCall { id, name } => {
                        format!("open {index} call {} {}", s(&id), s(&name))
                    }
                    other => format!("open {index} {other:?}"),
                },
                Event::Delta { index, delta } => match delta {
                    Delta::Text(t) => format!("text {index} {}", s(&t)),
                    Delta::Thinking(t) => format!("thinking {index} {}", s(&t)),
                    Delta::Signature(t) => format!("sig {index} {}", s(&t)),
                    Delta::Arguments(t) => format!("args {index} {}", s(&t)),
                    Delta::Refusal(t) => format!("refusal {index} {}", s(&t)),
                },
                Event::BlockStop { index } => format!("close {index}"),
                Event::Usage(u) => format!(
                    "usage {} {} {} {}",
                    u.prompt_tokens, u.completion_tokens, u.reasoning_tokens, u.cached_tokens
                ),
                Event::Stop { reason, .. } => format!("stop {reason:?}"),
            });
        }
    }

    fn run(stream: bool, input: &str) -> (Vec<String>, Result<(), UpstreamError>) {
        let mut d = GeminiDecoder::new(stream, None);
        let mut log = Log::default();
        let r = d
            .feed(input.as_bytes(), &mut log)
            .and_then(|()| d.finish(&mut log));
        (log.0, r)
    }

    #[test]
    fn thinking_signature_and_calls() {
        let s = concat!(
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hm\",\"thought\":true},{\"text\":\"\",\"thoughtSignature\":\"c2ln\"}]}}],\"modelVersion\":\"g-1\",\"responseId\":\"r\\\"1\"}\r\n\r\n",
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"A\\n\"},{\"functionCall\":{\"name\":\"f\",\"args\":{ \"x\" : [1, \"a b\"] }},\"thoughtSignature\":\"s2\"},{\"functionCall\":{\"id\":\"own\",\"name\":\"g\"}}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":4,\"thoughtsTokenCount\":2,\"cachedContentTokenCount\":1}}\r\n\r\n",
        );
        let (log, r) = run(true, s);
        r.unwrap();
        assert_eq!(
            log,
            [
                "start r\\\"1 g-1",
                "open 0 Thinking",
                "thinking 0 hm",
                "sig 0 c2ln",
                "close 0",
                "open 1 Text",
                "text 1 A\\n",
                "close 1",
                "open 2 call call_r\\\"1_0__thought__s2 f",
                "args 2 {\\\"x\\\":[1,\\\"a b\\\"]}",
                "close 2",
                "open 3 call own g",
                "args 3 {}",
                "close 3",
                "usage 3 6 2 1",
                "stop ToolUse",
            ]
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 500, failure_persistence: None, ..Default::default() })]
        /// Any bytes (or a sample stream with a byte changed) give the same events and result
        /// however they are split, and never a panic.
        #[test]
        fn split_invariant_and_total(noise in proptest::prelude::any::<Vec<u8>>(), at in 0usize..400, byte in proptest::prelude::any::<u8>(), cut in 0usize..400, pick in 0usize..3) {
            let sample = concat!(
                "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"h\\u00e9\",\"thought\":true},{\"text\":\"A\"}]}}],\"responseId\":\"r\"}\r\n\r\n",
                "data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"f\",\"args\":{\"a\":[1]}}}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":3}}\r\n\r\n",
            );
            let mut input = match pick {
                0 => sample.as_bytes().to_vec(),
                1 => noise.clone(),
                _ => format!("[{}]", sample.replace("data: ", "").replace("}\r\n\r\n", "},").trim_end_matches(',')).into_bytes(),
            };
            if pick != 1 {
                if let Some(b) = input.get_mut(at) {
                    *b = byte;
                }
            }
            for stream in [true, false] {
                let whole = run(stream, &String::from_utf8_lossy(&input));
                let cut = cut.min(input.len());
                let (a, b) = input.split_at(cut);
                let mut d = GeminiDecoder::new(stream, None);
                let mut log = Log::default();
                let r = d.feed(a, &mut log).and_then(|()| d.feed(b, &mut log)).and_then(|()| d.finish(&mut log));
                if std::str::from_utf8(&input).is_ok() {
                    proptest::prop_assert_eq!((log.0, r.is_ok()), (whole.0, whole.1.is_ok()));
                }
            }
        }
    }

    #[test]
    fn blocked_errors_and_ends() {
        let (log, r) = run(
            false,
            r#"{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":9}}"#,
        );
        r.unwrap();
        assert_eq!(log, ["start  ", "usage 9 0 0 0", "stop ContentFilter"]);
        let (_, r) = run(false, r#"{"usageMetadata":{"promptTokenCount":9}}"#);
        assert!(r.is_err(), "no candidates");
        let (log, r) = run(
            false,
            r#"{"error":{"code":429,"message":"slow","status":"RESOURCE_EXHAUSTED"}}"#,
        );
        assert_eq!(r.unwrap_err().status, 429);
        assert!(log.is_empty());
        let (_, r) = run(
            true,
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]},\"finishReason\":\"MALFORMED_FUNCTION_CALL\"}]}\r\n\r\n",
        );
        assert_eq!(
            r.unwrap_err().code.as_deref(),
            Some("MALFORMED_FUNCTION_CALL")
        );
        let (_, r) = run(
            true,
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]}}]}\r\n\r\n",
        );
        assert!(r.is_err(), "no finishReason");
        let (log, r) = run(
            false,
            r#"{"candidates":[{"content":{"parts":[{"text":"a"}]},"finishReason":"MAX_TOKENS"},{"content":{"parts":[{"text":"b"}]},"index":1}]}"#,
        );
        r.unwrap();
        assert_eq!(
            log,
            [
                "start  ",
                "open 0 Text",
                "text 0 a",
                "close 0",
                "stop MaxTokens"
            ]
        );
    }
}
