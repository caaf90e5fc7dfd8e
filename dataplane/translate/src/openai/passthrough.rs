//! Zero-copy scanner for OpenAI → OpenAI streams.

use bytes::{Bytes, BytesMut};

use super::usage::OaUsageCarrier;
use crate::sse::{SseError, SseParser};
use crate::Usage;

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
