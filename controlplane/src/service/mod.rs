//! The admin operations behind every API surface: create, update, delete, list and get
//! providers, routes and client keys, and the reads behind health, stats and logs.
//!
//! Surfaces (`crate::api::*`) only convert their payloads into the canonical patches here
//! (`From`/`TryFrom`), call one of these functions, and render the canonical records or
//! the [`ApiError`](crate::error::ApiError) in their own shapes. Validation lives in the
//! store's drafts (`crate::store::draft`) and commits go through
//! [`Store::write`](crate::store::Store::write), so every surface gets the same rules.

pub mod health;
pub mod keys;
pub mod prices;
pub mod providers;
pub mod routes;
pub mod stats;
pub mod teams;

#[cfg(test)]
mod tests;

/// Whether a write merges into the stored resource or replaces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// `PATCH` (and the surfaces whose `PUT` only changes what it names): absent fields
    /// keep their stored values.
    Merge,
    /// The canonical API's `PUT`: absent fields go back to their defaults (endpoint keys
    /// are still kept at the same position and origin, so a client never has to resend
    /// secrets it cannot read).
    Replace,
}

/// Rounds to two decimals: rates and latencies are shown in hundredths.
pub(crate) fn hundredths(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
