//! Route operations, plus the provider-management API's `/select` and `/state` reads.
//! Every surface's route payload converts into a [`RoutePatch`]; targets name their
//! provider by id or name ([`TargetProvider`]) and are resolved here, in the write.

use std::fmt;
use std::sync::Arc;

use sluice_route::BalancerState;

use super::WriteMode;
use crate::api::select::{self, Choice};
use crate::error::ApiError;
use crate::store::draft::{apply_route, RouteDraft};
use crate::store::records::{LimitsRecord, RouteLayout, RouteRecord, State, TargetRecord};
use crate::store::Store;
use crate::App;

/// Strategy of a route created without one.
pub const DEFAULT_STRATEGY: &str = "round_robin";
/// Retries of a route created without them.
pub const DEFAULT_RETRIES: u32 = 2;

/// How a surface addresses a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteRef {
    /// By numeric id (provider-management API).
    Id(u64),
    /// By numeric id when one matches, else by name (canonical API).
    IdOrName(String),
}

impl RouteRef {
    /// The id of the route this names in `state` (404 when none).
    pub fn resolve(&self, state: &State) -> Result<u64, ApiError> {
        let found = match self {
            Self::Id(id) => state.routes.contains_key(id).then_some(*id),
            Self::IdOrName(raw) => raw
                .parse::<u64>()
                .ok()
                .filter(|id| state.routes.contains_key(id))
                .or_else(|| state.route_by_name(raw).map(|r| r.id)),
        };
        found.ok_or_else(|| ApiError::not_found(format!("{self} not found")))
    }
}

impl fmt::Display for RouteRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => write!(f, "route {id}"),
            Self::IdOrName(raw) => write!(f, "route `{raw}`"),
        }
    }
}

/// How a target names its provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetProvider {
    /// By id (not checked until the route is validated).
    Id(u64),
    /// By canonical name (must exist).
    Name(String),
    /// Neither was given (a 400 naming the target).
    Missing,
}

/// One target of a route patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    /// Its provider.
    pub provider: TargetProvider,
    /// Upstream model (`None`: the provider's first model).
    pub model: Option<String>,
    /// Relative weight.
    pub weight: u32,
    /// Failover tier.
    pub priority: i32,
}

impl TargetSpec {
    fn resolve(self, state: &State, index: usize) -> Result<TargetRecord, ApiError> {
        let field = || format!("targets[{index}].provider");
        let provider_id = match self.provider {
            TargetProvider::Id(id) => id,
            TargetProvider::Name(name) => state
                .provider_by_name(&name)
                .map(|p| p.id)
                .ok_or_else(|| ApiError::field(field(), format!("unknown provider `{name}`")))?,
            TargetProvider::Missing => {
                return Err(ApiError::field(
                    field(),
                    "provider (name) or provider_id is required",
                ))
            }
        };
        Ok(TargetRecord {
            provider_id,
            model: self.model,
            weight: self.weight,
            priority: self.priority,
        })
    }
}

/// A change to a route in canonical terms: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct RoutePatch {
    /// Name (what clients send as `model`).
    pub name: Option<String>,
    /// Strategy (any alias `Strategy` parses).
    pub strategy: Option<String>,
    /// Default retries.
    pub retries: Option<u32>,
    /// Active.
    pub enabled: Option<bool>,
    /// The whole target list.
    pub targets: Option<Vec<TargetSpec>>,
    /// The provider-management API's view of the route (mode, config, nodes as posted).
    pub layout: Option<RouteLayout>,
    /// Rate limits (`Some(None)` removes them).
    pub limits: Option<Option<LimitsRecord>>,
}

impl RoutePatch {
    fn apply_to(self, state: &State, draft: &mut RouteDraft) -> Result<(), ApiError> {
        if let Some(v) = self.name {
            draft.name = v;
        }
        if let Some(v) = self.strategy {
            draft.strategy = v;
        }
        if let Some(v) = self.retries {
            draft.retries = v;
        }
        if let Some(v) = self.enabled {
            draft.enabled = v;
        }
        if let Some(targets) = self.targets {
            draft.targets = targets
                .into_iter()
                .enumerate()
                .map(|(i, t)| t.resolve(state, i))
                .collect::<Result<_, _>>()?;
        }
        if self.layout.is_some() {
            draft.layout = self.layout;
        }
        if let Some(v) = self.limits {
            draft.limits = v;
        }
        Ok(())
    }
}

fn new_draft() -> RouteDraft {
    RouteDraft {
        name: String::new(),
        strategy: DEFAULT_STRATEGY.into(),
        retries: DEFAULT_RETRIES,
        enabled: true,
        targets: Vec::new(),
        layout: None,
        limits: None,
    }
}

/// Every route, by id.
pub fn list(store: &Store) -> Vec<RouteRecord> {
    store.state().routes.values().cloned().collect()
}

/// One route.
pub fn get(store: &Store, route: &RouteRef) -> Result<RouteRecord, ApiError> {
    let state = store.state();
    let id = route.resolve(&state)?;
    state
        .routes
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("{route} not found")))
}

/// Creates a route from defaults plus `patch`; returns it as committed.
pub async fn create(store: &Arc<Store>, patch: RoutePatch) -> Result<RouteRecord, ApiError> {
    create_with(store, move |_| Ok(patch)).await
}

/// Creates a route with a patch built inside the write (`build` sees no current route),
/// like [`update_with`].
pub async fn create_with(
    store: &Arc<Store>,
    build: impl FnOnce(Option<&RouteRecord>) -> Result<RoutePatch, ApiError> + Send + 'static,
) -> Result<RouteRecord, ApiError> {
    store
        .write(move |s, _| {
            let patch = build(None)?;
            let mut draft = new_draft();
            patch.apply_to(s, &mut draft)?;
            let id = apply_route(s, None, draft)?;
            committed(s, id)
        })
        .await
}

/// Changes a route; returns it as committed.
pub async fn update(
    store: &Arc<Store>,
    route: RouteRef,
    mode: WriteMode,
    patch: RoutePatch,
) -> Result<RouteRecord, ApiError> {
    update_with(store, route, mode, move |_| Ok(patch)).await
}

/// Changes a route with a patch built from the stored route, in the same write (so two
/// concurrent writes cannot interleave between the read and the commit).
pub async fn update_with(
    store: &Arc<Store>,
    route: RouteRef,
    mode: WriteMode,
    build: impl FnOnce(Option<&RouteRecord>) -> Result<RoutePatch, ApiError> + Send + 'static,
) -> Result<RouteRecord, ApiError> {
    store
        .write(move |s, _| {
            let id = route.resolve(s)?;
            let current = s
                .routes
                .get(&id)
                .ok_or_else(|| ApiError::not_found(format!("{route} not found")))?;
            let patch = build(Some(current))?;
            let mut draft = RouteDraft::from_record(current);
            if mode == WriteMode::Replace {
                draft.strategy = DEFAULT_STRATEGY.into();
                draft.retries = DEFAULT_RETRIES;
                draft.enabled = true;
                draft.layout = None;
                draft.limits = None;
            }
            patch.apply_to(s, &mut draft)?;
            let id = apply_route(s, Some(id), draft)?;
            committed(s, id)
        })
        .await
}

/// Deletes a route; returns what was removed.
pub async fn delete(store: &Arc<Store>, route: RouteRef) -> Result<RouteRecord, ApiError> {
    store
        .write(move |s, _| {
            let id = route.resolve(s)?;
            s.routes
                .remove(&id)
                .ok_or_else(|| ApiError::not_found(format!("{route} not found")))
        })
        .await
}

/// The next provider/model of an active route, from its kept balancer and live health;
/// `model_hint` restricts the choice to targets serving that model.
pub fn select(app: &App, route: &RouteRef, model_hint: Option<&str>) -> Result<Choice, ApiError> {
    let state = app.store.state();
    let id = route.resolve(&state)?;
    let r = state
        .routes
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("{route} not found")))?;
    if !r.enabled {
        return Err(ApiError::bad_request("Route is not active"));
    }
    let health = app.dataplanes.provider_health();
    app.selectors.select(&state, r, &health, model_hint)
}

/// A route's balancer state and members, in target order.
#[derive(Debug, Clone)]
pub struct RouteRotation {
    /// The route.
    pub route: RouteRecord,
    /// Its balancer's rotation state.
    pub balancer: BalancerState,
    /// Its members.
    pub members: Vec<Choice>,
}

/// The rotation state of a route.
pub fn rotation(app: &App, route: &RouteRef) -> Result<RouteRotation, ApiError> {
    let state = app.store.state();
    let id = route.resolve(&state)?;
    let r = state
        .routes
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("{route} not found")))?;
    Ok(RouteRotation {
        balancer: app.selectors.state(r)?,
        members: select::members(&state, r),
        route: r.clone(),
    })
}

fn committed(state: &State, id: u64) -> Result<RouteRecord, ApiError> {
    state
        .routes
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::internal("route vanished while being written"))
}
