//! Orders a route's targets (or a provider's endpoints) for one request.

use std::cmp::Reverse;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::{EndpointHealth, Strategy};

/// Least-latency sends every `LEAST_LATENCY_EXPLORE_EVERY`-th pick of a tier to a member
/// other than the fastest (rotating through them), so the others' latency stays measured
/// and a recovered member wins traffic back: a 5% exploration share, deterministic.
pub const LEAST_LATENCY_EXPLORE_EVERY: u64 = 20;

/// Member sets up to this size plan without touching the heap.
const INLINE_MEMBERS: usize = 8;

/// One balanced member (a route target or a provider endpoint), as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Member {
    /// Relative share for [`Strategy::Weighted`]. Weight 0 makes the member a standby:
    /// never chosen by balancing, tried only after every weighted member that is
    /// available (in any tier), before unavailable ones.
    pub weight: u32,
    /// Failover tier: **lower value = preferred** (0 is the config default). Traffic goes
    /// to the lowest tier that has an available member; higher tiers are failover only.
    pub priority: i32,
}

impl Default for Member {
    fn default() -> Self {
        Member {
            weight: 1,
            priority: 0,
        }
    }
}

impl Member {
    /// A member with this weight and priority.
    pub fn new(weight: u32, priority: i32) -> Self {
        Member { weight, priority }
    }
}

/// Converts a fractional config weight (per-model backends `weight = 1.0`, `0.25`) to the
/// integer weight a [`Member`] takes: ×100, rounded, so two decimals survive. `None` for negative,
/// non-finite or too large values.
pub fn weight_from_f64(weight: f64) -> Option<u32> {
    let scaled = (weight * 100.0).round();
    (weight.is_finite() && (0.0..=f64::from(u32::MAX)).contains(&scaled)).then_some(scaled as u32)
}

/// Whether a member may take a request now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// A request would be admitted.
    Available,
    /// No request would be admitted.
    Unavailable {
        /// When it is expected back; `None` when unknown (e.g. a half-open probe is out).
        retry_at: Option<Instant>,
    },
}

impl Availability {
    /// Whether this is [`Availability::Available`].
    pub fn is_available(self) -> bool {
        matches!(self, Availability::Available)
    }

    /// When an unavailable member is expected back.
    pub fn retry_at(self) -> Option<Instant> {
        match self {
            Availability::Available => None,
            Availability::Unavailable { retry_at } => retry_at,
        }
    }

    /// How long until an unavailable member is expected back, for a 503's `Retry-After`
    /// when every candidate is unavailable.
    pub fn retry_after(self, now: Instant) -> Option<Duration> {
        self.retry_at().map(|at| at.saturating_duration_since(now))
    }

    /// The better of two: available wins, then the sooner known return. Folds endpoint
    /// availabilities into their target's (a target is available if any endpoint is).
    pub fn best(self, other: Availability) -> Availability {
        match (self, other) {
            (Availability::Available, _) | (_, Availability::Available) => Availability::Available,
            (
                Availability::Unavailable { retry_at: a },
                Availability::Unavailable { retry_at: b },
            ) => Availability::Unavailable {
                retry_at: match (a, b) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                },
            },
        }
    }
}

/// Live state of the members a [`Balancer`] orders, by member index.
///
/// Implemented for slices and vectors of `Arc<EndpointHealth>` (a provider's endpoints);
/// the data plane implements it for route targets by folding their endpoints (see
/// [`Availability::best`]). Out-of-range indices must not panic.
pub trait HealthView {
    /// Whether member `idx` may take a request at `now`.
    fn availability(&self, idx: usize, now: Instant) -> Availability;
    /// Member `idx`'s latency EWMA; `None` before any sample.
    fn ewma_latency(&self, idx: usize) -> Option<Duration>;
    /// Member `idx`'s peak-EWMA latency (p2c's tie-break); defaults to the EWMA.
    fn peak_latency(&self, idx: usize) -> Option<Duration> {
        self.ewma_latency(idx)
    }
    /// Requests in flight on member `idx`.
    fn inflight(&self, idx: usize) -> u32;
}

/// A view in which every member is available and idle: for `/select` without live health
/// and for tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlwaysAvailable;

impl HealthView for AlwaysAvailable {
    fn availability(&self, _idx: usize, _now: Instant) -> Availability {
        Availability::Available
    }
    fn ewma_latency(&self, _idx: usize) -> Option<Duration> {
        None
    }
    fn inflight(&self, _idx: usize) -> u32 {
        0
    }
}

impl<T: AsRef<EndpointHealth>> HealthView for [T] {
    fn availability(&self, idx: usize, now: Instant) -> Availability {
        self.get(idx)
            .map_or(Availability::Unavailable { retry_at: None }, |h| {
                h.as_ref().availability(now)
            })
    }
    fn ewma_latency(&self, idx: usize) -> Option<Duration> {
        self.get(idx).and_then(|h| h.as_ref().ewma_latency())
    }
    fn peak_latency(&self, idx: usize) -> Option<Duration> {
        self.get(idx).and_then(|h| h.as_ref().peak_latency())
    }
    fn inflight(&self, idx: usize) -> u32 {
        self.get(idx).map_or(0, |h| h.as_ref().inflight())
    }
}

impl<T: AsRef<EndpointHealth>> HealthView for Vec<T> {
    fn availability(&self, idx: usize, now: Instant) -> Availability {
        self.as_slice().availability(idx, now)
    }
    fn ewma_latency(&self, idx: usize) -> Option<Duration> {
        self.as_slice().ewma_latency(idx)
    }
    fn peak_latency(&self, idx: usize) -> Option<Duration> {
        self.as_slice().peak_latency(idx)
    }
    fn inflight(&self, idx: usize) -> u32 {
        self.as_slice().inflight(idx)
    }
}

/// A view over route targets, each served by a group of endpoints (its provider's): a
/// target is available if any endpoint is, returns when the first endpoint does, is as
/// fast as its fastest endpoint and carries the sum of their in-flight requests.
#[derive(Debug, Clone, Copy)]
pub struct EndpointGroups<'a, G>(pub &'a [G]);

impl<G: AsRef<[Arc<EndpointHealth>]>> HealthView for EndpointGroups<'_, G> {
    fn availability(&self, idx: usize, now: Instant) -> Availability {
        let unknown = Availability::Unavailable { retry_at: None };
        let Some(group) = self.0.get(idx) else {
            return unknown;
        };
        let mut best: Option<Availability> = None;
        for health in group.as_ref() {
            let availability = health.availability(now);
            if availability.is_available() {
                return availability;
            }
            best = Some(best.map_or(availability, |b| b.best(availability)));
        }
        best.unwrap_or(unknown)
    }
    fn ewma_latency(&self, idx: usize) -> Option<Duration> {
        let group = self.0.get(idx)?;
        group.as_ref().iter().filter_map(|h| h.ewma_latency()).min()
    }
    fn peak_latency(&self, idx: usize) -> Option<Duration> {
        let group = self.0.get(idx)?;
        group.as_ref().iter().filter_map(|h| h.peak_latency()).min()
    }
    fn inflight(&self, idx: usize) -> u32 {
        self.0.get(idx).map_or(0, |group| {
            group
                .as_ref()
                .iter()
                .map(|h| h.inflight())
                .fold(0, u32::saturating_add)
        })
    }
}

/// The weighted members of one priority value.
#[derive(Debug)]
struct Tier {
    priority: i32,
    /// Member indices in declaration order.
    members: Box<[usize]>,
    /// Round-robin / least-latency exploration counter.
    cursor: AtomicU64,
    /// Smooth-WRR current weights, by position in `members`.
    current_weights: Mutex<Box<[i64]>>,
}

/// Orders members for each request by strategy, priority tiers and health.
///
/// Built once per config snapshot; cheap to share (`&self` everywhere). A new balancer
/// starts its rotation afresh, while health lives in the
/// [`HealthRegistry`](crate::HealthRegistry) and survives.
#[derive(Debug)]
pub struct Balancer {
    strategy: Strategy,
    members: Box<[Member]>,
    /// Tiers by ascending priority.
    tiers: Box<[Tier]>,
    /// Weight-0 members by (priority, index).
    standby: Box<[usize]>,
    /// Member index → position in its tier's `members` (unused for standby members).
    tier_position: Box<[usize]>,
    /// Member index → position in the nominal order (tiers, then standby); orders
    /// unavailable members that return at the same time.
    rank: Box<[usize]>,
    picks: Box<[AtomicU64]>,
    /// p2c's randomness: seeded for reproducible tests, else the thread-local RNG (no
    /// lock on the hot path).
    seeded_rng: Option<Mutex<SmallRng>>,
}

impl Balancer {
    /// A balancer over `members` (indices follow the slice); p2c draws from the
    /// thread-local RNG.
    pub fn new(members: &[Member], strategy: Strategy) -> Self {
        Self::with_rng(members, strategy, None)
    }

    /// Like [`new`](Self::new) with a seeded RNG (p2c), for reproducible tests.
    pub fn with_rng_seed(members: &[Member], strategy: Strategy, seed: u64) -> Self {
        let rng = SmallRng::seed_from_u64(seed);
        Self::with_rng(members, strategy, Some(Mutex::new(rng)))
    }

    fn with_rng(
        members: &[Member],
        strategy: Strategy,
        seeded_rng: Option<Mutex<SmallRng>>,
    ) -> Self {
        // (priority, index) pairs: sorting them orders by tier, then declaration order.
        let mut weighted: Vec<(i32, usize)> = members
            .iter()
            .enumerate()
            .filter(|(_, m)| m.weight > 0)
            .map(|(i, m)| (m.priority, i))
            .collect();
        weighted.sort_unstable();
        let mut standby: Vec<(i32, usize)> = members
            .iter()
            .enumerate()
            .filter(|(_, m)| m.weight == 0)
            .map(|(i, m)| (m.priority, i))
            .collect();
        standby.sort_unstable();

        let mut tier_position = vec![0; members.len()];
        let mut tiers = Vec::new();
        for group in weighted.chunk_by(|a, b| a.0 == b.0) {
            let Some(&(priority, _)) = group.first() else {
                continue;
            };
            for (position, &(_, member)) in group.iter().enumerate() {
                if let Some(slot) = tier_position.get_mut(member) {
                    *slot = position;
                }
            }
            tiers.push(Tier {
                priority,
                members: group.iter().map(|&(_, member)| member).collect(),
                cursor: AtomicU64::new(0),
                current_weights: Mutex::new(vec![0; group.len()].into()),
            });
        }
        let mut rank = vec![0; members.len()];
        for (position, &(_, member)) in weighted.iter().chain(&standby).enumerate() {
            if let Some(slot) = rank.get_mut(member) {
                *slot = position;
            }
        }
        Balancer {
            strategy,
            members: members.into(),
            tiers: tiers.into(),
            standby: standby.iter().map(|&(_, member)| member).collect(),
            tier_position: tier_position.into(),
            rank: rank.into(),
            picks: members.iter().map(|_| AtomicU64::new(0)).collect(),
            seeded_rng,
        }
    }

    /// The strategy this balancer applies.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// The members, by index.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// No members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Fills `out` with the member indices to try for one request, in order, and returns
    /// how many leading entries are available.
    ///
    /// Order: the strategy's pick in the most preferred tier with an available member,
    /// then that tier's other available members (strategy order), then the available
    /// members of the next tiers (declaration order), then available standby members
    /// (weight 0), then every unavailable member by soonest expected return (unknown
    /// last). Nothing is ever left out: when all are unavailable the return value is 0 and
    /// the caller decides between a fast 503 (its `retry_at` gives a `Retry-After`) and
    /// trying anyway. The data plane takes each entry's permit with
    /// [`EndpointHealth::try_acquire`] and skips those that refuse.
    ///
    /// Only the first entry advances the strategy's state (rotation, weights, pick
    /// counts); retries walk the list.
    pub fn plan<V: HealthView + ?Sized>(
        &self,
        view: &V,
        now: Instant,
        out: &mut Vec<usize>,
    ) -> usize {
        out.clear();
        let availability: SmallVec<[Availability; INLINE_MEMBERS]> = (0..self.members.len())
            .map(|i| view.availability(i, now))
            .collect();
        let is_available = |m: usize| availability.get(m).is_some_and(|a| a.is_available());
        let mut picked = false;
        for tier in self.tiers.iter() {
            let start = out.len();
            out.extend(tier.members.iter().copied().filter(|&m| is_available(m)));
            if !picked {
                if let Some(segment) = out.get_mut(start..).filter(|s| !s.is_empty()) {
                    picked = true;
                    self.order_tier(tier, view, segment);
                }
            }
        }
        out.extend(self.standby.iter().copied().filter(|&m| is_available(m)));
        let available = out.len();
        if let Some(picks) = out.first().and_then(|&first| self.picks.get(first)) {
            picks.fetch_add(1, Ordering::Relaxed);
        }
        out.extend(
            availability
                .iter()
                .enumerate()
                .filter(|(_, a)| !a.is_available())
                .map(|(m, _)| m),
        );
        if let Some(unavailable) = out.get_mut(available..) {
            unavailable.sort_unstable_by_key(|&m| {
                let retry_at = availability.get(m).and_then(|a| a.retry_at());
                let rank = self.rank.get(m).copied().unwrap_or(usize::MAX);
                (retry_at.is_none(), retry_at, rank)
            });
        }
        available
    }

    /// The next member for `/select`: the head of a fresh [`plan`](Self::plan), which is
    /// unavailable only when every member is. `None` only without members.
    pub fn pick_one<V: HealthView + ?Sized>(&self, view: &V, now: Instant) -> Option<usize> {
        let mut plan = Vec::with_capacity(self.members.len());
        self.plan(view, now, &mut plan);
        plan.first().copied()
    }

    /// Puts the strategy's pick first in `segment` (the tier's available members in
    /// declaration order, never empty) and orders the rest for failover.
    fn order_tier<V: HealthView + ?Sized>(&self, tier: &Tier, view: &V, segment: &mut [usize]) {
        match self.strategy {
            Strategy::Priority => {}
            Strategy::RoundRobin => {
                let turn = tier.cursor.fetch_add(1, Ordering::Relaxed);
                segment.rotate_left((turn % segment.len() as u64) as usize);
            }
            Strategy::Weighted => self.order_weighted(tier, segment),
            Strategy::LeastLatency => {
                let turn = tier.cursor.fetch_add(1, Ordering::Relaxed);
                sort_by_cached_key(segment, |m| view.ewma_latency(m).unwrap_or(Duration::ZERO));
                if segment.len() > 1
                    && turn % LEAST_LATENCY_EXPLORE_EVERY == LEAST_LATENCY_EXPLORE_EVERY - 1
                {
                    let others = segment.len() as u64 - 1;
                    let explored = 1 + ((turn / LEAST_LATENCY_EXPLORE_EVERY) % others) as usize;
                    if let Some(head) = segment.get_mut(..=explored) {
                        head.rotate_right(1);
                    }
                }
            }
            Strategy::P2c => {
                if segment.len() < 2 {
                    return;
                }
                let (a, b) = match &self.seeded_rng {
                    Some(rng) => two_distinct(&mut *rng.lock(), segment.len()),
                    None => two_distinct(&mut rand::rng(), segment.len()),
                };
                let (Some(&a), Some(&b)) = (segment.get(a), segment.get(b)) else {
                    return;
                };
                let load = |m: usize| {
                    (
                        view.inflight(m),
                        view.peak_latency(m).unwrap_or(Duration::ZERO),
                    )
                };
                let chosen = if load(b) < load(a) { b } else { a };
                sort_by_cached_key(segment, load);
                if let Some(position) = segment.iter().position(|&m| m == chosen) {
                    if let Some(head) = segment.get_mut(..=position) {
                        head.rotate_right(1);
                    }
                }
            }
        }
    }

    /// Smooth weighted round robin (nginx): every available member gains its weight, the
    /// richest is picked and pays the total. The rest follow by current weight, i.e.
    /// roughly in the order they would be picked next.
    fn order_weighted(&self, tier: &Tier, segment: &mut [usize]) {
        let mut current = tier.current_weights.lock();
        let mut total = 0i64;
        // The richest member so far: (member, its position in the tier, its current weight).
        let mut best: Option<(usize, usize, i64)> = None;
        for &member in segment.iter() {
            let (Some(m), Some(&position)) =
                (self.members.get(member), self.tier_position.get(member))
            else {
                continue;
            };
            let Some(slot) = current.get_mut(position) else {
                continue;
            };
            let weight = i64::from(m.weight);
            *slot += weight;
            let value = *slot;
            total += weight;
            if best.is_none_or(|(_, _, best_value)| value > best_value) {
                best = Some((member, position, value));
            }
        }
        let Some((best, best_position, _)) = best else {
            return;
        };
        if let Some(slot) = current.get_mut(best_position) {
            *slot -= total;
        }
        segment.sort_unstable_by_key(|&m| {
            let position = self.tier_position.get(m).copied().unwrap_or(usize::MAX);
            let weight = current.get(position).copied().unwrap_or(i64::MIN);
            (m != best, Reverse(weight), position)
        });
    }

    /// Serialisable state for the control plane's `/state` API.
    pub fn state(&self) -> BalancerState {
        BalancerState {
            strategy: self.strategy,
            tiers: self
                .tiers
                .iter()
                .map(|tier| TierState {
                    priority: tier.priority,
                    members: tier.members.to_vec(),
                    round_robin_index: (tier.cursor.load(Ordering::Relaxed)
                        % tier.members.len() as u64)
                        as usize,
                    current_weights: tier.current_weights.lock().to_vec(),
                })
                .collect(),
            standby: self.standby.to_vec(),
            picks: self
                .picks
                .iter()
                .map(|p| p.load(Ordering::Relaxed))
                .collect(),
        }
    }
}

/// Two distinct uniform positions below `len` (at least 2).
fn two_distinct(rng: &mut impl Rng, len: usize) -> (usize, usize) {
    let a = rng.random_range(0..len);
    let b = rng.random_range(0..len - 1);
    (a, if b >= a { b + 1 } else { b })
}

/// Sorts a small slice of member indices by a key computed once per member (a live
/// health value may change between two comparisons), ties in the given order.
fn sort_by_cached_key<K: Ord + Copy>(segment: &mut [usize], key: impl Fn(usize) -> K) {
    let mut keyed: SmallVec<[(K, usize, usize); INLINE_MEMBERS]> = segment
        .iter()
        .enumerate()
        .map(|(position, &m)| (key(m), position, m))
        .collect();
    keyed.sort_unstable();
    for (slot, (_, _, m)) in segment.iter_mut().zip(keyed) {
        *slot = m;
    }
}

/// Rotation and weight state of a [`Balancer`] (provider-management API `/state`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalancerState {
    /// The strategy.
    pub strategy: Strategy,
    /// Weighted members by tier, most preferred first.
    pub tiers: Vec<TierState>,
    /// Weight-0 members.
    pub standby: Vec<usize>,
    /// Times each member (by index) headed a plan.
    pub picks: Vec<u64>,
}

impl BalancerState {
    /// The preferred tier's round-robin index (the provider-management API's
    /// `round_robin_indices` value).
    pub fn round_robin_index(&self) -> usize {
        self.tiers.first().map_or(0, |tier| tier.round_robin_index)
    }
}

/// State of one priority tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierState {
    /// The tier's priority value (lower = preferred).
    pub priority: i32,
    /// Member indices in the tier.
    pub members: Vec<usize>,
    /// Rotation counter modulo the tier size: the position the next round-robin pick
    /// starts from when all members are available.
    pub round_robin_index: usize,
    /// Smooth-WRR current weights, by position in `members`.
    pub current_weights: Vec<i64>,
}
