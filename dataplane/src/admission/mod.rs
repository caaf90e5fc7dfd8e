//! Admission control: the shared budgets every client draws on (open connections, requests
//! in flight, buffered request-body bytes) and the deadlines that bound how long a client
//! may hold them (request head, request body with a minimum rate, answer writes).
//!
//! A budget is a counter with a ceiling taken from the live config's [`Limits`]; a permit
//! returns its share when dropped, so nothing leaks on any exit path (errors, client
//! resets, panics unwinding a task). Every refusal is counted in
//! `sluice_admission_rejected_total{reason}` with one of the [`Reject`] reasons.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::config::Limits;
use crate::metrics;

#[cfg(test)]
mod tests;

/// Why admission refused something (the `reason` label of the rejection counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// The open-connection cap was reached.
    Connections,
    /// The in-flight request cap was reached.
    Inflight,
    /// The global budget of buffered request-body bytes was spent.
    BufferedBytes,
    /// The request head did not arrive within its deadline.
    HeaderTimeout,
    /// The request body did not arrive within its deadline.
    BodyTimeout,
    /// The request body arrived slower than the minimum rate.
    BodyRate,
    /// The request body exceeded `max_body_bytes`.
    BodyTooLarge,
    /// The client did not read the answer within the write timeout.
    WriteTimeout,
}

impl Reject {
    /// Every reason, in metric order.
    pub const ALL: [Reject; 8] = [
        Reject::Connections,
        Reject::Inflight,
        Reject::BufferedBytes,
        Reject::HeaderTimeout,
        Reject::BodyTimeout,
        Reject::BodyRate,
        Reject::BodyTooLarge,
        Reject::WriteTimeout,
    ];

    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reject::Connections => "connections",
            Reject::Inflight => "inflight",
            Reject::BufferedBytes => "buffered_bytes",
            Reject::HeaderTimeout => "header_timeout",
            Reject::BodyTimeout => "body_timeout",
            Reject::BodyRate => "body_rate",
            Reject::BodyTooLarge => "body_too_large",
            Reject::WriteTimeout => "write_timeout",
        }
    }

    /// Counts this refusal.
    pub fn count(self) {
        metrics::admission_rejected(self);
    }
}

/// A counter with a ceiling, shared by every connection.
#[derive(Debug, Default)]
struct Budget(AtomicUsize);

impl Budget {
    /// Takes `n` units if that stays within `cap`.
    fn try_take(&self, n: usize, cap: usize) -> bool {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let Some(next) = cur.checked_add(n).filter(|&v| v <= cap) else {
                return false;
            };
            match self
                .0
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }

    fn give_back(&self, n: usize) {
        self.0.fetch_sub(n, Ordering::AcqRel);
    }

    fn used(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// The data plane's shared admission budgets.
#[derive(Debug, Default)]
pub struct Admission {
    connections: Budget,
    inflight: Budget,
    body_bytes: Budget,
}

/// One open connection; released when dropped.
#[derive(Debug)]
pub struct ConnectionPermit(Arc<Admission>);

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.0.connections.give_back(1);
    }
}

/// One request in flight; released when dropped.
#[derive(Debug)]
pub struct InflightPermit(Arc<Admission>);

impl Drop for InflightPermit {
    fn drop(&mut self) {
        self.0.inflight.give_back(1);
    }
}

/// Request-body bytes held in memory; released when dropped.
#[derive(Debug)]
pub struct BodyPermit {
    admission: Arc<Admission>,
    bytes: usize,
}

impl BodyPermit {
    /// An empty permit that can grow with [`BodyPermit::grow`].
    pub fn empty(admission: &Arc<Admission>) -> Self {
        Self {
            admission: admission.clone(),
            bytes: 0,
        }
    }

    /// Takes `n` more bytes of the global budget.
    pub fn grow(&mut self, n: usize, limits: &Limits) -> Result<(), Reject> {
        if self
            .admission
            .body_bytes
            .try_take(n, limits.max_buffered_body_bytes)
        {
            self.bytes += n;
            Ok(())
        } else {
            Reject::BufferedBytes.count();
            Err(Reject::BufferedBytes)
        }
    }
}

impl Drop for BodyPermit {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.admission.body_bytes.give_back(self.bytes);
        }
    }
}

impl Admission {
    /// Fresh budgets, shared by every connection of one data plane.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Admits a new connection, or refuses it (counted) at the cap.
    pub fn connection(self: &Arc<Self>, limits: &Limits) -> Result<ConnectionPermit, Reject> {
        if self.connections.try_take(1, limits.max_connections) {
            Ok(ConnectionPermit(self.clone()))
        } else {
            Reject::Connections.count();
            Err(Reject::Connections)
        }
    }

    /// Admits a request, or refuses it (counted) at the cap.
    pub fn request(self: &Arc<Self>, limits: &Limits) -> Result<InflightPermit, Reject> {
        if self.inflight.try_take(1, limits.max_inflight) {
            Ok(InflightPermit(self.clone()))
        } else {
            Reject::Inflight.count();
            Err(Reject::Inflight)
        }
    }

    /// Open connections now.
    pub fn open_connections(&self) -> usize {
        self.connections.used()
    }

    /// Requests in flight now.
    #[cfg(test)]
    pub fn inflight(&self) -> usize {
        self.inflight.used()
    }

    /// Request-body bytes buffered now.
    pub fn buffered_body_bytes(&self) -> usize {
        self.body_bytes.used()
    }
}

/// The deadline of one request body: a total time, and a minimum rate once a grace
/// period has passed (so a client cannot hold its buffer by trickling).
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline {
    start: Instant,
    total: Instant,
    grace: Duration,
    min_rate: u64,
}

impl BodyDeadline {
    /// Starts counting now.
    pub fn start(limits: &Limits) -> Self {
        let start = Instant::now();
        Self {
            start,
            total: start + limits.body_timeout,
            grace: limits.body_rate_grace,
            min_rate: limits.min_body_rate,
        }
    }

    /// When the next read must have completed, given `received` bytes so far, and which
    /// limit ends it: the total deadline, or the time by which the minimum rate requires
    /// the next byte. Integer arithmetic, no clock read: this runs on every request.
    pub fn next_deadline(&self, received: usize) -> (Instant, Reject) {
        if self.min_rate == 0 {
            return (self.total, Reject::BodyTimeout);
        }
        // At `min_rate`, `received` bytes buy this much time beyond the grace period.
        let earned = Duration::from_nanos(
            u64::try_from(received)
                .unwrap_or(u64::MAX)
                .saturating_mul(1_000_000_000)
                / self.min_rate,
        );
        let rate_deadline = self.start + self.grace + earned;
        if rate_deadline < self.total {
            (rate_deadline, Reject::BodyRate)
        } else {
            (self.total, Reject::BodyTimeout)
        }
    }
}

/// Runs `fut` with a deadline that costs nothing when `fut` is ready at once (most writes
/// to a client and most body reads are): the timer is armed only if the first poll
/// returns `Pending`. `None` when the deadline passed first.
pub async fn lazy_deadline<F: Future>(deadline: Instant, fut: F) -> Option<F::Output> {
    lazy(fut, || deadline).await
}

/// [`lazy_deadline`] with a duration: the clock is read only when the timer is armed.
pub async fn lazy_timeout<F: Future>(limit: Duration, fut: F) -> Option<F::Output> {
    lazy(fut, || Instant::now() + limit).await
}

/// Polls `fut` once; only if it is pending asks `deadline` when to give up.
async fn lazy<F: Future>(fut: F, deadline: impl FnOnce() -> Instant) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    if let Poll::Ready(v) = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await {
        return Some(v);
    }
    tokio::time::timeout_at(deadline().into(), fut).await.ok()
}
