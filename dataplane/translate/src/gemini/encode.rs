//! Hub events → Gemini generateContent answers (streamed and whole), and Gemini error
//! bodies.
//!
//! - Streamed: one `GenerateContentResponse` per chunk, as `data: {…}\r\n\r\n` (`alt=sse`)
//!   or, when [`ResponseContext::json_array`], as the elements of one JSON array
//!   (`[{…}\r\n,{…}]`, Google's framing without `alt=sse`). Text and thinking go out as they
//!   arrive (thinking as parts with `"thought":true`); a thinking block's signature is a
//!   part `{"text":"","thought":true,"thoughtSignature":…}`. A tool call is buffered until
//!   its block stops (at most [`MAX_TOOL_CALL_BYTES`]) and sent as one `functionCall` part
//!   with its arguments as an object; a thought signature carried in its id (after
//!   `__thought__`) becomes the part's `thoughtSignature`. The last chunk carries the
//!   `finishReason` and the usage.
//! - Whole: one `GenerateContentResponse` with one part per block.
//! - `usageMetadata`: `promptTokenCount` = prompt (cache reads included, as Gemini counts
//!   them), `candidatesTokenCount` = completion − reasoning, `thoughtsTokenCount` =
//!   reasoning, `cachedContentTokenCount` = cache reads.
//! - Not expressible, dropped: redacted thinking (opaque to any provider but the one that
//!   made it), the stop sequence that matched. Refusal text becomes answer text with
//!   `finishReason: SAFETY`; tool-call arguments that are not a JSON object (cut by the
//!   token limit) become `{}`.

use bytes::BytesMut;
use serde_json::value::RawValue;

use crate::hub::request::THOUGHT_SIGNATURE_SEPARATOR;
use crate::hub::{Block, Delta, Encoder, Escaped, Event, StopReason};
use crate::json_out;
use crate::{ResponseContext, UpstreamError, Usage};

/// Most bytes of one tool call (id, name and arguments) held until its block ends.
pub(crate) const MAX_TOOL_CALL_BYTES: usize = 4 * 1024 * 1024;

/// The encoder of one answer for a Gemini generateContent client.
pub(crate) fn encoder(stream: bool, ctx: ResponseContext) -> Box<dyn Encoder> {
    Box::new(GeminiEncoder::new(stream, ctx))
}

/// The Google RPC status name for an HTTP status.
fn rpc_status(status: u16) -> &'static str {
    match status {
        400 | 413 | 422 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        408 | 504 => "DEADLINE_EXCEEDED",
        s if s >= 500 => "INTERNAL",
        _ => "INVALID_ARGUMENT",
    }
}

fn write_error_object<B: bytes::BufMut>(out: &mut B, err: &UpstreamError) {
    out.put_slice(b"{\"error\":{\"code\":");
    json_out::uint(out, u64::from(err.status));
    out.put_slice(b",\"message\":");
    json_out::string(out, err.message.as_bytes());
    out.put_slice(b",\"status\":\"");
    out.put_slice(rpc_status(err.status).as_bytes());
    out.put_slice(b"\"}}");
}

/// An error answer body in Gemini's error format:
/// `{"error":{"code":<status>,"message":…,"status":"INVALID_ARGUMENT"|…}}`.
pub(crate) fn error_body(err: &UpstreamError) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + err.message.len());
    write_error_object(&mut out, err);
    out
}

/// What a block is, as far as the encoder needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Thinking,
    Tool,
    Ignored,
}

/// An open block: what it is and, where it is held back, its contents so far (escaped).
#[derive(Debug)]
struct Pending {
    index: u32,
    kind: Kind,
    live: bool,
    /// Text (whole answers) or tool-call arguments.
    body: Vec<u8>,
    /// Thinking signature (whole answers) or tool-call id.
    id: Vec<u8>,
    name: Vec<u8>,
}

/// Hub events → a Gemini answer (see the module docs).
pub(crate) struct GeminiEncoder {
    stream: bool,
    json_array: bool,
    ctx: ResponseContext,
    /// `,"modelVersion":…,"responseId":…}`, rendered at `Start`.
    tail: Vec<u8>,
    chunks: u64,
    blocks: Vec<Pending>,
    usage: Option<Usage>,
    stop: Option<StopReason>,
    /// Whole answers: the parts written so far (comma-separated).
    parts: Vec<u8>,
    part: Vec<u8>,
    /// Tool-call arguments unescaped (reused).
    args: Vec<u8>,
    failed: bool,
}

impl GeminiEncoder {
    pub(crate) fn new(stream: bool, ctx: ResponseContext) -> Self {
        Self {
            stream,
            json_array: ctx.json_array,
            ctx,
            tail: Vec::new(),
            chunks: 0,
            blocks: Vec::new(),
            usage: None,
            stop: None,
            parts: Vec::new(),
            part: Vec::new(),
            args: Vec::new(),
            failed: false,
        }
    }

    fn render_tail(&mut self, id: Option<Escaped<'_>>) {
        self.tail.clear();
        self.tail.extend_from_slice(b",\"modelVersion\":");
        json_out::string(&mut self.tail, self.ctx.model.as_bytes());
        self.tail.extend_from_slice(b",\"responseId\":\"");
        match id {
            Some(id) => self.tail.extend_from_slice(id.raw()),
            None => json_out::escaped(&mut self.tail, self.ctx.id.as_bytes()),
        }
        self.tail.extend_from_slice(b"\"}");
    }

    fn block(&mut self, index: u32) -> Option<&mut Pending> {
        self.blocks.iter_mut().find(|b| b.live && b.index == index)
    }

    /// Starts one chunk of the stream (framing, then the object up to its parts).
    fn chunk_head(&mut self, out: &mut BytesMut) {
        if self.json_array {
            out.extend_from_slice(if self.chunks == 0 { b"[" } else { b"\r\n," });
        } else {
            out.extend_from_slice(b"data: ");
        }
        self.chunks += 1;
        out.extend_from_slice(b"{\"candidates\":[{\"content\":{\"parts\":[");
    }

    /// Ends a chunk begun with [`Self::chunk_head`] after its parts.
    fn chunk_end(&mut self, out: &mut BytesMut, finish: Option<&str>) {
        out.extend_from_slice(b"],\"role\":\"model\"}");
        if let Some(f) = finish {
            out.extend_from_slice(b",\"finishReason\":\"");
            out.extend_from_slice(f.as_bytes());
            out.extend_from_slice(b"\"");
        }
        out.extend_from_slice(b",\"index\":0}]");
        if let Some(u) = &self.usage {
            write_usage(out, u);
        }
        if self.tail.is_empty() {
            self.render_tail(None);
        }
        out.extend_from_slice(&self.tail);
        if !self.json_array {
            out.extend_from_slice(b"\r\n\r\n");
        }
    }

    /// One part: to the stream as a chunk of its own, or to the whole answer's parts.
    fn emit_part(&mut self, out: &mut BytesMut, part: &[u8]) {
        if self.stream {
            self.chunk_head(out);
            out.extend_from_slice(part);
            self.chunk_end(out, None);
        } else {
            if !self.parts.is_empty() {
                self.parts.push(b',');
            }
            self.parts.extend_from_slice(part);
        }
    }

    fn fail(&mut self, err: &UpstreamError, out: &mut BytesMut) {
        Encoder::error(self, err, out);
    }

    fn on_delta(&mut self, index: u32, delta: Delta<'_>, out: &mut BytesMut) {
        let stream = self.stream;
        let Some(b) = self.block(index) else { return };
        let kind = b.kind;
        match (kind, delta) {
            (Kind::Text, Delta::Text(t) | Delta::Refusal(t))
            | (Kind::Thinking, Delta::Thinking(t)) => {
                if t.is_empty() {
                    return;
                }
                if !stream {
                    b.body.extend_from_slice(t.raw());
                    return;
                }
                let mut part = std::mem::take(&mut self.part);
                part.clear();
                part.extend_from_slice(b"{\"text\":\"");
                part.extend_from_slice(t.raw());
                part.extend_from_slice(if kind == Kind::Thinking {
                    b"\",\"thought\":true}"
                } else {
                    b"\"}"
                });
                self.emit_part(out, &part);
                self.part = part;
            }
            (Kind::Thinking, Delta::Signature(sig)) => {
                if !stream {
                    b.id.extend_from_slice(sig.raw());
                    return;
                }
                let mut part = std::mem::take(&mut self.part);
                part.clear();
                part.extend_from_slice(b"{\"text\":\"\",\"thought\":true,\"thoughtSignature\":\"");
                part.extend_from_slice(sig.raw());
                part.extend_from_slice(b"\"}");
                self.emit_part(out, &part);
                self.part = part;
            }
            (Kind::Tool, Delta::Arguments(a)) => {
                let held = b.body.len() + b.id.len() + b.name.len();
                if held.saturating_add(a.raw().len()) > MAX_TOOL_CALL_BYTES {
                    let e = UpstreamError::malformed(format!(
                        "tool call larger than {MAX_TOOL_CALL_BYTES} bytes"
                    ));
                    self.fail(&e, out);
                    return;
                }
                b.body.extend_from_slice(a.raw());
            }
            _ => {}
        }
    }

    fn on_block_stop(&mut self, index: u32, out: &mut BytesMut) {
        let stream = self.stream;
        let Some(pos) = self.blocks.iter().position(|b| b.live && b.index == index) else {
            return;
        };
        let mut part = std::mem::take(&mut self.part);
        part.clear();
        let written = match self.blocks.get_mut(pos) {
            Some(b) => {
                b.live = false;
                match b.kind {
                    Kind::Tool => {
                        write_function_call(&mut part, b, &mut self.args);
                        true
                    }
                    Kind::Text | Kind::Thinking if !stream => {
                        if b.kind == Kind::Thinking && b.body.is_empty() && b.id.is_empty() {
                            false
                        } else {
                            part.extend_from_slice(b"{\"text\":\"");
                            part.extend_from_slice(&b.body);
                            part.push(b'"');
                            if b.kind == Kind::Thinking {
                                part.extend_from_slice(b",\"thought\":true");
                                if !b.id.is_empty() {
                                    part.extend_from_slice(b",\"thoughtSignature\":\"");
                                    part.extend_from_slice(&b.id);
                                    part.push(b'"');
                                }
                            }
                            part.push(b'}');
                            true
                        }
                    }
                    _ => false,
                }
            }
            None => false,
        };
        if written {
            self.emit_part(out, &part);
        }
        self.part = part;
    }
}

/// Decodes the escapes of JSON string contents `raw` into `out` (reused); `false` when
/// `raw` is not valid string contents.
fn unescape_into(raw: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        i += 1;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let Some(&e) = raw.get(i) else { return false };
        i += 1;
        let c = match e {
            b'"' | b'\\' | b'/' => e,
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let hex = |at: usize| {
                    raw.get(at..at + 4)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                };
                let Some(mut code) = hex(i) else { return false };
                i += 4;
                if (0xD800..0xDC00).contains(&code) {
                    let low = (raw.get(i..i + 2) == Some(b"\\u"))
                        .then(|| hex(i + 2))
                        .flatten();
                    let Some(low) = low.filter(|l| (0xDC00..0xE000).contains(l)) else {
                        return false;
                    };
                    i += 6;
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                }
                let Some(ch) = char::from_u32(code) else {
                    return false;
                };
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                continue;
            }
            _ => return false,
        };
        out.push(c);
    }
    true
}

/// `{"functionCall":{"name":…,"args":{…},"id":…},"thoughtSignature":…}` for a finished
/// tool block; `args` is scratch space.
fn write_function_call(part: &mut Vec<u8>, b: &Pending, args: &mut Vec<u8>) {
    let (id, sig) = split_escaped_id(&b.id);
    part.extend_from_slice(b"{\"functionCall\":{\"name\":\"");
    part.extend_from_slice(&b.name);
    part.extend_from_slice(b"\",\"args\":");
    let parsed = unescape_into(&b.body, args)
        .then(|| serde_json::from_slice::<&RawValue>(args.trim_ascii()).ok())
        .flatten();
    match parsed {
        Some(raw) if raw.get().starts_with('{') => json_out::minified(part, raw.get().as_bytes()),
        _ => part.extend_from_slice(b"{}"),
    }
    if !id.is_empty() {
        part.extend_from_slice(b",\"id\":\"");
        part.extend_from_slice(id);
        part.push(b'"');
    }
    part.push(b'}');
    if let Some(sig) = sig {
        part.extend_from_slice(b",\"thoughtSignature\":\"");
        part.extend_from_slice(sig);
        part.push(b'"');
    }
    part.push(b'}');
}

/// Splits an escaped tool-call id at [`THOUGHT_SIGNATURE_SEPARATOR`].
fn split_escaped_id(id: &[u8]) -> (&[u8], Option<&[u8]>) {
    let sep = THOUGHT_SIGNATURE_SEPARATOR.as_bytes();
    match memchr::memmem::find(id, sep) {
        Some(at) => {
            let (head, rest) = id.split_at(at);
            (head, rest.get(sep.len()..))
        }
        None => (id, None),
    }
}

/// `,"usageMetadata":{…}` in Gemini's terms.
fn write_usage<B: bytes::BufMut>(out: &mut B, u: &Usage) {
    out.put_slice(b",\"usageMetadata\":{\"promptTokenCount\":");
    json_out::uint(out, u.prompt_tokens);
    out.put_slice(b",\"candidatesTokenCount\":");
    json_out::uint(out, u.completion_tokens.saturating_sub(u.reasoning_tokens));
    out.put_slice(b",\"totalTokenCount\":");
    json_out::uint(out, u.total_tokens);
    if u.reasoning_tokens > 0 {
        out.put_slice(b",\"thoughtsTokenCount\":");
        json_out::uint(out, u.reasoning_tokens);
    }
    if u.cached_tokens > 0 {
        out.put_slice(b",\"cachedContentTokenCount\":");
        json_out::uint(out, u.cached_tokens);
    }
    out.put_slice(b"}");
}

/// Gemini's `finishReason` for a hub stop reason.
fn finish_reason(reason: Option<StopReason>) -> &'static str {
    match reason {
        Some(StopReason::MaxTokens) => "MAX_TOKENS",
        Some(StopReason::ContentFilter | StopReason::Refusal) => "SAFETY",
        Some(
            StopReason::EndTurn
            | StopReason::ToolUse
            | StopReason::StopSequence
            | StopReason::PauseTurn,
        )
        | None => "STOP",
    }
}

impl Encoder for GeminiEncoder {
    fn event(&mut self, ev: Event<'_>, out: &mut BytesMut) {
        if self.failed {
            return;
        }
        match ev {
            Event::Start { id, .. } => self.render_tail(id),
            Event::BlockStart { index, block } => {
                let kind = match block {
                    Block::Text | Block::Refusal => Kind::Text,
                    Block::Thinking => Kind::Thinking,
                    Block::ToolCall { .. } => Kind::Tool,
                    Block::RedactedThinking { .. } => Kind::Ignored,
                };
                let slot = match self.blocks.iter().position(|b| !b.live) {
                    Some(i) => i,
                    None => {
                        self.blocks.push(Pending {
                            index,
                            kind,
                            live: false,
                            body: Vec::new(),
                            id: Vec::new(),
                            name: Vec::new(),
                        });
                        self.blocks.len() - 1
                    }
                };
                if let Some(b) = self.blocks.get_mut(slot) {
                    b.index = index;
                    b.kind = kind;
                    b.live = true;
                    b.body.clear();
                    b.id.clear();
                    b.name.clear();
                    if let Block::ToolCall { id, name } = block {
                        b.id.extend_from_slice(id.raw());
                        b.name.extend_from_slice(name.raw());
                    }
                }
            }
            Event::Delta { index, delta } => self.on_delta(index, delta, out),
            Event::BlockStop { index } => self.on_block_stop(index, out),
            Event::Usage(u) => self.usage = Some(u),
            Event::Stop { reason, .. } => self.stop = Some(reason),
        }
    }

    fn finish(&mut self, out: &mut BytesMut) {
        if self.failed {
            return;
        }
        // Blocks the upstream never closed still go out.
        let open: Vec<u32> = self
            .blocks
            .iter()
            .filter(|b| b.live)
            .map(|b| b.index)
            .collect();
        for index in open {
            self.on_block_stop(index, out);
        }
        let finish = finish_reason(self.stop);
        if self.stream {
            self.chunk_head(out);
            out.extend_from_slice(b"{\"text\":\"\"}");
            self.chunk_end(out, Some(finish));
            if self.json_array {
                out.extend_from_slice(b"]");
            }
        } else {
            out.extend_from_slice(b"{\"candidates\":[{\"content\":{\"parts\":[");
            out.extend_from_slice(&self.parts);
            self.chunks = 1;
            let json_array = std::mem::replace(&mut self.json_array, true);
            self.chunk_end(out, Some(finish));
            self.json_array = json_array;
        }
    }

    fn error(&mut self, err: &UpstreamError, out: &mut BytesMut) {
        if self.failed {
            return;
        }
        self.failed = true;
        if self.json_array {
            out.extend_from_slice(if self.chunks == 0 { b"[" } else { b"\r\n," });
            write_error_object(out, err);
            out.extend_from_slice(b"]");
        } else {
            out.extend_from_slice(b"data: ");
            write_error_object(out, err);
            out.extend_from_slice(b"\r\n\r\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn ctx(json_array: bool) -> ResponseContext {
        ResponseContext {
            model: "client-model".into(),
            include_usage: false,
            created: 1,
            id: "fallback".into(),
            json_array,
        }
    }

    fn e(s: &'static str) -> Escaped<'static> {
        Escaped::from_json_contents(s.as_bytes())
    }

    fn events(enc: &mut dyn Encoder, out: &mut BytesMut) {
        let evs = [
            Event::Start {
                id: Some(e("r1")),
                model: None,
            },
            Event::BlockStart {
                index: 0,
                block: Block::Thinking,
            },
            Event::Delta {
                index: 0,
                delta: Delta::Thinking(e("hm")),
            },
            Event::Delta {
                index: 0,
                delta: Delta::Signature(e("c2ln")),
            },
            Event::BlockStop { index: 0 },
            Event::BlockStart {
                index: 1,
                block: Block::Text,
            },
            Event::Delta {
                index: 1,
                delta: Delta::Text(e("a\\\"b")),
            },
            Event::BlockStop { index: 1 },
            Event::BlockStart {
                index: 2,
                block: Block::ToolCall {
                    id: e("call_1__thought__s2"),
                    name: e("f"),
                },
            },
            Event::Delta {
                index: 2,
                delta: Delta::Arguments(e("{\\\"x\\\": ")),
            },
            Event::Delta {
                index: 2,
                delta: Delta::Arguments(e("[1]}")),
            },
            Event::BlockStop { index: 2 },
            Event::Usage(Usage {
                prompt_tokens: 10,
                completion_tokens: 7,
                total_tokens: 17,
                cached_tokens: 4,
                reasoning_tokens: 3,
                cache_write_tokens: 0,
            }),
            Event::Stop {
                reason: StopReason::ToolUse,
                sequence: None,
            },
        ];
        for ev in evs {
            enc.event(ev, out);
        }
        enc.finish(out);
    }

    const USAGE: &str = r#"{"promptTokenCount":10,"candidatesTokenCount":4,"totalTokenCount":17,"thoughtsTokenCount":3,"cachedContentTokenCount":4}"#;

    #[test]
    fn whole_answer() {
        let mut out = BytesMut::new();
        events(&mut GeminiEncoder::new(false, ctx(false)), &mut out);
        let v: Value = serde_json::from_slice(&out).unwrap();
        let usage: Value = serde_json::from_str(USAGE).unwrap();
        assert_eq!(
            v,
            json!({"candidates":[{"content":{"parts":[
                {"text":"hm","thought":true,"thoughtSignature":"c2ln"},
                {"text":"a\"b"},
                {"functionCall":{"name":"f","args":{"x":[1]},"id":"call_1"},"thoughtSignature":"s2"}
            ],"role":"model"},"finishReason":"STOP","index":0}],
            "usageMetadata":usage,"modelVersion":"client-model","responseId":"r1"})
        );
    }

    #[test]
    fn sse_and_array_streams() {
        let mut out = BytesMut::new();
        events(&mut GeminiEncoder::new(true, ctx(false)), &mut out);
        let text = String::from_utf8(out.to_vec()).unwrap();
        let chunks: Vec<Value> = text
            .split("\r\n\r\n")
            .filter(|c| !c.is_empty())
            .map(|c| serde_json::from_str(c.strip_prefix("data: ").unwrap()).unwrap())
            .collect();
        assert_eq!(chunks.len(), 5);
        assert_eq!(
            chunks[0]["candidates"][0]["content"]["parts"][0],
            json!({"text":"hm","thought":true})
        );
        assert_eq!(
            chunks[3]["candidates"][0]["content"]["parts"][0]["functionCall"]["args"],
            json!({"x":[1]})
        );
        assert_eq!(chunks[4]["candidates"][0]["finishReason"], "STOP");
        assert_eq!(
            chunks[4]["usageMetadata"],
            serde_json::from_str::<Value>(USAGE).unwrap()
        );
        assert_eq!(chunks[4]["responseId"], "r1");

        let mut out = BytesMut::new();
        events(&mut GeminiEncoder::new(true, ctx(true)), &mut out);
        let arr: Vec<Value> = serde_json::from_slice(&out).unwrap();
        assert_eq!(arr.len(), 5);
        assert_eq!(arr, chunks);
    }

    #[test]
    fn unescapes_like_serde() {
        let mut buf = Vec::new();
        for s in ["a\"b\\c/\u{8}\u{c}\n\r\t", "é😀\u{1}", ""] {
            let lit = serde_json::to_string(s).unwrap();
            let inner = &lit.as_bytes()[1..lit.len() - 1];
            assert!(unescape_into(inner, &mut buf));
            assert_eq!(buf, s.as_bytes());
        }
        assert!(unescape_into(br"\ud83d\ude00\/", &mut buf));
        assert_eq!(buf, "😀/".as_bytes());
        for bad in [&br"\"[..], br"\x", br"\u12", br"\ud83d", br"\ud83d\u0041"] {
            assert!(!unescape_into(bad, &mut buf));
        }
    }

    #[test]
    fn errors() {
        let err = UpstreamError::new(429, "rate_limit_error", "slow \"down\"");
        let v: Value = serde_json::from_slice(&error_body(&err)).unwrap();
        assert_eq!(
            v,
            json!({"error":{"code":429,"message":"slow \"down\"","status":"RESOURCE_EXHAUSTED"}})
        );
        let mut enc = GeminiEncoder::new(true, ctx(true));
        let mut out = BytesMut::new();
        enc.event(
            Event::BlockStart {
                index: 0,
                block: Block::Text,
            },
            &mut out,
        );
        enc.event(
            Event::Delta {
                index: 0,
                delta: Delta::Text(e("x")),
            },
            &mut out,
        );
        enc.error(&UpstreamError::new(503, "server_error", "busy"), &mut out);
        let arr: Vec<Value> = serde_json::from_slice(&out).unwrap();
        assert_eq!(arr[1]["error"]["status"], "UNAVAILABLE");
        for (s, want) in [
            (400, "INVALID_ARGUMENT"),
            (401, "UNAUTHENTICATED"),
            (403, "PERMISSION_DENIED"),
            (404, "NOT_FOUND"),
            (500, "INTERNAL"),
            (504, "DEADLINE_EXCEEDED"),
        ] {
            assert_eq!(rpc_status(s), want);
        }
    }
}
