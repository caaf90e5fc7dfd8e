//! Request and response bodies of the provider-management API, and their conversions
//! from and into the canonical records and patches.
//!
//! - A provider's `name` is a display name; the canonical name is it with whitespace runs
//!   replaced by `-` (`Example Provider` → `Example-Provider`). `is_active` = `enabled`;
//!   `kind`/`type` optional, else inferred from name and base URL; `base_url`/`api_key`
//!   are the first endpoint.
//! - A route node `{api_id, models, strategy, priority}` becomes one target per listed
//!   model (or one target using the provider's first model when `models` is empty).
//! - `mode: auto` → the nodes' strategy (`round-robin` → `round_robin`, `failover` →
//!   `priority`) with every target in one tier (node priorities ignored);
//!   `mode: multi` → the same strategy, node `priority` kept as the failover tier (lower
//!   value preferred); `mode: specific` → `priority` (first node first), and `/select`
//!   with `{"model": "..."}` picks the first available node serving that model.
//! - The route's mode, config and nodes are kept as posted, so reads answer what was
//!   written.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sluice_route::{BalancerState, TierState};
use utoipa::ToSchema;

use crate::api::probe::ProbeResult;
use crate::api::select::Choice;
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::service::providers::{EndpointsPatch, ProviderPatch};
use crate::service::routes::{RoutePatch, RouteRotation, TargetProvider, TargetSpec};
use crate::store::draft::canonical_name;
use crate::store::records::{ProviderRecord, RouteLayout, RouteRecord};

/// Route modes.
pub const MODES: [&str; 3] = ["auto", "specific", "multi"];
/// Node strategy when a node names none.
const DEFAULT_NODE_STRATEGY: &str = "round-robin";

/// A provider to create (`name` and `base_url` required) or change.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(as = ManagedProviderInput)]
pub struct ProviderInput {
    /// Display name (may contain spaces).
    pub name: Option<String>,
    /// API root.
    pub base_url: Option<String>,
    /// Key; an echoed mask keeps the stored key (same origin only).
    pub api_key: Option<String>,
    /// Models served.
    pub models: Option<Vec<String>>,
    /// Enabled.
    pub is_active: Option<bool>,
    /// Provider kind (`type` is accepted too); inferred when absent.
    #[serde(alias = "type")]
    pub kind: Option<String>,
}

impl TryFrom<ProviderInput> for ProviderPatch {
    type Error = ApiError;

    fn try_from(i: ProviderInput) -> Result<Self, ApiError> {
        let (name, display_name) = match i.name {
            Some(name) if name.trim().is_empty() => {
                return Err(ApiError::field("name", "must not be empty"))
            }
            Some(name) => {
                let canonical = canonical_name(&name);
                let display = (canonical != name).then_some(name);
                (Some(canonical), Some(display))
            }
            None => (None, None),
        };
        Ok(Self {
            name,
            display_name,
            endpoints: Some(EndpointsPatch::Primary {
                base_url: i.base_url,
                api_key: i.api_key,
            }),
            models: i.models,
            enabled: i.is_active,
            kind: i.kind,
            ..Self::default()
        })
    }
}

/// Renames canonical provider field paths into this API's.
pub fn provider_field(field: &str) -> String {
    match field {
        "endpoints[0].base_url" | "endpoints" => "base_url".into(),
        "endpoints[0].api_key" => "api_key".into(),
        "enabled" => "is_active".into(),
        other => other.to_string(),
    }
}

/// Renames canonical route field paths into this API's.
pub fn route_field(field: &str) -> String {
    if field == "targets" {
        "nodes".into()
    } else if field.starts_with("targets[") {
        "nodes.api_id".into()
    } else if field == "enabled" {
        "is_active".into()
    } else {
        field.to_string()
    }
}

/// A provider; the key is masked.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ManagedProvider)]
pub struct Provider {
    /// Numeric id (a route node's `api_id`).
    pub id: u64,
    /// Display name.
    pub name: String,
    /// First endpoint's API root.
    pub base_url: String,
    /// First endpoint's masked key.
    pub api_key: String,
    /// Models served.
    pub models: Vec<String>,
    /// Enabled.
    pub is_active: bool,
    /// Provider kind.
    pub kind: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<&ProviderRecord> for Provider {
    fn from(p: &ProviderRecord) -> Self {
        let ep = p.endpoints.first();
        Self {
            id: p.id,
            name: p.shown_name().to_string(),
            base_url: ep.map(|e| e.base_url.clone()).unwrap_or_default(),
            api_key: ep.map(|e| e.api_key_masked.clone()).unwrap_or_default(),
            models: p.models.clone(),
            is_active: p.enabled,
            kind: p.kind.clone(),
            created_at: rfc3339(p.created_ms),
            updated_at: rfc3339(p.updated_ms),
        }
    }
}

/// The result of a connectivity check.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConnectivityCheck {
    /// `online` (any answer below 500 that is not an auth failure) or `offline`.
    pub status: &'static str,
    /// HTTP status, when one came back.
    pub status_code: Option<u16>,
    /// Round-trip time.
    pub latency_ms: f64,
    /// Why it is offline (never contains the key).
    pub detail: Option<String>,
}

impl From<ProbeResult> for ConnectivityCheck {
    fn from(r: ProbeResult) -> Self {
        Self {
            status: r.status,
            status_code: r.status_code,
            latency_ms: r.latency_ms,
            detail: r.detail,
        }
    }
}

impl ConnectivityCheck {
    /// A provider without an endpoint (`echo`) is local, hence online.
    pub fn local() -> Self {
        Self {
            status: "online",
            status_code: None,
            latency_ms: 0.0,
            detail: Some("local provider (no endpoint)".into()),
        }
    }
}

/// One node of a route, as written.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(as = ModelRouteNodeInput)]
pub struct RouteNodeInput {
    /// Provider id.
    pub api_id: u64,
    /// Models of that provider to use (empty: its first model).
    #[serde(default)]
    pub models: Vec<String>,
    /// `round-robin` (default) or `failover`; the first node's decides.
    #[serde(default)]
    pub strategy: Option<String>,
    /// Failover tier in `multi` mode, lower first.
    #[serde(default)]
    pub priority: i32,
    /// Opaque client data, kept.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Value,
}

impl RouteNodeInput {
    /// The node as stored and answered back.
    fn stored(&self) -> Value {
        json!({
            "api_id": self.api_id,
            "models": self.models,
            "strategy": self.strategy.as_deref().unwrap_or(DEFAULT_NODE_STRATEGY),
            "priority": self.priority,
            "metadata": if self.metadata.is_null() { json!({}) } else { self.metadata.clone() },
        })
    }
}

/// A route to create (`name` and `nodes` required) or change.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(as = ModelRouteInput)]
pub struct RouteInput {
    /// Unique name; what clients send as `model`.
    pub name: Option<String>,
    /// `auto` (default), `specific` or `multi`.
    pub mode: Option<String>,
    /// Active.
    pub is_active: Option<bool>,
    /// Opaque client config, kept.
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    /// Nodes in order (at least one); replaces them all when given.
    pub nodes: Option<Vec<RouteNodeInput>>,
}

impl RouteInput {
    /// The canonical change this payload makes to `current` (none when creating): the
    /// mode/strategy mapping in the module docs.
    pub fn into_patch(self, current: Option<&RouteRecord>) -> Result<RoutePatch, ApiError> {
        let mut layout = current
            .and_then(|r| r.layout.clone())
            .unwrap_or_else(|| RouteLayout {
                mode: "auto".into(),
                config: json!({}),
                nodes: Vec::new(),
            });
        if let Some(mode) = self.mode {
            if !MODES.contains(&mode.as_str()) {
                return Err(ApiError::field(
                    "mode",
                    "must be one of auto, specific, multi",
                ));
            }
            layout.mode = mode;
        }
        if let Some(config) = self.config {
            layout.config = config;
        }
        let nodes: Vec<RouteNodeInput> = match self.nodes {
            Some(nodes) if nodes.is_empty() => {
                return Err(ApiError::field("nodes", "a route needs at least one node"))
            }
            Some(nodes) => {
                layout.nodes = nodes.iter().map(RouteNodeInput::stored).collect();
                nodes
            }
            // Re-derive targets from the stored nodes (the mode may have changed).
            None => layout
                .nodes
                .iter()
                .filter_map(|v| serde_json::from_value(v.clone()).ok())
                .collect(),
        };
        let mut patch = RoutePatch {
            name: self.name,
            enabled: self.is_active,
            ..RoutePatch::default()
        };
        if let Some(first) = nodes.first() {
            for (i, n) in nodes.iter().enumerate() {
                if let Some(s) = &n.strategy {
                    if s.parse::<sluice_route::Strategy>().is_err() {
                        return Err(ApiError::field(
                            format!("nodes[{i}].strategy"),
                            "must be round-robin or failover",
                        ));
                    }
                }
            }
            patch.strategy = Some(if layout.mode == "specific" {
                "priority".into()
            } else {
                first
                    .strategy
                    .clone()
                    .unwrap_or_else(|| DEFAULT_NODE_STRATEGY.into())
            });
            let keep_priority = layout.mode != "auto";
            patch.targets = Some(
                nodes
                    .iter()
                    .flat_map(|n| {
                        let models: Vec<Option<String>> = if n.models.is_empty() {
                            vec![None]
                        } else {
                            n.models.iter().cloned().map(Some).collect()
                        };
                        models.into_iter().map(move |model| TargetSpec {
                            provider: TargetProvider::Id(n.api_id),
                            model,
                            weight: 1,
                            priority: if keep_priority { n.priority } else { 0 },
                        })
                    })
                    .collect(),
            );
        }
        patch.layout = Some(layout);
        Ok(patch)
    }
}

/// One node of a route, as answered.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ModelRouteNode)]
pub struct RouteNode {
    /// Provider id.
    pub api_id: u64,
    /// Models of that provider.
    pub models: Vec<String>,
    /// `round-robin` or `failover`.
    pub strategy: String,
    /// Failover tier.
    pub priority: i32,
    /// Opaque client data.
    #[schema(value_type = Object)]
    pub metadata: Value,
}

/// A model route.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ModelRoute)]
pub struct Route {
    /// Numeric id.
    pub id: u64,
    /// Unique name.
    pub name: String,
    /// `auto`, `specific` or `multi`.
    pub mode: String,
    /// Active.
    pub is_active: bool,
    /// Opaque client config.
    #[schema(value_type = Object)]
    pub config: Value,
    /// Nodes as posted (derived from the targets for routes made by another API).
    #[schema(value_type = Vec<RouteNode>)]
    pub nodes: Vec<Value>,
    /// Canonical strategy name.
    pub strategy: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<&RouteRecord> for Route {
    fn from(r: &RouteRecord) -> Self {
        let (mode, config, nodes) = match &r.layout {
            Some(x) => (x.mode.clone(), x.config.clone(), x.nodes.clone()),
            None => {
                let strategy = if r.strategy == "priority" {
                    "failover"
                } else {
                    DEFAULT_NODE_STRATEGY
                };
                let nodes = r
                    .targets
                    .iter()
                    .filter_map(|t| {
                        serde_json::to_value(RouteNode {
                            api_id: t.provider_id,
                            models: t.model.iter().cloned().collect(),
                            strategy: strategy.into(),
                            priority: t.priority,
                            metadata: json!({}),
                        })
                        .ok()
                    })
                    .collect();
                let multi = r.targets.iter().any(|t| t.priority != 0);
                (
                    if multi { "multi" } else { "auto" }.to_string(),
                    json!({}),
                    nodes,
                )
            }
        };
        Self {
            id: r.id,
            name: r.name.clone(),
            mode,
            is_active: r.enabled,
            config,
            nodes,
            strategy: r.strategy.clone(),
            created_at: rfc3339(r.created_ms),
            updated_at: rfc3339(r.updated_ms),
        }
    }
}

/// What `/select` may be told.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct SelectInput {
    /// Only nodes serving this model (mode `specific`).
    pub model: Option<String>,
}

/// The node `/select` picked.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ModelRouteSelection)]
pub struct Selection {
    /// Provider id.
    pub provider_id: u64,
    /// Provider display name.
    pub provider_name: String,
    /// Upstream model.
    pub model: String,
}

impl From<Choice> for Selection {
    fn from(c: Choice) -> Self {
        Self {
            provider_id: c.provider_id,
            provider_name: c.provider_name,
            model: c.model,
        }
    }
}

/// One member of a route's rotation.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ModelRouteMember)]
pub struct RouteMember {
    /// Position in the rotation.
    pub index: usize,
    /// Provider id.
    pub provider_id: u64,
    /// Provider display name.
    pub provider_name: String,
    /// Upstream model.
    pub model: String,
}

/// The balancer's state.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ModelRouteRotation)]
pub struct Rotation {
    /// The preferred tier's round-robin index, keyed by route id.
    pub round_robin_indices: BTreeMap<String, usize>,
    /// Members by tier, most preferred first.
    #[schema(value_type = Vec<Object>)]
    pub tiers: Vec<TierState>,
    /// Times each member headed a pick.
    pub picks: Vec<u64>,
}

impl From<(u64, BalancerState)> for Rotation {
    fn from((route_id, st): (u64, BalancerState)) -> Self {
        Self {
            round_robin_indices: BTreeMap::from([(route_id.to_string(), st.round_robin_index())]),
            tiers: st.tiers,
            picks: st.picks,
        }
    }
}

/// A route's rotation state and members.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ModelRouteState)]
pub struct RouteState {
    /// Route id.
    pub route_id: u64,
    /// Route name.
    pub route_name: String,
    /// `auto`, `specific` or `multi`.
    pub mode: String,
    /// Canonical strategy name.
    pub strategy: String,
    /// The balancer's state.
    pub state: Rotation,
    /// Members in target order.
    pub members: Vec<RouteMember>,
}

impl From<RouteRotation> for RouteState {
    fn from(r: RouteRotation) -> Self {
        Self {
            route_id: r.route.id,
            mode: r
                .route
                .layout
                .as_ref()
                .map_or("auto", |x| x.mode.as_str())
                .to_string(),
            strategy: r.route.strategy.clone(),
            state: (r.route.id, r.balancer).into(),
            members: r
                .members
                .into_iter()
                .enumerate()
                .map(|(index, c)| RouteMember {
                    index,
                    provider_id: c.provider_id,
                    provider_name: c.provider_name,
                    model: c.model,
                })
                .collect(),
            route_name: r.route.name,
        }
    }
}

/// What a restore did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Restored {
    /// Always true (a restore is all or nothing).
    pub restored: bool,
    /// Providers now.
    pub providers: usize,
    /// Routes now.
    pub routes: usize,
    /// The new config version.
    pub version: u64,
}
