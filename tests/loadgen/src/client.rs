//! One HTTP/1.1 keep-alive connection per worker (hyper 1 client, `TCP_NODELAY`): the
//! pool is the set of workers, so every connection is reused for the whole run and a
//! broken one is redialed by its owner.

use std::net::SocketAddr;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Where requests go and what they carry.
#[derive(Clone, Debug)]
pub struct Target {
    /// Resolved socket address.
    pub addr: SocketAddr,
    /// `host:port` for the Host header.
    pub authority: String,
    /// Path and query.
    pub path: String,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
}

impl Target {
    /// Parses `http://host:port/path` and resolves the host once.
    pub async fn new(url: &str, headers: &[String]) -> Result<Self> {
        let uri: hyper::Uri = url.parse().with_context(|| format!("bad URL {url}"))?;
        if uri.scheme_str() != Some("http") {
            bail!("only http:// URLs are supported: {url}");
        }
        let host = uri
            .host()
            .ok_or_else(|| anyhow!("URL without host: {url}"))?;
        let port = uri.port_u16().unwrap_or(80);
        let addr = tokio::net::lookup_host((host, port))
            .await?
            .next()
            .ok_or_else(|| anyhow!("{host} resolves to nothing"))?;
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let headers = headers
            .iter()
            .map(|h| {
                let (k, v) = h
                    .split_once(':')
                    .ok_or_else(|| anyhow!("header must be 'name: value': {h}"))?;
                Ok((k.trim().to_string(), v.trim().to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            addr,
            authority: format!("{host}:{port}"),
            path,
            headers,
        })
    }

    fn request(&self, body: Bytes, stream: bool) -> Result<Request<Full<Bytes>>> {
        let mut b = Request::post(self.path.as_str())
            .header("host", self.authority.as_str())
            .header("content-type", "application/json");
        if stream {
            b = b.header("accept", "text/event-stream");
        }
        for (k, v) in &self.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        Ok(b.body(Full::new(body))?)
    }
}

/// A keep-alive connection.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    /// Dials `target`.
    pub async fn connect(target: &Target) -> Result<Self> {
        let stream = TcpStream::connect(target.addr)
            .await
            .with_context(|| format!("connect {}", target.addr))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self { sender })
    }

    /// Whether the connection can take another request.
    pub fn is_open(&self) -> bool {
        !self.sender.is_closed()
    }

    /// Sends one request and returns the response with its body still unread.
    pub async fn send(
        &mut self,
        target: &Target,
        body: Bytes,
        stream: bool,
    ) -> Result<Response<Incoming>> {
        self.sender.ready().await?;
        Ok(self
            .sender
            .send_request(target.request(body, stream)?)
            .await?)
    }

    /// Sends one request and reads the whole answer; `Err` on a non-2xx status.
    pub async fn exchange(&mut self, target: &Target, body: Bytes) -> Result<usize> {
        let resp = self.send(target, body, false).await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            bail!(
                "status {status}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
            );
        }
        Ok(bytes.len())
    }
}

/// A connection slot that redials after a failure.
pub struct Slot {
    conn: Option<Conn>,
}

impl Slot {
    /// An empty slot (dials on first use).
    pub fn new() -> Self {
        Self { conn: None }
    }

    /// The live connection, dialing if needed.
    pub async fn get(&mut self, target: &Target) -> Result<&mut Conn> {
        if !self.conn.as_ref().is_some_and(Conn::is_open) {
            self.conn = Some(Conn::connect(target).await?);
        }
        Ok(self.conn.as_mut().expect("set above"))
    }

    /// Drops the connection after an error so the next use redials.
    pub fn reset(&mut self) {
        self.conn = None;
    }
}
