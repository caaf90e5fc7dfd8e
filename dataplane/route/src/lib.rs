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
//!
//! Decisions worth knowing:
//! - **Priority**: lower `priority` value = preferred tier (0 is the default, negative
//!   values outrank it). Every strategy balances only within the most preferred tier
//!   that has an available member; when that tier recovers, traffic fails back at once
//!   (a recovering endpoint's first request is its half-open probe).
//! - **Weights** are integers; weight 0 makes a member a standby, tried only after all
//!   available weighted members. Fractional config weights (per-model backends
//!   `weight = 0.7`) are multiplied by 100 and rounded by the caller ([`weight_from_f64`]).
//! - **All unavailable**: a plan never drops members; unavailable ones follow the
//!   available ones by soonest expected return, and [`Balancer::plan`] returns how many
//!   are available, so the caller can answer 503 with a `Retry-After`
//!   ([`Availability::retry_after`]) or force an attempt
//!   ([`EndpointHealth::acquire_unchecked`]).
//! - **Least latency** explores: one pick in [`LEAST_LATENCY_EXPLORE_EVERY`] goes to
//!   another member in rotation, and members without a latency sample go first.
//! - **Health** counts 4xx other than 429 as success (the endpoint answered); a 429 with
//!   `Retry-After` ejects for exactly that long and then readmits without a probe.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod balancer;
mod health;
mod retry;

pub use balancer::{
    weight_from_f64, AlwaysAvailable, Availability, Balancer, BalancerState, EndpointGroups,
    HealthView, Member, TierState, LEAST_LATENCY_EXPLORE_EVERY,
};
pub use health::{
    EndpointHealth, HealthPolicy, HealthRegistry, HealthSnapshot, HealthState, Permit,
};
pub use retry::{
    attempts, parse_retry_after, parse_retry_delay, unix_seconds, AttemptOutcome, RetryBudget,
};
/// The strategy names and the configuration errors live in the shared model, so the
/// control plane can validate routes without this engine.
pub use sluice_model::{RouteError, Strategy};

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]
mod tests;
