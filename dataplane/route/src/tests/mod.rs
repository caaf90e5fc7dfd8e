//! Unit tests of the routing engine. Time is simulated: every call takes an `Instant`
//! built from one base, so nothing depends on machine speed.

mod balancer;
mod health;
mod retry;
mod stress;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{AttemptOutcome, Balancer, EndpointHealth, HealthPolicy, HealthView, Member};

/// Members with these weights, all in tier 0.
fn weighted(weights: &[u32]) -> Vec<Member> {
    weights.iter().map(|&w| Member::new(w, 0)).collect()
}

/// Heads of `n` consecutive plans.
fn picks<V: HealthView + ?Sized>(
    balancer: &Balancer,
    view: &V,
    now: Instant,
    n: usize,
) -> Vec<usize> {
    let mut plan = Vec::new();
    (0..n)
        .map(|_| {
            balancer.plan(view, now, &mut plan);
            plan[0]
        })
        .collect()
}

fn endpoints(n: usize) -> Vec<Arc<EndpointHealth>> {
    (0..n)
        .map(|_| Arc::new(EndpointHealth::new(HealthPolicy::default())))
        .collect()
}

fn fail(health: &EndpointHealth, times: u32, now: Instant) {
    for _ in 0..times {
        health.record(
            AttemptOutcome::ServerError(503),
            Duration::from_millis(5),
            now,
        );
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
