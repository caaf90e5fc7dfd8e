//! Team operations: keys that share limits, a budget and a model allow-list. A team with
//! keys cannot be deleted (409).

use std::collections::BTreeSet;
use std::sync::Arc;

use super::keys::BudgetSpec;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::ledger::Ledger;
use crate::store::policy;
use crate::store::records::{LimitsRecord, TeamRecord};
use crate::store::Store;

/// A team as written (create or replace): absent fields take their defaults.
#[derive(Debug, Clone, Default)]
pub struct TeamSpec {
    /// Unique name.
    pub name: Option<String>,
    /// Keys accepted at all (default true).
    pub enabled: Option<bool>,
    /// Allow-list (default: every model).
    pub allowed_models: Vec<String>,
    /// Shared rate limits.
    pub limits: Option<LimitsRecord>,
    /// Shared budget.
    pub budget: Option<BudgetSpec>,
    /// Metadata object.
    pub metadata: serde_json::Value,
}

impl TeamSpec {
    fn into_record(self, name: String, created_ms: u64, now: u64) -> Result<TeamRecord, ApiError> {
        sluice_model::validate::name(&name).map_err(|p| ApiError::field("name", p.to_string()))?;
        policy::allowed_models("allowed_models", &self.allowed_models)?;
        Ok(TeamRecord {
            name,
            enabled: self.enabled.unwrap_or(true),
            allowed_models: self.allowed_models,
            limits: policy::limits("limits", self.limits)?,
            budget: self.budget.map(|b| b.to_record("budget")).transpose()?,
            metadata: policy::metadata("metadata", self.metadata)?,
            created_ms,
            updated_ms: now,
        })
    }
}

/// Every team, by name.
pub fn list(store: &Store) -> Vec<TeamRecord> {
    store.state().teams.values().cloned().collect()
}

/// One team.
pub fn get(store: &Store, name: &str) -> Result<TeamRecord, ApiError> {
    store
        .state()
        .teams
        .get(name)
        .cloned()
        .ok_or_else(|| not_found(name))
}

/// Creates a team (409 when the name is taken).
pub async fn create(store: &Arc<Store>, spec: TeamSpec) -> Result<TeamRecord, ApiError> {
    let Some(name) = spec.name.clone() else {
        return Err(ApiError::field("name", "is required"));
    };
    store
        .write(move |s, _| {
            if s.teams.contains_key(&name) {
                return Err(ApiError::conflict(format!(
                    "a team named `{name}` already exists"
                )));
            }
            let now = now_ms();
            let rec = spec.into_record(name.clone(), now, now)?;
            s.teams.insert(name, rec.clone());
            Ok(rec)
        })
        .await
}

/// Replaces a team (its name cannot change: keys refer to it); its budget mark follows a
/// changed budget at once.
pub async fn replace(
    store: &Arc<Store>,
    ledger: &Ledger,
    name: String,
    spec: TeamSpec,
) -> Result<TeamRecord, ApiError> {
    if spec.name.as_ref().is_some_and(|n| *n != name) {
        return Err(ApiError::field(
            "name",
            "a team cannot be renamed (its keys refer to it by name)",
        ));
    }
    let ledger = ledger.clone();
    store
        .write(move |s, _| {
            let current = s.teams.get(&name).ok_or_else(|| not_found(&name))?;
            let now = now_ms();
            let rec = spec.into_record(name.clone(), current.created_ms, now)?;
            let scope = rec.scope();
            s.teams.insert(name, rec.clone());
            ledger.reconcile(s, &BTreeSet::from([scope]), now);
            Ok(rec)
        })
        .await
}

/// Deletes a team without keys (409 otherwise); returns what was removed.
pub async fn delete(store: &Arc<Store>, name: String) -> Result<TeamRecord, ApiError> {
    store
        .write(move |s, _| {
            let members: Vec<String> = s
                .keys
                .values()
                .filter(|k| k.team.as_deref() == Some(name.as_str()))
                .map(|k| k.id.to_string())
                .collect();
            if !members.is_empty() {
                return Err(ApiError::conflict(format!(
                    "team `{name}` still has key(s) {}; move or delete them first",
                    members.join(", ")
                )));
            }
            let rec = s.teams.remove(&name).ok_or_else(|| not_found(&name))?;
            s.budget_marks.remove(&rec.scope());
            Ok(rec)
        })
        .await
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("team `{name}` not found"))
}
