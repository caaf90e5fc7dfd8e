//! The response body: precomputed chunks sent with pacing, and body-level faults.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

/// What happens once the chunks to send are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The body ends normally.
    Clean,
    /// The connection is closed mid-body (hyper aborts on a body error).
    Cut,
    /// Nothing more is sent; the connection stays open until the client leaves.
    Stall,
}

/// A body of precomputed chunks: `ttft` before the first, `gap` between the others.
pub struct PacedBody {
    chunks: std::vec::IntoIter<Bytes>,
    remaining: usize,
    ttft: Duration,
    gap: Duration,
    sent: usize,
    waited: bool,
    sleep: Option<Pin<Box<Sleep>>>,
    ending: Ending,
    cut_armed: bool,
    exact_len: Option<u64>,
}

/// Pause before a `cut`, so hyper flushes the kept chunks (it drops unflushed output
/// when a body fails).
const CUT_FLUSH_GRACE: Duration = Duration::from_millis(20);

impl PacedBody {
    /// Sends all `chunks` at once with a `Content-Length`.
    pub fn full(body: Bytes) -> Self {
        let len = body.len() as u64;
        Self::new(vec![body], Duration::ZERO, Duration::ZERO).with_exact_len(len)
    }

    /// Sends `chunks` (chunked transfer encoding unless [`with_exact_len`] is set).
    ///
    /// [`with_exact_len`]: PacedBody::with_exact_len
    pub fn new(chunks: Vec<Bytes>, ttft: Duration, gap: Duration) -> Self {
        let remaining = chunks.len();
        Self {
            chunks: chunks.into_iter(),
            remaining,
            ttft,
            gap,
            sent: 0,
            waited: false,
            sleep: None,
            ending: Ending::Clean,
            cut_armed: false,
            exact_len: None,
        }
    }

    /// Announces the full length, so the response carries `Content-Length`.
    pub fn with_exact_len(mut self, len: u64) -> Self {
        self.exact_len = Some(len);
        self
    }

    /// Sends only the first `count` chunks, then ends as `ending` says.
    pub fn truncated(mut self, count: usize, ending: Ending) -> Self {
        self.remaining = count.min(self.remaining);
        self.ending = ending;
        self
    }
}

impl Body for PacedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        loop {
            if let Some(sleep) = this.sleep.as_mut() {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.sleep = None;
                this.waited = true;
            }
            if this.remaining == 0 {
                return match this.ending {
                    Ending::Clean => Poll::Ready(None),
                    Ending::Cut if !this.cut_armed => {
                        this.cut_armed = true;
                        this.sleep = Some(Box::pin(tokio::time::sleep(CUT_FLUSH_GRACE)));
                        continue;
                    }
                    Ending::Cut => Poll::Ready(Some(Err(std::io::Error::other(
                        "sluice-mock: stream cut by fault injection",
                    )))),
                    Ending::Stall => Poll::Pending,
                };
            }
            let delay = if this.sent == 0 { this.ttft } else { this.gap };
            if !this.waited && !delay.is_zero() {
                this.sleep = Some(Box::pin(tokio::time::sleep(delay)));
                continue;
            }
            this.waited = false;
            this.remaining -= 1;
            this.sent += 1;
            return match this.chunks.next() {
                Some(chunk) => Poll::Ready(Some(Ok(Frame::data(chunk)))),
                None => Poll::Ready(None),
            };
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0 && self.ending == Ending::Clean
    }

    fn size_hint(&self) -> SizeHint {
        match self.exact_len {
            Some(len) => SizeHint::with_exact(len),
            None => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn sends_all_chunks_in_order() {
        let body = PacedBody::new(
            vec![Bytes::from("a"), Bytes::from("b")],
            Duration::from_millis(1),
            Duration::from_millis(1),
        );
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"ab");
    }

    #[tokio::test]
    async fn cut_errors_after_the_kept_chunks() {
        let mut body = PacedBody::new(
            vec![Bytes::from("a"), Bytes::from("b")],
            Duration::ZERO,
            Duration::ZERO,
        )
        .truncated(1, Ending::Cut);
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "a");
        assert!(body.frame().await.unwrap().is_err());
    }
}
