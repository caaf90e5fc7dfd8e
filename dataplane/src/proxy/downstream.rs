//! The client side of one request: Pingora's HTTP session, until a streamed answer takes
//! the connection over.
//!
//! Why a takeover: Pingora flushes a response head that has no `Content-Length` on its own,
//! so an SSE answer written through the session leaves as two sends (head, then first
//! event), and the client wakes up twice before it sees the first token. Once the request
//! is fully read, [`Downstream::start_event_stream`] lets Pingora finish its side of the
//! exchange (request body drained, keep-alive and pipelined bytes accounted for), takes
//! the connection, and writes the head together with the first event; later events are
//! framed as HTTP/1.1 chunks here. The connection goes back to Pingora for the next request
//! when the stream ends cleanly. HTTP/1.0 clients, `Connection: close` requests and HTTP/2
//! keep Pingora's own writer.

use std::sync::LazyLock;

use bytes::{BufMut, Bytes, BytesMut};
use pingora::apps::{HttpPersistentSettings, ReusedHttpStream};
use pingora::protocols::http::ServerSession as Session;
use pingora::protocols::Stream;
use pingora::Result;
use pingora_error::{Error, ErrorType, OrErr};
use pingora_http::{RequestHeader, ResponseHeader};
use tokio::io::AsyncWriteExt;

/// What `req_header` answers once the session is gone (nothing asks by then).
static NO_REQUEST: LazyLock<RequestHeader> = LazyLock::new(|| {
    RequestHeader::build("GET", b"/", Some(0)).expect("a static request head is valid")
});

/// A connection taken over for a chunked event stream.
struct EventStream {
    stream: Stream,
    settings: HttpPersistentSettings,
    finished: bool,
    broken: bool,
}

/// The client connection of one request.
pub struct Downstream {
    /// Boxed: Pingora's session is ~700 bytes, and a stream that took the connection over
    /// would otherwise keep that space for its whole life.
    session: Option<Box<Session>>,
    events: Option<EventStream>,
}

fn write_chunk(out: &mut BytesMut, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let mut hex = [0u8; 16];
    let mut n = data.len();
    let mut i = hex.len();
    while n > 0 || i == hex.len() {
        i -= 1;
        hex[i] = b"0123456789abcdef"[n & 0xf];
        n >>= 4;
    }
    out.put_slice(&hex[i..]);
    out.put_slice(b"\r\n");
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

/// Serializes a response head for a chunked HTTP/1.1 body on a kept-alive connection.
fn encode_head(out: &mut BytesMut, header: &ResponseHeader) {
    out.put_slice(b"HTTP/1.1 ");
    out.put_slice(header.status.as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(header.get_reason_phrase().unwrap_or("").as_bytes());
    out.put_slice(b"\r\n");
    for (name, value) in header.headers.iter() {
        if name == http::header::TRANSFER_ENCODING
            || name == http::header::CONTENT_LENGTH
            || name == http::header::CONNECTION
        {
            continue;
        }
        out.put_slice(name.as_str().as_bytes());
        out.put_slice(b": ");
        out.put_slice(value.as_bytes());
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"date: ");
    out.put_slice(pingora::protocols::http::date::get_cached_date().as_bytes());
    out.put_slice(b"\r\nconnection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n");
}

impl Downstream {
    /// Wraps a session whose request head has been read.
    pub fn new(session: Session) -> Self {
        Self {
            session: Some(Box::new(session)),
            events: None,
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

    /// Sets or disables keep-alive for the connection.
    pub fn set_keepalive(&mut self, seconds: Option<u64>) {
        if let Some(s) = self.session.as_mut() {
            s.set_keepalive(seconds);
        }
    }

    /// Writes a response head through Pingora.
    pub async fn write_response_header(&mut self, header: Box<ResponseHeader>) -> Result<()> {
        self.session()?.write_response_header(header).await
    }

    /// Starts an event stream: the head and the first bytes leave in one write when the
    /// connection can be taken over (see the module docs), else through Pingora.
    pub async fn start_event_stream(
        &mut self,
        header: Box<ResponseHeader>,
        first: Bytes,
    ) -> Result<()> {
        let takeover = matches!(self.session.as_deref(), Some(Session::H1(s))
            if s.will_keepalive() && s.req_header().version == http::Version::HTTP_11);
        if !takeover {
            let s = self.session()?;
            s.write_response_header(header).await?;
            return s.write_response_body(first, false).await;
        }
        let Some(mut session) = self.session.take() else {
            return Error::e_explain(ErrorType::InternalError, "response already started");
        };
        let mut settings = HttpPersistentSettings::for_session(&session);
        // Bytes the client sent after this request (pipelining) are handed on, not lost.
        session.set_pipelining_enabled(true);
        // Boxed: Pingora's finish future is large and runs once; keeping it inline would
        // grow every open stream's state.
        let Some(reusable) = Box::pin((*session).finish()).await? else {
            return Error::e_explain(ErrorType::WriteError, "client connection is not reusable");
        };
        let (stream, prefix) = reusable.into_parts();
        if let Some(p) = prefix {
            settings.set_pipelined_prefix(p);
        }
        let mut out = BytesMut::with_capacity(512 + first.len());
        encode_head(&mut out, &header);
        write_chunk(&mut out, &first);
        let events = self.events.insert(EventStream {
            stream,
            settings,
            finished: false,
            broken: false,
        });
        events.write(&out).await
    }

    /// Writes body bytes (a chunk, in an event stream) and, with `end`, finishes the body.
    pub async fn write_response_body(&mut self, data: Bytes, end: bool) -> Result<()> {
        match self.events.as_mut() {
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
        match self.events.as_mut() {
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
        if let Some(mut ev) = self.events {
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

impl EventStream {
    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let res = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        }
        .await
        .or_err(ErrorType::WriteError, "writing the event stream");
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
