//! OpenAI side: chunk/error writers shared by the translators, and the zero-copy
//! passthrough scanner for OpenAI → OpenAI streams.

use bytes::{Bytes, BytesMut};
use serde::Deserialize;

use crate::json_out;
use crate::sse::{SseError, SseParser};
use crate::{UpstreamError, Usage};

/// Write an OpenAI-style mid-stream error event:
/// `data: {"error":{"message":...,"type":...,"code":...,"param":null}}\n\n`.
pub fn write_error_event(err: &UpstreamError, out: &mut BytesMut) {
    out.extend_from_slice(b"data: ");
    write_error_object(err, out);
    out.extend_from_slice(b"\n\n");
}

/// The OpenAI error body `{"error":{...}}` for a non-streamed error response.
pub fn error_body(err: &UpstreamError) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + err.message.len());
    write_error_object(err, &mut out);
    out
}

fn write_error_object<B: bytes::BufMut>(err: &UpstreamError, out: &mut B) {
    out.put_slice(b"{\"error\":{\"message\":");
    json_out::string(out, err.message.as_bytes());
    out.put_slice(b",\"type\":");
    json_out::string(out, err.error_type.as_bytes());
    out.put_slice(b",\"code\":");
    match &err.code {
        Some(code) => json_out::string(out, code.as_bytes()),
        None => out.put_slice(b"null"),
    }
    out.put_slice(b",\"param\":");
    match &err.param {
        Some(param) => json_out::string(out, param.as_bytes()),
        None => out.put_slice(b"null"),
    }
    out.put_slice(b"}}");
}

/// Delta key for answer text.
pub(crate) const CONTENT: &[u8] = b"\"content\":";
/// Delta key for reasoning/thinking text.
pub(crate) const REASONING: &[u8] = b"\"reasoning_content\":";

/// Writes `chat.completion.chunk` events for one stream; the constant head of every chunk
/// (`id`, `object`, `created`, `model`) is rendered once so each chunk costs only copies.
#[derive(Debug, Default)]
pub(crate) struct ChunkWriter {
    head: Vec<u8>,
    /// `head` plus the opening of choice 0's delta, the common case, in one copy.
    head0: Vec<u8>,
}

impl ChunkWriter {
    /// Render the constant chunk head.
    pub(crate) fn new(id: &[u8], created: u64, model: &str) -> Self {
        let mut head = Vec::with_capacity(96 + id.len() + model.len());
        head.extend_from_slice(b"data: {\"id\":");
        json_out::string(&mut head, id);
        head.extend_from_slice(b",\"object\":\"chat.completion.chunk\",\"created\":");
        json_out::uint(&mut head, created);
        head.extend_from_slice(b",\"model\":");
        json_out::string(&mut head, model.as_bytes());
        head.extend_from_slice(b",\"choices\":[");
        let mut head0 = head.clone();
        head0.extend_from_slice(b"{\"index\":0,\"delta\":{");
        Self { head, head0 }
    }

    /// Start a choice: everything up to and including `"delta":{`.
    pub(crate) fn begin(&self, out: &mut BytesMut, choice: u32) {
        if choice == 0 {
            out.extend_from_slice(&self.head0);
            return;
        }
        out.extend_from_slice(&self.head);
        out.extend_from_slice(b"{\"index\":");
        json_out::uint(out, u64::from(choice));
        out.extend_from_slice(b",\"delta\":{");
    }

    /// Close the delta and the chunk, with an optional finish reason.
    pub(crate) fn end(out: &mut BytesMut, finish_reason: Option<&str>) {
        match finish_reason {
            Some(reason) => {
                out.extend_from_slice(b"},\"logprobs\":null,\"finish_reason\":\"");
                out.extend_from_slice(reason.as_bytes());
                out.extend_from_slice(b"\"}]}\n\n");
            }
            None => out.extend_from_slice(b"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"),
        }
    }

    /// A chunk whose delta carries only the assistant role (the first chunk of a choice).
    pub(crate) fn role(&self, out: &mut BytesMut, choice: u32) {
        self.begin(out, choice);
        out.extend_from_slice(b"\"role\":\"assistant\",\"content\":\"\"");
        Self::end(out, None);
    }

    /// A chunk with a delta field (`key` is the quoted key and colon, e.g. [`CONTENT`])
    /// set to a raw JSON string literal (already escaped).
    pub(crate) fn raw_text(&self, out: &mut BytesMut, choice: u32, key: &[u8], raw: &[u8]) {
        self.begin(out, choice);
        out.extend_from_slice(key);
        out.extend_from_slice(raw);
        Self::end(out, None);
    }

    /// The opening `delta.tool_calls` entry: id, type, name and empty arguments.
    pub(crate) fn tool_start(
        &self,
        out: &mut BytesMut,
        choice: u32,
        index: u32,
        id: &mut dyn FnMut(&mut BytesMut),
        name: &[u8],
    ) {
        self.begin(out, choice);
        out.extend_from_slice(b"\"tool_calls\":[{\"index\":");
        json_out::uint(out, u64::from(index));
        out.extend_from_slice(b",\"id\":\"");
        id(out);
        out.extend_from_slice(b"\",\"type\":\"function\",\"function\":{\"name\":");
        json_out::string(out, name);
        out.extend_from_slice(b",\"arguments\":\"\"}}]");
        Self::end(out, None);
    }

    /// An argument fragment given as a raw JSON string literal (already escaped).
    pub(crate) fn tool_args_raw(&self, out: &mut BytesMut, choice: u32, index: u32, raw: &[u8]) {
        self.tool_args_begin(out, choice, index);
        out.extend_from_slice(raw);
        Self::tool_args_end(out);
    }

    /// An argument fragment given as JSON text to be embedded as a string.
    pub(crate) fn tool_args_json(&self, out: &mut BytesMut, choice: u32, index: u32, json: &[u8]) {
        self.tool_args_begin(out, choice, index);
        json_out::string(out, json);
        Self::tool_args_end(out);
    }

    fn tool_args_begin(&self, out: &mut BytesMut, choice: u32, index: u32) {
        self.begin(out, choice);
        out.extend_from_slice(b"\"tool_calls\":[{\"index\":");
        json_out::uint(out, u64::from(index));
        out.extend_from_slice(b",\"function\":{\"arguments\":");
    }

    fn tool_args_end(out: &mut BytesMut) {
        out.extend_from_slice(b"}}]");
        Self::end(out, None);
    }

    /// A chunk with an empty delta and a finish reason.
    pub(crate) fn finish(&self, out: &mut BytesMut, choice: u32, reason: &str) {
        self.begin(out, choice);
        Self::end(out, Some(reason));
    }

    /// The usage-only chunk OpenAI sends last when `stream_options.include_usage` is set.
    pub(crate) fn usage(&self, out: &mut BytesMut, usage: &Usage) {
        out.extend_from_slice(&self.head);
        out.extend_from_slice(b"],\"usage\":");
        write_usage(out, usage);
        out.extend_from_slice(b"}\n\n");
    }

    /// The terminating `data: [DONE]` event.
    pub(crate) fn done(out: &mut BytesMut) {
        out.extend_from_slice(b"data: [DONE]\n\n");
    }
}

/// Write an OpenAI `usage` object.
pub(crate) fn write_usage<B: bytes::BufMut>(out: &mut B, u: &Usage) {
    out.put_slice(b"{\"prompt_tokens\":");
    json_out::uint(out, u.prompt_tokens);
    out.put_slice(b",\"completion_tokens\":");
    json_out::uint(out, u.completion_tokens);
    out.put_slice(b",\"total_tokens\":");
    json_out::uint(out, u.total_tokens);
    out.put_slice(b",\"prompt_tokens_details\":{\"cached_tokens\":");
    json_out::uint(out, u.cached_tokens);
    out.put_slice(b"},\"completion_tokens_details\":{\"reasoning_tokens\":");
    json_out::uint(out, u.reasoning_tokens);
    out.put_slice(b"}}");
}

#[derive(Deserialize)]
struct OaUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    total_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<OaPromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<OaCompletionDetails>,
}

#[derive(Deserialize)]
struct OaPromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct OaCompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct OaUsageCarrier {
    #[serde(default)]
    usage: Option<OaUsage>,
    #[serde(default)]
    choices: Option<Vec<serde::de::IgnoredAny>>,
}

impl From<OaUsage> for Usage {
    fn from(u: OaUsage) -> Self {
        let prompt = u.prompt_tokens.unwrap_or(0);
        let completion = u.completion_tokens.unwrap_or(0);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            // Saturating: the counts come from the network.
            total_tokens: u
                .total_tokens
                .unwrap_or_else(|| prompt.saturating_add(completion)),
            cached_tokens: u
                .prompt_tokens_details
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0),
            reasoning_tokens: u
                .completion_tokens_details
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
        }
    }
}

/// Usage from a non-streamed OpenAI `chat.completion` body (`None` if absent/invalid).
///
/// `usage` sits at the end of OpenAI's answers (only scalar members such as
/// `system_fingerprint` follow it), so the scan looks for the last `"usage":` key and parses
/// only that object, after checking that what follows it closes the root object. A quote
/// inside a JSON string is always escaped, so the pattern cannot match message text.
/// Anything else falls back to parsing the whole body.
pub fn scan_usage(body: &[u8]) -> Option<Usage> {
    if let Some(u) = usage_near_end(body) {
        return u;
    }
    serde_json::from_slice::<OaUsageCarrier>(body)
        .ok()?
        .usage
        .map(Usage::from)
}

/// `Some(answer)` when the fast path could decide; `None` to fall back.
fn usage_near_end(body: &[u8]) -> Option<Option<Usage>> {
    let pos = memchr::memmem::rfind(body, b"\"usage\"")?;
    let rest = body.get(pos + 7..)?.trim_ascii_start().strip_prefix(b":")?;
    let rest = rest.trim_ascii_start();
    if rest.first() != Some(&b'{') {
        return None;
    }
    let mut objects = serde_json::Deserializer::from_slice(rest).into_iter::<OaUsage>();
    let usage = objects.next()?.ok()?;
    closes_root(rest.get(objects.byte_offset()..)?).then(|| Some(Usage::from(usage)))
}

/// Whether `tail` is only scalar members and then the one `}` that ends the document:
/// then the object holding `usage` is the root, not something nested in it.
fn closes_root(tail: &[u8]) -> bool {
    let mut in_string = false;
    let mut escaped = false;
    let mut closes = 0;
    for &b in tail {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' if closes == 0 => in_string = true,
            b'{' | b'[' | b']' | b'"' => return false,
            b'}' => closes += 1,
            _ if closes > 0 && !b.is_ascii_whitespace() => return false,
            _ => {}
        }
    }
    closes == 1 && !in_string
}

/// What one OpenAI SSE event means to the scanner.
#[derive(Default)]
struct EventInfo {
    done: bool,
    usage: Option<Usage>,
    usage_only: bool,
}

fn inspect_event(data: &[u8]) -> EventInfo {
    let trimmed = data.trim_ascii();
    if trimmed == b"[DONE]" {
        return EventInfo {
            done: true,
            ..EventInfo::default()
        };
    }
    // Cheap pre-filter: only events mentioning a non-null usage object get parsed.
    let Some(pos) = memchr::memmem::find(trimmed, b"\"usage\"") else {
        return EventInfo::default();
    };
    let after = trimmed
        .get(pos + 7..)
        .unwrap_or_default()
        .trim_ascii_start();
    let after = after.strip_prefix(b":").unwrap_or(after).trim_ascii_start();
    if after.first() != Some(&b'{') {
        return EventInfo::default();
    }
    match serde_json::from_slice::<OaUsageCarrier>(trimmed) {
        Ok(OaUsageCarrier {
            usage: Some(u),
            choices,
        }) => EventInfo {
            done: false,
            usage: Some(u.into()),
            usage_only: choices.is_some_and(|c| c.is_empty()),
        },
        _ => EventInfo::default(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    None,
    /// A CR ended a non-blank line; a following LF belongs to it.
    Cr,
    /// A CR ended a blank line (event end); a following LF belongs to the same event.
    BlankCr,
}

/// Zero-copy scanner for OpenAI → OpenAI streams: forwards the upstream's bytes untouched
/// while picking out `usage`, and optionally removes the usage-only chunk the gateway asked
/// for on the client's behalf.
#[derive(Debug)]
pub struct PassthroughScanner {
    strip: bool,
    sse: SseParser,
    usage: Option<Usage>,
    done: bool,
    held: BytesMut,
    line_nonempty: bool,
    pending: Pending,
}

impl PassthroughScanner {
    /// `strip_usage_chunk`: remove the usage-only event (`"choices":[]` + `usage`) because
    /// the gateway, not the client, asked for `stream_options.include_usage`.
    pub fn new(strip_usage_chunk: bool) -> Self {
        Self {
            strip: strip_usage_chunk,
            sse: SseParser::new(),
            usage: None,
            done: false,
            held: BytesMut::new(),
            line_nonempty: false,
            pending: Pending::None,
        }
    }

    /// Scan one network chunk and return the bytes to forward now.
    ///
    /// Without stripping this is always the chunk itself (a refcount clone, no copy).
    /// With stripping, bytes of an event still incomplete at the end of the chunk are held
    /// back until the event is complete (or [`PassthroughScanner::finish`]); whole chunks
    /// that need no change are still returned without copying.
    pub fn scan(&mut self, chunk: &Bytes) -> Option<Bytes> {
        if !self.strip {
            let (usage, done) = (&mut self.usage, &mut self.done);
            // Errors here only mean an oversized event; passthrough never fails on it.
            let _ = self.sse.feed::<SseError, _>(chunk, |ev| {
                let info = inspect_event(ev.data);
                *done |= info.done;
                if info.usage.is_some() {
                    *usage = info.usage;
                }
                Ok(())
            });
            return (!chunk.is_empty()).then(|| chunk.clone());
        }
        self.scan_stripping(chunk)
    }

    /// End of the upstream body: the bytes of a final unterminated event, if any.
    pub fn finish(&mut self) -> Option<Bytes> {
        if self.held.is_empty() {
            return None;
        }
        let event = self.held.split().freeze();
        self.pending = Pending::None;
        self.line_nonempty = false;
        (!self.classify(&event)).then_some(event)
    }

    /// Usage seen so far.
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// Whether `data: [DONE]` was seen.
    pub fn saw_done(&self) -> bool {
        self.done
    }

    /// Feed one complete event's bytes to the SSE parser; true if it is the usage-only chunk.
    fn classify(&mut self, event: &[u8]) -> bool {
        let mut drop = false;
        let (usage, done) = (&mut self.usage, &mut self.done);
        let mut visit = |ev: crate::sse::SseEvent<'_>| -> Result<(), SseError> {
            let info = inspect_event(ev.data);
            *done |= info.done;
            if info.usage.is_some() {
                *usage = info.usage;
            }
            drop |= info.usage_only;
            Ok(())
        };
        let _ = self.sse.feed(event, &mut visit);
        let _ = self.sse.finish(&mut visit);
        drop
    }

    fn scan_stripping(&mut self, chunk: &Bytes) -> Option<Bytes> {
        let data: &[u8] = chunk;
        // Ranges of `chunk` to forward, plus whether held bytes precede the first one.
        let mut keep: Vec<(usize, usize)> = Vec::new();
        let mut seg_start = 0usize;
        let mut held_prefix: Option<Bytes> = None;
        let mut changed = !self.held.is_empty();
        let mut i = 0usize;
        let n = data.len();
        let mut boundary = |this: &mut Self, end: usize, seg_start: &mut usize| {
            let mut event = std::mem::take(&mut this.held);
            event.extend_from_slice(data.get(*seg_start..end).unwrap_or_default());
            let had_held = event.len() > end - *seg_start;
            if this.classify(&event) {
                changed = true;
            } else if had_held {
                held_prefix = Some(event.split().freeze());
            } else {
                keep.push((*seg_start, end));
            }
            event.clear();
            this.held = event;
            *seg_start = end;
        };
        while i < n {
            match std::mem::replace(&mut self.pending, Pending::None) {
                Pending::Cr if data.get(i) == Some(&b'\n') => {
                    i += 1;
                    continue;
                }
                Pending::BlankCr if data.get(i) == Some(&b'\n') => {
                    boundary(self, i + 1, &mut seg_start);
                    i += 1;
                    continue;
                }
                Pending::BlankCr => boundary(self, i, &mut seg_start),
                _ => {}
            }
            match memchr::memchr2(b'\n', b'\r', data.get(i..).unwrap_or_default()) {
                None => {
                    self.line_nonempty = true;
                    break;
                }
                Some(off) => {
                    let p = i + off;
                    if off > 0 {
                        self.line_nonempty = true;
                    }
                    let blank = !self.line_nonempty;
                    self.line_nonempty = false;
                    if data.get(p) == Some(&b'\n') {
                        if blank {
                            boundary(self, p + 1, &mut seg_start);
                        }
                    } else {
                        self.pending = if blank { Pending::BlankCr } else { Pending::Cr };
                    }
                    i = p + 1;
                }
            }
        }
        let mut overflow: Option<Bytes> = None;
        // Bytes of the event still in progress wait in `held` — up to the per-event cap;
        // past it the event is forwarded unexamined so memory stays bounded.
        if seg_start < n {
            self.held
                .extend_from_slice(data.get(seg_start..).unwrap_or_default());
            changed = true;
            if self.held.len() > crate::sse::DEFAULT_MAX_EVENT_BYTES {
                overflow = Some(self.held.split().freeze());
            }
        }
        if let (None, None, &[(a, b)]) = (&held_prefix, &overflow, keep.as_slice()) {
            if !changed && (a, b) == (0, n) {
                return Some(chunk.clone());
            }
            // `Bytes::slice` checks the range too; `a <= b <= n` holds by construction.
            return chunk.get(a..b).map(|_| chunk.slice(a..b));
        }
        let mut out = BytesMut::new();
        if let Some(prefix) = held_prefix {
            out.extend_from_slice(&prefix);
        }
        for (a, b) in keep {
            out.extend_from_slice(data.get(a..b).unwrap_or_default());
        }
        if let Some(tail) = overflow {
            out.extend_from_slice(&tail);
        }
        (!out.is_empty()).then(|| out.freeze())
    }
}
