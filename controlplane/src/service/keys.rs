//! Client key operations. The plaintext of a key exists only in the answer to its
//! creation (or rotation); the store keeps its HMAC-SHA256 under the store's digest secret
//! and a mask. Keys belong to a team (optionally a user) and carry an allow-list, limits,
//! a budget, an expiry and metadata; they are revoked, expired or rotated with an overlap.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::clock::now_ms;
use crate::error::ApiError;
use crate::ledger::Ledger;
use crate::store::policy;
use crate::store::records::{
    generate_key_plaintext, key_digest_hex, BudgetRecord, ClientKeyRecord, LimitsRecord, State,
};
use crate::store::Store;

/// Name of a key created without one.
pub const DEFAULT_NAME: &str = "client-key";
/// Longest accepted key name, in bytes.
pub const MAX_NAME_LEN: usize = 200;
/// Longest accepted user, in bytes.
pub const MAX_USER_LEN: usize = 200;
/// Overlap of a rotation when none is given.
pub const DEFAULT_OVERLAP_SECONDS: u64 = 3600;
/// Longest rotation overlap (30 days).
pub const MAX_OVERLAP_SECONDS: u64 = 30 * 24 * 3600;

/// A key just created or rotated: its record and the plaintext (shown once).
#[derive(Debug, Clone)]
pub struct CreatedKey {
    /// The stored record.
    pub record: ClientKeyRecord,
    /// The key itself; never stored, never shown again.
    pub plaintext: String,
}

/// A budget in API terms (US dollars), validated when applied.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetSpec {
    /// Hard stop.
    pub limit_usd: f64,
    /// Soft alert.
    pub soft_limit_usd: Option<f64>,
    /// `day` | `month` | `total` (default `month`).
    pub window: Option<String>,
}

impl BudgetSpec {
    /// The record, checked (`field` names the budget in errors).
    pub fn to_record(&self, field: &str) -> Result<BudgetRecord, ApiError> {
        policy::budget(
            field,
            self.limit_usd,
            self.soft_limit_usd,
            self.window.as_deref(),
        )
    }
}

/// A change to a key: `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct KeyPatch {
    /// Label.
    pub name: Option<String>,
    /// Owning team.
    pub team: Option<Option<String>>,
    /// Owning user.
    pub user: Option<Option<String>>,
    /// Accepted at all.
    pub enabled: Option<bool>,
    /// Expiry, RFC 3339.
    pub expires_at: Option<Option<String>>,
    /// Allow-list.
    pub allowed_models: Option<Vec<String>>,
    /// Rate limits.
    pub limits: Option<Option<LimitsRecord>>,
    /// Budget.
    pub budget: Option<Option<BudgetSpec>>,
    /// Metadata object.
    pub metadata: Option<serde_json::Value>,
}

/// Parses an RFC 3339 time that must lie in the future (Unix ms).
pub fn future_time(field: &str, text: &str, now: u64) -> Result<u64, ApiError> {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| ApiError::field(field, format!("must be an RFC 3339 time ({e})")))?;
    let ms = u64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| ApiError::field(field, "must be in the future"))?;
    if ms <= now {
        return Err(ApiError::field(field, "must be in the future"));
    }
    Ok(ms)
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(ApiError::field(
            "name",
            format!("must be 1-{MAX_NAME_LEN} characters"),
        ));
    }
    Ok(())
}

impl KeyPatch {
    /// Validates the patch against `state` and writes it into `rec`.
    fn apply_to(self, state: &State, rec: &mut ClientKeyRecord, now: u64) -> Result<(), ApiError> {
        if let Some(name) = self.name {
            check_name(&name)?;
            rec.name = name;
        }
        if let Some(team) = self.team {
            let team = team.filter(|t| !t.is_empty());
            if let Some(t) = &team {
                if !state.teams.contains_key(t) {
                    return Err(ApiError::field("team", format!("unknown team `{t}`")));
                }
            }
            rec.team = team;
        }
        if let Some(user) = self.user {
            let user = user.filter(|u| !u.is_empty());
            if user.as_ref().is_some_and(|u| u.len() > MAX_USER_LEN) {
                return Err(ApiError::field(
                    "user",
                    format!("at most {MAX_USER_LEN} characters"),
                ));
            }
            rec.user = user;
        }
        if let Some(enabled) = self.enabled {
            if enabled && rec.revoked_ms.is_some() {
                return Err(ApiError::conflict(format!(
                    "client key {} is revoked and cannot be enabled again; create a new key",
                    rec.id
                )));
            }
            rec.enabled = enabled;
        }
        if let Some(expires) = self.expires_at {
            rec.expires_at_ms = match expires.filter(|e| !e.is_empty()) {
                Some(text) => Some(future_time("expires_at", &text, now)?),
                None => None,
            };
        }
        if let Some(models) = self.allowed_models {
            policy::allowed_models("allowed_models", &models)?;
            rec.allowed_models = models;
        }
        if let Some(limits) = self.limits {
            rec.limits = policy::limits("limits", limits)?;
        }
        if let Some(budget) = self.budget {
            rec.budget = budget.map(|b| b.to_record("budget")).transpose()?;
        }
        if let Some(metadata) = self.metadata {
            rec.metadata = policy::metadata("metadata", metadata)?;
        }
        rec.updated_ms = now;
        Ok(())
    }
}

/// Every client key, by id.
pub fn list(store: &Store) -> Vec<ClientKeyRecord> {
    store.state().keys.values().cloned().collect()
}

/// One client key.
pub fn get(store: &Store, id: u64) -> Result<ClientKeyRecord, ApiError> {
    store
        .state()
        .keys
        .get(&id)
        .cloned()
        .ok_or_else(|| not_found(id))
}

/// Creates a random client key named `name` (default [`DEFAULT_NAME`]) and nothing else.
pub async fn create(store: &Arc<Store>, name: Option<String>) -> Result<CreatedKey, ApiError> {
    create_with(
        store,
        KeyPatch {
            name,
            ..KeyPatch::default()
        },
    )
    .await
}

/// Creates a random client key with the fields of `patch`.
pub async fn create_with(store: &Arc<Store>, mut patch: KeyPatch) -> Result<CreatedKey, ApiError> {
    let name = patch.name.take().unwrap_or_else(|| DEFAULT_NAME.into());
    check_name(&name)?;
    store
        .write(move |s, key| {
            let secret = s.key_digest_secret(key)?;
            let (plaintext, mut record) = ClientKeyRecord::generate(name, &secret);
            let now = now_ms();
            patch.apply_to(s, &mut record, now)?;
            let id = s.next_ids.key();
            record.id = id;
            s.keys.insert(id, record.clone());
            Ok(CreatedKey { record, plaintext })
        })
        .await
}

/// Changes a key; its budget mark follows a changed budget at once.
pub async fn update(
    store: &Arc<Store>,
    ledger: &Ledger,
    id: u64,
    patch: KeyPatch,
) -> Result<ClientKeyRecord, ApiError> {
    let ledger = ledger.clone();
    store
        .write(move |s, _| {
            let now = now_ms();
            let mut rec = s.keys.get(&id).cloned().ok_or_else(|| not_found(id))?;
            patch.apply_to(s, &mut rec, now)?;
            let scope = rec.scope();
            s.keys.insert(id, rec.clone());
            ledger.reconcile(s, &BTreeSet::from([scope]), now);
            Ok(rec)
        })
        .await
}

/// Revokes a key: refused from the next snapshot on, kept in the list as revoked.
pub async fn revoke(store: &Arc<Store>, id: u64) -> Result<ClientKeyRecord, ApiError> {
    store
        .write(move |s, _| {
            let rec = s.keys.get_mut(&id).ok_or_else(|| not_found(id))?;
            let now = now_ms();
            rec.enabled = false;
            rec.revoked_ms.get_or_insert(now);
            rec.previous_digest = None;
            rec.previous_expires_ms = None;
            rec.updated_ms = now;
            Ok(rec.clone())
        })
        .await
}

/// Replaces a key's secret; the old one keeps working for `overlap_seconds` (default
/// [`DEFAULT_OVERLAP_SECONDS`]). A legacy (SHA-256) key becomes a digest key without
/// overlap.
pub async fn rotate(
    store: &Arc<Store>,
    id: u64,
    overlap_seconds: Option<u64>,
) -> Result<CreatedKey, ApiError> {
    let overlap = overlap_seconds.unwrap_or(DEFAULT_OVERLAP_SECONDS);
    if overlap > MAX_OVERLAP_SECONDS {
        return Err(ApiError::field(
            "overlap_seconds",
            format!("at most {MAX_OVERLAP_SECONDS}"),
        ));
    }
    store
        .write(move |s, key| {
            let secret = s.key_digest_secret(key)?;
            let rec = s.keys.get_mut(&id).ok_or_else(|| not_found(id))?;
            if rec.revoked_ms.is_some() {
                return Err(ApiError::conflict(format!(
                    "client key {id} is revoked; create a new key"
                )));
            }
            let now = now_ms();
            let plaintext = generate_key_plaintext();
            let old = rec.digest.replace(key_digest_hex(&secret, &plaintext));
            match old {
                Some(d) if overlap > 0 => {
                    rec.previous_digest = Some(d);
                    rec.previous_expires_ms = Some(now.saturating_add(overlap * 1000));
                }
                _ => {
                    rec.previous_digest = None;
                    rec.previous_expires_ms = None;
                }
            }
            rec.sha256 = None;
            rec.masked = sluice_model::mask_secret(&plaintext);
            rec.updated_ms = now;
            Ok(CreatedKey {
                record: rec.clone(),
                plaintext,
            })
        })
        .await
}

/// Deletes a client key; returns what was removed.
pub async fn delete(store: &Arc<Store>, id: u64) -> Result<ClientKeyRecord, ApiError> {
    store
        .write(move |s, _| {
            let rec = s.keys.remove(&id).ok_or_else(|| not_found(id))?;
            s.budget_marks.remove(&rec.scope());
            Ok(rec)
        })
        .await
}

fn not_found(id: u64) -> ApiError {
    ApiError::not_found(format!("client key {id} not found"))
}
