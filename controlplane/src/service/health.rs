//! Provider health as the data planes report it, and the control plane's own status:
//! the read behind the orchestrator API's `/admin/health` and the LLM-backend API's
//! `is_available`.

use std::collections::HashMap;

use super::hundredths;
use crate::dataplanes::ProviderHealth;
use crate::store::records::ProviderRecord;
use crate::App;

/// Whether a provider can take traffic: enabled, and healthy on some connected data plane.
/// A provider no data plane reported on is not available (nothing proves it works).
pub fn is_available(provider: &ProviderRecord, health: &HashMap<String, ProviderHealth>) -> bool {
    provider.enabled && health.get(&provider.name).is_some_and(|h| h.healthy)
}

/// One provider's health.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderStatus {
    /// Provider id.
    pub provider_id: u64,
    /// Canonical name.
    pub provider_name: String,
    /// See [`is_available`].
    pub is_healthy: bool,
    /// Mean latency EWMA over the data planes (0 when none reported).
    pub response_time_ms: f64,
    /// Smallest run of failures among its endpoints.
    pub consecutive_failures: u32,
    /// Mean success rate, percent.
    pub success_rate: f64,
    /// Whether any data plane reported on it.
    pub reported: bool,
}

/// The gateway's health at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthReport {
    /// Every enabled provider is down while some is enabled.
    pub degraded: bool,
    /// Per provider, by id.
    pub providers: Vec<ProviderStatus>,
    /// The database answers.
    pub database_ok: bool,
    /// Data planes with an open stream.
    pub connected_dataplanes: usize,
    /// Current config version.
    pub config_version: u64,
}

/// Health of every provider and of the control plane.
pub fn report(app: &App) -> HealthReport {
    let state = app.store.state();
    let health = app.dataplanes.provider_health();
    let providers = state
        .providers
        .values()
        .map(|p| {
            let h = health.get(&p.name);
            ProviderStatus {
                provider_id: p.id,
                provider_name: p.name.clone(),
                is_healthy: is_available(p, &health),
                response_time_ms: h.map_or(0.0, |x| hundredths(x.response_time_ms)),
                consecutive_failures: h.map_or(0, |x| x.consecutive_failures),
                success_rate: h.map_or(0.0, |x| hundredths(x.success_rate)),
                reported: h.is_some(),
            }
        })
        .collect();
    let any_enabled = state.providers.values().any(|p| p.enabled);
    let any_available = state.providers.values().any(|p| is_available(p, &health));
    HealthReport {
        degraded: any_enabled && !any_available,
        providers,
        database_ok: app.store.db().size_on_disk().is_ok(),
        connected_dataplanes: app.dataplanes.connected(),
        config_version: state.version,
    }
}
