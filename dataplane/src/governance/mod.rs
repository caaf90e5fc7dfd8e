//! Limits and budgets on the request path: a request's scopes (its key, the key's team,
//! the route, then per attempt the provider) each reserve what the request may use —
//! one request, an estimate of its tokens, one in-flight slot — in the rate store, and
//! the request settles with its real usage and cost when its answer ends.
//!
//! The store is in the process for one data plane, or Redis/Valkey shared by several
//! (`store/`); when the shared store cannot be reached the configured failure mode
//! applies, never silently (a metric and a log line on every transition).

mod store;

use std::time::Duration;

use sluice_model::{Budget, BudgetStatus, RateLimits, RateStoreSettings, ScopeKind, TokenUsage};

/// One scope a request is counted against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScopeLimits<'a> {
    /// What the scope is.
    pub kind: ScopeKind,
    /// Its name within the kind: key id, team name, route name or provider name.
    pub name: &'a str,
    /// Its rate limits.
    pub limits: &'a RateLimits,
    /// Its budget and the control plane ledger's view of it, if it has one.
    pub budget: Option<(&'a Budget, &'a BudgetStatus)>,
}

impl ScopeLimits<'_> {
    /// Whether the scope limits nothing (the request path skips it).
    pub fn is_unlimited(&self) -> bool {
        self.limits.is_unlimited() && self.budget.is_none()
    }
}

/// Tokens a request is expected to use, reserved at admission.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Estimate {
    /// Prompt tokens (from the request's size).
    pub input: u64,
    /// Completion tokens (the request's maximum, or the configured default).
    pub output: u64,
}

/// What ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exhausted {
    /// Requests per minute.
    Requests,
    /// Tokens per minute.
    Tokens,
    /// Requests in flight.
    Concurrency,
    /// The budget's hard limit.
    Budget,
}

impl Exhausted {
    /// Metric label and error wording.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requests => "requests",
            Self::Tokens => "tokens",
            Self::Concurrency => "concurrency",
            Self::Budget => "budget",
        }
    }
}

/// The state of one limit window, for `x-ratelimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    /// The limit.
    pub limit: u64,
    /// What is left of it now.
    pub remaining: u64,
    /// Time until the window has room again / resets fully.
    pub reset: Duration,
}

/// Why a scope refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The refusing scope's kind.
    pub kind: ScopeKind,
    /// The refusing scope's name.
    pub name: String,
    /// What ran out.
    pub reason: Exhausted,
    /// When a retry can succeed (`None` for a budget without a window end: never).
    pub retry_after: Option<Duration>,
    /// The refusing scope's requests-per-minute window, if it has one.
    pub requests: Option<Window>,
    /// The refusing scope's tokens-per-minute window, if it has one.
    pub tokens: Option<Window>,
}

/// Why a request was not admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Denied {
    /// A limit or budget of one of its scopes.
    Limited(Refusal),
    /// The shared store is unreachable and the failure mode is `fail_closed`.
    StoreUnavailable {
        /// When to retry.
        retry_after: Duration,
    },
}

/// Admits requests against their scopes' limits in the configured rate store.
pub(crate) struct Governor {
    store: store::Store,
}

impl Governor {
    /// A governor over the store `settings` name (a Redis store connects lazily, on first
    /// use, and reconnects by itself).
    pub fn new(settings: &RateStoreSettings) -> Self {
        Self {
            store: store::open(settings),
        }
    }

    /// Reserves one request, `estimate`'s tokens and an in-flight slot in every scope of
    /// `scopes` (unlimited ones are skipped), all or nothing: when one scope refuses, what
    /// the others reserved is given back.
    pub async fn admit(
        &self,
        scopes: &[ScopeLimits<'_>],
        estimate: Estimate,
    ) -> Result<Ticket, Denied> {
        let inner = self.store.admit(scopes, estimate).await?;
        Ok(Ticket { inner })
    }
}

/// What a request reserved; settled with its real usage when the answer ends. Dropped
/// without [`Ticket::settle`] (a failed or cancelled request), it releases its in-flight
/// slots and keeps its reservations as they were.
pub(crate) struct Ticket {
    inner: Option<store::Reservation>,
}

impl Ticket {
    /// A ticket that reserved nothing (no scope has limits).
    pub fn empty() -> Self {
        Self { inner: None }
    }

    /// Settles: every scope's token reservation becomes `usage` (counted as the scope's
    /// limit counts tokens; `None` keeps the estimate), `cost_nanousd` is added to every
    /// budget's spend, and in-flight slots are released. Never waits for a shared store.
    pub fn settle(mut self, usage: Option<&TokenUsage>, cost_nanousd: u64) {
        if let Some(r) = self.inner.take() {
            r.settle(usage, cost_nanousd);
        }
    }
}

impl Drop for Ticket {
    /// A ticket dropped unsettled releases its in-flight slots (without blocking: a Redis
    /// store's release runs in a spawned task).
    fn drop(&mut self) {
        if let Some(r) = self.inner.take() {
            r.release();
        }
    }
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket")
            .field("reserved", &self.inner.is_some())
            .finish()
    }
}
