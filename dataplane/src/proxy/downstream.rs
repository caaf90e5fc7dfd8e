//! The client side of one request: Pingora's HTTP session, until the answer takes the
//! connection over.
//!
//! Why a takeover: once the request is fully read, Pingora has nothing left to do but
//! frame the answer, and its writer costs more than the answer needs: a response head that
//! has no `Content-Length` is flushed on its own, so an SSE answer leaves as two sends
//! (head, then first event) and the client wakes up twice before its first token; and every
//! head is built as a header map, amended (`Date`, `Connection`) and serialized again. So
//! [`Downstream::take_over`] lets Pingora finish its side of the exchange (request body
//! drained, keep-alive and pipelined bytes accounted for) and takes the connection; the
//! answer's head is then written straight from its parts, together with the whole body
//! ([`Downstream::send_response`]) or the first event ([`Downstream::start_event_stream`]),
//! and later events are framed as HTTP/1.1 chunks here. The connection goes back to
//! Pingora for the next request when the answer ends cleanly. HTTP/1.0 clients,
//! `Connection: close` requests, `HEAD` and HTTP/2 keep Pingora's own writer.

use std::sync::LazyLock;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use pingora::apps::{HttpPersistentSettings, ReusedHttpStream};
use pingora::protocols::http::ServerSession as Session;
use pingora::protocols::Stream;
use pingora::Result;
use pingora_error::{Error, ErrorType, OrErr};
use pingora_http::{RequestHeader, ResponseHeader};
use tokio::io::AsyncWriteExt;

use crate::admission::{lazy_timeout, Reject};

/// What `req_header` answers once the session is gone (nothing asks by then).
#[allow(clippy::expect_used)] // a constant head: cannot fail at run time
static NO_REQUEST: LazyLock<RequestHeader> = LazyLock::new(|| {
    RequestHeader::build("GET", b"/", Some(0)).expect("a static request head is valid")
});

/// A connection taken over from Pingora for the rest of the answer.
struct Taken {
    stream: Stream,
    settings: HttpPersistentSettings,
    finished: bool,
    broken: bool,
    write_timeout: Duration,
}

/// The client connection of one request.
pub struct Downstream {
    /// Boxed: Pingora's session is ~700 bytes, and a stream that took the connection over
    /// would otherwise keep that space for its whole life.
    session: Option<Box<Session>>,
    taken: Option<Taken>,
    /// How long one write may wait for a client that does not read.
    write_timeout: Duration,
}

fn write_chunk(out: &mut BytesMut, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    // The size in lowercase hex without leading zeros (at most 16 digits for a usize).
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = [0u8; 16];
    let mut n = data.len();
    let mut start = hex.len();
    while n > 0 {
        start -= 1;
        if let Some(slot) = hex.get_mut(start) {
            *slot = DIGITS.get(n & 0xf).copied().unwrap_or(b'0');
        }
        n >>= 4;
    }
    out.put_slice(hex.get(start..).unwrap_or_default());
    out.put_slice(b"\r\n");
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

/// Writes a status line.
fn encode_status(out: &mut BytesMut, status: http::StatusCode) {
    out.put_slice(b"HTTP/1.1 ");
    out.put_slice(status.as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.put_slice(b"\r\n");
}

/// Writes one header line; a value that would break the framing is left out (every
/// value here is the gateway's own, so this never drops a legitimate header).
fn encode_header(out: &mut BytesMut, name: &[u8], value: &[u8]) {
    if value.iter().any(|&b| b == b'\r' || b == b'\n') {
        return;
    }
    out.put_slice(name);
    out.put_slice(b": ");
    out.put_slice(value);
    out.put_slice(b"\r\n");
}

/// Ends a head for a kept-alive connection: `Date`, `Connection`, then `framing` (a
/// complete header line, or nothing when a `Content-Length` line was written already).
fn encode_head_end(out: &mut BytesMut, framing: &[u8]) {
    out.put_slice(b"date: ");
    out.put_slice(pingora::protocols::http::date::get_cached_date().as_bytes());
    out.put_slice(b"\r\nconnection: keep-alive\r\n");
    out.put_slice(framing);
    out.put_slice(b"\r\n");
}

/// Serializes a response head for a chunked HTTP/1.1 body on a kept-alive connection.
fn encode_head(out: &mut BytesMut, header: &ResponseHeader) {
    encode_status(out, header.status);
    for (name, value) in header.headers.iter() {
        if name == http::header::TRANSFER_ENCODING
            || name == http::header::CONTENT_LENGTH
            || name == http::header::CONNECTION
        {
            continue;
        }
        encode_header(out, name.as_str().as_bytes(), value.as_bytes());
    }
    encode_head_end(out, b"transfer-encoding: chunked\r\n");
}

impl Downstream {
    /// Wraps a session whose request head has been read. Every write of the answer may
    /// wait at most `write_timeout` for the client to read (a slow reader is cut off).
    pub fn new(mut session: Session, write_timeout: Duration) -> Self {
        session.set_write_timeout(Some(write_timeout));
        Self {
            session: Some(Box::new(session)),
            taken: None,
            write_timeout,
        }
    }

    fn session(&mut self) -> Result<&mut Session> {
        self.session
            .as_deref_mut()
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "response already started"))
    }

    /// The request head.
    pub fn req_header(&self) -> &RequestHeader {
        self.session
            .as_deref()
            .map_or(&*NO_REQUEST, Session::req_header)
    }

    /// The next piece of the request body (`None` at its end).
    pub async fn read_request_body(&mut self) -> Result<Option<Bytes>> {
        self.session()?.read_request_body().await
    }

    /// Whether the whole request body has been read (true once the answer started).
    pub fn request_body_done(&mut self) -> bool {
        self.session.as_mut().is_none_or(|s| s.is_body_done())
    }

    /// Sets or disables keep-alive for the connection.
    pub fn set_keepalive(&mut self, seconds: Option<u64>) {
        if let Some(s) = self.session.as_mut() {
            s.set_keepalive(seconds);
        }
    }

    /// Whether the answer can be written on the connection directly (see the module docs).
    fn can_take_over(&self) -> bool {
        matches!(self.session.as_deref(), Some(Session::H1(s))
            if s.will_keepalive()
                && s.req_header().version == http::Version::HTTP_11
                && s.req_header().method != http::Method::HEAD)
    }

    /// Lets Pingora finish the request side and takes the connection.
    async fn take_over(&mut self) -> Result<&mut Taken> {
        let Some(mut session) = self.session.take() else {
            return Error::e_explain(ErrorType::InternalError, "response already started");
        };
        let mut settings = HttpPersistentSettings::for_session(&session);
        // Bytes the client sent after this request (pipelining) are handed on, not lost.
        session.set_pipelining_enabled(true);
        // Boxed: Pingora's finish future is large and runs once; keeping it inline would
        // grow every request's (and every open stream's) state.
        let Some(reusable) = Box::pin((*session).finish()).await? else {
            return Error::e_explain(ErrorType::WriteError, "client connection is not reusable");
        };
        let (stream, prefix) = reusable.into_parts();
        if let Some(p) = prefix {
            settings.set_pipelined_prefix(p);
        }
        Ok(self.taken.insert(Taken {
            stream,
            settings,
            finished: false,
            broken: false,
            write_timeout: self.write_timeout,
        }))
    }

    /// Writes a complete answer with a `Content-Length` body: head and body in one write.
    /// `headers` are the gateway's own (lowercase names, no framing headers).
    pub async fn send_response(
        &mut self,
        status: u16,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<()> {
        let status =
            http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        if !self.can_take_over() {
            let mut h = ResponseHeader::build_no_case(status, Some(headers.len() + 1))?;
            for (k, v) in headers {
                h.insert_header(k.to_string(), *v)?;
            }
            h.insert_header(http::header::CONTENT_LENGTH, body.len())?;
            let s = self.session()?;
            s.write_response_header(Box::new(h)).await?;
            return s.write_response_body(body, true).await;
        }
        let mut out = BytesMut::with_capacity(256 + body.len());
        encode_status(&mut out, status);
        for (k, v) in headers {
            encode_header(&mut out, k.as_bytes(), v.as_bytes());
        }
        let mut len = itoa::Buffer::new();
        out.put_slice(b"content-length: ");
        out.put_slice(len.format(body.len()).as_bytes());
        out.put_slice(b"\r\n");
        encode_head_end(&mut out, b"");
        out.extend_from_slice(&body);
        let taken = self.take_over().await?;
        taken.finished = true;
        taken.write(&out).await
    }

    /// Starts an event stream: the head and the first bytes leave in one write when the
    /// connection can be taken over (see the module docs), else through Pingora.
    pub async fn start_event_stream(
        &mut self,
        header: Box<ResponseHeader>,
        first: Bytes,
    ) -> Result<()> {
        if !self.can_take_over() {
            let s = self.session()?;
            s.write_response_header(header).await?;
            return s.write_response_body(first, false).await;
        }
        let mut out = BytesMut::with_capacity(512 + first.len());
        encode_head(&mut out, &header);
        write_chunk(&mut out, &first);
        self.take_over().await?.write(&out).await
    }

    /// Writes body bytes (a chunk, in an event stream) and, with `end`, finishes the body.
    pub async fn write_response_body(&mut self, data: Bytes, end: bool) -> Result<()> {
        match self.taken.as_mut() {
            Some(ev) => {
                let mut out = BytesMut::with_capacity(data.len() + 16);
                write_chunk(&mut out, &data);
                if end {
                    out.put_slice(b"0\r\n\r\n");
                    ev.finished = true;
                }
                ev.write(&out).await
            }
            None => self.session()?.write_response_body(data, end).await,
        }
    }

    /// Finishes the response body (the last chunk of a chunked body).
    pub async fn finish_body(&mut self) -> Result<()> {
        match self.taken.as_mut() {
            Some(ev) if ev.finished => Ok(()),
            Some(ev) => {
                ev.finished = true;
                ev.write(b"0\r\n\r\n").await
            }
            None => self.session()?.finish_body().await,
        }
    }

    /// Ends the exchange: the connection, if it can carry another request. `reuse: false`
    /// (server shutting down) closes a taken-over connection; Pingora's session already
    /// knows its keep-alive state.
    pub async fn finish(self, reuse: bool) -> Option<ReusedHttpStream> {
        if let Some(mut ev) = self.taken {
            if !ev.finished || ev.broken || !reuse {
                ev.stream.shutdown().await.ok();
                return None;
            }
            return Some(ReusedHttpStream::new(ev.stream, Some(ev.settings)));
        }
        let session = self.session?;
        let settings = HttpPersistentSettings::for_session(&session);
        // Boxed: Pingora's finish future is ~6 KiB; inline it would size every request's
        // state (and every open stream's memory) by it.
        match Box::pin((*session).finish()).await {
            Ok(Some(s)) => Some(ReusedHttpStream::from_reusable_stream(s, settings)),
            Ok(None) => None,
            Err(e) => {
                tracing::debug!(error = %e, "could not finish the response");
                None
            }
        }
    }
}

impl Taken {
    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let stream = &mut self.stream;
        // A write that completes at once (the common case) reads no clock and arms no
        // timer; only a write that has to wait for the client does.
        let res = match lazy_timeout(self.write_timeout, async {
            stream.write_all(bytes).await?;
            stream.flush().await
        })
        .await
        {
            Some(r) => r.or_err(ErrorType::WriteError, "writing the event stream"),
            None => {
                Reject::WriteTimeout.count();
                Error::e_explain(
                    ErrorType::WriteTimedout,
                    "the client did not read the answer",
                )
            }
        };
        self.broken |= res.is_err();
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_framed_in_hex() {
        let mut out = BytesMut::new();
        write_chunk(&mut out, &[b'x'; 26]);
        assert_eq!(&out[..4], b"1a\r\n");
        assert!(out.ends_with(b"x\r\n"));
        out.clear();
        write_chunk(&mut out, b"");
        assert!(out.is_empty(), "an empty chunk would end the body");
        write_chunk(&mut out, &[0u8; 4096]);
        assert_eq!(&out[..6], b"1000\r\n");
    }

    #[test]
    fn header_values_that_would_break_framing_are_dropped() {
        let mut out = BytesMut::new();
        encode_header(&mut out, b"x-ok", b"fine");
        encode_header(&mut out, b"x-bad", b"a\r\nx-injected: 1");
        assert_eq!(&out[..], b"x-ok: fine\r\n");
        out.clear();
        encode_status(&mut out, http::StatusCode::TOO_MANY_REQUESTS);
        encode_head_end(&mut out, b"");
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.starts_with("HTTP/1.1 429 Too Many Requests\r\ndate: "));
        assert!(text.ends_with("connection: keep-alive\r\n\r\n"));
    }

    #[test]
    fn head_has_one_framing() {
        let mut h = ResponseHeader::build_no_case(200, None).unwrap();
        h.insert_header("content-type", "text/event-stream")
            .unwrap();
        h.insert_header("transfer-encoding", "chunked").unwrap();
        h.insert_header("x-request-id", "abc").unwrap();
        let mut out = BytesMut::new();
        encode_head(&mut out, &h);
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert_eq!(text.matches("transfer-encoding: chunked").count(), 1);
        assert!(text.contains("x-request-id: abc\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut resp = httparse::Response::new(&mut headers);
        assert!(resp.parse(&out).unwrap().is_complete());
    }
}
