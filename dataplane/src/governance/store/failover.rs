//! The failure mode around the Redis store. While Redis answers, every admission counts
//! there. A failed or timed-out call marks it down (a metric, one `warn!` line): then
//! `fail_open` counts in an in-process store with the same limits (per data plane) and
//! `fail_closed` refuses with `StoreUnavailable`. A background probe PINGs once a second
//! and marks it up again (a metric, one `info!` line) when it answers.
//!
//! A settle or release that fails is dropped (counted in `sluice_rate_store_errors_total`):
//! the tokens and spend it would have corrected stay as reserved, leases expire.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use sluice_model::{FailureMode, TokenUsage};

use super::local::LocalStore;
use super::redis::{Held, Outcome, RedisStore, StoreError};
use crate::governance::{Denied, Estimate, ScopeLimits};
use crate::metrics;

/// How often a down store is probed.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// What `fail_closed` asks clients to wait.
const UNAVAILABLE_RETRY: Duration = Duration::from_secs(1);

/// Redis under the failure mode.
pub(crate) struct Failover {
    redis: RedisStore,
    fallback: LocalStore,
    mode: FailureMode,
    up: AtomicBool,
}

/// What one admission holds in Redis, with the store to settle it in.
pub(crate) struct Reservation {
    store: Arc<Failover>,
    held: Held,
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.held.fmt(f)
    }
}

impl Failover {
    /// A store over the Redis server at `url` (connected on first use), each call bounded
    /// by `timeout`.
    pub fn new(url: &str, mode: FailureMode, timeout: Duration) -> Arc<Self> {
        let store = Arc::new(Self {
            redis: RedisStore::new(url, timeout),
            fallback: LocalStore::new(),
            mode,
            up: AtomicBool::new(true),
        });
        // Within a runtime, find out now rather than at the first limited request whether
        // the server answers (the metric and the log line then tell at start-up).
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let weak = Arc::downgrade(&store);
            rt.spawn(async move {
                let Some(s) = weak.upgrade() else { return };
                if let Err(e) = s.redis.ping().await {
                    s.failed(&e);
                }
            });
        }
        store
    }

    /// Reserves in every limited scope, all or nothing: in Redis while it answers, else as
    /// the failure mode says.
    pub async fn admit(
        self: &Arc<Self>,
        scopes: &[ScopeLimits<'_>],
        estimate: Estimate,
    ) -> Result<super::Reservation, Denied> {
        if self.up.load(Ordering::Acquire) {
            match self.redis.admit(scopes, estimate).await {
                Ok(Outcome::Admitted(held)) => {
                    return Ok(super::Reservation::Shared(Reservation {
                        store: self.clone(),
                        held,
                    }))
                }
                Ok(Outcome::Refused(refusal, rollback_error)) => {
                    if let Some(e) = rollback_error {
                        self.failed(&e);
                    }
                    return Err(Denied::Limited(refusal));
                }
                Err(e) => self.failed(&e),
            }
        }
        match self.mode {
            FailureMode::FailOpen => self
                .fallback
                .admit(scopes, estimate)
                .map(super::Reservation::Local)
                .map_err(Denied::Limited),
            FailureMode::FailClosed => Err(Denied::StoreUnavailable {
                retry_after: UNAVAILABLE_RETRY,
            }),
        }
    }

    /// Whether Redis is taken to answer.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Counts a failed call; the first failure while up marks the store down and starts
    /// the probe.
    fn failed(self: &Arc<Self>, error: &StoreError) {
        metrics::rate_store_error(self.mode);
        if self.up.swap(false, Ordering::AcqRel) {
            metrics::rate_store_transition(false);
            tracing::warn!(
                %error,
                mode = self.mode.as_str(),
                "rate store unreachable; its failure mode is in force until it answers again"
            );
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(probe(Arc::downgrade(self)));
            }
        }
    }

    /// Runs `job` against Redis in a spawned task (never awaited by the request); a failure
    /// is counted and dropped. Without a runtime, or while Redis is down, it is dropped
    /// at once (and counted).
    fn spawn<F, Fut>(self: &Arc<Self>, held: Held, job: F)
    where
        F: FnOnce(Arc<Self>, Held) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(), StoreError>> + Send + 'static,
    {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            metrics::rate_store_error(self.mode);
            return;
        };
        if !self.is_up() {
            metrics::rate_store_error(self.mode);
            return;
        }
        let store = self.clone();
        rt.spawn(async move {
            if let Err(e) = job(store.clone(), held).await {
                store.failed(&e);
            }
        });
    }
}

/// PINGs a down store once a second until it answers (or the store is gone).
async fn probe(store: Weak<Failover>) {
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        let Some(s) = store.upgrade() else { return };
        if s.redis.ping().await.is_ok() {
            if !s.up.swap(true, Ordering::AcqRel) {
                metrics::rate_store_transition(true);
                tracing::info!("rate store answers again; counting in it");
            }
            return;
        }
    }
}

impl Reservation {
    /// See [`super::Reservation::settle`].
    pub fn settle(self, usage: Option<&TokenUsage>, cost_nanousd: u64) {
        if !self.held.needs_settle(usage, cost_nanousd) {
            return;
        }
        let usage = usage.copied();
        self.store
            .clone()
            .spawn(self.held, move |s, held| async move {
                s.redis.settle(&held, usage.as_ref(), cost_nanousd).await
            });
    }

    /// See [`super::Reservation::release`].
    pub fn release(self) {
        if self.held.has_leases() {
            self.store.clone().spawn(
                self.held,
                |s, held| async move { s.redis.release(&held).await },
            );
        }
    }
}
