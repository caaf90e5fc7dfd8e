//! Talking to upstream providers: asynchronous DNS with a TTL cache (Pingora's
//! `HttpPeer::new` would resolve with a blocking call that panics on failure), TCP/TLS
//! connections from pingora-core's transport connector (rustls, correct SNI), kept in the
//! data plane's own idle pool, and a lean HTTP/1.1 exchange ([`http1`]): the request head
//! and body leave in one write, the response is parsed from one small read buffer and its
//! body handed out without copying. The retry loop above decides what to do with failures;
//! the one retry made here is re-sending a request once on a fresh connection when a
//! reused one was closed before any byte of the answer arrived (the keep-alive race).

pub mod http1;
pub mod pool;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use pingora::connectors::TransportConnector;
use pingora::upstreams::peer::HttpPeer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::BaseUrl;
use http1::{BodyDecoder, HeadReader, ResponseHead, Step, WireError};
use pool::{Conn, Pool, PoolKey};

const DNS_TTL: Duration = Duration::from_secs(30);
const POOL_IDLE: Duration = Duration::from_secs(60);
const POOL_MAX_PER_KEY: usize = 1024;
const CONNECT_TIMEOUT_CAP: Duration = Duration::from_secs(10);
/// Smallest read; a connection's buffer starts empty and grows to what reads need. SSE
/// events are a few hundred bytes, and every open stream holds one of these buffers.
const READ_MIN: usize = 2048;
/// Largest single read reservation for a body of known length.
const READ_MAX: usize = 64 * 1024;
/// Bodies up to this size are copied behind the head and sent in the same write.
const COALESCE_BODY: usize = 64 * 1024;

/// Why an attempt failed before a usable response arrived.
#[derive(Debug, Clone)]
pub enum AttemptFailure {
    /// DNS, TCP or TLS failure.
    Connect(String),
    /// No response (or no next chunk) in time.
    Timeout,
    /// The connection broke while exchanging data.
    Io(String),
}

impl std::fmt::Display for AttemptFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connect(e) => write!(f, "connect error: {e}"),
            Self::Timeout => f.write_str("upstream timed out"),
            Self::Io(e) => write!(f, "upstream connection error: {e}"),
        }
    }
}

/// A request ready to send to one endpoint.
pub struct OutboundRequest<'a> {
    /// HTTP method.
    pub method: &'static str,
    /// Where to.
    pub base: &'a BaseUrl,
    /// Path and query (already including the base URL's path prefix).
    pub path: String,
    /// Extra headers (auth, versions, accept).
    pub headers: Vec<(&'static str, String)>,
    /// JSON body.
    pub body: Bytes,
}

/// An upstream response whose head has arrived; its body is read with
/// [`InboundResponse::next_chunk`] and the connection handed back with
/// [`UpstreamClient::release`].
pub struct InboundResponse {
    conn: Conn,
    key: PoolKey,
    body: BodyDecoder,
    keep_alive: bool,
    /// HTTP status.
    pub status: u16,
    /// `Retry-After` header value, if any.
    pub retry_after: Option<String>,
}

/// The shared upstream client.
pub struct UpstreamClient {
    connector: TransportConnector,
    pool: Pool,
    dns: Mutex<HashMap<(String, u16), (SocketAddr, Instant)>>,
}

impl Default for UpstreamClient {
    fn default() -> Self {
        Self::new()
    }
}

fn io_failure(e: impl std::fmt::Display) -> AttemptFailure {
    AttemptFailure::Io(e.to_string())
}

/// Why one exchange on one connection failed, and whether the request may be re-sent.
struct ExchangeFailure {
    failure: AttemptFailure,
    /// No byte of a response was read: the server closed or reset the connection before
    /// answering at all. On a reused connection that is the keep-alive race (the server
    /// timed the idle connection out as the request left), so re-sending is safe; once
    /// any byte of an answer arrived the server has acted on the request and it never is.
    unanswered: bool,
}

impl ExchangeFailure {
    fn unanswered(e: impl std::fmt::Display) -> Self {
        Self {
            failure: io_failure(e),
            unanswered: true,
        }
    }

    fn answered(e: impl std::fmt::Display) -> Self {
        Self {
            failure: io_failure(e),
            unanswered: false,
        }
    }
}

impl Conn {
    /// Reads more bytes into the buffer; `Ok(0)` at end of file.
    async fn read_more(&mut self, hint: Option<u64>) -> std::io::Result<usize> {
        let want = hint.map_or(READ_MIN, |h| {
            usize::try_from(h)
                .unwrap_or(READ_MAX)
                .clamp(READ_MIN, READ_MAX)
        });
        if self.buf.capacity() - self.buf.len() < want / 2 {
            self.buf.reserve(want);
        }
        self.stream.read_buf(&mut self.buf).await
    }

    /// Writes the request and reads up to the final response head (skipping interim 1xx
    /// heads). The failure says whether any byte of an answer had arrived.
    async fn exchange(
        &mut self,
        wire: &[u8],
        body: &[u8],
        head_request: bool,
    ) -> Result<ResponseHead, ExchangeFailure> {
        // Nothing of an answer can have been read yet: a pooled connection's buffer is
        // empty (the pool checks) and a new one's too.
        let mut answered = !self.buf.is_empty();
        self.stream
            .write_all(wire)
            .await
            .map_err(ExchangeFailure::unanswered)?;
        if !body.is_empty() {
            self.stream
                .write_all(body)
                .await
                .map_err(ExchangeFailure::unanswered)?;
        }
        self.stream
            .flush()
            .await
            .map_err(ExchangeFailure::unanswered)?;
        let mut reader = HeadReader::new(head_request);
        loop {
            if let Some(head) = reader
                .poll(&mut self.buf)
                .map_err(ExchangeFailure::answered)?
            {
                return Ok(head);
            }
            match self.read_more(None).await {
                Ok(0) if answered => {
                    return Err(ExchangeFailure::answered(
                        "upstream closed the connection in the response head",
                    ))
                }
                Ok(0) => {
                    return Err(ExchangeFailure::unanswered(
                        "upstream closed the connection before answering",
                    ))
                }
                Ok(_) => answered = true,
                Err(e) if answered => return Err(ExchangeFailure::answered(e)),
                Err(e) => return Err(ExchangeFailure::unanswered(e)),
            }
        }
    }
}

impl UpstreamClient {
    /// A client with its own connection pool.
    pub fn new() -> Self {
        Self {
            connector: TransportConnector::new(None),
            pool: Pool::new(POOL_MAX_PER_KEY, POOL_IDLE),
            dns: Mutex::new(HashMap::new()),
        }
    }

    fn cached_addr(&self, host: &str, port: u16) -> Option<SocketAddr> {
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            return Some(SocketAddr::new(ip, port));
        }
        let dns = self.dns.lock();
        let (addr, at) = dns.get(&(host.to_string(), port))?;
        (at.elapsed() < DNS_TTL).then_some(*addr)
    }

    async fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, AttemptFailure> {
        let mut addrs = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| AttemptFailure::Connect(format!("cannot resolve {host}: {e}")))?;
        let addr = addrs
            .next()
            .ok_or_else(|| AttemptFailure::Connect(format!("{host} resolved to no address")))?;
        self.dns
            .lock()
            .insert((host.to_string(), port), (addr, Instant::now()));
        Ok(addr)
    }

    async fn connect(
        &self,
        key: &PoolKey,
        base: &BaseUrl,
        timeout: Duration,
    ) -> Result<Conn, AttemptFailure> {
        let mut peer = HttpPeer::new(key.addr, base.tls, base.host.clone());
        let cap = timeout.min(CONNECT_TIMEOUT_CAP);
        peer.options.connection_timeout = Some(cap);
        peer.options.total_connection_timeout = Some(cap);
        // HTTP/1.1 only (the peer's default ALPN): the exchange speaks nothing else.
        let stream = self
            .connector
            .new_stream(&peer)
            .await
            .map_err(|e| AttemptFailure::Connect(e.to_string()))?;
        Ok(Conn {
            stream,
            buf: BytesMut::new(),
        })
    }

    /// Connects (or reuses a pooled connection), sends the request and waits for the
    /// response head, all within `timeout`.
    pub async fn send(
        &self,
        req: OutboundRequest<'_>,
        timeout: Duration,
    ) -> Result<InboundResponse, AttemptFailure> {
        match pingora_timeout::timeout(timeout, self.send_inner(req, timeout)).await {
            Ok(r) => r,
            Err(_) => Err(AttemptFailure::Timeout),
        }
    }

    async fn send_inner(
        &self,
        req: OutboundRequest<'_>,
        timeout: Duration,
    ) -> Result<InboundResponse, AttemptFailure> {
        let base = req.base;
        let addr = match self.cached_addr(&base.host, base.port) {
            Some(a) => a,
            None => Box::pin(self.resolve(&base.host, base.port)).await?,
        };
        let key = PoolKey {
            addr,
            tls: base.tls,
            sni: if base.tls {
                base.host.clone()
            } else {
                String::new()
            },
        };

        let host = base.host_header();
        let has_body = req.method != "GET" && req.method != "HEAD";
        let mut fixed: Vec<(&str, &str)> = Vec::with_capacity(req.headers.len() + 2);
        if has_body {
            fixed.push(("content-type", "application/json"));
        }
        fixed.push(("user-agent", concat!("sluice/", env!("CARGO_PKG_VERSION"))));
        fixed.extend(req.headers.iter().map(|(k, v)| (*k, v.as_str())));
        let coalesce = req.body.len() <= COALESCE_BODY;
        let mut wire = BytesMut::with_capacity(256 + if coalesce { req.body.len() } else { 0 });
        http1::encode_request_head(
            &mut wire,
            req.method,
            &req.path,
            host,
            &fixed,
            has_body.then_some(req.body.len()),
        )
        .map_err(|e| AttemptFailure::Connect(e.to_string()))?;
        let rest: &[u8] = if coalesce {
            wire.extend_from_slice(&req.body);
            &[]
        } else {
            &req.body
        };

        let head_request = req.method == "HEAD";
        if let Some(mut conn) = self.pool.take(&key) {
            match conn.exchange(&wire, rest, head_request).await {
                Ok(head) => return Ok(InboundResponse::new(conn, key, head)),
                // The server closed the idle connection as the request left: send it once
                // more, on a fresh connection (another pooled one may be just as stale).
                Err(e) if e.unanswered => {
                    tracing::debug!(error = %e.failure, "stale pooled upstream connection; redialing");
                }
                Err(e) => return Err(e.failure),
            }
        }
        let mut conn = Box::pin(self.connect(&key, base, timeout)).await?;
        match conn.exchange(&wire, rest, head_request).await {
            Ok(head) => Ok(InboundResponse::new(conn, key, head)),
            Err(e) => Err(e.failure),
        }
    }

    /// Returns a fully read connection to the pool (or closes it if it can't be reused).
    pub fn release(&self, resp: InboundResponse) {
        if resp.keep_alive && resp.body.is_done() && resp.conn.buf.is_empty() {
            self.pool.put(resp.key, resp.conn);
        }
    }

    /// Idle pooled connections.
    #[cfg(test)]
    pub fn idle_connections(&self) -> usize {
        self.pool.idle_count()
    }
}

impl InboundResponse {
    fn new(conn: Conn, key: PoolKey, head: ResponseHead) -> Self {
        Self {
            conn,
            key,
            body: BodyDecoder::new(head.framing),
            keep_alive: head.keep_alive,
            status: head.status,
            retry_after: head.retry_after,
        }
    }

    /// The next body chunk, waiting at most `timeout`. `Ok(None)` at the end of the body.
    pub async fn next_chunk(&mut self, timeout: Duration) -> Result<Option<Bytes>, AttemptFailure> {
        loop {
            match self.body.decode(&mut self.conn.buf).map_err(io_failure)? {
                Step::Data(b) => return Ok(Some(b)),
                Step::Done => return Ok(None),
                Step::NeedMore => {}
            }
            let hint = self.body.remaining_hint();
            match pingora_timeout::timeout(timeout, self.conn.read_more(hint)).await {
                Ok(Ok(0)) => {
                    self.keep_alive = false;
                    self.body.eof().map_err(|e: WireError| io_failure(e))?;
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(io_failure(e)),
                Err(_) => return Err(AttemptFailure::Timeout),
            }
        }
    }

    /// Reads the whole body (bounded by `limit` bytes) within `timeout`.
    pub async fn read_all(
        &mut self,
        limit: usize,
        timeout: Duration,
    ) -> Result<Bytes, AttemptFailure> {
        let deadline = Instant::now() + timeout;
        let mut buf = BytesMut::new();
        let mut single: Option<Bytes> = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_chunk(left).await? {
                None => break,
                Some(c) => {
                    if single.is_none() && buf.is_empty() {
                        if c.len() > limit {
                            return Err(AttemptFailure::Io(format!(
                                "upstream body larger than {limit} bytes"
                            )));
                        }
                        single = Some(c);
                        continue;
                    }
                    if let Some(s) = single.take() {
                        buf.extend_from_slice(&s);
                    }
                    if buf.len().saturating_add(c.len()) > limit {
                        return Err(AttemptFailure::Io(format!(
                            "upstream body larger than {limit} bytes"
                        )));
                    }
                    buf.extend_from_slice(&c);
                }
            }
        }
        Ok(single.unwrap_or_else(|| buf.freeze()))
    }
}

/// Reads one upstream response from `bytes` as the client would, for fuzzing: the first
/// byte chooses the read size (low 6 bits + 1) and whether the request was HEAD (bit 6),
/// the rest is what the upstream sent. `Err` names a broken invariant (body bytes beyond
/// what was fed, unbounded buffering); malformed input itself is never an `Err` here,
/// only a decode error the client would report. Not used by the gateway; see
/// `dataplane/fuzz/`.
#[doc(hidden)]
pub fn fuzz_decode_response(bytes: &[u8]) -> Result<(), String> {
    let Some((&mode, wire)) = bytes.split_first() else {
        return Ok(());
    };
    let split = usize::from(mode & 0x3f).saturating_add(1);
    let replay = http1::read_pieces(wire.chunks(split), mode & 0x40 != 0, |_| {});
    check_replay(&replay, wire.len())
}

/// The invariants of [`http1::read_pieces`] over `len` bytes of input.
#[doc(hidden)]
pub fn check_replay(replay: &http1::Replay, len: usize) -> Result<(), String> {
    if replay.fed > len || replay.body > replay.fed {
        return Err(format!(
            "{} body bytes from {} fed of {len}",
            replay.body, replay.fed
        ));
    }
    if replay.head_waiting >= http1::MAX_HEAD_BYTES {
        return Err(format!("{} bytes buffered for a head", replay.head_waiting));
    }
    if replay.body_waiting >= http1::MAX_LINE {
        return Err(format!("{} bytes buffered in a body", replay.body_waiting));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
