//! Passive health of upstream endpoints: consecutive-failure ejection with exponential
//! backoff, a single half-open probe, `Retry-After` ejection, latency EWMAs, success rate
//! and in-flight counts.
//!
//! The hot path is lock-free while an endpoint is healthy: availability and permits read
//! one atomic. The mutex is taken to record an outcome and while an endpoint is ejected
//! or half-open.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::{AttemptOutcome, Availability, RouteError};

/// Tuning of passive health; one policy per [`HealthRegistry`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthPolicy {
    /// Consecutive failures that eject a healthy endpoint.
    pub failure_threshold: u32,
    /// First ejection's length.
    pub base_ejection: Duration,
    /// Longest ejection, for backoff and for `Retry-After`.
    pub max_ejection: Duration,
    /// Each re-ejection (failed half-open probe) multiplies the previous length by this.
    pub backoff_multiplier: u32,
    /// Weight of a new sample in the latency EWMA, in `(0, 1]`.
    pub latency_alpha: f64,
    /// Time constant of the peak-EWMA decay (how fast a latency spike is forgotten).
    pub peak_latency_decay: Duration,
    /// Half-life of the decayed success/failure counters behind `success_rate`.
    pub success_rate_half_life: Duration,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        HealthPolicy {
            failure_threshold: 3,
            base_ejection: Duration::from_secs(5),
            max_ejection: Duration::from_secs(300),
            backoff_multiplier: 2,
            latency_alpha: 0.3,
            peak_latency_decay: Duration::from_secs(10),
            success_rate_half_life: Duration::from_secs(60),
        }
    }
}

impl HealthPolicy {
    /// Checks the policy's invariants; config loaders call this at the boundary.
    pub fn validate(&self) -> Result<(), RouteError> {
        let problem = if self.failure_threshold == 0 {
            "failure_threshold must be at least 1"
        } else if self.backoff_multiplier == 0 {
            "backoff_multiplier must be at least 1"
        } else if self.base_ejection > self.max_ejection {
            "base_ejection must not exceed max_ejection"
        } else if !(self.latency_alpha > 0.0 && self.latency_alpha <= 1.0) {
            "latency_alpha must be in (0, 1]"
        } else if self.peak_latency_decay.is_zero() || self.success_rate_half_life.is_zero() {
            "peak_latency_decay and success_rate_half_life must be positive"
        } else {
            return Ok(());
        };
        Err(RouteError::InvalidHealthPolicy(problem))
    }

    /// Ejection length after `level` consecutive ejections without a success in between.
    fn ejection_for(&self, level: u32) -> Duration {
        let factor = self.backoff_multiplier.saturating_pow(level);
        self.base_ejection
            .saturating_mul(factor)
            .min(self.max_ejection)
    }
}

/// Circuit state of an endpoint, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    /// Takes traffic.
    Healthy,
    /// Takes no traffic until its ejection ends.
    Ejected,
    /// Ejection over: admits one probe request, whose outcome decides.
    HalfOpen,
}

impl HealthState {
    fn code(self) -> u8 {
        match self {
            HealthState::Healthy => 0,
            HealthState::Ejected => 1,
            HealthState::HalfOpen => 2,
        }
    }
}

/// Why an endpoint is ejected: decides what happens when the ejection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EjectionCause {
    /// Consecutive failures: ends in half-open (one probe).
    Failures,
    /// The upstream's `Retry-After`: ends in healthy, the upstream said when to return.
    RateLimited,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Circuit {
    Healthy,
    Ejected {
        until: Instant,
        cause: EjectionCause,
    },
    HalfOpen {
        probe_outstanding: bool,
    },
}

impl Circuit {
    fn availability(self) -> Availability {
        match self {
            Circuit::Healthy
            | Circuit::HalfOpen {
                probe_outstanding: false,
            } => Availability::Available,
            Circuit::Ejected { until, .. } => Availability::Unavailable {
                retry_at: Some(until),
            },
            Circuit::HalfOpen {
                probe_outstanding: true,
            } => Availability::Unavailable { retry_at: None },
        }
    }

    fn state(self) -> HealthState {
        match self {
            Circuit::Healthy => HealthState::Healthy,
            Circuit::Ejected { .. } => HealthState::Ejected,
            Circuit::HalfOpen { .. } => HealthState::HalfOpen,
        }
    }
}

#[derive(Debug)]
struct HealthInner {
    policy: HealthPolicy,
    circuit: Circuit,
    consecutive_failures: u32,
    /// Ejections since the last success; the backoff exponent of the next one.
    ejection_level: u32,
    /// Identifies the outstanding probe, so a stale permit cannot release a newer probe.
    probe_generation: u64,
    ewma_secs: Option<f64>,
    peak_secs: Option<f64>,
    peak_at: Option<Instant>,
    decayed_successes: f64,
    decayed_failures: f64,
    decayed_at: Option<Instant>,
    total_requests: u64,
    total_failures: u64,
    last_error: Option<AttemptOutcome>,
}

/// Sentinel in the latency atomics: no sample yet.
const NO_LATENCY: u64 = u64::MAX;

/// Live health of one endpoint (one `{base_url, api_key}` of a provider), shared by all
/// config snapshots through the [`HealthRegistry`].
#[derive(Debug)]
pub struct EndpointHealth {
    /// `HealthState::code` of the circuit; lets healthy endpoints skip the mutex.
    state: AtomicU8,
    inflight: AtomicU32,
    /// Latency EWMA in nanoseconds, `NO_LATENCY` before the first sample.
    ewma_nanos: AtomicU64,
    /// Peak-EWMA in nanoseconds, `NO_LATENCY` before the first sample.
    peak_nanos: AtomicU64,
    inner: Mutex<HealthInner>,
}

impl Default for EndpointHealth {
    fn default() -> Self {
        EndpointHealth::new(HealthPolicy::default())
    }
}

impl EndpointHealth {
    /// A healthy endpoint with no history.
    pub fn new(policy: HealthPolicy) -> Self {
        EndpointHealth {
            state: AtomicU8::new(HealthState::Healthy.code()),
            inflight: AtomicU32::new(0),
            ewma_nanos: AtomicU64::new(NO_LATENCY),
            peak_nanos: AtomicU64::new(NO_LATENCY),
            inner: Mutex::new(HealthInner {
                policy,
                circuit: Circuit::Healthy,
                consecutive_failures: 0,
                ejection_level: 0,
                probe_generation: 0,
                ewma_secs: None,
                peak_secs: None,
                peak_at: None,
                decayed_successes: 0.0,
                decayed_failures: 0.0,
                decayed_at: None,
                total_requests: 0,
                total_failures: 0,
                last_error: None,
            }),
        }
    }

    /// Replaces the policy (config reload); the current state is kept.
    pub fn set_policy(&self, policy: HealthPolicy) {
        self.inner.lock().policy = policy;
    }

    fn is_fast_healthy(&self) -> bool {
        self.state.load(Ordering::Acquire) == HealthState::Healthy.code()
    }

    /// Whether a request may be sent now; an ejected endpoint says when it returns.
    ///
    /// A half-open endpoint is available while its probe slot is free (the request that
    /// takes the slot is the probe) and unavailable, with no known time, while the probe
    /// is outstanding.
    pub fn availability(&self, now: Instant) -> Availability {
        if self.is_fast_healthy() {
            return Availability::Available;
        }
        let mut inner = self.inner.lock();
        self.refresh(&mut inner, now);
        inner.circuit.availability()
    }

    /// Admits one request: `None` while ejected or while the half-open probe is
    /// outstanding. In half-open the returned permit is the single probe.
    ///
    /// Hold the permit for the whole attempt: it counts the attempt as in flight (p2c
    /// reads it) and, for a probe, frees the probe slot if dropped without a record.
    pub fn try_acquire(self: &Arc<Self>, now: Instant) -> Option<Permit> {
        if self.is_fast_healthy() {
            return Some(self.admit(None));
        }
        let mut inner = self.inner.lock();
        self.refresh(&mut inner, now);
        match inner.circuit {
            Circuit::Healthy => Some(self.admit(None)),
            Circuit::Ejected { .. }
            | Circuit::HalfOpen {
                probe_outstanding: true,
            } => None,
            Circuit::HalfOpen {
                probe_outstanding: false,
            } => {
                inner.circuit = Circuit::HalfOpen {
                    probe_outstanding: true,
                };
                inner.probe_generation += 1;
                Some(self.admit(Some(inner.probe_generation)))
            }
        }
    }

    /// Admits a request whatever the state, never as a probe. For a caller that decided
    /// to try an unavailable endpoint anyway (every candidate unavailable and the
    /// operator prefers a doomed attempt to a fast 503).
    pub fn acquire_unchecked(self: &Arc<Self>) -> Permit {
        self.admit(None)
    }

    fn admit(self: &Arc<Self>, probe: Option<u64>) -> Permit {
        self.inflight.fetch_add(1, Ordering::Relaxed);
        Permit {
            health: Arc::clone(self),
            probe,
        }
    }

    /// Requests currently holding a permit.
    pub fn inflight(&self) -> u32 {
        self.inflight.load(Ordering::Relaxed)
    }

    /// Latency EWMA, `None` before the first sample.
    pub fn ewma_latency(&self) -> Option<Duration> {
        nanos_to_duration(self.ewma_nanos.load(Ordering::Relaxed))
    }

    /// Peak-EWMA latency (jumps up to a slow sample, decays back over
    /// `peak_latency_decay`), `None` before the first sample.
    pub fn peak_latency(&self) -> Option<Duration> {
        nanos_to_duration(self.peak_nanos.load(Ordering::Relaxed))
    }

    /// Records how an attempt ended.
    ///
    /// `latency` should be the time to the response head (first byte): an LLM answer's
    /// total length depends on the answer, not on the endpoint. It feeds the latency
    /// EWMAs for `Success`, `ClientError` and `Timeout` only; fast refusals (connect
    /// errors, 5xx, 429) would otherwise make a broken endpoint look fast.
    ///
    /// State: failures (see [`AttemptOutcome::is_endpoint_failure`]) count towards
    /// `failure_threshold` and eject; in half-open any failure re-ejects with the next
    /// backoff step and a success closes the circuit and resets the backoff. `RateLimited`
    /// with `retry_after` ejects for exactly that long (capped by `max_ejection`),
    /// without threshold or backoff. While ejected, outcomes of requests admitted earlier
    /// update statistics only.
    pub fn record(&self, outcome: AttemptOutcome, latency: Duration, now: Instant) {
        let mut inner = self.inner.lock();
        self.refresh(&mut inner, now);
        let failed = !matches!(
            outcome,
            AttemptOutcome::Success | AttemptOutcome::ClientError(_)
        );
        inner.total_requests += 1;
        if failed {
            inner.total_failures += 1;
            inner.last_error = Some(outcome);
        }
        Self::count_outcome(&mut inner, !failed, now);
        if matches!(
            outcome,
            AttemptOutcome::Success | AttemptOutcome::ClientError(_) | AttemptOutcome::Timeout
        ) {
            self.sample_latency(&mut inner, latency, now);
        }

        match outcome {
            AttemptOutcome::RateLimited {
                retry_after: Some(after),
            } => {
                inner.consecutive_failures = inner.consecutive_failures.saturating_add(1);
                let until = now + after.min(inner.policy.max_ejection);
                let later_ejection = matches!(
                    inner.circuit,
                    Circuit::Ejected { until: current, .. } if current >= until
                );
                if !later_ejection {
                    inner.circuit = Circuit::Ejected {
                        until,
                        cause: EjectionCause::RateLimited,
                    };
                }
            }
            _ if outcome.is_endpoint_failure() => self.note_failure(&mut inner, now),
            _ => self.note_success(&mut inner),
        }
        self.publish(&inner);
    }

    /// Records an active health check's verdict (the data plane does the HTTP).
    ///
    /// A passing check closes a failure ejection or half-open circuit at once; it does
    /// not override a `Retry-After` ejection. A failing check counts like a failed
    /// request. Checks leave request statistics and latency alone: a check's cost is not
    /// a completion's.
    pub fn record_probe_result(&self, healthy: bool, now: Instant) {
        let mut inner = self.inner.lock();
        self.refresh(&mut inner, now);
        if healthy {
            if !matches!(
                inner.circuit,
                Circuit::Ejected {
                    cause: EjectionCause::RateLimited,
                    ..
                }
            ) {
                inner.circuit = Circuit::Healthy;
                inner.consecutive_failures = 0;
                inner.ejection_level = 0;
            }
        } else {
            self.note_failure(&mut inner, now);
        }
        self.publish(&inner);
    }

    /// A point-in-time report (orchestrator `/admin/health`, LLM-backend API `is_available`).
    pub fn snapshot(&self, now: Instant) -> HealthSnapshot {
        let mut inner = self.inner.lock();
        self.refresh(&mut inner, now);
        let available = inner.circuit.availability().is_available();
        let ejected_until_ms = match inner.circuit {
            Circuit::Ejected { until, .. } => {
                Some(until.saturating_duration_since(now).as_millis() as u64)
            }
            _ => None,
        };
        let weight = Self::decay_weight(&inner, now);
        let successes = inner.decayed_successes * weight;
        let failures = inner.decayed_failures * weight;
        let success_rate = if successes + failures > 0.0 {
            100.0 * successes / (successes + failures)
        } else {
            100.0
        };
        let state = inner.circuit.state();
        HealthSnapshot {
            state,
            is_healthy: state == HealthState::Healthy,
            is_available: available,
            response_time_ms: round2(inner.ewma_secs.unwrap_or(0.0) * 1e3),
            peak_response_time_ms: round2(inner.peak_secs.unwrap_or(0.0) * 1e3),
            consecutive_failures: inner.consecutive_failures,
            success_rate: round2(success_rate),
            total_requests: inner.total_requests,
            total_failures: inner.total_failures,
            inflight: self.inflight(),
            ejected_until_ms,
            last_error: inner.last_error.map(|outcome| outcome.to_string()),
        }
    }

    /// Applies the time-driven transitions: an ended failure ejection becomes half-open,
    /// an ended `Retry-After` ejection becomes healthy.
    fn refresh(&self, inner: &mut HealthInner, now: Instant) {
        if let Circuit::Ejected { until, cause } = inner.circuit {
            if now >= until {
                inner.circuit = match cause {
                    EjectionCause::Failures => Circuit::HalfOpen {
                        probe_outstanding: false,
                    },
                    EjectionCause::RateLimited => Circuit::Healthy,
                };
                self.publish(inner);
            }
        }
    }

    fn note_failure(&self, inner: &mut HealthInner, now: Instant) {
        inner.consecutive_failures = inner.consecutive_failures.saturating_add(1);
        let eject = match inner.circuit {
            Circuit::Healthy => inner.consecutive_failures >= inner.policy.failure_threshold,
            Circuit::HalfOpen { .. } => true,
            Circuit::Ejected { .. } => false,
        };
        if eject {
            let length = inner.policy.ejection_for(inner.ejection_level);
            inner.ejection_level = inner.ejection_level.saturating_add(1);
            inner.circuit = Circuit::Ejected {
                until: now + length,
                cause: EjectionCause::Failures,
            };
        }
    }

    fn note_success(&self, inner: &mut HealthInner) {
        match inner.circuit {
            Circuit::Healthy | Circuit::HalfOpen { .. } => {
                inner.circuit = Circuit::Healthy;
                inner.consecutive_failures = 0;
                inner.ejection_level = 0;
            }
            // A request admitted before the ejection: its success proves little.
            Circuit::Ejected { .. } => {}
        }
    }

    fn decay_weight(inner: &HealthInner, now: Instant) -> f64 {
        match inner.decayed_at {
            Some(at) => {
                let elapsed = now.saturating_duration_since(at).as_secs_f64();
                0.5f64.powf(elapsed / inner.policy.success_rate_half_life.as_secs_f64())
            }
            None => 1.0,
        }
    }

    fn count_outcome(inner: &mut HealthInner, success: bool, now: Instant) {
        let weight = Self::decay_weight(inner, now);
        inner.decayed_successes = inner.decayed_successes * weight + f64::from(u8::from(success));
        inner.decayed_failures = inner.decayed_failures * weight + f64::from(u8::from(!success));
        // Never move the reference point backwards: `now` from racing threads may be older.
        if inner.decayed_at.is_none_or(|at| now > at) {
            inner.decayed_at = Some(now);
        }
    }

    fn sample_latency(&self, inner: &mut HealthInner, latency: Duration, now: Instant) {
        let sample = latency.as_secs_f64();
        let alpha = inner.policy.latency_alpha;
        let ewma = match inner.ewma_secs {
            Some(previous) => previous + alpha * (sample - previous),
            None => sample,
        };
        inner.ewma_secs = Some(ewma);
        // Peak-EWMA (Finagle/linkerd): jump to a slower sample, decay towards faster ones
        // with a weight that depends on the time since the last sample.
        let peak = match (inner.peak_secs, inner.peak_at) {
            (Some(previous), _) if sample > previous => sample,
            (Some(previous), Some(at)) => {
                let elapsed = now.saturating_duration_since(at).as_secs_f64();
                let keep = (-elapsed / inner.policy.peak_latency_decay.as_secs_f64()).exp();
                previous * keep + sample * (1.0 - keep)
            }
            _ => sample,
        };
        inner.peak_secs = Some(peak);
        if inner.peak_at.is_none_or(|at| now > at) {
            inner.peak_at = Some(now);
        }
        self.ewma_nanos
            .store(secs_to_nanos(ewma), Ordering::Relaxed);
        self.peak_nanos
            .store(secs_to_nanos(peak), Ordering::Relaxed);
    }

    fn publish(&self, inner: &HealthInner) {
        self.state
            .store(inner.circuit.state().code(), Ordering::Release);
    }

    fn release_probe(&self, generation: u64) {
        let mut inner = self.inner.lock();
        if inner.probe_generation == generation {
            if let Circuit::HalfOpen {
                probe_outstanding: true,
            } = inner.circuit
            {
                inner.circuit = Circuit::HalfOpen {
                    probe_outstanding: false,
                };
            }
        }
    }
}

impl AsRef<EndpointHealth> for EndpointHealth {
    fn as_ref(&self) -> &EndpointHealth {
        self
    }
}

fn secs_to_nanos(secs: f64) -> u64 {
    // `as` saturates; keep clear of the sentinel.
    ((secs * 1e9) as u64).min(NO_LATENCY - 1)
}

fn nanos_to_duration(nanos: u64) -> Option<Duration> {
    (nanos != NO_LATENCY).then(|| Duration::from_nanos(nanos))
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// One admitted attempt on an endpoint: counts as in flight until dropped.
///
/// Dropping a half-open probe's permit without recording frees the probe slot (e.g. the
/// client went away), so the endpoint is not stuck waiting for a verdict.
#[derive(Debug)]
#[must_use = "dropping the permit ends the attempt"]
pub struct Permit {
    health: Arc<EndpointHealth>,
    probe: Option<u64>,
}

impl Permit {
    /// Whether this attempt is the half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe.is_some()
    }

    /// The endpoint this permit is for.
    pub fn endpoint(&self) -> &Arc<EndpointHealth> {
        &self.health
    }

    /// Records the attempt's outcome and ends it.
    pub fn record(self, outcome: AttemptOutcome, latency: Duration, now: Instant) {
        self.health.record(outcome, latency, now);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.health.inflight.fetch_sub(1, Ordering::Relaxed);
        if let Some(generation) = self.probe {
            self.health.release_probe(generation);
        }
    }
}

/// Serialisable health report of one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthSnapshot {
    /// Circuit state.
    pub state: HealthState,
    /// State is healthy (orchestrator API `is_healthy`).
    pub is_healthy: bool,
    /// A request would be admitted now (LLM-backend API `is_available`; also true in half-open
    /// with the probe slot free).
    pub is_available: bool,
    /// Latency EWMA in milliseconds, 0 before the first sample (orchestrator API).
    pub response_time_ms: f64,
    /// Peak-EWMA latency in milliseconds, 0 before the first sample.
    pub peak_response_time_ms: f64,
    /// Failures since the last success (orchestrator API).
    pub consecutive_failures: u32,
    /// Recent successes as a percentage, decayed with `success_rate_half_life`; 100 with
    /// no history (orchestrator API).
    pub success_rate: f64,
    /// Attempts recorded since the endpoint was first seen.
    pub total_requests: u64,
    /// Failed attempts (429 and 5xx included, other 4xx not) since first seen.
    pub total_failures: u64,
    /// Attempts in flight now.
    pub inflight: u32,
    /// While ejected: milliseconds from the snapshot's `now` until the ejection ends.
    pub ejected_until_ms: Option<u64>,
    /// The last failure, e.g. `"server_error 503"`.
    pub last_error: Option<String>,
}

/// Health of all endpoints by stable key, shared across config snapshots so a reload
/// neither forgets an ejection nor resets latency.
///
/// Keys are opaque; the data plane uses something that survives reloads and tells apart
/// two keys on the same URL, e.g. `"provider-name|base_url|#index"`.
#[derive(Debug, Default)]
pub struct HealthRegistry {
    policy: RwLock<HealthPolicy>,
    endpoints: RwLock<HashMap<String, Arc<EndpointHealth>>>,
}

impl HealthRegistry {
    /// An empty registry whose endpoints use `policy`.
    pub fn new(policy: HealthPolicy) -> Self {
        HealthRegistry {
            policy: RwLock::new(policy),
            endpoints: RwLock::new(HashMap::new()),
        }
    }

    /// The endpoint's health, created healthy on first use.
    pub fn get_or_insert(&self, key: &str) -> Arc<EndpointHealth> {
        if let Some(health) = self.endpoints.read().get(key) {
            return Arc::clone(health);
        }
        let policy = *self.policy.read();
        let mut endpoints = self.endpoints.write();
        Arc::clone(
            endpoints
                .entry(key.to_owned())
                .or_insert_with(|| Arc::new(EndpointHealth::new(policy))),
        )
    }

    /// The endpoint's health if it is known.
    pub fn get(&self, key: &str) -> Option<Arc<EndpointHealth>> {
        self.endpoints.read().get(key).cloned()
    }

    /// Forgets every endpoint whose key is not in `keys` (endpoints removed from the
    /// config); returns how many were dropped. Holders of a removed `Arc` keep it working.
    pub fn retain<I, K>(&self, keys: I) -> usize
    where
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        let keep: HashSet<String> = keys.into_iter().map(|k| k.as_ref().to_owned()).collect();
        let mut endpoints = self.endpoints.write();
        let before = endpoints.len();
        endpoints.retain(|key, _| keep.contains(key));
        before - endpoints.len()
    }

    /// Replaces the policy of every known endpoint and of those created later.
    pub fn set_policy(&self, policy: HealthPolicy) {
        *self.policy.write() = policy;
        for health in self.endpoints.read().values() {
            health.set_policy(policy);
        }
    }

    /// Number of known endpoints.
    pub fn len(&self) -> usize {
        self.endpoints.read().len()
    }

    /// No endpoint known.
    pub fn is_empty(&self) -> bool {
        self.endpoints.read().is_empty()
    }

    /// Reports of all endpoints, ordered by key.
    pub fn snapshot_all(&self, now: Instant) -> BTreeMap<String, HealthSnapshot> {
        let endpoints: Vec<(String, Arc<EndpointHealth>)> = self
            .endpoints
            .read()
            .iter()
            .map(|(key, health)| (key.clone(), Arc::clone(health)))
            .collect();
        endpoints
            .into_iter()
            .map(|(key, health)| (key, health.snapshot(now)))
            .collect()
    }
}
