//! Incremental Server-Sent Events frame parser.
//!
//! Accepts bytes split at any boundary, LF / CRLF / CR line endings, `data:` with or
//! without the optional space, comment lines (`:`), multi-line `data` fields and
//! `event:` names. Only the current partial line and the current event's data are
//! buffered, and together they are capped ([`DEFAULT_MAX_EVENT_BYTES`]), so memory per
//! stream does not grow with the answer, nor with an upstream that never ends a line.
//! Nothing here indexes or slices unchecked: the input comes from the network.

use memchr::memchr2;

/// Default cap on what one event may buffer (its data, its `event:` name and the current
/// unterminated line, together): 1 MiB.
///
/// Streamed chat events are small (a text delta, a tool-call fragment, usage); 1 MiB holds
/// the largest real ones with room to spare, while an upstream sending an endless line or
/// event costs at most this much per stream before the stream fails.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 1024 * 1024;

/// One dispatched SSE event, borrowed from the parser's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// The `event:` field (empty when the frame had none).
    pub event: &'a [u8],
    /// The `data:` lines joined with `\n`.
    pub data: &'a [u8],
}

/// The stream violated the parser's limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// A single event (or line) exceeded the configured cap.
    #[error("SSE event larger than {limit} bytes")]
    EventTooLarge {
        /// The cap that was exceeded.
        limit: usize,
    },
}

/// Incremental SSE parser; feed it network chunks, get complete events through a callback.
#[derive(Debug)]
pub struct SseParser {
    line: Vec<u8>,
    data: Vec<u8>,
    event: Vec<u8>,
    has_data: bool,
    skip_lf: bool,
    max_event: usize,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl SseParser {
    /// A parser with the default per-event cap ([`DEFAULT_MAX_EVENT_BYTES`]).
    pub fn new() -> Self {
        Self::with_limit(DEFAULT_MAX_EVENT_BYTES)
    }

    /// A parser whose events (and unterminated lines) may not exceed `max_event` bytes.
    pub fn with_limit(max_event: usize) -> Self {
        Self {
            line: Vec::new(),
            data: Vec::new(),
            event: Vec::new(),
            has_data: false,
            skip_lf: false,
            max_event,
        }
    }

    /// Bytes currently buffered (partial line + pending event data).
    pub fn buffered(&self) -> usize {
        self.line.len() + self.data.len() + self.event.len()
    }

    /// Parse `chunk`, calling `on_event` for every event completed by it.
    ///
    /// Stops at the first error returned by `on_event` or the first limit violation; the
    /// event in progress is then dropped, so a caller that keeps feeding (the passthrough
    /// scanner) resynchronises at the next line instead of staying stuck at the cap.
    /// An event whose single `data` line lies entirely inside `chunk` is handed out as a
    /// slice of `chunk`, without copying.
    pub fn feed<E, F>(&mut self, chunk: &[u8], mut on_event: F) -> Result<(), E>
    where
        E: From<SseError>,
        F: FnMut(SseEvent<'_>) -> Result<(), E>,
    {
        let mut pending: Option<&[u8]> = None;
        let result = self.feed_inner(chunk, &mut pending, &mut on_event);
        if result.is_err() {
            self.reset();
        } else if let Some(value) = pending {
            // The event continues in a later chunk: keep its data.
            self.data.extend_from_slice(value);
        }
        result
    }

    /// Drop the partial line and the event in progress.
    fn reset(&mut self) {
        self.line.clear();
        self.data.clear();
        self.event.clear();
        self.has_data = false;
    }

    fn feed_inner<'c, E, F>(
        &mut self,
        chunk: &'c [u8],
        pending: &mut Option<&'c [u8]>,
        on_event: &mut F,
    ) -> Result<(), E>
    where
        E: From<SseError>,
        F: FnMut(SseEvent<'_>) -> Result<(), E>,
    {
        let mut rest = chunk;
        if self.skip_lf {
            if let Some((&b'\n', tail)) = rest.split_first() {
                rest = tail;
            }
            if !rest.is_empty() {
                self.skip_lf = false;
            }
        }
        while !rest.is_empty() {
            let line_end = memchr2(b'\n', b'\r', rest).and_then(|pos| rest.split_at_checked(pos));
            let Some((content, (&terminator, mut next))) =
                line_end.and_then(|(content, tail)| Some((content, tail.split_first()?)))
            else {
                // No line end in this chunk: keep the partial line, within the cap.
                let held = self.buffered() + pending.as_ref().map_or(0, |p| p.len());
                if held.saturating_add(rest.len()) > self.max_event {
                    return Err(self.too_large().into());
                }
                self.line.extend_from_slice(rest);
                return Ok(());
            };
            if terminator == b'\r' {
                match next.split_first() {
                    Some((b'\n', tail)) => next = tail,
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
            if self.line.is_empty() {
                self.process_chunk_line(content, pending, on_event)?;
            } else {
                if self.buffered() + content.len() > self.max_event {
                    return Err(self.too_large().into());
                }
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(content);
                let result = self.process_line(&line, on_event);
                line.clear();
                self.line = line;
                result?;
            }
            rest = next;
        }
        Ok(())
    }

    /// End of input: treat a pending unterminated line and event as complete.
    pub fn finish<E, F>(&mut self, mut on_event: F) -> Result<(), E>
    where
        E: From<SseError>,
        F: FnMut(SseEvent<'_>) -> Result<(), E>,
    {
        self.skip_lf = false;
        if !self.line.is_empty() {
            let mut line = std::mem::take(&mut self.line);
            let result = self.process_line(&line, &mut on_event);
            line.clear();
            self.line = line;
            result?;
        }
        self.dispatch(None, &mut on_event)
    }

    fn too_large(&self) -> SseError {
        SseError::EventTooLarge {
            limit: self.max_event,
        }
    }

    /// Split a line into (field, value), dropping one optional space after the colon.
    fn field(line: &[u8]) -> (&[u8], &[u8]) {
        let Some((name, colon_value)) =
            memchr::memchr(b':', line).and_then(|i| line.split_at_checked(i))
        else {
            return (line, &b""[..]);
        };
        let value = colon_value.get(1..).unwrap_or_default();
        (name, value.strip_prefix(b" ").unwrap_or(value))
    }

    /// A line read straight from the current chunk: a first `data` line is only
    /// remembered (zero-copy) until the event ends or another data line arrives.
    fn process_chunk_line<'c, E, F>(
        &mut self,
        line: &'c [u8],
        pending: &mut Option<&'c [u8]>,
        on_event: &mut F,
    ) -> Result<(), E>
    where
        E: From<SseError>,
        F: FnMut(SseEvent<'_>) -> Result<(), E>,
    {
        if line.is_empty() {
            let value = pending.take();
            return self.dispatch(value, on_event);
        }
        if line.first() == Some(&b':') {
            return Ok(());
        }
        let (field, value) = Self::field(line);
        if field == b"data" && !self.has_data {
            if self.buffered() + value.len() > self.max_event {
                return Err(self.too_large().into());
            }
            *pending = Some(value);
            self.has_data = true;
            return Ok(());
        }
        if let Some(first) = pending.take() {
            self.data.extend_from_slice(first);
        }
        self.process_line(line, on_event)
    }

    fn process_line<E, F>(&mut self, line: &[u8], on_event: &mut F) -> Result<(), E>
    where
        E: From<SseError>,
        F: FnMut(SseEvent<'_>) -> Result<(), E>,
    {
        if line.is_empty() {
            return self.dispatch(None, on_event);
        }
        if line.first() == Some(&b':') {
            return Ok(());
        }
        let (field, value) = Self::field(line);
        match field {
            b"data" => {
                let extra = value.len() + usize::from(self.has_data);
                if self.buffered() + extra > self.max_event {
                    return Err(self.too_large().into());
                }
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => {
                self.event.clear();
                if self.buffered() + value.len() > self.max_event {
                    return Err(self.too_large().into());
                }
                self.event.extend_from_slice(value);
            }
            _ => {}
        }
        Ok(())
    }

    /// Dispatch the current event; `direct` is its whole data when it was never copied.
    fn dispatch<E, F>(&mut self, direct: Option<&[u8]>, on_event: &mut F) -> Result<(), E>
    where
        F: FnMut(SseEvent<'_>) -> Result<(), E>,
    {
        let result = if self.has_data {
            on_event(SseEvent {
                event: &self.event,
                data: direct.unwrap_or(&self.data),
            })
        } else {
            Ok(())
        };
        self.data.clear();
        self.event.clear();
        self.has_data = false;
        result
    }
}

/// A malformed or oversized upstream SSE stream is an upstream failure (502).
impl From<SseError> for crate::UpstreamError {
    fn from(e: SseError) -> Self {
        crate::UpstreamError::malformed(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(parts: &[&[u8]]) -> Vec<(String, String)> {
        let mut p = SseParser::new();
        let mut got = Vec::new();
        for part in parts {
            p.feed::<SseError, _>(part, |e| {
                got.push((
                    String::from_utf8_lossy(e.event).into_owned(),
                    String::from_utf8_lossy(e.data).into_owned(),
                ));
                Ok(())
            })
            .unwrap();
        }
        p.finish::<SseError, _>(|e| {
            got.push((
                String::from_utf8_lossy(e.event).into_owned(),
                String::from_utf8_lossy(e.data).into_owned(),
            ));
            Ok(())
        })
        .unwrap();
        got
    }

    #[test]
    fn lf_crlf_cr_and_fields() {
        let input: &[u8] =
            b": comment\nevent: a\ndata: 1\ndata:2\n\r\ndata: x\r\rdata:y\r\n\r\nid: 3\nretry: 5\n\n";
        let got = collect(&[input]);
        assert_eq!(
            got,
            vec![
                ("a".into(), "1\n2".into()),
                ("".into(), "x".into()),
                ("".into(), "y".into())
            ]
        );
        for split in 0..input.len() {
            assert_eq!(collect(&[&input[..split], &input[split..]]), got, "{split}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(collect(&bytes), got);
    }

    #[test]
    fn unterminated_event_is_flushed_by_finish() {
        assert_eq!(collect(&[b"data: tail"]), vec![("".into(), "tail".into())]);
        assert!(collect(&[b"event: only\n\n"]).is_empty());
    }

    #[test]
    fn limit_is_enforced() {
        let mut p = SseParser::with_limit(8);
        let r = p.feed::<SseError, _>(b"data: 0123456789\n\n", |_| Ok(()));
        assert_eq!(r, Err(SseError::EventTooLarge { limit: 8 }));
        let mut p = SseParser::with_limit(8);
        let r = p.feed::<SseError, _>(b"data: 01234567890123", |_| Ok(()));
        assert!(r.is_err());
    }
}
