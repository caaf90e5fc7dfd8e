//! The canonical records kept in the store (and in backups). Every admin surface reads and
//! writes these; provider API keys only ever appear here sealed with the master key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sluice_model::AuthMode;

/// One `{base_url, api_key}` of a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRecord {
    /// Upstream API root.
    pub base_url: String,
    /// `MasterKey::seal` output, or empty for keyless endpoints.
    #[serde(default)]
    pub api_key_sealed: String,
    /// `sk-…abcd` mask computed when the key was set (so reads never decrypt).
    #[serde(default)]
    pub api_key_masked: String,
}

/// An upstream provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderRecord {
    /// Numeric id (orchestrator API `provider_id`, provider-management API `id`/`api_id`).
    pub id: u64,
    /// Unique canonical name (LLM-backend API `backend_id`, snapshot provider name).
    pub name: String,
    /// Free-form display name (provider-management API names may contain spaces).
    #[serde(default)]
    pub display_name: Option<String>,
    /// Provider kind (`ProviderKind::NAMES`).
    pub kind: String,
    /// Models served.
    #[serde(default)]
    pub models: Vec<String>,
    /// Selected at all.
    pub enabled: bool,
    /// Relative weight.
    pub weight: u32,
    /// Failover tier (lower first).
    pub priority: i32,
    /// Upstream timeout.
    pub timeout_ms: u64,
    /// Echo pacing.
    #[serde(default)]
    pub pace_ms: u64,
    /// One or more endpoints.
    pub endpoints: Vec<EndpointRecord>,
    /// Limits that keep every data plane under the provider's own quota.
    #[serde(default)]
    pub limits: Option<LimitsRecord>,
    /// Creation time (Unix ms).
    pub created_ms: u64,
    /// Last change (Unix ms).
    pub updated_ms: u64,
}

impl ProviderRecord {
    /// The name shown by the provider-management API (display name when set).
    pub fn shown_name(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.name)
    }
}

/// One target of a route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetRecord {
    /// Provider id.
    pub provider_id: u64,
    /// Upstream model; `None` = the provider's first model (or the route name).
    #[serde(default)]
    pub model: Option<String>,
    /// Relative weight.
    pub weight: u32,
    /// Failover tier (lower first).
    pub priority: i32,
}

/// The provider-management API's view of a route (mode, client config, nodes), kept so
/// that API returns what it was given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteLayout {
    /// `auto` | `specific` | `multi`.
    pub mode: String,
    /// Opaque client config.
    #[serde(default)]
    pub config: serde_json::Value,
    /// The nodes as posted (`api_id`, `models`, `strategy`, `priority`, `metadata`).
    #[serde(default)]
    pub nodes: Vec<serde_json::Value>,
}

/// A route: a public model name mapped onto targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteRecord {
    /// Numeric id (provider-management API).
    pub id: u64,
    /// Unique name; what clients send as `model`.
    pub name: String,
    /// Canonical strategy name.
    pub strategy: String,
    /// Default retries.
    pub retries: u32,
    /// Inactive routes are kept but not pushed to data planes.
    pub enabled: bool,
    /// Targets in order.
    pub targets: Vec<TargetRecord>,
    /// The provider-management API's layout, when created through that surface. Stored
    /// records and backups from older versions use the old field name (alias).
    #[serde(default, alias = "seed002")]
    pub layout: Option<RouteLayout>,
    /// The route's rate limits.
    #[serde(default)]
    pub limits: Option<LimitsRecord>,
    /// Creation time (Unix ms).
    pub created_ms: u64,
    /// Last change (Unix ms).
    pub updated_ms: u64,
}

/// Rate limits of a key, team, route or provider as stored; `None` fields are unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsRecord {
    /// Requests per minute.
    #[serde(default)]
    pub rpm: Option<u32>,
    /// Tokens per minute.
    #[serde(default)]
    pub tpm: Option<u64>,
    /// `input` | `output` | `total` (default `total`).
    #[serde(default)]
    pub tpm_counts: Option<String>,
    /// Requests in flight at once.
    #[serde(default)]
    pub max_concurrent: Option<u32>,
}

impl LimitsRecord {
    /// Whether no limit is set.
    pub fn is_unlimited(&self) -> bool {
        self.rpm.is_none() && self.tpm.is_none() && self.max_concurrent.is_none()
    }
}

/// A spending budget as stored (money in nano-US-dollars so records compare exactly).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetRecord {
    /// Hard stop.
    pub limit_nanousd: u64,
    /// Soft alert threshold (at most the hard stop).
    #[serde(default)]
    pub soft_nanousd: Option<u64>,
    /// `day` | `month` | `total`.
    pub window: String,
}

impl BudgetRecord {
    /// The window (an unknown stored name counts as `month`, the default).
    pub fn window(&self) -> sluice_model::BudgetWindow {
        sluice_model::BudgetWindow::parse(&self.window).unwrap_or_default()
    }
}

fn enabled_by_default() -> bool {
    true
}

/// A client API key: only its HMAC-SHA256 digest under the store's digest secret and a
/// masked prefix are stored (records from before digests keep their bare SHA-256).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientKeyRecord {
    /// Numeric id.
    pub id: u64,
    /// Label.
    pub name: String,
    /// Hex SHA-256 of the key: legacy records only (created before digests).
    #[serde(default)]
    pub sha256: Option<String>,
    /// Hex HMAC-SHA256 of the key under the store's digest secret.
    #[serde(default)]
    pub digest: Option<String>,
    /// The digest before the last rotation, accepted until [`Self::previous_expires_ms`].
    #[serde(default)]
    pub previous_digest: Option<String>,
    /// End (Unix ms) of the rotation overlap.
    #[serde(default)]
    pub previous_expires_ms: Option<u64>,
    /// `sk-…abcd`.
    pub masked: String,
    /// Owning team (a team name).
    #[serde(default)]
    pub team: Option<String>,
    /// Owning user (free-form).
    #[serde(default)]
    pub user: Option<String>,
    /// Accepted at all (false once revoked or disabled).
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Refused from this time on (Unix ms).
    #[serde(default)]
    pub expires_at_ms: Option<u64>,
    /// Models (route or model names) it may use; empty allows all.
    #[serde(default)]
    pub allowed_models: Vec<String>,
    /// Its rate limits.
    #[serde(default)]
    pub limits: Option<LimitsRecord>,
    /// Its budget.
    #[serde(default)]
    pub budget: Option<BudgetRecord>,
    /// Free-form JSON object (bounded size).
    #[serde(default)]
    pub metadata: serde_json::Value,
    /// When it was revoked (Unix ms).
    #[serde(default)]
    pub revoked_ms: Option<u64>,
    /// Creation time (Unix ms).
    pub created_ms: u64,
    /// Last change (Unix ms).
    #[serde(default)]
    pub updated_ms: u64,
}

/// A new random client key (`sk-sluice-…`, 192 bits).
pub fn generate_key_plaintext() -> String {
    use base64::Engine;
    let random: [u8; 24] = rand::random();
    format!(
        "sk-sluice-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
    )
}

/// Hex HMAC-SHA256 of `plain` under `secret` (what records and snapshots carry).
pub fn key_digest_hex(secret: &[u8; 32], plain: &str) -> String {
    sluice_model::encode_hash(&sluice_model::key_digest(secret, plain))
}

impl ClientKeyRecord {
    /// A new random client key: the plaintext, shown once, and its record (id 0 until
    /// stored) holding only the digest under `secret`.
    pub fn generate(name: String, secret: &[u8; 32]) -> (String, Self) {
        let plain = generate_key_plaintext();
        let now = crate::clock::now_ms();
        let record = Self {
            id: 0,
            name,
            sha256: None,
            digest: Some(key_digest_hex(secret, &plain)),
            previous_digest: None,
            previous_expires_ms: None,
            masked: sluice_model::mask_secret(&plain),
            team: None,
            user: None,
            enabled: true,
            expires_at_ms: None,
            allowed_models: Vec::new(),
            limits: None,
            budget: None,
            metadata: serde_json::Value::Object(Default::default()),
            revoked_ms: None,
            created_ms: now,
            updated_ms: now,
        };
        (plain, record)
    }

    /// A record from before digests: only its bare SHA-256 is known.
    pub fn is_legacy(&self) -> bool {
        self.digest.is_none()
    }

    /// The budget scope id (`key:<id>`).
    pub fn scope(&self) -> String {
        format!("key:{}", self.id)
    }
}

/// A team: keys sharing limits, a budget and a model allow-list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamRecord {
    /// Unique name.
    pub name: String,
    /// Disabled teams' keys are refused.
    pub enabled: bool,
    /// Models its keys may use; empty allows all.
    #[serde(default)]
    pub allowed_models: Vec<String>,
    /// Shared rate limits.
    #[serde(default)]
    pub limits: Option<LimitsRecord>,
    /// Shared budget.
    #[serde(default)]
    pub budget: Option<BudgetRecord>,
    /// Free-form JSON object (bounded size).
    #[serde(default)]
    pub metadata: serde_json::Value,
    /// Creation time (Unix ms).
    pub created_ms: u64,
    /// Last change (Unix ms).
    pub updated_ms: u64,
}

impl TeamRecord {
    /// The budget scope id (`team:<name>`).
    pub fn scope(&self) -> String {
        format!("team:{}", self.name)
    }
}

/// A price override of one model (US dollars per million tokens).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceRecord {
    /// Exact model name, or a prefix ending in `*`.
    pub model: String,
    /// Uncached prompt tokens.
    pub input: f64,
    /// Completion tokens.
    pub output: f64,
    /// Cache reads (default: `input`).
    #[serde(default)]
    pub cache_read: Option<f64>,
    /// Cache writes (default: `input`).
    #[serde(default)]
    pub cache_write: Option<f64>,
    /// Reasoning tokens (default: `output`).
    #[serde(default)]
    pub reasoning: Option<f64>,
    /// US dollars per request.
    #[serde(default)]
    pub per_request: f64,
    /// Last change (Unix ms).
    #[serde(default)]
    pub updated_ms: u64,
}

/// Id counters, one per resource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextIds {
    /// Next provider id.
    pub provider: u64,
    /// Next route id.
    pub route: u64,
    /// Next client key id.
    pub key: u64,
}

impl NextIds {
    /// Takes the next provider id.
    pub fn provider(&mut self) -> u64 {
        self.provider = self.provider.max(1);
        let id = self.provider;
        self.provider += 1;
        id
    }

    /// Takes the next route id.
    pub fn route(&mut self) -> u64 {
        self.route = self.route.max(1);
        let id = self.route;
        self.route += 1;
        id
    }

    /// Takes the next client key id.
    pub fn key(&mut self) -> u64 {
        self.key = self.key.max(1);
        let id = self.key;
        self.key += 1;
        id
    }
}

/// The whole configuration state at one version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Config version (bumped by every committed change).
    pub version: u64,
    /// Id counters.
    pub next_ids: NextIds,
    /// Providers by id.
    pub providers: BTreeMap<u64, ProviderRecord>,
    /// Routes by id.
    pub routes: BTreeMap<u64, RouteRecord>,
    /// Client keys by id.
    pub keys: BTreeMap<u64, ClientKeyRecord>,
    /// Teams by name.
    #[serde(default)]
    pub teams: BTreeMap<String, TeamRecord>,
    /// Price overrides by model.
    #[serde(default)]
    pub prices: BTreeMap<String, PriceRecord>,
    /// The key digest secret (32 bytes) sealed with the master key; empty only in backups
    /// from before digests (the store then keeps its own).
    #[serde(default)]
    pub key_digest_secret_sealed: String,
    /// Whether a client key ever existed: client auth then stays `keys` (deny all) after
    /// the last key is deleted instead of silently turning off. Never goes back to `false`.
    #[serde(default)]
    pub client_keys_seen: bool,
    /// The spend ledger's verdict on each budget scope (`key:<id>`, `team:<name>`) in its
    /// current window; changes only when a threshold is crossed or a window rolls over,
    /// and is pushed to data planes with the snapshot.
    #[serde(default)]
    pub budget_marks: BTreeMap<String, BudgetMark>,
}

/// Where one budget stood when the ledger last crossed a threshold in its window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetMark {
    /// Start (Unix ms) of the window this mark belongs to.
    pub window_start_ms: u64,
    /// Spend in the window when the mark was set (nano-US-dollars).
    pub spent_nanousd: u64,
    /// The soft alert threshold was reached.
    pub soft_alerted: bool,
    /// The hard limit was reached: refused until this time (Unix ms; `u64::MAX` for a
    /// `total` window); 0 when not.
    pub exhausted_until_ms: u64,
}

impl State {
    /// Provider by canonical name.
    pub fn provider_by_name(&self, name: &str) -> Option<&ProviderRecord> {
        self.providers.values().find(|p| p.name == name)
    }

    /// The key digest secret, opened with `key`.
    pub fn key_digest_secret(
        &self,
        key: &sluice_model::MasterKey,
    ) -> Result<[u8; 32], crate::error::ApiError> {
        let bytes = key
            .open(&self.key_digest_secret_sealed)
            .map_err(|e| crate::error::ApiError::internal(format!("key digest secret: {e}")))?;
        <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| crate::error::ApiError::internal("key digest secret is not 32 bytes"))
    }

    /// Route by name.
    pub fn route_by_name(&self, name: &str) -> Option<&RouteRecord> {
        self.routes.values().find(|r| r.name == name)
    }

    /// The client auth mode this state implies when the operator set none explicitly:
    /// `keys` once any client key exists or ever existed, `none` before.
    pub fn implied_client_auth(&self) -> AuthMode {
        if self.client_keys_seen || !self.keys.is_empty() {
            AuthMode::Keys
        } else {
            AuthMode::None
        }
    }

    /// Names of the routes that target provider `id`.
    pub fn routes_using(&self, id: u64) -> Vec<String> {
        self.routes
            .values()
            .filter(|r| r.targets.iter().any(|t| t.provider_id == id))
            .map(|r| r.name.clone())
            .collect()
    }

    /// Makes id counters larger than every id in use (after a restore or seed import).
    pub fn fix_next_ids(&mut self) {
        let max = |it: &mut dyn Iterator<Item = u64>| it.max().unwrap_or(0) + 1;
        self.next_ids.provider = self
            .next_ids
            .provider
            .max(max(&mut self.providers.keys().copied()));
        self.next_ids.route = self
            .next_ids
            .route
            .max(max(&mut self.routes.keys().copied()));
        self.next_ids.key = self.next_ids.key.max(max(&mut self.keys.keys().copied()));
    }
}

#[cfg(test)]
pub(crate) mod tests;
