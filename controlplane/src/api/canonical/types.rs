//! Request and response bodies of the canonical admin API, and their conversions from
//! and into the canonical records and patches.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use sluice_model::{nanousd_to_usd, PriceEntry};

use crate::clock::rfc3339;
use crate::dataplanes::{EndpointHealthInfo, NodeInfo};
use crate::ledger::{BudgetStanding, Ledger};
use crate::service::keys::{BudgetSpec, KeyPatch};
use crate::service::prices::{PriceSource, PriceSpec};
use crate::service::providers::{EndpointsPatch, ProviderPatch};
use crate::service::routes::{RoutePatch, TargetProvider, TargetSpec};
use crate::service::teams::TeamSpec;
use crate::store::draft::{EndpointDraft, KeyInput};
use crate::store::records::{
    BudgetRecord, ClientKeyRecord, LimitsRecord, ProviderRecord, RouteRecord, State, TeamRecord,
};

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
    /// Limits across every data plane (to stay under the provider's own quota); `{}`
    /// removes them.
    pub limits: Option<Limits>,
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
            limits: i.limits.map(|l| Some(l.into())),
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
    /// Limits (null: none).
    pub limits: Option<Limits>,
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
            limits: p.limits.as_ref().map(Limits::from),
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
    /// Limits of the route; `{}` removes them.
    pub limits: Option<Limits>,
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
            limits: i.limits.map(|l| Some(l.into())),
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
    /// Limits (null: none).
    pub limits: Option<Limits>,
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
            limits: r.limits.as_ref().map(Limits::from),
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

/// `Some(value)` for a field that is present, `Some(None)` for an explicit `null` (PATCH:
/// clear it), `None` (through `#[serde(default)]`) for an absent one.
fn present<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Rate limits of a key, team, route or provider; absent fields are unlimited.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Requests per minute (sliding 60 s window), 1-1000000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    /// Tokens per minute, 1-1000000000000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    /// Which tokens `tpm` counts: `input`, `output` or `total` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm_counts: Option<String>,
    /// Requests in flight at once, 1-1000000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u32>,
}

impl From<Limits> for LimitsRecord {
    fn from(l: Limits) -> Self {
        Self {
            rpm: l.rpm,
            tpm: l.tpm,
            tpm_counts: l.tpm_counts,
            max_concurrent: l.max_concurrent,
        }
    }
}

impl From<&LimitsRecord> for Limits {
    fn from(l: &LimitsRecord) -> Self {
        Self {
            rpm: l.rpm,
            tpm: l.tpm,
            tpm_counts: Some(l.tpm_counts.clone().unwrap_or_else(|| "total".into())),
            max_concurrent: l.max_concurrent,
        }
    }
}

/// A spending budget as written.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetInput {
    /// Hard stop, US dollars (more than 0).
    pub limit_usd: f64,
    /// Soft alert (metric and `budget_status.soft_alert`), at most `limit_usd`.
    #[serde(default)]
    pub soft_limit_usd: Option<f64>,
    /// `day`, `month` (default) or `total` (UTC calendar periods; `total` never resets).
    #[serde(default)]
    pub window: Option<String>,
}

impl From<BudgetInput> for BudgetSpec {
    fn from(b: BudgetInput) -> Self {
        Self {
            limit_usd: b.limit_usd,
            soft_limit_usd: b.soft_limit_usd,
            window: b.window,
        }
    }
}

/// A spending budget.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Budget {
    /// Hard stop, US dollars.
    pub limit_usd: f64,
    /// Soft alert, US dollars.
    pub soft_limit_usd: Option<f64>,
    /// `day`, `month` or `total`.
    pub window: String,
}

impl From<&BudgetRecord> for Budget {
    fn from(b: &BudgetRecord) -> Self {
        Self {
            limit_usd: nanousd_to_usd(b.limit_nanousd),
            soft_limit_usd: b.soft_nanousd.map(nanousd_to_usd),
            window: b.window().as_str().to_string(),
        }
    }
}

/// Spend in the current window, from the control plane's ledger (the budget's window, or
/// the calendar month without a budget).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BudgetStatus {
    /// Spend so far, US dollars.
    pub spent_usd: f64,
    /// Start of the window (Unix ms; 0 for `total`).
    pub window_start_ms: u64,
    /// The soft limit is reached.
    pub soft_alert: bool,
    /// The hard limit is reached: requests are refused until the window ends.
    pub exhausted: bool,
}

impl From<BudgetStanding> for BudgetStatus {
    fn from(s: BudgetStanding) -> Self {
        Self {
            spent_usd: nanousd_to_usd(s.spent_nanousd),
            window_start_ms: s.window_start_ms,
            soft_alert: s.soft_alert,
            exhausted: s.exhausted,
        }
    }
}

/// A team to create or replace (`PUT`): absent fields take their defaults.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamInput {
    /// Unique name (required on `POST`; on `PUT` it must match the path).
    pub name: Option<String>,
    /// Its keys are accepted at all (default true).
    pub enabled: Option<bool>,
    /// Route or model names its keys may use (at most 1000); empty allows every model.
    pub allowed_models: Option<Vec<String>>,
    /// Limits shared by its keys.
    pub limits: Option<Limits>,
    /// Budget shared by its keys.
    pub budget: Option<BudgetInput>,
    /// Free-form JSON object, at most 16 KiB.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

impl From<TeamInput> for TeamSpec {
    fn from(t: TeamInput) -> Self {
        Self {
            name: t.name,
            enabled: t.enabled,
            allowed_models: t.allowed_models.unwrap_or_default(),
            limits: t.limits.map(Into::into),
            budget: t.budget.map(Into::into),
            metadata: t.metadata.unwrap_or(serde_json::Value::Null),
        }
    }
}

/// A team.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Team {
    /// Unique name.
    pub name: String,
    /// Its keys are accepted at all.
    pub enabled: bool,
    /// Allow-list (empty: every model).
    pub allowed_models: Vec<String>,
    /// Shared limits (null: none).
    pub limits: Option<Limits>,
    /// Shared budget (null: none).
    pub budget: Option<Budget>,
    /// Spend in the current window.
    pub budget_status: BudgetStatus,
    /// Free-form JSON object.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// Number of keys in the team.
    pub keys: usize,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Team {
    /// The team with its key count and ledger spend.
    pub fn new(state: &State, ledger: &Ledger, t: &TeamRecord, now: u64) -> Self {
        Self {
            name: t.name.clone(),
            enabled: t.enabled,
            allowed_models: t.allowed_models.clone(),
            limits: t.limits.as_ref().map(Limits::from),
            budget: t.budget.as_ref().map(Budget::from),
            budget_status: ledger.standing(&t.scope(), t.budget.as_ref(), now).into(),
            metadata: t.metadata.clone(),
            keys: state
                .keys
                .values()
                .filter(|k| k.team.as_deref() == Some(t.name.as_str()))
                .count(),
            created_at: rfc3339(t.created_ms),
            updated_at: rfc3339(t.updated_ms),
        }
    }
}

/// Every team.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TeamList {
    /// By name.
    pub teams: Vec<Team>,
}

/// A client key to create (`POST`) or change (`PATCH`: absent fields keep their value,
/// `null` clears `team`, `user`, `expires_at`, `limits` and `budget`).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientKeyInput {
    /// Label, 1-200 characters (default `client-key`).
    pub name: Option<String>,
    /// Owning team (must exist).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub team: Option<Option<String>>,
    /// Owning user (free-form, carried into usage records).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub user: Option<Option<String>>,
    /// Accepted at all (default true; a revoked key cannot be enabled again).
    pub enabled: Option<bool>,
    /// Refused from this time on (RFC 3339, in the future).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub expires_at: Option<Option<String>>,
    /// Route or model names it may use (at most 1000); empty allows every model.
    pub allowed_models: Option<Vec<String>>,
    /// Its own limits.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Limits>)]
    pub limits: Option<Option<Limits>>,
    /// Its own budget.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<BudgetInput>)]
    pub budget: Option<Option<BudgetInput>>,
    /// Free-form JSON object, at most 16 KiB.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

impl From<ClientKeyInput> for KeyPatch {
    fn from(k: ClientKeyInput) -> Self {
        Self {
            name: k.name,
            team: k.team,
            user: k.user,
            enabled: k.enabled,
            expires_at: k.expires_at,
            allowed_models: k.allowed_models,
            limits: k.limits.map(|l| l.map(Into::into)),
            budget: k.budget.map(|b| b.map(Into::into)),
            metadata: k.metadata,
        }
    }
}

/// A rotation.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateInput {
    /// How long the old secret keeps working (default 3600, at most 2592000; 0 ends it
    /// at once).
    pub overlap_seconds: Option<u64>,
}

/// A client key; only its HMAC digest and a mask are stored, never the secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientKey {
    /// Numeric id (what usage records, limits and budgets name it by).
    pub id: u64,
    /// Label.
    pub name: String,
    /// `sk-…abcd`.
    pub masked: String,
    /// Same as `masked` (older clients read this name).
    pub key_masked: String,
    /// `active`, `disabled`, `revoked` or `expired`.
    pub status: String,
    /// Owning team.
    pub team: Option<String>,
    /// Owning user.
    pub user: Option<String>,
    /// Accepted at all.
    pub enabled: bool,
    /// Expiry, RFC 3339.
    pub expires_at: Option<String>,
    /// Allow-list (empty: every model).
    pub allowed_models: Vec<String>,
    /// Its own limits (null: none).
    pub limits: Option<Limits>,
    /// Its own budget (null: none).
    pub budget: Option<Budget>,
    /// Spend in the current window.
    pub budget_status: BudgetStatus,
    /// Free-form JSON object.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// The previous secret of a rotation keeps working until then (RFC 3339).
    pub previous_key_expires_at: Option<String>,
    /// Stored as a bare SHA-256 (created before HMAC digests); rotate it to upgrade.
    pub legacy: bool,
    /// Hex SHA-256 of a legacy key (null for others).
    pub sha256: Option<String>,
    /// When it was revoked, RFC 3339.
    pub revoked_at: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl ClientKey {
    /// The key with its status at `now` and its ledger spend.
    pub fn new(ledger: &Ledger, k: &ClientKeyRecord, now: u64) -> Self {
        let status = if k.revoked_ms.is_some() {
            "revoked"
        } else if !k.enabled {
            "disabled"
        } else if k.expires_at_ms.is_some_and(|t| t <= now) {
            "expired"
        } else {
            "active"
        };
        Self {
            id: k.id,
            name: k.name.clone(),
            masked: k.masked.clone(),
            key_masked: k.masked.clone(),
            status: status.into(),
            team: k.team.clone(),
            user: k.user.clone(),
            enabled: k.enabled,
            expires_at: k.expires_at_ms.map(rfc3339),
            allowed_models: k.allowed_models.clone(),
            limits: k.limits.as_ref().map(Limits::from),
            budget: k.budget.as_ref().map(Budget::from),
            budget_status: ledger.standing(&k.scope(), k.budget.as_ref(), now).into(),
            metadata: match &k.metadata {
                serde_json::Value::Null => serde_json::Value::Object(Default::default()),
                v => v.clone(),
            },
            previous_key_expires_at: k
                .previous_expires_ms
                .filter(|t| *t > now && k.previous_digest.is_some())
                .map(rfc3339),
            legacy: k.is_legacy(),
            sha256: k.sha256.clone().filter(|_| k.is_legacy()),
            revoked_at: k.revoked_ms.map(rfc3339),
            created_at: rfc3339(k.created_ms),
            updated_at: rfc3339(if k.updated_ms == 0 {
                k.created_ms
            } else {
                k.updated_ms
            }),
        }
    }
}

/// A client key just created or rotated, with its plaintext: shown this once, never again.
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

/// A model's price override as written, US dollars per million tokens.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceInput {
    /// Uncached prompt tokens.
    pub input: f64,
    /// Completion tokens (reasoning included unless `reasoning` is set).
    pub output: f64,
    /// Prompt tokens read from cache (default: `input`).
    pub cache_read: Option<f64>,
    /// Prompt tokens written to cache (default: `input`).
    pub cache_write: Option<f64>,
    /// Reasoning tokens (default: `output`).
    pub reasoning: Option<f64>,
    /// US dollars per request (default 0).
    pub per_request: Option<f64>,
}

impl From<PriceInput> for PriceSpec {
    fn from(p: PriceInput) -> Self {
        Self {
            input: p.input,
            output: p.output,
            cache_read: p.cache_read,
            cache_write: p.cache_write,
            reasoning: p.reasoning,
            per_request: p.per_request,
        }
    }
}

/// One model's effective prices, US dollars per million tokens.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModelPrice {
    /// Model name, or a prefix ending in `*`.
    pub model: String,
    /// Uncached prompt tokens.
    pub input: f64,
    /// Completion tokens.
    pub output: f64,
    /// Cache reads (null: billed as `input`).
    pub cache_read: Option<f64>,
    /// Cache writes (null: billed as `input`).
    pub cache_write: Option<f64>,
    /// Reasoning tokens (null: billed as `output`).
    pub reasoning: Option<f64>,
    /// US dollars per request.
    pub per_request: f64,
    /// `default` (shipped) or `override`.
    pub source: String,
}

impl From<(PriceEntry, PriceSource)> for ModelPrice {
    fn from((e, source): (PriceEntry, PriceSource)) -> Self {
        Self {
            model: e.model,
            input: e.price.input,
            output: e.price.output,
            cache_read: e.price.cache_read,
            cache_write: e.price.cache_write,
            reasoning: e.price.reasoning,
            per_request: e.price.per_request,
            source: source.as_str().into(),
        }
    }
}

/// The effective price table.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PriceList {
    /// Defaults and overrides, by model.
    pub prices: Vec<ModelPrice>,
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
    /// Number of teams.
    pub teams: usize,
    /// Client auth mode pushed to data planes (`keys` or `none`).
    pub client_auth: String,
    /// Snapshot epoch: new for every created or restored store.
    pub epoch: String,
    /// Data planes with an open config stream.
    pub connected_dataplanes: usize,
}
