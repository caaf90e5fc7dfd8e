//! Gemini's plain (non-`alt=sse`) stream framing: one JSON array of responses, split into
//! its elements as the bytes arrive.

use crate::sse::DEFAULT_MAX_EVENT_BYTES;
use crate::UpstreamError;

/// Incremental splitter of a streamed JSON array into its top-level elements.
#[derive(Debug, Default)]
pub(super) struct ArraySplitter {
    buf: Vec<u8>,
    pub(super) depth: u32,
    in_string: bool,
    escape: bool,
    pub(super) closed: bool,
}

impl ArraySplitter {
    pub(super) fn feed(
        &mut self,
        chunk: &[u8],
        mut on_element: impl FnMut(&[u8]) -> Result<(), UpstreamError>,
    ) -> Result<(), UpstreamError> {
        let mut start = 0usize;
        for (i, &b) in chunk.iter().enumerate() {
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' {
                    self.escape = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'[' | b'{' => {
                    if self.depth == 1 {
                        start = i;
                        self.buf.clear();
                    }
                    self.depth = self.depth.saturating_add(1);
                }
                b']' | b'}' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 1 {
                        let piece = chunk.get(start..=i).unwrap_or_default();
                        let element = if self.buf.is_empty() {
                            on_element(piece)
                        } else {
                            self.buf.extend_from_slice(piece);
                            let buf = std::mem::take(&mut self.buf);
                            let r = on_element(&buf);
                            self.buf = buf;
                            self.buf.clear();
                            r
                        };
                        element?;
                    } else if self.depth == 0 {
                        self.closed = true;
                    }
                }
                _ => {}
            }
        }
        if self.depth >= 2 {
            let from = if self.buf.is_empty() { start } else { 0 };
            let tail = chunk.get(from..).unwrap_or_default();
            if self.buf.len() + tail.len() > DEFAULT_MAX_EVENT_BYTES {
                self.buf = Vec::new();
                return Err(UpstreamError::malformed(format!(
                    "Gemini stream element larger than {DEFAULT_MAX_EVENT_BYTES} bytes"
                )));
            }
            self.buf.extend_from_slice(tail);
        }
        Ok(())
    }
}
