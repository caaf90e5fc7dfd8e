//! Drafts: what a surface wants a provider or route to become. Surfaces convert their
//! payloads into drafts; [`apply_provider`] / [`apply_route`] validate field by field
//! (canonical field names) and produce records. Whole-state validation happens at commit.

use sluice_model::validate::{self, Invalid};
use sluice_model::{infer_kind, mask_secret, BaseUrl, MasterKey, ProviderKind, Strategy};

use super::policy;
use super::records::{
    EndpointRecord, LimitsRecord, ProviderRecord, RouteLayout, RouteRecord, State, TargetRecord,
};
use crate::clock::now_ms;
use crate::error::ApiError;

/// Largest accepted weight and route retries: the model's bounds, shared with the data plane.
pub use sluice_model::validate::{MAX_RETRIES, MAX_WEIGHT};

/// What to do with an endpoint's API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyInput {
    /// Keep the key of the existing endpoint at the same position (or none). Only allowed
    /// while that endpoint's origin (scheme, host, port) is unchanged: a stored key never
    /// follows its endpoint to another host.
    Keep,
    /// Replace it.
    Set(String),
}

impl KeyInput {
    /// A key from a payload: absent, empty or an echoed mask (`sk-…abcd`, `****`) keeps
    /// the stored key, so clients can send back what they read.
    pub fn from_payload(value: Option<String>) -> Self {
        match value {
            None => Self::Keep,
            Some(v) if v.contains('…') || v == "****" => Self::Keep,
            Some(v) => Self::Set(v),
        }
    }
}

/// One endpoint of a provider draft.
#[derive(Debug, Clone)]
pub struct EndpointDraft {
    /// API root.
    pub base_url: String,
    /// Key change.
    pub api_key: KeyInput,
}

/// A provider as a surface wants it.
#[derive(Debug, Clone)]
pub struct ProviderDraft {
    /// Canonical name.
    pub name: String,
    /// Display name (provider-management API).
    pub display_name: Option<String>,
    /// Kind name; `None` = infer from name and base URL.
    pub kind: Option<String>,
    /// Models.
    pub models: Vec<String>,
    /// Enabled.
    pub enabled: bool,
    /// Weight.
    pub weight: u32,
    /// Priority.
    pub priority: i32,
    /// Timeout.
    pub timeout_ms: u64,
    /// Echo pacing.
    pub pace_ms: u64,
    /// Endpoints.
    pub endpoints: Vec<EndpointDraft>,
    /// Rate limits (the provider's own quota across every data plane).
    pub limits: Option<LimitsRecord>,
}

impl ProviderDraft {
    /// Applies the single-endpoint form of orchestrator and provider-management payloads
    /// (`base_url`, `api_key`)
    /// to the provider's first endpoint, creating it when needed.
    pub fn set_primary_endpoint(&mut self, base_url: Option<String>, api_key: Option<String>) {
        if let Some(url) = base_url {
            match self.endpoints.first_mut() {
                Some(e) => e.base_url = url,
                None => self.endpoints.push(EndpointDraft {
                    base_url: url,
                    api_key: KeyInput::Keep,
                }),
            }
        }
        if let Some(key) = api_key {
            if let Some(e) = self.endpoints.first_mut() {
                e.api_key = KeyInput::from_payload(Some(key));
            }
        }
    }

    /// Defaults for a new provider.
    pub fn new(name: String) -> Self {
        Self {
            name,
            display_name: None,
            kind: None,
            models: Vec::new(),
            enabled: true,
            weight: 1,
            priority: 0,
            timeout_ms: validate::DEFAULT_TIMEOUT_MS,
            pace_ms: 0,
            endpoints: Vec::new(),
            limits: None,
        }
    }

    /// The draft that leaves `rec` unchanged (start of a PATCH).
    pub fn from_record(rec: &ProviderRecord) -> Self {
        Self {
            name: rec.name.clone(),
            display_name: rec.display_name.clone(),
            kind: Some(rec.kind.clone()),
            models: rec.models.clone(),
            enabled: rec.enabled,
            weight: rec.weight,
            priority: rec.priority,
            timeout_ms: rec.timeout_ms,
            pace_ms: rec.pace_ms,
            endpoints: rec
                .endpoints
                .iter()
                .map(|e| EndpointDraft {
                    base_url: e.base_url.clone(),
                    api_key: KeyInput::Keep,
                })
                .collect(),
            limits: rec.limits.clone(),
        }
    }
}

/// The provider-management API converts display names into canonical names this way
/// (spaces → `-`).
pub fn canonical_name(display: &str) -> String {
    display.split_whitespace().collect::<Vec<_>>().join("-")
}

/// `problem` as a 400 naming `field`.
fn invalid(field: impl Into<String>, problem: Invalid) -> ApiError {
    ApiError::field(field, problem.to_string())
}

/// Validates `draft` and writes it into `state` (new when `id` is `None`); returns the id.
pub fn apply_provider(
    state: &mut State,
    id: Option<u64>,
    draft: ProviderDraft,
    key: &MasterKey,
) -> Result<u64, ApiError> {
    validate::name(&draft.name).map_err(|p| invalid("name", p))?;
    if let Some(other) = state.provider_by_name(&draft.name) {
        if Some(other.id) != id {
            return Err(ApiError::conflict(format!(
                "a provider named `{}` already exists (id {})",
                draft.name, other.id
            )));
        }
    }
    let first_url = draft
        .endpoints
        .first()
        .map(|e| e.base_url.as_str())
        .unwrap_or("");
    let kind = match &draft.kind {
        Some(k) if !k.is_empty() => ProviderKind::parse(k).ok_or_else(|| {
            ApiError::field(
                "kind",
                format!(
                    "unknown kind `{k}` (expected one of {})",
                    ProviderKind::NAMES.join(", ")
                ),
            )
        })?,
        _ => infer_kind(&draft.name, first_url),
    };
    if draft.endpoints.is_empty() && validate::endpoints_required(kind) {
        return Err(ApiError::field(
            "endpoints",
            "a provider needs at least one base_url",
        ));
    }
    validate::weight(draft.weight).map_err(|p| invalid("weight", p))?;
    validate::timeout_ms(draft.timeout_ms).map_err(|p| invalid("timeout_ms", p))?;
    let limits = policy::limits("limits", draft.limits)?;
    for (i, m) in draft.models.iter().enumerate() {
        validate::model(m).map_err(|p| invalid(format!("models[{i}]"), p))?;
    }
    let existing = id.and_then(|id| state.providers.get(&id));
    let mut endpoints = Vec::with_capacity(draft.endpoints.len());
    for (i, e) in draft.endpoints.into_iter().enumerate() {
        let url = validate::base_url(&e.base_url)
            .map_err(|p| invalid(format!("endpoints[{i}].base_url"), p))?;
        let (sealed, masked) = match e.api_key {
            KeyInput::Set(plain) if plain.is_empty() => (String::new(), String::new()),
            KeyInput::Set(plain) => (key.seal(plain.as_bytes()), mask_secret(&plain)),
            KeyInput::Keep => match existing.and_then(|p| p.endpoints.get(i)) {
                Some(old) if old.api_key_sealed.is_empty() => Default::default(),
                Some(old) if BaseUrl::parse(&old.base_url).is_ok_and(|o| o.same_origin(&url)) => {
                    (old.api_key_sealed.clone(), old.api_key_masked.clone())
                }
                Some(_) => {
                    return Err(ApiError::field(
                        format!("endpoints[{i}].api_key"),
                        "api_key is required when base_url changes host (a stored key is \
                         only ever sent to the scheme, host and port it was given for; \
                         removing or reordering endpoints also needs their keys again)",
                    ))
                }
                None => Default::default(),
            },
        };
        endpoints.push(EndpointRecord {
            base_url: e.base_url,
            api_key_sealed: sealed,
            api_key_masked: masked,
        });
    }
    let now = now_ms();
    let id = match id {
        Some(id) => id,
        None => state.next_ids.provider(),
    };
    let created_ms = existing.map_or(now, |p| p.created_ms);
    state.providers.insert(
        id,
        ProviderRecord {
            id,
            name: draft.name,
            display_name: draft.display_name,
            kind: kind.as_str().to_string(),
            models: draft.models,
            enabled: draft.enabled,
            weight: draft.weight,
            priority: draft.priority,
            timeout_ms: draft.timeout_ms,
            pace_ms: draft.pace_ms.min(validate::MAX_PACE_MS),
            endpoints,
            limits,
            created_ms,
            updated_ms: now,
        },
    );
    Ok(id)
}

/// Removes provider `id`; 409 while a route still targets it.
pub fn remove_provider(state: &mut State, id: u64) -> Result<ProviderRecord, ApiError> {
    let Some(rec) = state.providers.get(&id) else {
        return Err(ApiError::not_found(format!("provider {id} not found")));
    };
    let users = state.routes_using(id);
    if !users.is_empty() {
        return Err(ApiError::conflict(format!(
            "provider `{}` is used by route(s) {}; remove it from those routes first",
            rec.name,
            users
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    state
        .providers
        .remove(&id)
        .ok_or_else(|| ApiError::not_found(format!("provider {id} not found")))
}

/// A route as a surface wants it.
#[derive(Debug, Clone)]
pub struct RouteDraft {
    /// Name (what clients send as `model`).
    pub name: String,
    /// Strategy name (any alias `Strategy::parse` accepts).
    pub strategy: String,
    /// Retries.
    pub retries: u32,
    /// Active.
    pub enabled: bool,
    /// Targets.
    pub targets: Vec<TargetRecord>,
    /// Route mode, client config and nodes as the provider-management API was given them.
    pub layout: Option<RouteLayout>,
    /// Rate limits of the route.
    pub limits: Option<LimitsRecord>,
}

impl RouteDraft {
    /// The draft that leaves `rec` unchanged.
    pub fn from_record(rec: &RouteRecord) -> Self {
        Self {
            name: rec.name.clone(),
            strategy: rec.strategy.clone(),
            retries: rec.retries,
            enabled: rec.enabled,
            targets: rec.targets.clone(),
            layout: rec.layout.clone(),
            limits: rec.limits.clone(),
        }
    }
}

/// Validates `draft` and writes it into `state`; returns the id.
pub fn apply_route(state: &mut State, id: Option<u64>, draft: RouteDraft) -> Result<u64, ApiError> {
    validate::name(&draft.name).map_err(|p| invalid("name", p))?;
    if let Some(other) = state.route_by_name(&draft.name) {
        if Some(other.id) != id {
            return Err(ApiError::conflict(format!(
                "a route named `{}` already exists (id {})",
                draft.name, other.id
            )));
        }
    }
    let strategy: Strategy = draft
        .strategy
        .parse()
        .map_err(|e: sluice_model::RouteError| ApiError::field("strategy", e.to_string()))?;
    validate::retries(draft.retries).map_err(|p| invalid("retries", p))?;
    let limits = policy::limits("limits", draft.limits)?;
    if draft.targets.is_empty() {
        return Err(ApiError::field(
            "targets",
            "a route needs at least one target",
        ));
    }
    for (i, t) in draft.targets.iter().enumerate() {
        if !state.providers.contains_key(&t.provider_id) {
            return Err(ApiError::field(
                format!("targets[{i}].provider"),
                format!("unknown provider id {}", t.provider_id),
            ));
        }
        validate::weight(t.weight).map_err(|p| invalid(format!("targets[{i}].weight"), p))?;
        if let Some(m) = t.model.as_deref() {
            validate::model(m).map_err(|p| invalid(format!("targets[{i}].model"), p))?;
        }
    }
    let now = now_ms();
    let existing = id.and_then(|id| state.routes.get(&id));
    let created_ms = existing.map_or(now, |r| r.created_ms);
    let id = match id {
        Some(id) => id,
        None => state.next_ids.route(),
    };
    state.routes.insert(
        id,
        RouteRecord {
            id,
            name: draft.name,
            strategy: strategy.as_str().to_string(),
            retries: draft.retries,
            enabled: draft.enabled,
            targets: draft.targets,
            layout: draft.layout,
            limits,
            created_ms,
            updated_ms: now,
        },
    );
    Ok(id)
}
