//! The HTTP/1.1 wire format towards upstreams, as pure functions and a state machine:
//! request encoding into one buffer (one `send` per small request), response-head parsing
//! (httparse), and an incremental body decoder (`Content-Length`, chunked, or until close)
//! that accepts the bytes split at any boundary and hands body bytes out without copying.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Largest response head accepted.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most response headers accepted.
const MAX_HEADERS: usize = 96;
/// Longest chunk-size or trailer line accepted.
const MAX_LINE: usize = 4096;

/// A malformed or unacceptable upstream message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The request cannot be written (a value would break the framing).
    #[error("invalid upstream request: {0}")]
    Request(String),
    /// The response head does not parse.
    #[error("malformed upstream response head: {0}")]
    Head(String),
    /// The response head exceeds [`MAX_HEAD_BYTES`].
    #[error("upstream response head larger than {MAX_HEAD_BYTES} bytes")]
    HeadTooLarge,
    /// The chunked body does not parse.
    #[error("malformed chunked upstream body: {0}")]
    Chunk(String),
    /// The connection closed before the body was complete.
    #[error("upstream closed the connection mid-body")]
    Truncated,
}

fn clean(what: &str, v: &str) -> Result<(), WireError> {
    if v.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(WireError::Request(format!("{what} contains a line break")));
    }
    Ok(())
}

/// Encodes a request head (and `content-length` when `body_len` is given) into `out`.
pub fn encode_request_head(
    out: &mut BytesMut,
    method: &str,
    path: &str,
    host: &str,
    headers: &[(&str, &str)],
    body_len: Option<usize>,
) -> Result<(), WireError> {
    if path.is_empty() || path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(WireError::Request(format!("path {path:?}")));
    }
    clean("host", host)?;
    out.put_slice(method.as_bytes());
    out.put_u8(b' ');
    out.put_slice(path.as_bytes());
    out.put_slice(b" HTTP/1.1\r\nhost: ");
    out.put_slice(host.as_bytes());
    out.put_slice(b"\r\n");
    for (k, v) in headers {
        clean(k, k)?;
        clean(k, v)?;
        out.put_slice(k.as_bytes());
        out.put_slice(b": ");
        out.put_slice(v.as_bytes());
        out.put_slice(b"\r\n");
    }
    if let Some(n) = body_len {
        out.put_slice(b"content-length: ");
        out.put_slice(itoa::Buffer::new().format(n).as_bytes());
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"\r\n");
    Ok(())
}

/// How the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (1xx, 204, 304, or a response to HEAD).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

/// The parts of a response head the gateway uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// Status code.
    pub status: u16,
    /// `Retry-After`, if present.
    pub retry_after: Option<String>,
    /// `Content-Type` (empty if absent).
    pub content_type: String,
    /// Body framing.
    pub framing: Framing,
    /// Whether the connection may carry another request afterwards.
    pub keep_alive: bool,
}

impl ResponseHead {
    /// An interim (1xx) response that a final one follows on the same connection.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }
}

fn has_token(v: &[u8], token: &str) -> bool {
    v.split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Parses a response head at the start of `buf`. `Ok(None)`: incomplete, read more.
/// On success also returns the head's length in bytes.
pub fn parse_response_head(
    buf: &[u8],
    head_request: bool,
) -> Result<Option<(ResponseHead, usize)>, WireError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD_BYTES => {
            return Err(WireError::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(WireError::Head(e.to_string())),
    };
    if len > MAX_HEAD_BYTES {
        return Err(WireError::HeadTooLarge);
    }
    let status = resp.code.unwrap_or(0);
    let http11 = resp.version == Some(1);
    let mut keep_alive = http11;
    let mut chunked = false;
    let mut length: Option<u64> = None;
    let mut retry_after = None;
    let mut content_type = String::new();
    for h in resp.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| WireError::Head("invalid content-length".into()))?;
            if length.is_some_and(|l| l != v) {
                return Err(WireError::Head("conflicting content-length".into()));
            }
            length = Some(v);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked must be the final coding; anything else is read until close.
            let last = h.value.rsplit(|&b| b == b',').next().unwrap_or_default();
            chunked = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
            if !chunked {
                keep_alive = false;
            }
        } else if name.eq_ignore_ascii_case("connection") {
            if has_token(h.value, "close") {
                keep_alive = false;
            } else if has_token(h.value, "keep-alive") {
                keep_alive = true;
            }
        } else if name.eq_ignore_ascii_case("retry-after") {
            retry_after = Some(String::from_utf8_lossy(h.value).into_owned());
        } else if name.eq_ignore_ascii_case("content-type") {
            content_type = String::from_utf8_lossy(h.value).into_owned();
        }
    }
    let framing = if head_request || (100..200).contains(&status) || status == 204 || status == 304
    {
        Framing::Empty
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        keep_alive = false;
        Framing::UntilClose
    };
    Ok(Some((
        ResponseHead {
            status,
            retry_after,
            content_type,
            framing,
            keep_alive,
        },
        len,
    )))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkDataEnd,
    Trailers,
    UntilClose,
    Done,
}

/// One step of [`BodyDecoder::decode`].
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Body bytes (never empty).
    Data(Bytes),
    /// The buffer holds no further complete piece: read more.
    NeedMore,
    /// The body is complete.
    Done,
}

/// Incremental response-body decoder over a connection's read buffer.
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    state: State,
}

impl BodyDecoder {
    /// A decoder for a body framed as `framing`.
    pub fn new(framing: Framing) -> Self {
        let state = match framing {
            Framing::Empty | Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::ChunkSize,
            Framing::UntilClose => State::UntilClose,
        };
        Self { state }
    }

    /// Whether the whole body has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Body bytes still expected, when the framing says (a read-size hint).
    pub fn remaining_hint(&self) -> Option<u64> {
        match self.state {
            State::Length(n) | State::ChunkData(n) => Some(n),
            _ => None,
        }
    }

    /// Takes the next piece of body out of `buf` (consuming framing bytes).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Step, WireError> {
        loop {
            match self.state {
                State::Done => return Ok(Step::Done),
                State::Length(n) | State::ChunkData(n) => {
                    if buf.is_empty() {
                        return Ok(Step::NeedMore);
                    }
                    let take = usize::try_from(n).map_or(buf.len(), |n| n.min(buf.len()));
                    let left = n - take as u64;
                    self.state = match (self.state, left) {
                        (State::Length(_), 0) => State::Done,
                        (State::Length(_), l) => State::Length(l),
                        (_, 0) => State::ChunkDataEnd,
                        (_, l) => State::ChunkData(l),
                    };
                    return Ok(Step::Data(buf.split_to(take).freeze()));
                }
                State::ChunkSize => match httparse::parse_chunk_size(buf) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        buf.advance(used);
                        self.state = if size == 0 {
                            State::Trailers
                        } else {
                            State::ChunkData(size)
                        };
                    }
                    Ok(httparse::Status::Partial) if buf.len() > MAX_LINE => {
                        return Err(WireError::Chunk("chunk-size line too long".into()))
                    }
                    Ok(httparse::Status::Partial) => return Ok(Step::NeedMore),
                    Err(_) => return Err(WireError::Chunk("invalid chunk size".into())),
                },
                State::ChunkDataEnd => {
                    if buf.len() < 2 {
                        return Ok(Step::NeedMore);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(WireError::Chunk("chunk data not followed by CRLF".into()));
                    }
                    buf.advance(2);
                    self.state = State::ChunkSize;
                }
                State::Trailers => match memchr::memmem::find(buf, b"\r\n") {
                    Some(0) => {
                        buf.advance(2);
                        self.state = State::Done;
                    }
                    Some(i) => buf.advance(i + 2),
                    None if buf.len() > MAX_LINE => {
                        return Err(WireError::Chunk("trailer line too long".into()))
                    }
                    None => return Ok(Step::NeedMore),
                },
                State::UntilClose => {
                    if buf.is_empty() {
                        return Ok(Step::NeedMore);
                    }
                    return Ok(Step::Data(buf.split().freeze()));
                }
            }
        }
    }

    /// The connection reached end of file: fine only for a read-until-close body.
    pub fn eof(&mut self) -> Result<(), WireError> {
        match self.state {
            State::Done => Ok(()),
            State::UntilClose => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(WireError::Truncated),
        }
    }
}

#[cfg(test)]
mod tests;
