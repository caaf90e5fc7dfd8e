//! The provider-management API's `/select` and `/state`: one [`Balancer`] per route,
//! kept across calls (and rebuilt only when the route's targets or strategy change), with
//! provider availability from the data planes' health reports.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use sluice_route::{Availability, Balancer, BalancerState, HealthView, Member, Strategy};

use crate::dataplanes::ProviderHealth;
use crate::error::ApiError;
use crate::store::records::{RouteRecord, State};

/// One resolved member of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// Provider id.
    pub provider_id: u64,
    /// Provider name as the provider-management API shows it (its display name).
    pub provider_name: String,
    /// Upstream model.
    pub model: String,
}

#[derive(Debug)]
struct Entry {
    fingerprint: String,
    balancer: Arc<Balancer>,
}

/// Balancers by route id.
#[derive(Debug, Default)]
pub struct Selectors {
    routes: Mutex<HashMap<u64, Entry>>,
}

/// The members of a route in target order.
pub fn members(state: &State, route: &RouteRecord) -> Vec<Choice> {
    route
        .targets
        .iter()
        .map(|t| {
            let p = state.providers.get(&t.provider_id);
            Choice {
                provider_id: t.provider_id,
                provider_name: p.map_or_else(String::new, |p| p.shown_name().to_string()),
                model: t
                    .model
                    .clone()
                    .or_else(|| p.and_then(|p| p.models.first().cloned()))
                    .unwrap_or_else(|| route.name.clone()),
            }
        })
        .collect()
}

struct ProviderView {
    available: Vec<bool>,
}

impl HealthView for ProviderView {
    fn availability(&self, idx: usize, _now: Instant) -> Availability {
        if self.available.get(idx).copied().unwrap_or(false) {
            Availability::Available
        } else {
            Availability::Unavailable { retry_at: None }
        }
    }
    fn ewma_latency(&self, _idx: usize) -> Option<std::time::Duration> {
        None
    }
    fn inflight(&self, _idx: usize) -> u32 {
        0
    }
}

impl Selectors {
    fn balancer(&self, route: &RouteRecord) -> Result<Arc<Balancer>, ApiError> {
        let strategy: Strategy = route
            .strategy
            .parse()
            .map_err(|e: sluice_route::RouteError| ApiError::internal(e))?;
        let fingerprint = format!("{}|{:?}", route.strategy, route.targets);
        let mut routes = self.routes.lock();
        if let Some(e) = routes.get(&route.id) {
            if e.fingerprint == fingerprint {
                return Ok(e.balancer.clone());
            }
        }
        let members: Vec<Member> = route
            .targets
            .iter()
            .map(|t| Member::new(t.weight, t.priority))
            .collect();
        let balancer = Arc::new(Balancer::new(&members, strategy));
        routes.insert(
            route.id,
            Entry {
                fingerprint,
                balancer: balancer.clone(),
            },
        );
        Ok(balancer)
    }

    /// The next provider/model for `route`. Disabled providers, and providers every
    /// connected data plane reports unhealthy, are skipped while another member is
    /// available. `model_hint` (mode `specific`) restricts the choice to that model.
    pub fn select(
        &self,
        state: &State,
        route: &RouteRecord,
        health: &HashMap<String, ProviderHealth>,
        model_hint: Option<&str>,
    ) -> Result<Choice, ApiError> {
        let choices = members(state, route);
        let available: Vec<bool> = route
            .targets
            .iter()
            .map(|t| {
                state
                    .providers
                    .get(&t.provider_id)
                    .is_some_and(|p| p.enabled && health.get(&p.name).is_none_or(|h| h.healthy))
            })
            .collect();
        if let Some(hint) = model_hint.filter(|h| !h.is_empty()) {
            let matching: Vec<(usize, &Choice)> = choices
                .iter()
                .enumerate()
                .filter(|(_, c)| c.model == hint)
                .collect();
            let pick = matching
                .iter()
                .find(|(i, _)| available.get(*i).copied().unwrap_or(false))
                .or_else(|| matching.first())
                .map(|(_, c)| (*c).clone())
                .ok_or_else(|| {
                    ApiError::field("model", format!("no node of this route serves `{hint}`"))
                })?;
            return Ok(pick);
        }
        let balancer = self.balancer(route)?;
        let view = ProviderView { available };
        let idx = balancer
            .pick_one(&view, Instant::now())
            .ok_or_else(|| ApiError::bad_request("route has no targets"))?;
        choices
            .get(idx)
            .cloned()
            .ok_or_else(|| ApiError::internal("balancer picked an unknown member"))
    }

    /// The rotation state of `route`'s balancer.
    pub fn state(&self, route: &RouteRecord) -> Result<BalancerState, ApiError> {
        Ok(self.balancer(route)?.state())
    }
}
