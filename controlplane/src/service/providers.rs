//! Provider operations. Every surface's provider payload converts into a
//! [`ProviderPatch`]; the name it addresses a provider by becomes a [`ProviderRef`].

use std::fmt;
use std::sync::Arc;

use super::WriteMode;
use crate::error::ApiError;
use crate::store::draft::{apply_provider, remove_provider, EndpointDraft, ProviderDraft};
use crate::store::records::{LimitsRecord, ProviderRecord, State};
use crate::store::Store;

/// How a surface addresses a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderRef {
    /// By numeric id (orchestrator and provider-management APIs).
    Id(u64),
    /// By canonical name (the LLM-backend API's `backend_id`).
    Name(String),
    /// By numeric id when one matches, else by name (canonical API).
    IdOrName(String),
}

impl ProviderRef {
    /// The id of the provider this names in `state` (404 when none).
    pub fn resolve(&self, state: &State) -> Result<u64, ApiError> {
        let found = match self {
            Self::Id(id) => state.providers.contains_key(id).then_some(*id),
            Self::Name(name) => state.provider_by_name(name).map(|p| p.id),
            Self::IdOrName(raw) => raw
                .parse::<u64>()
                .ok()
                .filter(|id| state.providers.contains_key(id))
                .or_else(|| state.provider_by_name(raw).map(|p| p.id)),
        };
        found.ok_or_else(|| ApiError::not_found(format!("{self} not found")))
    }
}

impl fmt::Display for ProviderRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => write!(f, "provider {id}"),
            Self::Name(name) | Self::IdOrName(name) => write!(f, "provider `{name}`"),
        }
    }
}

/// How a payload changes a provider's endpoints.
#[derive(Debug, Clone)]
pub enum EndpointsPatch {
    /// The whole list (canonical `endpoints`, LLM-backend `configs`).
    All(Vec<EndpointDraft>),
    /// The single-endpoint form (`base_url`, `api_key`) of the orchestrator and
    /// provider-management APIs: changes the first endpoint, creating it when needed.
    Primary {
        /// New API root.
        base_url: Option<String>,
        /// New key (absent, empty-mask or echoed mask keeps the stored one).
        api_key: Option<String>,
    },
}

/// A change to a provider in canonical terms: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProviderPatch {
    /// Canonical name.
    pub name: Option<String>,
    /// Display name (`Some(None)` clears it).
    pub display_name: Option<Option<String>>,
    /// Kind name (`ProviderKind::NAMES`); inferred when never given.
    pub kind: Option<String>,
    /// Models served.
    pub models: Option<Vec<String>>,
    /// Selected at all.
    pub enabled: Option<bool>,
    /// Relative weight.
    pub weight: Option<u32>,
    /// Failover tier.
    pub priority: Option<i32>,
    /// Upstream timeout.
    pub timeout_ms: Option<u64>,
    /// Echo pacing.
    pub pace_ms: Option<u64>,
    /// Endpoint changes.
    pub endpoints: Option<EndpointsPatch>,
    /// Rate limits (`Some(None)` removes them).
    pub limits: Option<Option<LimitsRecord>>,
}

impl ProviderPatch {
    /// Writes the fields this patch sets into `draft`.
    pub fn apply_to(self, draft: &mut ProviderDraft) {
        if let Some(v) = self.name {
            draft.name = v;
        }
        if let Some(v) = self.display_name {
            draft.display_name = v;
        }
        if self.kind.is_some() {
            draft.kind = self.kind;
        }
        if let Some(v) = self.models {
            draft.models = v;
        }
        if let Some(v) = self.enabled {
            draft.enabled = v;
        }
        if let Some(v) = self.weight {
            draft.weight = v;
        }
        if let Some(v) = self.priority {
            draft.priority = v;
        }
        if let Some(v) = self.timeout_ms {
            draft.timeout_ms = v;
        }
        if let Some(v) = self.pace_ms {
            draft.pace_ms = v;
        }
        if let Some(v) = self.limits {
            draft.limits = v;
        }
        match self.endpoints {
            Some(EndpointsPatch::All(endpoints)) => draft.endpoints = endpoints,
            Some(EndpointsPatch::Primary { base_url, api_key }) => {
                draft.set_primary_endpoint(base_url, api_key);
            }
            None => {}
        }
    }
}

/// Every provider, by id.
pub fn list(store: &Store) -> Vec<ProviderRecord> {
    store.state().providers.values().cloned().collect()
}

/// One provider.
pub fn get(store: &Store, provider: &ProviderRef) -> Result<ProviderRecord, ApiError> {
    let state = store.state();
    let id = provider.resolve(&state)?;
    state
        .providers
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("{provider} not found")))
}

/// Creates a provider from defaults plus `patch`; returns it as committed.
pub async fn create(store: &Arc<Store>, patch: ProviderPatch) -> Result<ProviderRecord, ApiError> {
    store
        .write(move |s, key| {
            let mut draft = ProviderDraft::new(String::new());
            patch.apply_to(&mut draft);
            let id = apply_provider(s, None, draft, key)?;
            committed(s, id)
        })
        .await
}

/// Changes a provider; returns it as committed.
pub async fn update(
    store: &Arc<Store>,
    provider: ProviderRef,
    mode: WriteMode,
    patch: ProviderPatch,
) -> Result<ProviderRecord, ApiError> {
    store
        .write(move |s, key| {
            let id = provider.resolve(s)?;
            let current = s
                .providers
                .get(&id)
                .ok_or_else(|| ApiError::not_found(format!("{provider} not found")))?;
            let mut draft = match mode {
                WriteMode::Merge => ProviderDraft::from_record(current),
                WriteMode::Replace => {
                    let mut d = ProviderDraft::new(current.name.clone());
                    // Keys of endpoints at the same position are kept unless given.
                    d.endpoints = ProviderDraft::from_record(current).endpoints;
                    d
                }
            };
            patch.apply_to(&mut draft);
            let id = apply_provider(s, Some(id), draft, key)?;
            committed(s, id)
        })
        .await
}

/// Turns a provider on or off.
pub async fn set_enabled(
    store: &Arc<Store>,
    provider: ProviderRef,
    enabled: bool,
) -> Result<ProviderRecord, ApiError> {
    let patch = ProviderPatch {
        enabled: Some(enabled),
        ..ProviderPatch::default()
    };
    update(store, provider, WriteMode::Merge, patch).await
}

/// Deletes a provider (409 while a route targets it); returns what was removed.
pub async fn delete(store: &Arc<Store>, provider: ProviderRef) -> Result<ProviderRecord, ApiError> {
    store
        .write(move |s, _| {
            let id = provider.resolve(s)?;
            remove_provider(s, id)
        })
        .await
}

/// The plaintext key of a provider's first endpoint (empty when it has none), for the
/// connectivity check.
pub fn primary_key(store: &Store, provider: &ProviderRecord) -> Result<String, ApiError> {
    match provider.endpoints.first() {
        Some(e) if !e.api_key_sealed.is_empty() => store
            .master_key()
            .open_str(&e.api_key_sealed)
            .map_err(ApiError::internal),
        _ => Ok(String::new()),
    }
}

fn committed(state: &State, id: u64) -> Result<ProviderRecord, ApiError> {
    state
        .providers
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::internal("provider vanished while being written"))
}
