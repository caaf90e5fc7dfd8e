use thiserror::Error;

/// Errors of the routing engine; they all come from validating configuration input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RouteError {
    /// A strategy name that none of the strategies or their aliases match.
    #[error("unknown load-balancing strategy `{name}`; valid strategies: {valid}")]
    UnknownStrategy {
        /// The name as given.
        name: String,
        /// Comma-separated canonical names, for the operator.
        valid: &'static str,
    },
    /// A [`HealthPolicy`](crate::HealthPolicy) that breaks an invariant.
    #[error("invalid health policy: {0}")]
    InvalidHealthPolicy(&'static str),
}
