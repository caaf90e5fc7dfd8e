//! Routes: a public model name mapped onto provider targets, and the load-balancing
//! strategy that orders them (the routing engine, `sluice-route`, re-exports
//! [`Strategy`] and [`RouteError`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Errors of routing configuration: they all come from validating configuration input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// A strategy name that none of the strategies or their aliases match.
    #[error("unknown load-balancing strategy `{name}`; valid strategies: {valid}")]
    UnknownStrategy {
        /// The name as given.
        name: String,
        /// Comma-separated canonical names, for the operator.
        valid: &'static str,
    },
    /// A health policy of the routing engine that breaks an invariant.
    #[error("invalid health policy: {0}")]
    InvalidHealthPolicy(&'static str),
}

/// One target of a route.
#[derive(Debug, Clone)]
pub struct Target {
    /// Index into [`RuntimeConfig::providers`](crate::RuntimeConfig::providers).
    pub provider: usize,
    /// Upstream model name.
    pub model: String,
    /// Relative weight.
    pub weight: u32,
    /// Failover tier (lower first).
    pub priority: i32,
}

/// A public model name mapped onto targets.
#[derive(Debug, Clone)]
pub struct Route {
    /// What clients send as `model`.
    pub name: String,
    /// How targets are chosen.
    pub strategy: Strategy,
    /// Default retries (attempts = 1 + retries).
    pub retries: u32,
    /// Ordered targets.
    pub targets: Vec<Target>,
    /// The route's own rate limits (all its clients together).
    pub limits: crate::governance::RateLimits,
}

/// How a balancer (`sluice_route::Balancer`) orders members for a request.
///
/// Every strategy honours priority tiers: it balances within the most preferred tier (the
/// lowest `priority` value) that has an available member; other tiers are failover only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Strategy {
    /// Members of the tier in turn, ignoring weights (`round-robin`).
    #[default]
    RoundRobin,
    /// Smooth weighted round robin (nginx): deterministic, spreads heavy members out.
    Weighted,
    /// Failover: always the first available member in declaration order of the most
    /// preferred tier (`failover`).
    Priority,
    /// Lowest EWMA latency, with a deterministic exploration share (see
    /// `sluice_route::LEAST_LATENCY_EXPLORE_EVERY`).
    LeastLatency,
    /// Power of two random choices: the one with fewer in-flight requests, ties broken by
    /// the lower peak-EWMA latency.
    P2c,
}

/// Canonical names, as listed in errors and written by `Serialize`.
const VALID_NAMES: &str = "round_robin, weighted, priority, least_latency, p2c";

impl Strategy {
    /// All strategies, in documentation order.
    pub const ALL: [Strategy; 5] = [
        Strategy::RoundRobin,
        Strategy::Weighted,
        Strategy::Priority,
        Strategy::LeastLatency,
        Strategy::P2c,
    ];

    /// The canonical snake_case name used in config files and APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::RoundRobin => "round_robin",
            Strategy::Weighted => "weighted",
            Strategy::Priority => "priority",
            Strategy::LeastLatency => "least_latency",
            Strategy::P2c => "p2c",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Strategy {
    type Err = RouteError;

    /// Accepts the canonical names and common aliases, ASCII case-insensitively, with `-`
    /// or a space in place of `_` (`round-robin`, `failover`, `least-latency`,
    /// `power_of_two`, `weighted_round_robin`, ...).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let normalised: String = s
            .trim()
            .chars()
            .map(|c| match c {
                '-' | ' ' => '_',
                c => c.to_ascii_lowercase(),
            })
            .collect();
        let strategy = match normalised.as_str() {
            "round_robin" | "roundrobin" | "rr" => Strategy::RoundRobin,
            "weighted" | "weighted_round_robin" | "smooth_weighted_round_robin" | "wrr" => {
                Strategy::Weighted
            }
            "priority" | "failover" | "fallback" => Strategy::Priority,
            "least_latency" | "lowest_latency" | "ewma" => Strategy::LeastLatency,
            "p2c" | "power_of_two" | "power_of_two_choices" | "least_request" => Strategy::P2c,
            _ => {
                return Err(RouteError::UnknownStrategy {
                    name: s.to_owned(),
                    valid: VALID_NAMES,
                })
            }
        };
        Ok(strategy)
    }
}

impl Serialize for Strategy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Strategy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // One alias table for config files and APIs: deserialising goes through FromStr.
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
