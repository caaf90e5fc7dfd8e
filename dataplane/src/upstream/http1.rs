//! The HTTP/1.1 wire format towards upstreams, as pure functions and a state machine:
//! request encoding into one buffer (one `send` per small request), response-head parsing
//! (httparse) with the RFC 9112 framing rules, and an incremental body decoder
//! (`Content-Length`, chunked, or until close) that accepts the bytes split at any boundary
//! and hands body bytes out without copying.
//!
//! The upstream is not trusted: everything it controls is bounded (head size and header
//! count, interim responses, chunk-size and trailer lines, the trailer section), lengths are
//! parsed with checked arithmetic, and a response whose framing leaves any doubt about where
//! it ends (`Transfer-Encoding` other than chunked, `Transfer-Encoding` together with
//! `Content-Length`) is read to the end but its connection is never reused.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Largest response head accepted.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most response headers accepted.
const MAX_HEADERS: usize = 96;
/// Longest chunk-size or trailer line accepted (CRLF included).
pub const MAX_LINE: usize = 4096;
/// Largest trailer section accepted (all trailer lines together).
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;
/// Most interim (1xx) responses accepted before the final one.
const MAX_INTERIM: u8 = 16;

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
    /// The upstream answered `101 Switching Protocols`, which the gateway never asks for.
    #[error("upstream switched protocols (101)")]
    SwitchingProtocols,
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
    /// `Transfer-Encoding` whose final coding is `chunked`.
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

/// The parts of a response head the gateway uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// Status code (100..=999; never 101).
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

/// A `Content-Length` value: one or more comma-separated copies of the same decimal
/// number (RFC 9110 §8.6 lets a recipient accept such a list). `None` if invalid,
/// differing or larger than `u64`.
fn parse_content_length(v: &[u8]) -> Option<u64> {
    let mut value = None;
    for part in v.split(|&b| b == b',') {
        let part = part.trim_ascii();
        if part.is_empty() {
            return None;
        }
        let n = part.iter().try_fold(0u64, |acc, &d| {
            let digit = d.checked_sub(b'0').filter(|d| *d < 10)?;
            acc.checked_mul(10)?.checked_add(u64::from(digit))
        })?;
        if value.is_some_and(|v| v != n) {
            return None;
        }
        value = Some(n);
    }
    value
}

/// Parses a response head at the start of `buf`. `Ok(None)`: incomplete, read more.
/// On success also returns the head's length in bytes.
///
/// Framing follows RFC 9112 §6.3 for responses: no body for 1xx, 204, 304 and answers to
/// HEAD; `Transfer-Encoding` overrides `Content-Length` (and then the connection is not
/// reused); a final coding other than `chunked` means the body runs until close (not
/// reused either); invalid or differing `Content-Length` values are an error; without
/// either the body runs until close. `101 Switching Protocols` is an error: the gateway
/// never asks to upgrade.
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
    if status == 101 {
        return Err(WireError::SwitchingProtocols);
    }
    if status < 100 {
        return Err(WireError::Head(format!("status {status}")));
    }
    let http11 = resp.version == Some(1);
    let (mut conn_close, mut conn_keep_alive) = (false, false);
    // Transfer-Encoding: whether present, whether chunked appeared, whether it is final.
    let (mut te, mut te_has_chunked, mut te_chunked) = (false, false, false);
    let mut length: Option<Option<u64>> = None;
    let mut retry_after = None;
    let mut content_type = String::new();
    for h in resp.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let v = parse_content_length(h.value);
            length = match (length, v) {
                (None, v) => Some(v),
                (Some(Some(a)), Some(b)) if a == b => Some(Some(a)),
                _ => Some(None),
            };
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // The codings of all TE lines form one list; empty elements are ignored.
            for coding in h.value.split(|&b| b == b',') {
                let coding = coding.trim_ascii();
                if coding.is_empty() {
                    continue;
                }
                let chunked = coding.eq_ignore_ascii_case(b"chunked");
                if chunked && te_has_chunked {
                    return Err(WireError::Head("chunked applied twice".into()));
                }
                te = true;
                te_has_chunked |= chunked;
                te_chunked = chunked;
            }
        } else if name.eq_ignore_ascii_case("connection") {
            conn_close |= has_token(h.value, "close");
            conn_keep_alive |= has_token(h.value, "keep-alive");
        } else if name.eq_ignore_ascii_case("retry-after") {
            retry_after = Some(String::from_utf8_lossy(h.value).into_owned());
        } else if name.eq_ignore_ascii_case("content-type") {
            content_type = String::from_utf8_lossy(h.value).into_owned();
        }
    }
    let mut keep_alive = !conn_close && (http11 || conn_keep_alive);
    if te && (length.is_some() || !te_chunked || !http11) {
        // TE with Content-Length (a smuggling shape), a final coding we cannot delimit, or
        // TE in an HTTP/1.0 message (RFC 9112 §6.1): read this response, then close.
        keep_alive = false;
    }
    let bodiless = head_request || status < 200 || status == 204 || status == 304;
    let framing = if te {
        // Transfer-Encoding wins over Content-Length, which is not even looked at.
        match (bodiless, te_chunked) {
            (true, _) => Framing::Empty,
            (false, true) => Framing::Chunked,
            (false, false) => Framing::UntilClose,
        }
    } else {
        match length {
            Some(None) => return Err(WireError::Head("invalid content-length".into())),
            _ if bodiless => Framing::Empty,
            Some(Some(n)) => Framing::Length(n),
            None => {
                keep_alive = false;
                Framing::UntilClose
            }
        }
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

/// Whether `buf` may hold a complete head: it has an empty line (`\n\n` or `\n\r\n`) at
/// or after `from`.
fn has_empty_line(buf: &[u8], from: usize) -> bool {
    let Some(tail) = buf.get(from..) else {
        return false;
    };
    memchr::memchr_iter(b'\n', tail).any(|i| {
        let next = tail.get(i.saturating_add(1)..).unwrap_or_default();
        next.starts_with(b"\n") || next.starts_with(b"\r\n")
    })
}

/// Reads the final response head from a connection's buffer as bytes arrive: skips (a
/// bounded number of) interim 1xx responses, and parses only once an empty line has
/// arrived, so a head trickled in byte by byte costs one scan, not one parse per read.
#[derive(Debug, Clone)]
pub struct HeadReader {
    head_request: bool,
    /// Bytes at the start of the buffer already known to hold no end of head.
    scanned: usize,
    interim: u8,
}

impl HeadReader {
    /// A reader for the answer to a request (`head_request`: the method was HEAD).
    pub fn new(head_request: bool) -> Self {
        Self {
            head_request,
            scanned: 0,
            interim: 0,
        }
    }

    /// Takes the final head out of `buf`. `Ok(None)`: read more into `buf` and call again.
    pub fn poll(&mut self, buf: &mut BytesMut) -> Result<Option<ResponseHead>, WireError> {
        loop {
            // An empty line may straddle the previous scan's end: look 2 bytes back.
            if buf.len() < MAX_HEAD_BYTES && !has_empty_line(buf, self.scanned.saturating_sub(2)) {
                self.scanned = buf.len();
                return Ok(None);
            }
            let Some((head, len)) = parse_response_head(buf, self.head_request)? else {
                self.scanned = buf.len();
                return Ok(None);
            };
            buf.advance(len);
            self.scanned = 0;
            if !head.is_interim() {
                return Ok(Some(head));
            }
            self.interim = self.interim.saturating_add(1);
            if self.interim > MAX_INTERIM {
                return Err(WireError::Head("too many interim responses".into()));
            }
        }
    }
}

/// Parses a chunk-size line (`1*HEXDIG [BWS] [; extensions] CRLF`) at the start of `buf`:
/// `Ok(None)` if incomplete, else the line's length and the chunk size. The line is
/// bounded by [`MAX_LINE`] and the size by `u64` (checked arithmetic).
fn parse_chunk_line(buf: &[u8]) -> Result<Option<(usize, u64)>, WireError> {
    let window = buf.get(..MAX_LINE).unwrap_or(buf);
    let Some(lf) = memchr::memchr(b'\n', window) else {
        return if buf.len() >= MAX_LINE {
            Err(WireError::Chunk("chunk-size line too long".into()))
        } else {
            Ok(None)
        };
    };
    let Some(line) = window.get(..lf).and_then(|l| l.strip_suffix(b"\r")) else {
        return Err(WireError::Chunk("chunk-size line not ended by CRLF".into()));
    };
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let (hex, rest) = line.split_at_checked(digits).unwrap_or((line, &[]));
    if hex.is_empty() {
        return Err(WireError::Chunk("invalid chunk size".into()));
    }
    let size = hex
        .iter()
        .try_fold(0u64, |acc, &d| {
            let digit = char::from(d).to_digit(16)?;
            acc.checked_mul(16)?.checked_add(u64::from(digit))
        })
        .ok_or_else(|| WireError::Chunk("chunk size too large".into()))?;
    let blank = rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    let rest = rest.get(blank..).unwrap_or_default();
    if !(rest.is_empty() || rest.starts_with(b";")) || rest.iter().any(|&b| is_ctl(b)) {
        return Err(WireError::Chunk("invalid chunk extension".into()));
    }
    Ok(Some((lf.saturating_add(1), size)))
}

/// Control characters other than HTAB, which may not appear inside a line.
fn is_ctl(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkDataEnd,
    /// Trailer section, with the bytes of it consumed so far.
    Trailers(usize),
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

/// Incremental response-body decoder over a connection's read buffer. While it asks for
/// more ([`Step::NeedMore`]) it never holds more than [`MAX_LINE`] bytes of the buffer
/// unconsumed, whatever the upstream sends.
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
                    // `take <= n`: no underflow.
                    let left = n.saturating_sub(take as u64);
                    self.state = match (self.state, left) {
                        (State::Length(_), 0) => State::Done,
                        (State::Length(_), l) => State::Length(l),
                        (_, 0) => State::ChunkDataEnd,
                        (_, l) => State::ChunkData(l),
                    };
                    return Ok(Step::Data(buf.split_to(take).freeze()));
                }
                State::ChunkSize => match parse_chunk_line(buf)? {
                    Some((used, size)) => {
                        buf.advance(used);
                        self.state = if size == 0 {
                            State::Trailers(0)
                        } else {
                            State::ChunkData(size)
                        };
                    }
                    None => return Ok(Step::NeedMore),
                },
                State::ChunkDataEnd => {
                    if buf.len() < 2 {
                        return Ok(Step::NeedMore);
                    }
                    if !buf.starts_with(b"\r\n") {
                        return Err(WireError::Chunk("chunk data not followed by CRLF".into()));
                    }
                    buf.advance(2);
                    self.state = State::ChunkSize;
                }
                State::Trailers(seen) => {
                    let window = buf.get(..MAX_LINE).unwrap_or(buf);
                    let Some(lf) = memchr::memchr(b'\n', window) else {
                        if buf.len() >= MAX_LINE {
                            return Err(WireError::Chunk("trailer line too long".into()));
                        }
                        return Ok(Step::NeedMore);
                    };
                    let line = window.get(..lf).and_then(|l| l.strip_suffix(b"\r"));
                    let Some(line) = line.filter(|l| !l.iter().any(|&b| is_ctl(b))) else {
                        return Err(WireError::Chunk("invalid trailer line".into()));
                    };
                    let used = lf.saturating_add(1);
                    let seen = seen.saturating_add(used);
                    if seen > MAX_TRAILER_BYTES {
                        return Err(WireError::Chunk("trailer section too large".into()));
                    }
                    self.state = if line.is_empty() {
                        State::Done
                    } else {
                        State::Trailers(seen)
                    };
                    buf.advance(used);
                }
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

/// What [`read_pieces`] observed.
#[doc(hidden)]
#[derive(Debug)]
pub struct Replay {
    /// The final head once the whole body was decoded, or the first error.
    pub outcome: Result<ResponseHead, WireError>,
    /// Bytes handed to the reader.
    pub fed: usize,
    /// Body bytes the decoder produced.
    pub body: usize,
    /// Most bytes buffered while the head reader asked for more.
    pub head_waiting: usize,
    /// Most bytes buffered while the body decoder asked for more.
    pub body_waiting: usize,
    /// Bytes were left over after the body (the connection would not be reused).
    pub leftover: bool,
}

/// Reads one response from `pieces`, each the result of one socket read, the way the
/// client does (end of the pieces = end of file), handing each body piece to `on_body`.
/// For the tests and the fuzz target ([`super::fuzz_decode_response`]); not used on the
/// request path.
#[doc(hidden)]
pub fn read_pieces<'a>(
    pieces: impl IntoIterator<Item = &'a [u8]>,
    head_request: bool,
    mut on_body: impl FnMut(&[u8]),
) -> Replay {
    let mut pieces = pieces.into_iter();
    let mut buf = BytesMut::new();
    let mut replay = Replay {
        outcome: Err(WireError::Truncated),
        fed: 0,
        body: 0,
        head_waiting: 0,
        body_waiting: 0,
        leftover: false,
    };
    let mut feed = |buf: &mut BytesMut, fed: &mut usize| match pieces.next() {
        Some(p) => {
            buf.extend_from_slice(p);
            *fed = fed.saturating_add(p.len());
            true
        }
        None => false,
    };
    let mut reader = HeadReader::new(head_request);
    let head = loop {
        match reader.poll(&mut buf) {
            Ok(Some(head)) => break head,
            Ok(None) => {
                replay.head_waiting = replay.head_waiting.max(buf.len());
                if !feed(&mut buf, &mut replay.fed) {
                    return replay;
                }
            }
            Err(e) => {
                replay.outcome = Err(e);
                return replay;
            }
        }
    };
    let mut decoder = BodyDecoder::new(head.framing);
    let mut eof = false;
    loop {
        match decoder.decode(&mut buf) {
            Ok(Step::Data(d)) => {
                replay.body = replay.body.saturating_add(d.len());
                on_body(&d);
            }
            Ok(Step::Done) => break,
            Ok(Step::NeedMore) => {
                replay.body_waiting = replay.body_waiting.max(buf.len());
                if eof || !feed(&mut buf, &mut replay.fed) {
                    eof = true;
                    if let Err(e) = decoder.eof() {
                        replay.outcome = Err(e);
                        return replay;
                    }
                }
            }
            Err(e) => {
                replay.outcome = Err(e);
                return replay;
            }
        }
    }
    replay.leftover = !buf.is_empty() || (!eof && pieces.any(|p| !p.is_empty()));
    replay.outcome = Ok(head);
    replay
}

#[cfg(test)]
mod tests;
