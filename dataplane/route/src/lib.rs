//! Sluice routing engine: which target or endpoint a request tries, in which order, and
//! whether it may try again.
//!
//! Pure logic without I/O or clocks: every time-dependent call takes `now: Instant`, so
//! the data plane passes `Instant::now()` and tests simulate time.
//!
//! One request in the data plane:
//! 1. [`Balancer::plan`] orders the route's targets (and then the chosen provider's
//!    endpoints) using a [`HealthView`] over the live [`EndpointHealth`]s.
//! 2. For each entry, [`EndpointHealth::try_acquire`] admits the attempt (or refuses an
//!    ejected endpoint / a second half-open probe) and returns a [`Permit`].
//! 3. The attempt's [`AttemptOutcome`] goes to [`Permit::record`]; a [`RetryBudget`]
//!    built from [`attempts`] decides whether to try the next entry.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod balancer;
mod error;
mod health;
mod retry;
mod strategy;

pub use balancer::{
    weight_from_f64, AlwaysAvailable, Availability, Balancer, BalancerState, EndpointGroups,
    HealthView, Member, TierState, LEAST_LATENCY_EXPLORE_EVERY,
};
pub use error::RouteError;
pub use health::{
    EndpointHealth, HealthPolicy, HealthRegistry, HealthSnapshot, HealthState, Permit,
};
pub use retry::{
    attempts, parse_retry_after, parse_retry_delay, unix_seconds, AttemptOutcome, RetryBudget,
};
pub use strategy::Strategy;

#[cfg(test)]
mod tests;
