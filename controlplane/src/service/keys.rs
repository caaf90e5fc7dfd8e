//! Client key operations. The plaintext of a key exists only in the answer to its
//! creation; the store keeps its SHA-256 and a mask.

use std::sync::Arc;

use crate::error::ApiError;
use crate::store::records::ClientKeyRecord;
use crate::store::Store;

/// Name of a key created without one.
pub const DEFAULT_NAME: &str = "client-key";
/// Longest accepted key name, in bytes.
pub const MAX_NAME_LEN: usize = 200;

/// A key just created: its record and the plaintext (shown once).
#[derive(Debug, Clone)]
pub struct CreatedKey {
    /// The stored record.
    pub record: ClientKeyRecord,
    /// The key itself; never stored, never shown again.
    pub plaintext: String,
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

/// Creates a random client key named `name` (default [`DEFAULT_NAME`]).
pub async fn create(store: &Arc<Store>, name: Option<String>) -> Result<CreatedKey, ApiError> {
    let name = name.unwrap_or_else(|| DEFAULT_NAME.into());
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(ApiError::field(
            "name",
            format!("must be 1-{MAX_NAME_LEN} characters"),
        ));
    }
    let writer = store.clone();
    let (id, plaintext) = tokio::task::spawn_blocking(move || writer.add_client_key(name))
        .await
        .map_err(ApiError::internal)??;
    let record = store
        .state()
        .keys
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::internal("client key vanished after commit"))?;
    Ok(CreatedKey { record, plaintext })
}

/// Deletes a client key; returns what was removed.
pub async fn delete(store: &Arc<Store>, id: u64) -> Result<ClientKeyRecord, ApiError> {
    store
        .write(move |s, _| s.keys.remove(&id).ok_or_else(|| not_found(id)))
        .await
}

fn not_found(id: u64) -> ApiError {
    ApiError::not_found(format!("client key {id} not found"))
}
