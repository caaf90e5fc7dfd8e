//! Retry classification in one place: what an upstream attempt's outcome means for
//! retrying the request and for the endpoint's health.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How one upstream attempt ended, as the data plane observed it.
///
/// The same value drives both the retry decision ([`is_retryable`](Self::is_retryable))
/// and passive health ([`EndpointHealth::record`](crate::EndpointHealth::record)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The upstream answered 2xx (or 1xx/3xx) and the exchange completed.
    Success,
    /// TCP/TLS connection could not be established (refused, reset, DNS, handshake).
    ConnectError,
    /// No first byte of the response before the per-attempt timeout.
    Timeout,
    /// The upstream answered 5xx.
    ServerError(u16),
    /// The upstream answered 429; `retry_after` from `Retry-After` or a provider body
    /// (Gemini `RetryInfo.retryDelay`).
    RateLimited {
        /// How long the upstream asked us to stay away, if it said.
        retry_after: Option<Duration>,
    },
    /// The upstream's response stream broke (reset, malformed frame, premature end).
    StreamError,
    /// The upstream answered 4xx other than 429: the request is at fault, the endpoint is
    /// fine. Health counts it as a success; it is never retried.
    ClientError(u16),
}

impl AttemptOutcome {
    /// Classifies an upstream HTTP status (`retry_after` is used only for 429).
    pub fn from_status(status: u16, retry_after: Option<Duration>) -> Self {
        match status {
            429 => AttemptOutcome::RateLimited { retry_after },
            400..=499 => AttemptOutcome::ClientError(status),
            500..=599 => AttemptOutcome::ServerError(status),
            _ => AttemptOutcome::Success,
        }
    }

    /// Whether the next candidate may be tried after this outcome.
    ///
    /// True for connect errors, timeouts before the first byte, 5xx, 429 and stream
    /// errors; false for success and other 4xx (the provider-management API's rule). The
    /// caller must additionally never retry once any byte reached the client (see
    /// [`RetryBudget::should_retry`]).
    pub fn is_retryable(&self) -> bool {
        match self {
            AttemptOutcome::Success | AttemptOutcome::ClientError(_) => false,
            AttemptOutcome::ConnectError
            | AttemptOutcome::Timeout
            | AttemptOutcome::ServerError(_)
            | AttemptOutcome::RateLimited { .. }
            | AttemptOutcome::StreamError => true,
        }
    }

    /// Whether passive health counts this outcome against the endpoint.
    ///
    /// `RateLimited` with a `retry_after` is not counted here: it ejects for exactly that
    /// long instead (see [`EndpointHealth::record`](crate::EndpointHealth::record)).
    pub fn is_endpoint_failure(&self) -> bool {
        match self {
            AttemptOutcome::Success | AttemptOutcome::ClientError(_) => false,
            AttemptOutcome::RateLimited { retry_after } => retry_after.is_none(),
            AttemptOutcome::ConnectError
            | AttemptOutcome::Timeout
            | AttemptOutcome::ServerError(_)
            | AttemptOutcome::StreamError => true,
        }
    }

    /// A short stable label, for metrics (`outcome` label) and health reports.
    pub fn label(&self) -> &'static str {
        match self {
            AttemptOutcome::Success => "success",
            AttemptOutcome::ConnectError => "connect_error",
            AttemptOutcome::Timeout => "timeout",
            AttemptOutcome::ServerError(_) => "server_error",
            AttemptOutcome::RateLimited { .. } => "rate_limited",
            AttemptOutcome::StreamError => "stream_error",
            AttemptOutcome::ClientError(_) => "client_error",
        }
    }
}

impl fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptOutcome::ServerError(status) | AttemptOutcome::ClientError(status) => {
                write!(f, "{} {}", self.label(), status)
            }
            AttemptOutcome::RateLimited {
                retry_after: Some(after),
            } => write!(f, "rate_limited retry_after={}ms", after.as_millis()),
            _ => f.write_str(self.label()),
        }
    }
}

/// Total attempts for one request: `1 + retries`, where retries is the request's
/// `retry_count` if given, else the route default, and never more than `cap` retries.
pub fn attempts(route_default: u32, request_retry_count: Option<u32>, cap: u32) -> u32 {
    1 + request_retry_count.unwrap_or(route_default).min(cap)
}

/// Attempts left for one request; the data plane keeps one per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryBudget {
    max_attempts: u32,
    started: u32,
}

impl RetryBudget {
    /// A budget of `max_attempts` attempts (at least one), e.g. from [`attempts`].
    pub fn new(max_attempts: u32) -> Self {
        RetryBudget {
            max_attempts: max_attempts.max(1),
            started: 0,
        }
    }

    /// Claims the next attempt; false when the budget is spent.
    pub fn start_attempt(&mut self) -> bool {
        if self.started >= self.max_attempts {
            return false;
        }
        self.started += 1;
        true
    }

    /// Attempts started so far (for usage records and metrics).
    pub fn attempts_started(&self) -> u32 {
        self.started
    }

    /// Attempts still available.
    pub fn remaining(&self) -> u32 {
        self.max_attempts - self.started
    }

    /// Whether to try the next candidate after `outcome`: it must be retryable, nothing
    /// may have reached the client yet, and an attempt must be left.
    pub fn should_retry(&self, outcome: &AttemptOutcome, client_bytes_sent: bool) -> bool {
        !client_bytes_sent && outcome.is_retryable() && self.remaining() > 0
    }
}

/// Parses a `Retry-After` header value: delta-seconds (`"120"`; a fractional `"1.5"` is
/// accepted too, as some providers send it) or an HTTP-date, which is measured against
/// `now_unix` (seconds since the Unix epoch; a date in the past gives zero).
/// Returns `None` for anything else.
pub fn parse_retry_after(value: &str, now_unix: u64) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    if value.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let secs: f64 = value.parse().ok()?;
        return Duration::try_from_secs_f64(secs).ok();
    }
    let date = httpdate::parse_http_date(value).ok()?;
    let date_unix = date.duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(date_unix.saturating_sub(now_unix)))
}

/// Parses a Google-style duration as found in Gemini's `RetryInfo.retryDelay`
/// (`"30s"`, `"1.5s"`), the other source of a 429's `retry_after`.
pub fn parse_retry_delay(value: &str) -> Option<Duration> {
    let secs = value.trim().strip_suffix('s')?;
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    Duration::try_from_secs_f64(secs.parse().ok()?).ok()
}

/// Seconds since the Unix epoch of `time`, for [`parse_retry_after`]'s `now_unix`.
pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
