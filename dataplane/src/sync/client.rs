//! Managed mode: the data plane's gRPC client of the control plane. It says Hello with its
//! node id and last applied epoch and version, applies every snapshot that validates and is
//! not older than the applied one within the same epoch (ACK) and keeps the old one
//! otherwise (NACK), reports endpoint health, ships usage records, and reconnects with
//! exponential backoff and jitter while the current config keeps serving.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use rand::Rng;
use sluice_proto::config_service_client::ConfigServiceClient;
use sluice_proto::{
    control_plane_message, data_plane_message, Ack, DataPlaneMessage, EndpointHealth, HealthReport,
    Hello, Nack, Snapshot, UsageBatch, UsageRecord,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use super::cache::SnapshotCache;
use super::config_from_snapshot;
use crate::config::{ConfigStore, ServerSettings};
use crate::AppState;

const HEALTH_EVERY: Duration = Duration::from_secs(5);
const USAGE_FLUSH_EVERY: Duration = Duration::from_secs(1);
const USAGE_BATCH: usize = 500;

/// Settings of the managed-mode client.
pub struct SyncOptions {
    /// Control plane gRPC URL (`http://host:8002`).
    pub url: String,
    /// This data plane's id.
    pub node_id: String,
    /// `SLUICE_DATAPLANE_TOKEN`.
    pub token: Option<String>,
    /// Server settings local to this data plane (listen addresses, limits).
    pub server: ServerSettings,
    /// Where the last good snapshot is persisted (encrypted), if anywhere.
    pub cache: Option<SnapshotCache>,
    /// Extra CA certificate (PEM) trusted for an `https://` control plane, besides the
    /// system roots.
    pub ca_pem: Option<Vec<u8>>,
}

/// Opens a channel to the control plane: plaintext for `http://`, TLS (system roots plus an
/// optional extra CA) for `https://`.
async fn connect(url: &str, ca_pem: Option<&[u8]>) -> Result<ConfigServiceClient<Channel>, String> {
    let mut endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| format!("invalid control plane URL: {e}"))?;
    if url.starts_with("https://") {
        let mut tls = ClientTlsConfig::new().with_native_roots();
        if let Some(pem) = ca_pem {
            tls = tls.ca_certificate(Certificate::from_pem(pem));
        }
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|e| format!("TLS configuration: {e}"))?;
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("{e}: {:?}", std::error::Error::source(&e)))?;
    Ok(ConfigServiceClient::new(channel))
}

/// Background service syncing config from the control plane.
pub struct SyncClient {
    opts: SyncOptions,
    state: Arc<AppState>,
    usage: parking_lot::Mutex<Option<mpsc::Receiver<UsageRecord>>>,
    applied: parking_lot::Mutex<Option<AppliedVersion>>,
    warned_open: std::sync::atomic::AtomicBool,
}

/// Where the served snapshot sits in the control plane's history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppliedVersion {
    /// The control plane store's epoch (empty from control planes without epochs).
    pub epoch: String,
    /// Version within that epoch.
    pub version: u64,
}

impl AppliedVersion {
    /// The position of `snap`.
    pub fn of(snap: &Snapshot) -> Self {
        Self {
            epoch: snap.epoch.clone(),
            version: snap.version,
        }
    }
}

/// Refuses a snapshot older than the applied one from the same epoch: a replayed or stale
/// snapshot must never roll a data plane back (e.g. to a deleted client key's set). A new
/// epoch (a re-created or restored control plane store) is accepted at any version.
pub fn check_order(applied: Option<&AppliedVersion>, snap: &Snapshot) -> Result<(), String> {
    match applied {
        Some(a) if !a.epoch.is_empty() && a.epoch == snap.epoch && snap.version < a.version => {
            Err(format!(
                "stale snapshot: version {} is older than the applied version {} of epoch {}",
                snap.version, a.version, a.epoch
            ))
        }
        _ => Ok(()),
    }
}

/// Outcome of applying one snapshot.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// Validated and swapped in.
    Ack(u64),
    /// Rejected; the previous config keeps serving.
    Nack(u64, String),
}

/// Validates and applies a snapshot to `store` (the ACK/NACK decision).
pub fn apply_snapshot(store: &ConfigStore, server: &ServerSettings, snap: &Snapshot) -> Applied {
    match config_from_snapshot(snap, server) {
        Ok(cfg) => {
            store.store(cfg);
            Applied::Ack(snap.version)
        }
        Err(e) => {
            crate::metrics::config_update("rejected");
            Applied::Nack(snap.version, e)
        }
    }
}

impl SyncClient {
    /// A client feeding `state.config`; `usage` receives request records to ship.
    pub fn new(
        opts: SyncOptions,
        state: Arc<AppState>,
        usage: Option<mpsc::Receiver<UsageRecord>>,
    ) -> Self {
        Self {
            opts,
            state,
            usage: parking_lot::Mutex::new(usage),
            applied: parking_lot::Mutex::new(None),
            warned_open: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Applies `snap` unless it is stale ([`check_order`]) or invalid; remembers its
    /// position when it is applied.
    pub fn apply(&self, snap: &Snapshot) -> Applied {
        let mut applied = self.applied.lock();
        if let Err(e) = check_order(applied.as_ref(), snap) {
            crate::metrics::config_update("rejected");
            return Applied::Nack(snap.version, e);
        }
        let result = apply_snapshot(&self.state.config, &self.opts.server, snap);
        if let Applied::Ack(_) = result {
            *applied = Some(AppliedVersion::of(snap));
            drop(applied);
            self.warn_if_open();
        }
        result
    }

    /// A loud warning whenever the applied config turns client auth off on a proxy that
    /// listens beyond loopback (once per change).
    fn warn_if_open(&self) {
        use std::sync::atomic::Ordering;
        let cfg = self.state.config.load();
        let open = cfg.server.auth == crate::config::AuthMode::None && self.opts.server.exposed();
        if self.warned_open.swap(open, Ordering::Relaxed) != open && open {
            tracing::warn!(
                listen = %self.opts.server.listen,
                "CLIENT AUTH IS OFF (the control plane sends client_auth = none) and the proxy \
                 listens on a non-loopback address: anyone who reaches it spends the provider keys"
            );
        }
    }

    /// The epoch and version of the served snapshot, if any.
    pub fn applied(&self) -> Option<AppliedVersion> {
        self.applied.lock().clone()
    }

    /// Applies the cached snapshot, if any, so the data plane serves before it reaches the
    /// control plane. Returns the version applied.
    pub fn load_cache(&self) -> Option<u64> {
        let snap = self.opts.cache.as_ref()?.load()?;
        match self.apply(&snap) {
            Applied::Ack(v) => {
                tracing::info!(
                    version = v,
                    "serving the cached snapshot until the control plane answers"
                );
                Some(v)
            }
            Applied::Nack(v, e) => {
                tracing::warn!(version = v, error = %e, "cached snapshot is invalid; ignoring it");
                None
            }
        }
    }

    fn last_version(&self) -> u64 {
        if self.state.config.is_ready() {
            self.state.config.load().version
        } else {
            0
        }
    }

    fn health_report(&self) -> HealthReport {
        let cfg = self.state.config.load();
        HealthReport {
            endpoints: self
                .state
                .router
                .health_report(&cfg)
                .into_iter()
                .map(|r| EndpointHealth {
                    provider: r.provider,
                    base_url: r.base_url,
                    healthy: r.health.is_available,
                    latency_ewma_ms: r.health.response_time_ms,
                    success_rate: r.health.success_rate,
                    consecutive_failures: r.health.consecutive_failures,
                    total_requests: r.health.total_requests,
                })
                .collect(),
        }
    }

    fn authorize<T>(&self, req: &mut tonic::Request<T>) {
        if let Some(t) = &self.opts.token {
            if let Ok(v) = format!("Bearer {t}").parse() {
                req.metadata_mut().insert("authorization", v);
            }
        }
    }

    /// One connected session; returns when the stream ends or fails. `connected` is set
    /// once the control plane accepted the stream (the caller then resets its backoff).
    async fn session(
        &self,
        shutdown: &mut ShutdownWatch,
        connected: &mut bool,
    ) -> Result<(), String> {
        let mut client = connect(&self.opts.url, self.opts.ca_pem.as_deref()).await?;
        let (tx, rx) = mpsc::channel::<DataPlaneMessage>(16);
        let hello = Hello {
            node_id: self.opts.node_id.clone(),
            last_version: self.last_version(),
            last_epoch: self.applied().map(|a| a.epoch).unwrap_or_default(),
        };
        tx.send(DataPlaneMessage {
            msg: Some(data_plane_message::Msg::Hello(hello)),
        })
        .await
        .map_err(|e| e.to_string())?;
        let mut req = tonic::Request::new(ReceiverStream::new(rx));
        self.authorize(&mut req);
        let mut inbound = client
            .sync(req)
            .await
            .map_err(|e| e.to_string())?
            .into_inner();
        tracing::info!(url = %self.opts.url, "connected to the control plane");
        *connected = true;
        let mut health = tokio::time::interval(HEALTH_EVERY);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return Ok(()),
                _ = health.tick() => {
                    let msg = DataPlaneMessage { msg: Some(data_plane_message::Msg::Health(self.health_report())) };
                    if tx.send(msg).await.is_err() { return Err("stream closed".into()); }
                }
                msg = inbound.message() => {
                    let msg = msg.map_err(|e| e.to_string())?;
                    let Some(msg) = msg else { return Err("control plane closed the stream".into()) };
                    let Some(control_plane_message::Msg::Snapshot(snap)) = msg.msg else { continue };
                    let reply = match self.apply(&snap) {
                        Applied::Ack(v) => {
                            tracing::info!(version = v, "applied config snapshot");
                            if let Some(cache) = &self.opts.cache {
                                if let Err(e) = cache.save(&snap) {
                                    tracing::warn!(error = %e, path = %cache.path().display(), "could not persist the snapshot cache");
                                }
                            }
                            data_plane_message::Msg::Ack(Ack { version: v })
                        }
                        Applied::Nack(v, error) => {
                            tracing::error!(version = v, %error, "rejected config snapshot; keeping the current config");
                            data_plane_message::Msg::Nack(Nack { version: v, error })
                        }
                    };
                    if tx.send(DataPlaneMessage { msg: Some(reply) }).await.is_err() {
                        return Err("stream closed".into());
                    }
                }
            }
        }
    }

    async fn ship_usage(
        url: String,
        ca_pem: Option<Vec<u8>>,
        node_id: String,
        token: Option<String>,
        mut rx: mpsc::Receiver<UsageRecord>,
    ) {
        let mut buf = Vec::with_capacity(USAGE_BATCH);
        let mut client: Option<ConfigServiceClient<Channel>> = None;
        loop {
            let deadline = tokio::time::sleep(USAGE_FLUSH_EVERY);
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    r = rx.recv() => match r {
                        Some(rec) => { buf.push(rec); if buf.len() >= USAGE_BATCH { break; } }
                        None => return,
                    },
                    _ = &mut deadline => break,
                }
            }
            if buf.is_empty() {
                continue;
            }
            if client.is_none() {
                client = connect(&url, ca_pem.as_deref()).await.ok();
            }
            let Some(c) = client.as_mut() else {
                // Control plane away: drop the batch rather than grow without bound.
                buf.clear();
                continue;
            };
            let mut req = tonic::Request::new(UsageBatch {
                node_id: node_id.clone(),
                records: std::mem::take(&mut buf),
            });
            if let Some(t) = &token {
                if let Ok(v) = format!("Bearer {t}").parse() {
                    req.metadata_mut().insert("authorization", v);
                }
            }
            if c.report_usage(req).await.is_err() {
                client = None;
            }
        }
    }
}

#[async_trait]
impl BackgroundService for SyncClient {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        if let Some(rx) = self.usage.lock().take() {
            tokio::spawn(Self::ship_usage(
                self.opts.url.clone(),
                self.opts.ca_pem.clone(),
                self.opts.node_id.clone(),
                self.opts.token.clone(),
                rx,
            ));
        }
        let mut backoff = Duration::from_millis(200);
        loop {
            let mut connected = false;
            let result = self.session(&mut shutdown, &mut connected).await;
            if connected {
                backoff = Duration::from_millis(200);
            }
            match result {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "control plane unavailable; serving the current config")
                }
            }
            let jitter = rand::rng().random_range(0.5..1.5);
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(backoff.mul_f64(jitter)) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::snapshot_from_config;

    #[test]
    fn nack_keeps_the_old_config() {
        let cfg = crate::config::parse_config(
            "t",
            "env_providers = false\n[[providers]]\nname = \"a\"\nkind = \"echo\"\nmodels = [\"m\"]\n",
            &|_| None,
        )
        .unwrap();
        let store = ConfigStore::new(cfg.clone(), false);
        let mut snap = snapshot_from_config(&cfg);
        snap.version = 5;
        assert_eq!(
            apply_snapshot(&store, &ServerSettings::default(), &snap),
            Applied::Ack(5)
        );
        assert!(store.is_ready());
        let mut bad = snap.clone();
        bad.version = 6;
        bad.providers[0].kind = "martian".into();
        assert!(matches!(
            apply_snapshot(&store, &ServerSettings::default(), &bad),
            Applied::Nack(6, _)
        ));
        assert_eq!(store.load().version, 5);
    }

    #[test]
    fn cache_round_trip_is_encrypted() {
        let dir = tempfile::tempdir().unwrap();
        let key = sluice_model::MasterKey::generate();
        let cache = SnapshotCache::new(dir.path().join("snap.enc"), key.clone());
        let snap = Snapshot {
            version: 9,
            providers: vec![sluice_proto::Provider {
                name: "p".into(),
                kind: "openai".into(),
                endpoints: vec![sluice_proto::Endpoint {
                    base_url: "http://x/v1".into(),
                    api_key: "sk-very-secret-key".into(),
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        cache.save(&snap).unwrap();
        let raw = std::fs::read_to_string(dir.path().join("snap.enc")).unwrap();
        assert!(!raw.contains("sk-very-secret-key"));
        assert_eq!(cache.load().unwrap().version, 9);
        let other = SnapshotCache::new(
            dir.path().join("snap.enc"),
            sluice_model::MasterKey::generate(),
        );
        assert!(other.load().is_none());
    }

    fn echo_snapshot(epoch: &str, version: u64) -> Snapshot {
        Snapshot {
            version,
            epoch: epoch.into(),
            providers: vec![sluice_proto::Provider {
                name: "echo".into(),
                kind: "echo".into(),
                models: vec!["echo".into()],
                enabled: true,
                weight: 1,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn client(cache: Option<SnapshotCache>) -> SyncClient {
        let cfg = crate::config::RuntimeConfig::new(
            ServerSettings::default(),
            Vec::new(),
            Vec::new(),
            crate::config::default_prefix_rules(),
        )
        .unwrap();
        let state = AppState::new(ConfigStore::new(cfg, false));
        SyncClient::new(
            SyncOptions {
                url: "http://127.0.0.1:1".into(),
                node_id: "t".into(),
                token: None,
                server: ServerSettings::default(),
                cache,
                ca_pem: None,
            },
            state,
            None,
        )
    }

    #[test]
    fn stale_snapshot_of_the_same_epoch_is_nacked() {
        let a = AppliedVersion {
            epoch: "e1".into(),
            version: 5,
        };
        assert!(check_order(None, &echo_snapshot("e1", 1)).is_ok());
        assert!(check_order(Some(&a), &echo_snapshot("e1", 5)).is_ok());
        assert!(check_order(Some(&a), &echo_snapshot("e1", 6)).is_ok());
        assert!(check_order(Some(&a), &echo_snapshot("e1", 4))
            .unwrap_err()
            .contains("stale"));
        // A restored control plane: new epoch, any version.
        assert!(check_order(Some(&a), &echo_snapshot("e2", 1)).is_ok());
        // Control planes without epochs are not compared.
        let legacy = AppliedVersion {
            epoch: String::new(),
            version: 5,
        };
        assert!(check_order(Some(&legacy), &echo_snapshot("", 1)).is_ok());

        let c = client(None);
        assert_eq!(c.apply(&echo_snapshot("e1", 7)), Applied::Ack(7));
        assert!(matches!(
            c.apply(&echo_snapshot("e1", 3)),
            Applied::Nack(3, e) if e.contains("stale")
        ));
        assert_eq!(c.state.config.load().version, 7);
        assert_eq!(c.apply(&echo_snapshot("e2", 2)), Applied::Ack(2));
        assert_eq!(c.state.config.load().version, 2);
        assert_eq!(
            c.applied(),
            Some(AppliedVersion {
                epoch: "e2".into(),
                version: 2
            })
        );
        // An invalid snapshot does not move the applied position.
        let mut bad = echo_snapshot("e2", 9);
        bad.providers[0].kind = "martian".into();
        assert!(matches!(c.apply(&bad), Applied::Nack(9, _)));
        assert_eq!(c.applied().map(|a| a.version), Some(2));
        assert!(c.apply(&echo_snapshot("e2", 3)) == Applied::Ack(3));
    }

    #[test]
    fn cached_snapshot_keeps_its_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let key = sluice_model::MasterKey::generate();
        let path = dir.path().join("snap.enc");
        SnapshotCache::new(path.clone(), key.clone())
            .save(&echo_snapshot("epoch-a", 12))
            .unwrap();
        let c = client(Some(SnapshotCache::new(path, key)));
        assert_eq!(c.load_cache(), Some(12));
        assert_eq!(
            c.applied(),
            Some(AppliedVersion {
                epoch: "epoch-a".into(),
                version: 12
            })
        );
        // After a restart from the cache, a replay of an older snapshot is still refused.
        assert!(matches!(
            c.apply(&echo_snapshot("epoch-a", 11)),
            Applied::Nack(11, _)
        ));
        assert_eq!(c.apply(&echo_snapshot("epoch-b", 1)), Applied::Ack(1));
    }
}
