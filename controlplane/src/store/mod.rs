//! The configuration store: typed sled trees (providers, routes, client keys, meta), an
//! in-memory copy of the current [`State`], and the version broadcaster.
//!
//! Every change goes through [`Store::mutate`]: one writer at a time clones the state,
//! applies the change (field-level validation), validates the whole candidate with
//! `sluice_model::config_from_snapshot` (what every data plane runs), commits the diff in one sled transaction, bumps the
//! version, refreshes the JSON backup atomically and wakes the broadcaster.

pub mod draft;
pub mod policy;
pub mod records;
pub mod snapshot;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, RwLock};
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;
use sluice_model::{mask_secret, AuthMode, MasterKey};
use sluice_proto::Snapshot;
use tokio::sync::watch;

use crate::backup;
use crate::clock::now_ms;
use crate::error::ApiError;
use records::{
    BudgetMark, ClientKeyRecord, EndpointRecord, PriceRecord, ProviderRecord, RouteRecord, State,
    TargetRecord, TeamRecord,
};

const META_VERSION: &[u8] = b"version";
const META_NEXT_IDS: &[u8] = b"next_ids";
const META_EPOCH: &[u8] = b"epoch";
const META_CLIENT_KEYS_SEEN: &[u8] = b"client_keys_seen";
const META_KEY_DIGEST_SECRET: &[u8] = b"key_digest_secret";

/// A new random snapshot epoch (128 bits, hex).
fn new_epoch() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The config store of one control plane.
pub struct Store {
    db: sled::Db,
    providers: sled::Tree,
    routes: sled::Tree,
    keys: sled::Tree,
    meta: sled::Tree,
    teams: sled::Tree,
    prices: sled::Tree,
    budget_marks: sled::Tree,
    master: MasterKey,
    client_auth: Option<AuthMode>,
    epoch: RwLock<Arc<str>>,
    state: RwLock<Arc<State>>,
    snapshot: RwLock<Arc<Snapshot>>,
    writer: Mutex<()>,
    version_tx: watch::Sender<u64>,
    backup_path: PathBuf,
    committed: Mutex<(u64, Instant)>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("version", &self.version())
            .finish_non_exhaustive()
    }
}

fn id_key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

fn load_tree<T: serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    what: &str,
) -> anyhow::Result<std::collections::BTreeMap<u64, T>> {
    let mut out = std::collections::BTreeMap::new();
    for item in tree.iter() {
        let (k, v) = item?;
        let id = u64::from_be_bytes(
            k.as_ref()
                .try_into()
                .map_err(|_| anyhow::anyhow!("corrupt {what} key"))?,
        );
        let rec = serde_json::from_slice(&v)
            .map_err(|e| anyhow::anyhow!("corrupt {what} record {id}: {e}"))?;
        out.insert(id, rec);
    }
    Ok(out)
}

fn load_named_tree<T: serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    what: &str,
) -> anyhow::Result<std::collections::BTreeMap<String, T>> {
    let mut out = std::collections::BTreeMap::new();
    for item in tree.iter() {
        let (k, v) = item?;
        let name =
            String::from_utf8(k.to_vec()).map_err(|_| anyhow::anyhow!("corrupt {what} key"))?;
        let rec = serde_json::from_slice(&v)
            .map_err(|e| anyhow::anyhow!("corrupt {what} record `{name}`: {e}"))?;
        out.insert(name, rec);
    }
    Ok(out)
}

impl Store {
    /// Opens (or creates) the store under `data_dir` (`<data_dir>/db`, backup at
    /// `<data_dir>/backup.json`). `seed` is imported only when the store is empty.
    pub fn open(
        data_dir: &Path,
        master: MasterKey,
        seed: Option<&Snapshot>,
    ) -> anyhow::Result<Self> {
        Self::open_with(data_dir, master, seed, None)
    }

    /// [`open`](Self::open) with the operator's client auth setting (`None`: implied by
    /// the state, see [`State::implied_client_auth`]).
    pub fn open_with(
        data_dir: &Path,
        master: MasterKey,
        seed: Option<&Snapshot>,
        client_auth: Option<AuthMode>,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let db = sled::open(data_dir.join("db"))?;
        let providers = db.open_tree("providers")?;
        let routes = db.open_tree("routes")?;
        let keys = db.open_tree("client_keys")?;
        let meta = db.open_tree("meta")?;
        let teams = db.open_tree("teams")?;
        let prices = db.open_tree("prices")?;
        let budget_marks = db.open_tree("budget_marks")?;
        let key_digest_secret_sealed = match meta.get(META_KEY_DIGEST_SECRET)? {
            Some(v) => String::from_utf8(v.to_vec())
                .map_err(|_| anyhow::anyhow!("corrupt key digest secret"))?,
            None => {
                let secret: [u8; 32] = rand::random();
                let sealed = master.seal(&secret);
                meta.insert(META_KEY_DIGEST_SECRET, sealed.as_bytes())?;
                sealed
            }
        };
        let mut state = State {
            version: match meta.get(META_VERSION)? {
                Some(v) => u64::from_be_bytes(
                    v.as_ref()
                        .try_into()
                        .map_err(|_| anyhow::anyhow!("corrupt version counter"))?,
                ),
                None => 0,
            },
            next_ids: match meta.get(META_NEXT_IDS)? {
                Some(v) => serde_json::from_slice(&v)?,
                None => Default::default(),
            },
            providers: load_tree(&providers, "provider")?,
            routes: load_tree(&routes, "route")?,
            keys: load_tree(&keys, "client key")?,
            client_keys_seen: meta.get(META_CLIENT_KEYS_SEEN)?.is_some(),
            teams: load_named_tree::<TeamRecord>(&teams, "team")?,
            prices: load_named_tree::<PriceRecord>(&prices, "price")?,
            budget_marks: load_named_tree::<BudgetMark>(&budget_marks, "budget mark")?,
            key_digest_secret_sealed,
        };
        if state.key_digest_secret(&master).is_err() && state.keys.values().all(|k| k.is_legacy()) {
            // Sealed under another master key, but no key depends on it: start a new one
            // rather than refuse a store that holds no secret of value.
            tracing::warn!("key digest secret sealed under another master key; replaced (no client key used it)");
            let secret: [u8; 32] = rand::random();
            state.key_digest_secret_sealed = master.seal(&secret);
            meta.insert(
                META_KEY_DIGEST_SECRET,
                state.key_digest_secret_sealed.as_bytes(),
            )?;
        }
        // Stores from before the flag existed: a key id was ever handed out.
        state.client_keys_seen |= !state.keys.is_empty() || state.next_ids.key > 1;
        state.fix_next_ids();
        if state.client_keys_seen {
            meta.insert(META_CLIENT_KEYS_SEEN, &b"1"[..])?;
        }
        let epoch: Arc<str> = match meta.get(META_EPOCH)? {
            Some(v) => String::from_utf8(v.to_vec())
                .map_err(|_| anyhow::anyhow!("corrupt snapshot epoch"))?
                .into(),
            None => {
                let e = new_epoch();
                meta.insert(META_EPOCH, e.as_bytes())?;
                e.into()
            }
        };
        meta.flush()?;
        let mut snap = snapshot::validate_state(&state, &master).map_err(|e| {
            anyhow::anyhow!("stored configuration is unusable: {e} (wrong SLUICE_MASTER_KEY?)")
        })?;
        snap.epoch = epoch.to_string();
        snap.client_auth = client_auth
            .unwrap_or_else(|| state.implied_client_auth())
            .as_str()
            .to_string();
        let (version_tx, _) = watch::channel(state.version);
        let store = Self {
            db,
            providers,
            routes,
            keys,
            meta,
            teams,
            prices,
            budget_marks,
            state: RwLock::new(Arc::new(state)),
            snapshot: RwLock::new(Arc::new(snap)),
            writer: Mutex::new(()),
            version_tx,
            backup_path: data_dir.join("backup.json"),
            committed: Mutex::new((0, Instant::now())),
            master,
            client_auth,
            epoch: RwLock::new(epoch),
        };
        let empty = {
            let s = store.state();
            s.providers.is_empty()
                && s.routes.is_empty()
                && s.keys.is_empty()
                && s.teams.is_empty()
                && s.prices.is_empty()
        };
        if let (true, Some(seed)) = (empty, seed) {
            let mut imported = state_from_snapshot(seed, &store.master)?;
            imported.key_digest_secret_sealed = store.state().key_digest_secret_sealed.clone();
            store
                .replace_all(imported)
                .map_err(|e| anyhow::anyhow!("seed configuration rejected: {e}"))?;
            tracing::info!(version = store.version(), "control plane store seeded");
        } else {
            store.write_backup();
        }
        Ok(store)
    }

    /// The current state.
    pub fn state(&self) -> Arc<State> {
        self.state.read().clone()
    }

    /// The current config version.
    pub fn version(&self) -> u64 {
        self.state.read().version
    }

    /// The snapshot epoch: random, new for every created or restored store.
    pub fn epoch(&self) -> Arc<str> {
        self.epoch.read().clone()
    }

    /// The client auth mode pushed to data planes: the operator's setting, else implied by
    /// the state (`keys` once a client key ever existed).
    pub fn client_auth(&self) -> AuthMode {
        self.client_auth_of(&self.state())
    }

    fn client_auth_of(&self, state: &State) -> AuthMode {
        self.client_auth
            .unwrap_or_else(|| state.implied_client_auth())
    }

    /// Adds a new random client key named `name`; returns its id and the plaintext (shown
    /// once; only its HMAC digest under the store's digest secret is stored).
    pub fn add_client_key(&self, name: String) -> Result<(u64, String), ApiError> {
        self.mutate(move |s, key| {
            let secret = s.key_digest_secret(key)?;
            let (plain, record) = ClientKeyRecord::generate(name, &secret);
            let id = s.next_ids.key();
            s.keys.insert(id, ClientKeyRecord { id, ..record });
            Ok((id, plain))
        })
    }

    /// The current snapshot (plaintext keys: in memory and in transit only).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.read().clone()
    }

    /// A receiver woken on every version change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version_tx.subscribe()
    }

    /// When `version` was committed, if it is the latest commit.
    pub fn committed_at(&self, version: u64) -> Option<Instant> {
        let c = self.committed.lock();
        (c.0 == version).then_some(c.1)
    }

    /// The master key (to seal new secrets).
    pub fn master_key(&self) -> &MasterKey {
        &self.master
    }

    /// The JSON backup path.
    pub fn backup_path(&self) -> &Path {
        &self.backup_path
    }

    /// The sled database (for the usage log and data-plane registry trees).
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Applies `change` to a copy of the state and commits it if the whole result is valid.
    pub fn mutate<T>(
        &self,
        change: impl FnOnce(&mut State, &MasterKey) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let _writer = self.writer.lock();
        let current = self.state();
        let mut next = (*current).clone();
        let out = change(&mut next, &self.master)?;
        self.commit(&current, next, false)?;
        Ok(out)
    }

    /// [`mutate`](Self::mutate) off the async runtime (sled flushes block).
    pub async fn write<T: Send + 'static>(
        self: &Arc<Self>,
        change: impl FnOnce(&mut State, &MasterKey) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.mutate(change))
            .await
            .map_err(ApiError::internal)?
    }

    /// Replaces the whole state (restore): everything is validated before anything is
    /// written, and the swap is one transaction. The version keeps counting up and a new
    /// epoch starts (data planes accept the restored configuration whatever they applied
    /// before). Client auth stays `keys` if it was (`client_keys_seen` is sticky).
    pub fn replace_all(&self, mut incoming: State) -> Result<(), ApiError> {
        if incoming.key_digest_secret_sealed.is_empty() {
            // A backup from before digests: its keys are all legacy; keep our secret.
            incoming.key_digest_secret_sealed = self.state().key_digest_secret_sealed.clone();
        } else if incoming.key_digest_secret(&self.master).is_err() {
            return Err(ApiError::field(
                "key_digest_secret_sealed",
                "cannot be decrypted with this master key",
            ));
        }
        for p in incoming.providers.values() {
            for (i, e) in p.endpoints.iter().enumerate() {
                if !e.api_key_sealed.is_empty() && self.master.open(&e.api_key_sealed).is_err() {
                    return Err(ApiError::field(
                        format!("providers ({}).endpoints[{i}].api_key", p.name),
                        "cannot be decrypted with this master key",
                    ));
                }
            }
        }
        let _writer = self.writer.lock();
        let current = self.state();
        incoming.fix_next_ids();
        self.commit(&current, incoming, true)
    }

    fn commit(
        &self,
        current: &State,
        mut next: State,
        restart_epoch: bool,
    ) -> Result<(), ApiError> {
        next.version = current.version + 1;
        next.client_keys_seen |= current.client_keys_seen || !next.keys.is_empty();
        let mut snap = snapshot::validate_state(&next, &self.master)?;
        let epoch: Arc<str> = if restart_epoch {
            new_epoch().into()
        } else {
            self.epoch()
        };
        snap.epoch = epoch.to_string();
        snap.client_auth = self.client_auth_of(&next).as_str().to_string();
        self.persist(current, &next, restart_epoch.then_some(&*epoch))?;
        let version = next.version;
        *self.committed.lock() = (version, Instant::now());
        *self.epoch.write() = epoch;
        *self.snapshot.write() = Arc::new(snap);
        *self.state.write() = Arc::new(next);
        self.write_backup();
        self.version_tx.send_replace(version);
        tracing::info!(version, "configuration committed");
        Ok(())
    }

    fn persist(&self, current: &State, next: &State, epoch: Option<&str>) -> Result<(), ApiError> {
        let provider_ops = diff(&current.providers, &next.providers)?;
        let route_ops = diff(&current.routes, &next.routes)?;
        let key_ops = diff(&current.keys, &next.keys)?;
        let team_ops = diff_named(&current.teams, &next.teams)?;
        let price_ops = diff_named(&current.prices, &next.prices)?;
        let mark_ops = diff_named(&current.budget_marks, &next.budget_marks)?;
        let secret = (current.key_digest_secret_sealed != next.key_digest_secret_sealed)
            .then(|| next.key_digest_secret_sealed.clone());
        let next_ids = serde_json::to_vec(&next.next_ids).map_err(ApiError::internal)?;
        let version = next.version.to_be_bytes();
        (
            &self.providers,
            &self.routes,
            &self.keys,
            &self.meta,
            &self.teams,
            &self.prices,
            &self.budget_marks,
        )
            .transaction(|(p, r, k, m, t, pr, bm)| {
                apply_ops(p, &provider_ops)?;
                apply_ops(r, &route_ops)?;
                apply_ops(k, &key_ops)?;
                apply_named_ops(t, &team_ops)?;
                apply_named_ops(pr, &price_ops)?;
                apply_named_ops(bm, &mark_ops)?;
                if let Some(sealed) = &secret {
                    m.insert(META_KEY_DIGEST_SECRET, sealed.as_bytes())?;
                }
                m.insert(META_NEXT_IDS, next_ids.as_slice())?;
                m.insert(META_VERSION, &version[..])?;
                if next.client_keys_seen {
                    m.insert(META_CLIENT_KEYS_SEEN, &b"1"[..])?;
                }
                if let Some(e) = epoch {
                    m.insert(META_EPOCH, e.as_bytes())?;
                }
                Ok::<_, ConflictableTransactionError<ApiError>>(())
            })?;
        self.db.flush()?;
        Ok(())
    }

    /// Rewrites `<data_dir>/backup.json` from the current state (errors are logged: the
    /// database already holds the change).
    pub fn write_backup(&self) {
        if let Err(e) = backup::write_file(&self.backup_path, &self.state()) {
            tracing::error!(path = %self.backup_path.display(), error = %e, "backup refresh failed");
        }
    }
}

/// `(key, Some(value))` to write, `(key, None)` to remove.
type Ops = Vec<([u8; 8], Option<Vec<u8>>)>;

fn diff<T: PartialEq + serde::Serialize>(
    old: &std::collections::BTreeMap<u64, T>,
    new: &std::collections::BTreeMap<u64, T>,
) -> Result<Ops, ApiError> {
    let encode = |rec: &T| serde_json::to_vec(rec).map_err(ApiError::internal);
    let mut ops = Vec::new();
    for (id, rec) in new {
        if old.get(id) != Some(rec) {
            ops.push((id_key(*id), Some(encode(rec)?)));
        }
    }
    for id in old.keys().filter(|id| !new.contains_key(id)) {
        ops.push((id_key(*id), None));
    }
    Ok(ops)
}

/// `(name, Some(value))` to write, `(name, None)` to remove.
type NamedOps = Vec<(String, Option<Vec<u8>>)>;

fn diff_named<T: PartialEq + serde::Serialize>(
    old: &std::collections::BTreeMap<String, T>,
    new: &std::collections::BTreeMap<String, T>,
) -> Result<NamedOps, ApiError> {
    let mut ops = Vec::new();
    for (name, rec) in new {
        if old.get(name) != Some(rec) {
            ops.push((
                name.clone(),
                Some(serde_json::to_vec(rec).map_err(ApiError::internal)?),
            ));
        }
    }
    for name in old.keys().filter(|n| !new.contains_key(*n)) {
        ops.push((name.clone(), None));
    }
    Ok(ops)
}

fn apply_named_ops(
    tree: &TransactionalTree,
    ops: &NamedOps,
) -> Result<(), ConflictableTransactionError<ApiError>> {
    for (k, v) in ops {
        match v {
            Some(v) => {
                tree.insert(k.as_bytes(), v.as_slice())?;
            }
            None => {
                tree.remove(k.as_bytes())?;
            }
        }
    }
    Ok(())
}

fn apply_ops(
    tree: &TransactionalTree,
    ops: &Ops,
) -> Result<(), ConflictableTransactionError<ApiError>> {
    for (k, v) in ops {
        match v {
            Some(v) => {
                tree.insert(&k[..], v.as_slice())?;
            }
            None => {
                tree.remove(&k[..])?;
            }
        }
    }
    Ok(())
}

/// Converts a seed snapshot (file config) into store records, sealing its keys.
pub fn state_from_snapshot(snap: &Snapshot, key: &MasterKey) -> anyhow::Result<State> {
    let now = now_ms();
    let mut state = State::default();
    for p in &snap.providers {
        let id = state.next_ids.provider();
        state.providers.insert(
            id,
            ProviderRecord {
                id,
                name: p.name.clone(),
                display_name: None,
                kind: p.kind.clone(),
                models: p.models.clone(),
                enabled: p.enabled,
                weight: p.weight,
                priority: p.priority,
                timeout_ms: if p.timeout_ms == 0 {
                    60_000
                } else {
                    p.timeout_ms
                },
                pace_ms: p.pace_ms,
                limits: policy::limits_from_proto(p.limits.as_ref()),
                endpoints: p
                    .endpoints
                    .iter()
                    .map(|e| EndpointRecord {
                        base_url: e.base_url.clone(),
                        api_key_sealed: if e.api_key.is_empty() {
                            String::new()
                        } else {
                            key.seal(e.api_key.as_bytes())
                        },
                        api_key_masked: mask_secret(&e.api_key),
                    })
                    .collect(),
                created_ms: now,
                updated_ms: now,
            },
        );
    }
    for r in &snap.routes {
        let mut targets = Vec::new();
        for t in &r.targets {
            let provider = state
                .provider_by_name(&t.provider)
                .ok_or_else(|| {
                    anyhow::anyhow!("route `{}`: unknown provider `{}`", r.name, t.provider)
                })?
                .id;
            targets.push(TargetRecord {
                provider_id: provider,
                model: (!t.model.is_empty()).then(|| t.model.clone()),
                weight: t.weight,
                priority: t.priority,
            });
        }
        let id = state.next_ids.route();
        state.routes.insert(
            id,
            RouteRecord {
                id,
                name: r.name.clone(),
                strategy: if r.strategy.is_empty() {
                    "round_robin".into()
                } else {
                    r.strategy.clone()
                },
                retries: r.retries,
                enabled: true,
                targets,
                layout: None,
                limits: policy::limits_from_proto(r.limits.as_ref()),
                created_ms: now,
                updated_ms: now,
            },
        );
    }
    state.client_keys_seen = snap.client_auth == AuthMode::Keys.as_str();
    for (i, h) in snap.client_key_sha256.iter().enumerate() {
        let id = state.next_ids.key();
        state.keys.insert(
            id,
            ClientKeyRecord {
                id,
                name: format!("seed-{i}"),
                sha256: Some(h.clone()),
                digest: None,
                previous_digest: None,
                previous_expires_ms: None,
                masked: "****".into(),
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
            },
        );
    }
    for p in &snap.prices {
        state.prices.insert(
            p.model.clone(),
            PriceRecord {
                model: p.model.clone(),
                input: p.input,
                output: p.output,
                cache_read: p.cache_read,
                cache_write: p.cache_write,
                reasoning: p.reasoning,
                per_request: p.per_request,
                updated_ms: now,
            },
        );
    }
    Ok(state)
}
