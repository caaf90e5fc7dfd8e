//! Where counters live: an in-process backend (`local`) and a Redis/Valkey backend
//! (`redis`) shared by several data planes, wrapped in the failure mode (`failover`).
//!
//! A store is one of two kinds, chosen once by the settings: [`Store::Local`], or
//! [`Store::Shared`] (Redis, falling back to an in-process store or refusing while Redis
//! cannot be reached). An admission gives a [`Reservation`] that settles or releases
//! itself in the store that made it.

mod failover;
mod local;
mod redis;
#[cfg(test)]
mod redis_tests;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sluice_model::{RateStoreBackend, RateStoreSettings, TokenUsage};

use super::{Denied, Estimate, ScopeLimits};

/// One minute in milliseconds: the requests and tokens windows.
pub(crate) const MINUTE_MS: u64 = 60_000;

/// How long a refused concurrency slot is asked to wait.
pub(crate) const CONCURRENCY_RETRY: Duration = Duration::from_secs(1);

/// The rate store a governor counts in.
pub(crate) enum Store {
    /// Counters in this process (one data plane).
    Local(Box<local::LocalStore>),
    /// Counters in Redis, under the failure mode.
    Shared(Arc<failover::Failover>),
}

impl Store {
    /// Reserves in every limited scope of `scopes`, all or nothing. `Ok(None)` when no
    /// scope limits anything.
    pub async fn admit(
        &self,
        scopes: &[ScopeLimits<'_>],
        estimate: Estimate,
    ) -> Result<Option<Reservation>, Denied> {
        if scopes.iter().all(ScopeLimits::is_unlimited) {
            return Ok(None);
        }
        match self {
            Self::Local(store) => store
                .admit(scopes, estimate)
                .map(|r| Some(Reservation::Local(r)))
                .map_err(Denied::Limited),
            Self::Shared(store) => store.admit(scopes, estimate).await.map(Some),
        }
    }
}

/// What one admission reserved, kept until it is settled or released.
#[derive(Debug)]
pub(crate) enum Reservation {
    /// Held in an in-process store.
    Local(local::Reservation),
    /// Held in Redis.
    Shared(failover::Reservation),
}

impl Reservation {
    /// Turns token reservations into `usage` (`None` keeps the estimates), adds
    /// `cost_nanousd` to the budgets' spend and releases the in-flight slots. Never waits
    /// for Redis (its writes run in a spawned task).
    pub fn settle(self, usage: Option<&TokenUsage>, cost_nanousd: u64) {
        match self {
            Self::Local(r) => r.settle(usage, cost_nanousd),
            Self::Shared(r) => r.settle(usage, cost_nanousd),
        }
    }

    /// Releases the in-flight slots and keeps every other reservation as it was (a failed
    /// or cancelled request). Never blocks.
    pub fn release(self) {
        match self {
            Self::Local(r) => r.release(),
            Self::Shared(r) => r.release(),
        }
    }
}

/// The store `settings` name (a Redis store connects on first use).
pub(crate) fn open(settings: &RateStoreSettings) -> Store {
    match &settings.backend {
        RateStoreBackend::Local => Store::Local(Box::new(local::LocalStore::new())),
        RateStoreBackend::Redis { url } => Store::Shared(failover::Failover::new(
            url,
            settings.failure_mode,
            settings.timeout,
        )),
    }
}

/// Wall-clock time (Unix ms), for budget windows.
pub(crate) fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Token usage as a scope's limit counts it.
pub(crate) fn counted(counts: sluice_model::TokenCount, usage: &TokenUsage) -> u64 {
    counts.of(usage.input, usage.output)
}

/// Time until a sliding-window token counter (`previous` minute weighted by what is left
/// of it, plus `current`) has room for `need` more under `limit`, `elapsed` ms into the
/// current minute. A request needing more than the whole limit has room once the window
/// is empty.
pub(crate) fn tokens_reset_ms(
    previous: u64,
    current: u64,
    elapsed: u64,
    limit: u64,
    need: u64,
) -> u64 {
    let left = MINUTE_MS.saturating_sub(elapsed);
    let used = sliding_used(previous, current, elapsed);
    if used == 0 || used.saturating_add(need) <= limit {
        return 0;
    }
    if need > limit {
        return if current > 0 { left + MINUTE_MS } else { left };
    }
    let excess = used + need - limit;
    let previous_part = used - current;
    if excess <= previous_part && previous > 0 {
        // The previous minute's weight falls by `previous` tokens per minute.
        return div_ceil(excess.saturating_mul(MINUTE_MS), previous).min(left);
    }
    let excess = current.saturating_add(need).saturating_sub(limit);
    if excess == 0 || current == 0 {
        return left;
    }
    left + div_ceil(excess.saturating_mul(MINUTE_MS), current).min(MINUTE_MS)
}

/// Tokens counted in a sliding minute: the previous minute weighted by the share of it
/// still inside the window, plus the current minute.
pub(crate) fn sliding_used(previous: u64, current: u64, elapsed: u64) -> u64 {
    let left = MINUTE_MS.saturating_sub(elapsed);
    let weighted = u128::from(previous) * u128::from(left) / u128::from(MINUTE_MS);
    u64::try_from(weighted)
        .unwrap_or(u64::MAX)
        .saturating_add(current)
}

fn div_ceil(a: u64, b: u64) -> u64 {
    if b == 0 {
        0
    } else {
        a.div_ceil(b)
    }
}
