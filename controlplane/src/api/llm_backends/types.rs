//! Request and response bodies of the LLM-backend API, and their conversions from and
//! into the canonical records and patches. A backend is a provider: `backend_id` is its
//! canonical name, `adapter` its kind, `configs` its endpoints.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::dataplanes::ProviderHealth;
use crate::service::health::is_available;
use crate::service::providers::{EndpointsPatch, ProviderPatch};
use crate::store::draft::{EndpointDraft, KeyInput};
use crate::store::records::ProviderRecord;

/// One `{api_key, base_url}` of a backend, as written.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct BackendConfigInput {
    /// Its key; omitted or an echoed mask keeps the stored key (same origin only).
    #[serde(default)]
    pub api_key: Option<String>,
    /// API root.
    pub base_url: String,
}

/// A backend to create (`backend_id`, `adapter` and `configs` required) or update.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct BackendInput {
    /// Unique id (the provider's name).
    pub backend_id: Option<String>,
    /// Provider kind (`GET /api/llm/types`).
    pub adapter: Option<String>,
    /// Enabled.
    pub enable: Option<bool>,
    /// Endpoints; replaces the whole list when given.
    pub configs: Option<Vec<BackendConfigInput>>,
    /// Models served.
    pub models: Option<Vec<String>>,
}

impl From<BackendInput> for ProviderPatch {
    fn from(i: BackendInput) -> Self {
        Self {
            name: i.backend_id,
            kind: i.adapter,
            enabled: i.enable,
            models: i.models,
            endpoints: i.configs.map(|c| {
                EndpointsPatch::All(
                    c.into_iter()
                        .map(|c| EndpointDraft {
                            base_url: c.base_url,
                            api_key: KeyInput::from_payload(c.api_key),
                        })
                        .collect(),
                )
            }),
            ..Self::default()
        }
    }
}

/// Renames canonical field paths into this API's (`endpoints[0]` → `configs[0]`).
pub fn field_name(field: &str) -> String {
    field
        .replace("endpoints", "configs")
        .replace("kind", "adapter")
        .replace("name", "backend_id")
}

/// One endpoint of a backend; the key is masked.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BackendConfig {
    /// Masked key (`sk-…abcd`).
    pub api_key: String,
    /// API root.
    pub base_url: String,
}

/// A backend.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Backend {
    /// Unique id.
    pub backend_id: String,
    /// Provider kind.
    pub adapter: String,
    /// Enabled.
    pub enable: bool,
    /// Endpoints.
    pub configs: Vec<BackendConfig>,
    /// Models served.
    pub models: Vec<String>,
    /// Enabled and healthy on some connected data plane.
    pub is_available: bool,
}

impl Backend {
    /// The backend view of `p` under the data planes' `health`.
    pub fn new(p: &ProviderRecord, health: &HashMap<String, ProviderHealth>) -> Self {
        Self {
            backend_id: p.name.clone(),
            adapter: p.kind.clone(),
            enable: p.enabled,
            configs: p
                .endpoints
                .iter()
                .map(|e| BackendConfig {
                    api_key: e.api_key_masked.clone(),
                    base_url: e.base_url.clone(),
                })
                .collect(),
            models: p.models.clone(),
            is_available: is_available(p, health),
        }
    }
}

/// One backend.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BackendEnvelope {
    /// The backend.
    pub backend: Backend,
}

/// Every backend.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BackendList {
    /// By provider id.
    pub backends: Vec<Backend>,
}

/// The adapters a backend can use.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BackendTypes {
    /// Provider kind names.
    pub types: Vec<&'static str>,
}

/// A confirmation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Message {
    /// What was done.
    pub message: &'static str,
}
