//! The listener, connections and the per-request dispatch.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::api::{self, ApiRequest};
use crate::body::PacedBody;
use crate::control;
use crate::flavor::{route, Route};
use crate::state::MockState;

/// Per-connection switch a handler flips to have the connection reset (RST) on close.
#[derive(Default)]
pub struct ConnControl {
    reset: AtomicBool,
}

impl ConnControl {
    /// Asks for the connection to be closed with `SO_LINGER 0`, i.e. a TCP reset.
    pub fn request_reset(&self) {
        self.reset.store(true, Ordering::Release);
    }

    fn reset_requested(&self) -> bool {
        self.reset.load(Ordering::Acquire)
    }
}

/// A TCP stream that, once a reset was requested, refuses further writes (so no FIN
/// or response leaves) and closes with `SO_LINGER 0` when dropped.
struct ConnIo {
    stream: TcpStream,
    control: Arc<ConnControl>,
}

impl ConnIo {
    fn refuse(&self) -> Option<io::Error> {
        self.control
            .reset_requested()
            .then(|| io::Error::new(io::ErrorKind::ConnectionReset, "reset by fault"))
    }
}

impl Drop for ConnIo {
    fn drop(&mut self) {
        if self.control.reset_requested() {
            // Best effort: if it fails the peer still sees the connection close.
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(err) = self.refuse() {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(err) = self.refuse() {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(err) = self.refuse() {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Accepts connections forever, serving each on its own task with HTTP/1.1 keep-alive.
pub async fn serve(listener: TcpListener, state: Arc<MockState>) -> anyhow::Result<()> {
    let mut http = http1::Builder::new();
    http.keep_alive(true).pipeline_flush(true);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors and the like: back off briefly instead of spinning.
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let control = Arc::new(ConnControl::default());
        let io = TokioIo::new(ConnIo {
            stream,
            control: Arc::clone(&control),
        });
        let state = Arc::clone(&state);
        let conn = http.serve_connection(
            io,
            service_fn(move |req| handle(Arc::clone(&state), Arc::clone(&control), req)),
        );
        tokio::spawn(async move {
            // Connection errors (client gone, injected faults) are expected; nothing to do.
            let _ = conn.await;
        });
    }
}

async fn handle(
    state: Arc<MockState>,
    control: Arc<ConnControl>,
    req: Request<Incoming>,
) -> io::Result<Response<PacedBody>> {
    let t_ms = state.stats.now_ms();
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| io::Error::other(format!("reading request body: {e}")))?
        .to_bytes();
    let path = parts.uri.path();
    let (endpoint, path_model) = match route(&parts.method, path) {
        Route::Control(endpoint) => {
            return Ok(control::answer(&state, endpoint, parts.uri.query(), body))
        }
        Route::Api {
            endpoint,
            path_model,
        } => (Some(endpoint), path_model),
        Route::NotFound => (None, None),
    };
    let req = ApiRequest {
        endpoint,
        path_model,
        path,
        query: parts.uri.query(),
        headers: &parts.headers,
        body,
        t_ms,
    };

    api::answer(&state, &control, req).await
}
