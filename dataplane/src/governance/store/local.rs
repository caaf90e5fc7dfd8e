//! The in-process rate store: counters for each scope in sharded maps, each scope's
//! counters behind its own lock. Requests per minute are an exact sliding log of admission
//! times (bounded by the limit), tokens per minute a sliding-window counter (this minute
//! plus the previous one weighted), concurrency a count of requests in flight, and budget
//! spend a counter for the current budget window.
//!
//! Scopes come from configuration; state of a scope nobody used for a few minutes (and
//! that holds nothing still counted) is dropped, so scopes removed from the configuration
//! free their memory.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use sluice_model::{ScopeKind, TokenCount, TokenUsage};

use super::{counted, sliding_used, tokens_reset_ms, wall_ms, CONCURRENCY_RETRY, MINUTE_MS};
use crate::governance::{Estimate, Exhausted, Refusal, ScopeLimits, Window};

/// Shards of the scope maps (a power of two).
const SHARDS: usize = 16;
/// State unused for this long (and holding nothing still counted) is dropped.
const IDLE_MS: u64 = 5 * MINUTE_MS;
/// How often admissions look for idle state.
const SWEEP_EVERY_MS: u64 = MINUTE_MS;

/// One shard: each kind's scopes by name.
type Shard = RwLock<ByKind<HashMap<Box<str>, Arc<ScopeState>>>>;

/// Counters of every scope, in this process.
pub(crate) struct LocalStore {
    shards: [Shard; SHARDS],
    hasher: RandomState,
    /// The clock of the requests and tokens windows (monotonic).
    epoch: Instant,
    /// When (ms since `epoch`) the next admission sweeps idle state.
    next_sweep_ms: AtomicU64,
}

/// One map per scope kind, so a lookup borrows the scope's name as it is.
#[derive(Default)]
struct ByKind<T> {
    key: T,
    team: T,
    route: T,
    provider: T,
}

impl<T> ByKind<T> {
    fn get(&self, kind: ScopeKind) -> &T {
        match kind {
            ScopeKind::Key => &self.key,
            ScopeKind::Team => &self.team,
            ScopeKind::Route => &self.route,
            ScopeKind::Provider => &self.provider,
        }
    }

    fn get_mut(&mut self, kind: ScopeKind) -> &mut T {
        match kind {
            ScopeKind::Key => &mut self.key,
            ScopeKind::Team => &mut self.team,
            ScopeKind::Route => &mut self.route,
            ScopeKind::Provider => &mut self.provider,
        }
    }

    fn all_mut(&mut self) -> [&mut T; 4] {
        [
            &mut self.key,
            &mut self.team,
            &mut self.route,
            &mut self.provider,
        ]
    }
}

/// One scope's counters.
#[derive(Default)]
struct ScopeState {
    counters: Mutex<Counters>,
}

#[derive(Default)]
struct Counters {
    /// Last admission (ms since the store's epoch).
    last_used_ms: u64,
    /// Admission times (ms since the store's epoch) inside the last minute, oldest first.
    requests: VecDeque<u64>,
    tokens: TokenWindow,
    in_flight: u32,
    spend: Spend,
}

/// Tokens reserved in the current and the previous minute.
#[derive(Default)]
struct TokenWindow {
    minute: u64,
    current: u64,
    previous: u64,
}

impl TokenWindow {
    fn roll(&mut self, minute: u64) {
        if minute == self.minute {
            return;
        }
        self.previous = if minute == self.minute + 1 {
            self.current
        } else {
            0
        };
        self.current = 0;
        self.minute = minute;
    }

    /// Adds `delta` (never below zero) to `minute`'s count, if that minute still counts.
    fn adjust(&mut self, minute: u64, add: u64, sub: u64) {
        let slot = if minute == self.minute {
            &mut self.current
        } else if minute + 1 == self.minute {
            &mut self.previous
        } else {
            return;
        };
        *slot = slot.saturating_add(add).saturating_sub(sub);
    }
}

/// Spend in one budget window.
#[derive(Default)]
struct Spend {
    window_start_ms: u64,
    /// End of the window (Unix ms); `None` for a window that never ends.
    window_end_ms: Option<u64>,
    nanousd: u64,
}

/// What an admission holds in one scope.
#[derive(Debug)]
struct Hold {
    state: Arc<ScopeState>,
    counts: TokenCount,
    /// The minute its tokens were reserved in.
    minute: u64,
    /// Tokens reserved (as the scope counts them), when the scope limits tokens.
    tokens: Option<u64>,
    /// Its entry in the requests log.
    request_at: Option<u64>,
    in_flight: bool,
    /// The budget window its cost goes to.
    spend_window_ms: Option<u64>,
}

impl std::fmt::Debug for ScopeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScopeState")
    }
}

/// What one admission holds in the in-process store.
#[derive(Debug)]
pub(crate) struct Reservation {
    holds: Vec<Hold>,
}

impl LocalStore {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            shards: std::array::from_fn(|_| RwLock::new(ByKind::default())),
            hasher: RandomState::new(),
            epoch: Instant::now(),
            next_sweep_ms: AtomicU64::new(SWEEP_EVERY_MS),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    #[allow(clippy::indexing_slicing)] // the index is reduced modulo the array's length
    fn shard(&self, name: &str) -> &Shard {
        let i = (self.hasher.hash_one(name) as usize) % SHARDS;
        &self.shards[i]
    }

    fn state(&self, kind: ScopeKind, name: &str) -> Arc<ScopeState> {
        let shard = self.shard(name);
        if let Some(s) = shard.read().get(kind).get(name) {
            return s.clone();
        }
        shard
            .write()
            .get_mut(kind)
            .entry(name.into())
            .or_default()
            .clone()
    }

    /// Reserves in every limited scope of `scopes`, all or nothing.
    pub fn admit(
        &self,
        scopes: &[ScopeLimits<'_>],
        estimate: Estimate,
    ) -> Result<Reservation, Refusal> {
        let now = self.now_ms();
        self.maybe_sweep(now);
        let wall = wall_ms();
        let mut holds = Vec::with_capacity(scopes.len());
        for scope in scopes.iter().filter(|s| !s.is_unlimited()) {
            let state = self.state(scope.kind, scope.name);
            let outcome = admit_scope(&mut state.counters.lock(), scope, estimate, now, wall);
            match outcome {
                Ok(h) => holds.push(Hold {
                    state,
                    counts: scope.limits.tpm_counts,
                    minute: h.minute,
                    tokens: h.tokens,
                    request_at: h.request_at,
                    in_flight: h.in_flight,
                    spend_window_ms: h.spend_window_ms,
                }),
                Err(refusal) => {
                    for h in holds {
                        h.roll_back();
                    }
                    return Err(refusal);
                }
            }
        }
        Ok(Reservation { holds })
    }

    /// Drops idle state, at most once a minute (whichever admission comes first does it).
    fn maybe_sweep(&self, now: u64) {
        let due = self.next_sweep_ms.load(Ordering::Relaxed);
        if now < due
            || self
                .next_sweep_ms
                .compare_exchange(
                    due,
                    now + SWEEP_EVERY_MS,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            return;
        }
        let wall = wall_ms();
        for shard in &self.shards {
            let mut maps = shard.write();
            for map in maps.all_mut() {
                // A state still referenced by a reservation (or an admission under way) is kept.
                map.retain(|_, s| Arc::strong_count(s) > 1 || !s.counters.lock().idle(now, wall));
            }
        }
    }

    /// Scopes with state (for tests of the sweep).
    #[cfg(test)]
    pub fn scopes_held(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let m = s.read();
                m.key.len() + m.team.len() + m.route.len() + m.provider.len()
            })
            .sum()
    }

    /// Runs the sweep as if `later` had passed (tests).
    #[cfg(test)]
    pub fn sweep_after(&self, later: Duration) {
        let now = self.now_ms() + u64::try_from(later.as_millis()).unwrap_or(0);
        self.next_sweep_ms.store(0, Ordering::Relaxed);
        self.maybe_sweep(now);
    }
}

impl Counters {
    fn idle(&self, now: u64, wall: u64) -> bool {
        let spend_done =
            self.spend.nanousd == 0 || self.spend.window_end_ms.is_some_and(|end| wall >= end);
        now.saturating_sub(self.last_used_ms) >= IDLE_MS && self.in_flight == 0 && spend_done
    }

    fn requests_window(&self, rpm: u64, now: u64) -> Window {
        let used = self.requests.len() as u64;
        let reset = if used < rpm {
            0
        } else {
            self.requests
                .front()
                .map_or(0, |oldest| (oldest + MINUTE_MS).saturating_sub(now))
        };
        Window {
            limit: rpm,
            remaining: rpm.saturating_sub(used),
            reset: Duration::from_millis(reset),
        }
    }

    fn tokens_window(&self, tpm: u64, need: u64, now: u64) -> Window {
        let elapsed = now % MINUTE_MS;
        let t = &self.tokens;
        let used = sliding_used(t.previous, t.current, elapsed);
        Window {
            limit: tpm,
            remaining: tpm.saturating_sub(used),
            reset: Duration::from_millis(tokens_reset_ms(
                t.previous, t.current, elapsed, tpm, need,
            )),
        }
    }
}

/// What one scope's admission took.
struct Taken {
    minute: u64,
    tokens: Option<u64>,
    request_at: Option<u64>,
    in_flight: bool,
    spend_window_ms: Option<u64>,
}

/// Checks every limit of one scope and, when all have room, takes from each.
fn admit_scope(
    c: &mut Counters,
    scope: &ScopeLimits<'_>,
    estimate: Estimate,
    now: u64,
    wall: u64,
) -> Result<Taken, Refusal> {
    let limits = scope.limits;
    c.last_used_ms = now;
    while c.requests.front().is_some_and(|t| t + MINUTE_MS <= now) {
        c.requests.pop_front();
    }
    let minute = now / MINUTE_MS;
    c.tokens.roll(minute);
    let need = limits.tpm_counts.of(estimate.input, estimate.output);
    let refuse = |c: &Counters, reason: Exhausted, retry_after: Option<Duration>| Refusal {
        kind: scope.kind,
        name: scope.name.to_owned(),
        reason,
        retry_after,
        requests: limits.rpm.map(|r| c.requests_window(u64::from(r), now)),
        tokens: limits.tpm.map(|t| c.tokens_window(t, need, now)),
    };

    let mut spend_window_ms = None;
    if let Some((budget, status)) = scope.budget {
        let start = budget.window.start_ms(wall);
        let end = budget.window.end_ms(wall);
        if c.spend.window_start_ms != start || c.spend.window_end_ms != end {
            c.spend = Spend {
                window_start_ms: start,
                window_end_ms: end,
                nanousd: 0,
            };
        }
        let snapshot = if status.window_start_ms == start {
            status.spent_nanousd
        } else {
            0
        };
        if status.exhausted_until_ms > wall {
            let retry = (status.exhausted_until_ms != u64::MAX)
                .then(|| Duration::from_millis(status.exhausted_until_ms - wall));
            return Err(refuse(c, Exhausted::Budget, retry));
        }
        if c.spend.nanousd.max(snapshot) >= budget.limit_nanousd {
            let retry = end.map(|e| Duration::from_millis(e.saturating_sub(wall)));
            return Err(refuse(c, Exhausted::Budget, retry));
        }
        spend_window_ms = Some(start);
    }
    if let Some(rpm) = limits.rpm {
        let w = c.requests_window(u64::from(rpm), now);
        if w.remaining == 0 {
            return Err(refuse(c, Exhausted::Requests, Some(w.reset)));
        }
    }
    if let Some(tpm) = limits.tpm {
        let elapsed = now % MINUTE_MS;
        let reset = tokens_reset_ms(c.tokens.previous, c.tokens.current, elapsed, tpm, need);
        if reset > 0 {
            return Err(refuse(
                c,
                Exhausted::Tokens,
                Some(Duration::from_millis(reset)),
            ));
        }
    }
    if let Some(max) = limits.max_concurrent {
        if c.in_flight >= max {
            return Err(refuse(c, Exhausted::Concurrency, Some(CONCURRENCY_RETRY)));
        }
    }

    let request_at = limits.rpm.map(|_| {
        c.requests.push_back(now);
        now
    });
    let tokens = limits.tpm.map(|_| {
        c.tokens.current = c.tokens.current.saturating_add(need);
        need
    });
    let in_flight = limits.max_concurrent.is_some();
    if in_flight {
        c.in_flight += 1;
    }
    Ok(Taken {
        minute,
        tokens,
        request_at,
        in_flight,
        spend_window_ms,
    })
}

impl Hold {
    /// Gives back everything the admission took (another scope refused).
    fn roll_back(self) {
        let mut c = self.state.counters.lock();
        if let Some(at) = self.request_at {
            if let Some(i) = c.requests.iter().rposition(|t| *t == at) {
                c.requests.remove(i);
            }
        }
        if let Some(tokens) = self.tokens {
            c.tokens.adjust(self.minute, 0, tokens);
        }
        if self.in_flight {
            c.in_flight = c.in_flight.saturating_sub(1);
        }
    }

    fn settle(self, usage: Option<&TokenUsage>, cost_nanousd: u64) {
        let mut c = self.state.counters.lock();
        if let (Some(reserved), Some(u)) = (self.tokens, usage) {
            let actual = counted(self.counts, u);
            c.tokens.adjust(
                self.minute,
                actual.saturating_sub(reserved),
                reserved.saturating_sub(actual),
            );
        }
        if self.in_flight {
            c.in_flight = c.in_flight.saturating_sub(1);
        }
        if let Some(start) = self.spend_window_ms {
            // Cost of a window that has since ended no longer counts against anything.
            if c.spend.window_start_ms == start {
                c.spend.nanousd = c.spend.nanousd.saturating_add(cost_nanousd);
            }
        }
    }

    fn release(self) {
        if self.in_flight {
            let mut c = self.state.counters.lock();
            c.in_flight = c.in_flight.saturating_sub(1);
        }
    }
}

impl Reservation {
    /// See [`super::Reservation::settle`].
    pub fn settle(self, usage: Option<&TokenUsage>, cost_nanousd: u64) {
        for h in self.holds {
            h.settle(usage, cost_nanousd);
        }
    }

    /// See [`super::Reservation::release`].
    pub fn release(self) {
        for h in self.holds {
            h.release();
        }
    }
}
