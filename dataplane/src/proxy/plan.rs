//! The attempt plan of one request: the candidates in the order to try them, the attempt
//! budget (`1 + retries`, every named fallback gets its turn), the request's deadline, and
//! the endpoint each attempt uses. Ejected candidates are skipped without spending an
//! attempt; what went wrong last is kept for the answer when no candidate serves.

use std::time::{Duration, Instant};

use crate::chat_request::ClientRequest;
use crate::config::{Provider, RuntimeConfig};
use crate::error::GatewayError;
use crate::resolve::{Candidate, Resolution};
use crate::routing::{EndpointChoice, Plan};
use crate::AppState;

/// The candidates of one request and the attempts left.
pub struct AttemptPlan {
    plan: Plan,
    pinned: bool,
    attempts: usize,
    made: usize,
    step: usize,
    deadline: Option<Instant>,
}

/// One attempt: a candidate, its provider, an admitted endpoint and the time it may take.
pub struct Attempt<'a> {
    /// Target model and provider index.
    pub candidate: &'a Candidate,
    /// The candidate's provider.
    pub provider: &'a Provider,
    /// The admitted endpoint and its in-flight slot.
    pub endpoint: EndpointChoice,
    /// Time this attempt may wait for an answer to start (and between streamed chunks).
    pub timeout: Duration,
    /// When the whole request must be answered, if the client set a `timeout`.
    pub deadline: Option<Instant>,
}

/// Why no candidate served, kept across attempts.
#[derive(Default)]
pub struct Failures {
    last: Option<GatewayError>,
    unsupported: Option<GatewayError>,
}

impl Failures {
    /// An attempt failed; its error is the answer unless a later one replaces it.
    pub fn failed(&mut self, error: GatewayError) {
        self.last = Some(error);
    }

    /// A provider could not express the request; answered only when nothing else failed.
    pub fn unsupported(&mut self, error: GatewayError) {
        self.unsupported.get_or_insert(error);
    }

    /// The answer when no candidate served.
    pub fn into_error(self) -> GatewayError {
        self.last.or(self.unsupported).unwrap_or_else(|| {
            GatewayError::Unavailable("no provider could serve the request".into())
        })
    }
}

impl AttemptPlan {
    /// Orders `res`'s candidates for this request. `Err` when there is nothing to try, or
    /// when every candidate is ejected: answer at once rather than hammer a provider that
    /// asked for a pause (a pinned request still goes through: pins such as the `backend`
    /// field are for debugging).
    pub fn new(
        state: &AppState,
        cfg: &RuntimeConfig,
        res: &Resolution,
        req: &ClientRequest,
        start: Instant,
    ) -> Result<Self, GatewayError> {
        let plan = state.router.plan(cfg, res);
        let pinned = req.pin.is_some();
        if plan.candidates.is_empty() {
            return Err(GatewayError::Unavailable(
                "no enabled provider for this model".into(),
            ));
        }
        if plan.available == 0 && res.fallbacks.is_empty() && !pinned {
            return Err(GatewayError::all_ejected(plan.retry_after));
        }
        let retries = req
            .retry_count
            .unwrap_or(res.retries)
            .min(cfg.server.max_retries);
        Ok(Self {
            plan,
            pinned,
            // Every named fallback gets its turn even when retries are fewer.
            attempts: (1 + retries as usize).max(1 + res.fallbacks.len()),
            made: 0,
            step: 0,
            deadline: req.timeout.map(|t| start + t),
        })
    }

    /// The attempt [`AttemptPlan::next`] returned was not made (its provider is over its
    /// limits): it does not count against the attempt budget, like an ejected candidate.
    pub fn skipped(&mut self) {
        self.made = self.made.saturating_sub(1);
    }

    /// The next attempt, walking the plan (cycling when retries exceed candidates). `None`
    /// when the budget is spent or the deadline passed (recorded in `failures`).
    pub fn next<'a>(
        &'a mut self,
        state: &AppState,
        cfg: &'a RuntimeConfig,
        failures: &mut Failures,
    ) -> Option<Attempt<'a>> {
        let count = self.plan.candidates.len();
        while self.made < self.attempts && self.step < count * (self.attempts + 1) {
            let step = self.step;
            self.step += 1;
            // The plan and the config snapshot are built together: candidate and provider
            // indexes are always in range; a miss would only skip the candidate.
            let Some(candidate) = self.plan.candidates.get(step % count) else {
                continue;
            };
            let Some(provider) = cfg.providers.get(candidate.provider) else {
                continue;
            };
            let remaining = self
                .deadline
                .map(|d| d.saturating_duration_since(Instant::now()));
            if remaining == Some(Duration::ZERO) {
                failures.failed(GatewayError::Timeout(
                    "the request's timeout expired before an answer started".into(),
                ));
                return None;
            }
            let endpoint = match state.router.pick_endpoint(cfg, candidate.provider) {
                Some(c) => c,
                None if self.pinned => match state.router.force_endpoint(cfg, candidate.provider) {
                    Some(c) => c,
                    None => continue,
                },
                None => {
                    if failures.last.is_none() {
                        failures.failed(GatewayError::all_ejected(
                            state.router.provider_retry_after(cfg, candidate.provider),
                        ));
                    }
                    continue;
                }
            };
            self.made += 1;
            return Some(Attempt {
                candidate,
                provider,
                endpoint,
                timeout: remaining.map_or(provider.timeout, |r| r.min(provider.timeout)),
                deadline: self.deadline,
            });
        }
        None
    }
}
