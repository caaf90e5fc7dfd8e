//! Request and response bodies of the canonical admin API, and their conversions from
//! and into the canonical records and patches.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::rfc3339;
use crate::dataplanes::{EndpointHealthInfo, NodeInfo};
use crate::service::providers::{EndpointsPatch, ProviderPatch};
use crate::service::routes::{RoutePatch, TargetProvider, TargetSpec};
use crate::store::draft::{EndpointDraft, KeyInput};
use crate::store::records::{ClientKeyRecord, ProviderRecord, RouteRecord, State};

/// One upstream endpoint of a provider, as written.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointInput {
    /// API root as the provider documents it (`https://api.openai.com/v1`).
    pub base_url: String,
    /// Its key; omitted, empty-masked or an echoed mask keeps the stored key (while the
    /// origin is unchanged).
    #[serde(default)]
    pub api_key: Option<String>,
}

/// A provider to create, replace (`PUT`) or change (`PATCH`): absent fields keep their
/// value on `PATCH` and take their default on `POST`/`PUT`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderInput {
    /// Unique name (required on `POST`).
    pub name: Option<String>,
    /// Free-form display name.
    pub display_name: Option<String>,
    /// `openai`, `anthropic`, `gemini`, `deepseek`, `openai_compatible`, `openai_responses`, `echo`, ...;
    /// inferred from name and base URL when absent.
    pub kind: Option<String>,
    /// Models served.
    pub models: Option<Vec<String>>,
    /// Selected at all (default true).
    pub enabled: Option<bool>,
    /// Relative weight (default 1).
    pub weight: Option<u32>,
    /// Failover tier, lower first (default 0).
    pub priority: Option<i32>,
    /// Upstream timeout (default 60000).
    pub timeout_ms: Option<u64>,
    /// Pacing of the `echo` kind's stream.
    pub pace_ms: Option<u64>,
    /// Endpoints (the unit of health); replaces the whole list when given.
    pub endpoints: Option<Vec<EndpointInput>>,
}

impl From<ProviderInput> for ProviderPatch {
    fn from(i: ProviderInput) -> Self {
        Self {
            name: i.name,
            display_name: i.display_name.map(Some),
            kind: i.kind,
            models: i.models,
            enabled: i.enabled,
            weight: i.weight,
            priority: i.priority,
            timeout_ms: i.timeout_ms,
            pace_ms: i.pace_ms,
            endpoints: i.endpoints.map(|eps| {
                EndpointsPatch::All(
                    eps.into_iter()
                        .map(|e| EndpointDraft {
                            base_url: e.base_url,
                            api_key: KeyInput::from_payload(e.api_key),
                        })
                        .collect(),
                )
            }),
        }
    }
}

/// One endpoint of a provider; the key is masked.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Endpoint {
    /// API root.
    pub base_url: String,
    /// Masked key (`sk-…abcd`), empty when none.
    pub api_key: String,
    /// Whether a key is stored.
    pub has_api_key: bool,
}

/// A provider.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Provider {
    /// Numeric id.
    pub id: u64,
    /// Unique name (what requests' `provider` field and routes refer to).
    pub name: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Kind.
    pub kind: String,
    /// Models served.
    pub models: Vec<String>,
    /// Selected at all.
    pub enabled: bool,
    /// Relative weight.
    pub weight: u32,
    /// Failover tier.
    pub priority: i32,
    /// Upstream timeout.
    pub timeout_ms: u64,
    /// Echo pacing.
    pub pace_ms: u64,
    /// Endpoints.
    pub endpoints: Vec<Endpoint>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<&ProviderRecord> for Provider {
    fn from(p: &ProviderRecord) -> Self {
        Self {
            id: p.id,
            name: p.name.clone(),
            display_name: p.display_name.clone(),
            kind: p.kind.clone(),
            models: p.models.clone(),
            enabled: p.enabled,
            weight: p.weight,
            priority: p.priority,
            timeout_ms: p.timeout_ms,
            pace_ms: p.pace_ms,
            endpoints: p
                .endpoints
                .iter()
                .map(|e| Endpoint {
                    base_url: e.base_url.clone(),
                    api_key: e.api_key_masked.clone(),
                    has_api_key: !e.api_key_sealed.is_empty(),
                })
                .collect(),
            created_at: rfc3339(p.created_ms),
            updated_at: rfc3339(p.updated_ms),
        }
    }
}

/// Every provider.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProviderList {
    /// By id.
    pub providers: Vec<Provider>,
    /// Config version they belong to.
    pub version: u64,
}

/// One target of a route, as written: its provider by `provider` (name) or `provider_id`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetInput {
    /// Provider name.
    pub provider: Option<String>,
    /// Provider id (wins over `provider`).
    pub provider_id: Option<u64>,
    /// Upstream model (default: the provider's first model).
    pub model: Option<String>,
    /// Relative weight (default 1).
    pub weight: Option<u32>,
    /// Failover tier, lower first (default 0).
    pub priority: Option<i32>,
}

impl From<TargetInput> for TargetSpec {
    fn from(t: TargetInput) -> Self {
        Self {
            provider: match (t.provider_id, t.provider) {
                (Some(id), _) => TargetProvider::Id(id),
                (None, Some(name)) => TargetProvider::Name(name),
                (None, None) => TargetProvider::Missing,
            },
            model: t.model,
            weight: t.weight.unwrap_or(1),
            priority: t.priority.unwrap_or(0),
        }
    }
}

/// A route to create, replace (`PUT`) or change (`PATCH`).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteInput {
    /// Unique name; what clients send as `model` (required on `POST`).
    pub name: Option<String>,
    /// `round_robin` (default), `weighted`, `priority`, `least_latency`, `p2c`.
    pub strategy: Option<String>,
    /// Retries on another target (default 2, at most 10).
    pub retries: Option<u32>,
    /// Pushed to data planes at all (default true).
    pub enabled: Option<bool>,
    /// Targets in order; replaces the whole list when given.
    pub targets: Option<Vec<TargetInput>>,
}

impl From<RouteInput> for RoutePatch {
    fn from(i: RouteInput) -> Self {
        Self {
            name: i.name,
            strategy: i.strategy,
            retries: i.retries,
            enabled: i.enabled,
            targets: i
                .targets
                .map(|ts| ts.into_iter().map(TargetSpec::from).collect()),
            layout: None,
        }
    }
}

/// One target of a route.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Target {
    /// Provider name (null if it no longer exists).
    pub provider: Option<String>,
    /// Provider id.
    pub provider_id: u64,
    /// Upstream model (null: the provider's first model).
    pub model: Option<String>,
    /// Relative weight.
    pub weight: u32,
    /// Failover tier.
    pub priority: i32,
}

/// A route: a public model name mapped onto targets.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Route {
    /// Numeric id.
    pub id: u64,
    /// Unique name.
    pub name: String,
    /// Canonical strategy name.
    pub strategy: String,
    /// Retries.
    pub retries: u32,
    /// Pushed to data planes.
    pub enabled: bool,
    /// Targets in order.
    pub targets: Vec<Target>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Route {
    /// The route with its targets' provider names looked up in `state`.
    pub fn new(state: &State, r: &RouteRecord) -> Self {
        Self {
            id: r.id,
            name: r.name.clone(),
            strategy: r.strategy.clone(),
            retries: r.retries,
            enabled: r.enabled,
            targets: r
                .targets
                .iter()
                .map(|t| Target {
                    provider: state.providers.get(&t.provider_id).map(|p| p.name.clone()),
                    provider_id: t.provider_id,
                    model: t.model.clone(),
                    weight: t.weight,
                    priority: t.priority,
                })
                .collect(),
            created_at: rfc3339(r.created_ms),
            updated_at: rfc3339(r.updated_ms),
        }
    }
}

/// Every route.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RouteList {
    /// By id.
    pub routes: Vec<Route>,
    /// Config version they belong to.
    pub version: u64,
}

/// A client key to create.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientKeyInput {
    /// Label, 1-200 characters (default `client-key`).
    pub name: Option<String>,
}

/// A client key; only its hash and a mask are stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientKey {
    /// Numeric id.
    pub id: u64,
    /// Label.
    pub name: String,
    /// `sk-…abcd`.
    pub key_masked: String,
    /// Hex SHA-256 of the key.
    pub sha256: String,
    /// RFC 3339.
    pub created_at: String,
}

impl From<&ClientKeyRecord> for ClientKey {
    fn from(k: &ClientKeyRecord) -> Self {
        Self {
            id: k.id,
            name: k.name.clone(),
            key_masked: k.masked.clone(),
            sha256: k.sha256.clone(),
            created_at: rfc3339(k.created_ms),
        }
    }
}

/// A client key just created, with its plaintext: shown this once, never again.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedClientKey {
    /// The stored key.
    #[serde(flatten)]
    pub record: ClientKey,
    /// The key itself (`sk-sluice-…`).
    pub key: String,
}

/// Every client key.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientKeyList {
    /// By id.
    pub keys: Vec<ClientKey>,
}

/// A snapshot a data plane refused.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Nack {
    /// The version refused.
    pub version: u64,
    /// The data plane's error.
    pub error: String,
    /// RFC 3339.
    pub at: String,
}

/// A data plane as the control plane knows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Dataplane {
    /// Node id from its Hello.
    pub node_id: String,
    /// A config stream is open now.
    pub connected: bool,
    /// When the current (or last) stream opened, RFC 3339.
    pub connected_since: String,
    /// Last message, RFC 3339.
    pub last_seen: String,
    /// Version in its Hello.
    pub hello_version: u64,
    /// Last version sent to it.
    pub sent_version: u64,
    /// Last version it applied (ACK).
    pub applied_version: u64,
    /// Whether it applied the current version.
    pub in_sync: bool,
    /// When it last acknowledged, RFC 3339.
    pub last_ack: Option<String>,
    /// Its last refusal, cleared by a later ACK of a newer version.
    pub last_nack: Option<Nack>,
    /// Its latest endpoint health report.
    pub health: Vec<EndpointHealthInfo>,
}

impl Dataplane {
    /// The node as seen at config version `current`.
    pub fn new(n: NodeInfo, current: u64) -> Self {
        Self {
            in_sync: n.applied_version == current,
            connected_since: rfc3339(n.connected_since_ms),
            last_seen: rfc3339(n.last_seen_ms),
            last_ack: n.last_ack_ms.map(rfc3339),
            last_nack: n.last_nack.map(|x| Nack {
                version: x.version,
                error: x.error,
                at: rfc3339(x.at_ms),
            }),
            node_id: n.node_id,
            connected: n.connected,
            hello_version: n.hello_version,
            sent_version: n.sent_version,
            applied_version: n.applied_version,
            health: n.health,
        }
    }
}

/// Every known data plane.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DataplaneList {
    /// By node id.
    pub dataplanes: Vec<Dataplane>,
    /// The current config version.
    pub config_version: u64,
}

/// The configuration's version and size.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VersionInfo {
    /// Config version (bumped by every committed change).
    pub version: u64,
    /// Number of providers.
    pub providers: usize,
    /// Number of routes.
    pub routes: usize,
    /// Number of client keys.
    pub client_keys: usize,
    /// Client auth mode pushed to data planes (`keys` or `none`).
    pub client_auth: String,
    /// Snapshot epoch: new for every created or restored store.
    pub epoch: String,
    /// Data planes with an open config stream.
    pub connected_dataplanes: usize,
}
