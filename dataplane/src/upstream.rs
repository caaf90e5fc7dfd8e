//! Talking to upstream providers: asynchronous DNS with a TTL cache (Pingora's
//! `HttpPeer::new` would resolve with a blocking call that panics on failure), pooled
//! connections through pingora-core's HTTP connector (rustls, correct SNI/Host), and
//! per-phase timeouts. The retry loop above this decides what to do with each failure.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use pingora::connectors::http::Connector;
use pingora::protocols::http::client::HttpSession;
use pingora::upstreams::peer::HttpPeer;
use pingora_http::RequestHeader;

use crate::config::{BaseUrl, Protocol, ProviderKind};

const DNS_TTL: Duration = Duration::from_secs(30);
const POOL_IDLE: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT_CAP: Duration = Duration::from_secs(10);

/// The credential and version headers a provider kind expects.
pub fn auth_headers(kind: ProviderKind, key: &str) -> Vec<(&'static str, String)> {
    let mut headers = Vec::with_capacity(3);
    match kind.protocol() {
        Protocol::Anthropic => {
            headers.push((
                "anthropic-version",
                sluice_translate::anthropic::VERSION.to_string(),
            ));
            if !key.is_empty() {
                headers.push(("x-api-key", key.to_string()));
            }
        }
        Protocol::Gemini => {
            if !key.is_empty() {
                headers.push(("x-goog-api-key", key.to_string()));
            }
        }
        Protocol::OpenAi | Protocol::Echo => {
            if !key.is_empty() {
                headers.push(("authorization", format!("Bearer {key}")));
            }
        }
    }
    headers
}

/// The base URL's path without the version segment the protocol's own paths add again
/// (seed 003 configures `https://api.anthropic.com/v1`; Gemini bases may end in `/v1beta`).
pub fn api_root(kind: ProviderKind, base: &BaseUrl) -> &str {
    let path = base.path.as_str();
    match kind.protocol() {
        Protocol::Anthropic => path.strip_suffix("/v1").unwrap_or(path),
        Protocol::Gemini => path
            .strip_suffix("/v1beta")
            .or_else(|| path.strip_suffix("/v1"))
            .unwrap_or(path),
        Protocol::OpenAi | Protocol::Echo => path,
    }
}

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

/// An upstream response whose headers have arrived.
pub struct InboundResponse {
    session: HttpSession,
    peer: HttpPeer,
    /// HTTP status.
    pub status: u16,
    /// `Retry-After` header value, if any.
    pub retry_after: Option<String>,
    /// `content-type` header value.
    pub content_type: String,
}

/// The shared upstream client.
pub struct UpstreamClient {
    connector: Connector,
    dns: Mutex<HashMap<(String, u16), (SocketAddr, Instant)>>,
}

impl Default for UpstreamClient {
    fn default() -> Self {
        Self::new()
    }
}

impl UpstreamClient {
    /// A client with its own connection pool.
    pub fn new() -> Self {
        let mut opts = pingora::connectors::ConnectorOptions::new(4096);
        opts.keepalive_pool_size = 4096;
        Self {
            connector: Connector::new(Some(opts)),
            dns: Mutex::new(HashMap::new()),
        }
    }

    async fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, AttemptFailure> {
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
        let key = (host.to_string(), port);
        if let Some((addr, at)) = self.dns.lock().get(&key) {
            if at.elapsed() < DNS_TTL {
                return Ok(*addr);
            }
        }
        let mut addrs = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| AttemptFailure::Connect(format!("cannot resolve {host}: {e}")))?;
        let addr = addrs
            .next()
            .ok_or_else(|| AttemptFailure::Connect(format!("{host} resolved to no address")))?;
        self.dns.lock().insert(key, (addr, Instant::now()));
        Ok(addr)
    }

    /// Connects (or reuses a pooled connection), sends the request and waits for the
    /// response header, all within `timeout`.
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
        let addr = self.resolve(&req.base.host, req.base.port).await?;
        let mut peer = HttpPeer::new(addr, req.base.tls, req.base.host.clone());
        peer.options.connection_timeout = Some(timeout.min(CONNECT_TIMEOUT_CAP));
        peer.options.total_connection_timeout = Some(timeout.min(CONNECT_TIMEOUT_CAP));
        peer.options.idle_timeout = Some(POOL_IDLE);

        let mut header = RequestHeader::build(req.method, req.path.as_bytes(), Some(8))
            .map_err(|e| AttemptFailure::Connect(format!("invalid upstream path: {e}")))?;
        let host = req.base.host_header();
        let mut len = itoa::Buffer::new();
        let fixed: [(&str, &str); 4] = [
            ("host", &host),
            ("content-type", "application/json"),
            ("content-length", len.format(req.body.len())),
            ("user-agent", concat!("sluice/", env!("CARGO_PKG_VERSION"))),
        ];
        for (k, v) in fixed
            .into_iter()
            .chain(req.headers.iter().map(|(k, v)| (*k, v.as_str())))
        {
            header.insert_header(k, v).map_err(|e| {
                AttemptFailure::Connect(format!("invalid upstream header {k}: {e}"))
            })?;
        }

        // A pooled connection may have been closed by the server meanwhile: a failure on a
        // reused connection is retried on the next one (the pool drops broken ones).
        for _ in 0..3 {
            let (mut session, reused) = self
                .connector
                .get_http_session(&peer)
                .await
                .map_err(|e| AttemptFailure::Connect(e.to_string()))?;
            let sent = async {
                session
                    .write_request_header(Box::new(header.clone()))
                    .await?;
                session.write_request_body(req.body.clone(), true).await?;
                session.finish_request_body().await?;
                session.read_response_header().await
            }
            .await;
            match sent {
                Ok(()) => {
                    let resp = session
                        .response_header()
                        .ok_or_else(|| AttemptFailure::Io("no response header".into()))?;
                    let status = resp.status.as_u16();
                    let get = |name: &str| {
                        resp.headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string)
                    };
                    let retry_after = get("retry-after");
                    let content_type = get("content-type").unwrap_or_default();
                    return Ok(InboundResponse {
                        session,
                        peer,
                        status,
                        retry_after,
                        content_type,
                    });
                }
                Err(e) if reused => {
                    tracing::debug!(error = %e, "stale pooled upstream connection; redialing");
                    continue;
                }
                Err(e) => return Err(AttemptFailure::Io(e.to_string())),
            }
        }
        Err(AttemptFailure::Io(
            "pooled upstream connections keep failing".into(),
        ))
    }

    /// Returns a fully read connection to the pool (or drops it if it can't be reused).
    pub async fn release(&self, resp: InboundResponse) {
        let InboundResponse {
            mut session, peer, ..
        } = resp;
        if session.response_done() {
            self.connector
                .release_http_session(session, &peer, Some(POOL_IDLE))
                .await;
        } else {
            session.shutdown().await;
        }
    }
}

impl InboundResponse {
    /// The next body chunk, waiting at most `timeout`. `Ok(None)` at the end of the body.
    pub async fn next_chunk(&mut self, timeout: Duration) -> Result<Option<Bytes>, AttemptFailure> {
        match pingora_timeout::timeout(timeout, self.session.read_response_body()).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(AttemptFailure::Io(e.to_string())),
            Err(_) => Err(AttemptFailure::Timeout),
        }
    }

    /// Reads the whole body (bounded by `limit` bytes; the rest is dropped) within `timeout`.
    pub async fn read_all(
        &mut self,
        limit: usize,
        timeout: Duration,
    ) -> Result<Bytes, AttemptFailure> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut buf = BytesMut::new();
        let mut single: Option<Bytes> = None;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_chunk(left).await? {
                None => break,
                Some(c) => {
                    if single.is_none() && buf.is_empty() {
                        single = Some(c);
                        continue;
                    }
                    if let Some(s) = single.take() {
                        buf.extend_from_slice(&s);
                    }
                    if buf.len() + c.len() > limit {
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
