//! Sluice control plane: a sled store with encrypted provider keys, the admin APIs of
//! every seed (000, 001, 002) plus the canonical `/v1/admin/*` API, JSON backups, and
//! the gRPC config server that pushes snapshots to data planes.
//!
//! [`run`] wires it together; the `sluice` binary calls it (and [`backup_export`] /
//! [`backup_restore`] for `sluice backup export|restore`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod backup;
pub mod clock;
pub mod dataplanes;
pub mod error;
pub mod grpc;
pub mod ledger;
pub mod metrics;
pub mod service;
pub mod store;
pub mod usage;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use sluice_model::{check_token, AuthMode, MasterKey};

pub use backup::{backup_export, backup_restore};
pub use error::{ApiError, ErrorKind};

/// Everything the control plane needs to start.
#[derive(Debug, Clone)]
pub struct ControlPlaneOptions {
    /// Directory of the sled database (`db/`) and `backup.json`.
    pub data_dir: PathBuf,
    /// Admin REST API (and `/metrics`) listen address.
    pub admin_listen: SocketAddr,
    /// gRPC config server listen address.
    pub grpc_listen: SocketAddr,
    /// Key sealing provider API keys at rest.
    pub master_key: MasterKey,
    /// Admin token (`SLUICE_ADMIN_TOKEN`, at least 16 bytes); `None` disables admin auth
    /// (development: the admin API then checks `Host` against [`Self::allowed_hosts`]).
    pub admin_token: Option<String>,
    /// Data-plane token (`SLUICE_DATAPLANE_TOKEN`, at least 16 bytes); `None` accepts any
    /// data plane and is refused unless [`Self::dev`] is set.
    pub dataplane_token: Option<String>,
    /// Development mode: allows running without a data-plane token.
    pub dev: bool,
    /// Client auth mode pushed to data planes; `None` decides from the store (`keys` once a
    /// client key exists or ever existed, `none` before).
    pub client_auth: Option<AuthMode>,
    /// Extra `Host` names the admin API accepts without a token (besides localhost,
    /// 127.0.0.1 and [::1]).
    pub allowed_hosts: Vec<String>,
    /// Initial configuration, imported only when the store is empty.
    pub seed: Option<sluice_proto::Snapshot>,
    /// Serve gRPC over TLS with this certificate and key (PEM); plaintext when `None`.
    pub grpc_tls: Option<GrpcTls>,
}

/// A PEM certificate chain and private key for the gRPC config server.
#[derive(Clone)]
pub struct GrpcTls {
    /// Certificate chain (PEM).
    pub cert_pem: Vec<u8>,
    /// Private key (PEM).
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for GrpcTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GrpcTls(…)")
    }
}

/// Shared state of a running control plane.
pub struct App {
    /// The configuration store.
    pub store: Arc<store::Store>,
    /// Usage records.
    pub usage: usage::UsageLog,
    /// Spend per budget scope and window.
    pub ledger: ledger::Ledger,
    /// Known data planes and their health.
    pub dataplanes: dataplanes::Registry,
    /// Counters.
    pub metrics: metrics::Metrics,
    /// Provider-management API `/select` balancers, kept per route.
    pub selectors: api::select::Selectors,
    /// Admin token.
    pub admin_token: Option<String>,
    /// Data-plane token.
    pub dataplane_token: Option<String>,
    /// `Host` names accepted by the admin API when it has no token.
    pub allowed_hosts: api::host::AllowedHosts,
    /// Set to `true` when the control plane stops (ends open Sync streams).
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// TLS for the gRPC config server.
    pub grpc_tls: Option<GrpcTls>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Opens the store under `opts.data_dir` and builds the shared state.
    /// Refuses empty or short tokens, and a missing data-plane token outside `dev` mode.
    pub fn open(opts: &ControlPlaneOptions) -> anyhow::Result<Arc<Self>> {
        let admin_token = check_token("SLUICE_ADMIN_TOKEN", opts.admin_token.clone())?;
        let dataplane_token = check_token("SLUICE_DATAPLANE_TOKEN", opts.dataplane_token.clone())?;
        if dataplane_token.is_none() && !opts.dev {
            anyhow::bail!(
                "SLUICE_DATAPLANE_TOKEN is not set: snapshots carry every provider API key, so data \
                 planes must authenticate. Set it (at least 16 bytes, e.g. `openssl rand -hex 32`) on \
                 the control plane and every data plane, or pass --dev (development only)."
            );
        }
        let store = store::Store::open_with(
            &opts.data_dir,
            opts.master_key.clone(),
            opts.seed.as_ref(),
            opts.client_auth,
        )?;
        let usage = usage::UsageLog::open(store.db())?;
        let dataplanes = dataplanes::Registry::open(store.db())?;
        let ledger = ledger::Ledger::open(store.db())?;
        Ok(Arc::new(Self {
            store: Arc::new(store),
            usage,
            ledger,
            dataplanes,
            metrics: Default::default(),
            selectors: Default::default(),
            admin_token,
            dataplane_token,
            allowed_hosts: api::host::AllowedHosts::new(&opts.allowed_hosts),
            stopping: tokio::sync::watch::channel(false).0,
            grpc_tls: opts.grpc_tls.clone(),
        }))
    }
}

/// Runs the control plane until `shutdown` resolves: binds the admin and gRPC listeners,
/// logs them, and serves both.
pub async fn run(
    opts: ControlPlaneOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = App::open(&opts)?;
    run_app(app, &opts, shutdown).await
}

/// [`run`] with an already opened [`App`] (`sluice up` prepares the store first).
pub async fn run_app(
    app: Arc<App>,
    opts: &ControlPlaneOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let admin = tokio::net::TcpListener::bind(opts.admin_listen).await?;
    let grpc = tokio::net::TcpListener::bind(opts.grpc_listen).await?;
    serve(app, admin, grpc, shutdown).await
}

/// Serves on already-bound listeners (tests bind `127.0.0.1:0` themselves).
pub async fn serve(
    app: Arc<App>,
    admin: tokio::net::TcpListener,
    grpc: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if app.admin_token.is_none() {
        tracing::warn!("SLUICE_ADMIN_TOKEN is not set: the admin API accepts unauthenticated requests (development only; Host must be a loopback or allowed name)");
    }
    if app.dataplane_token.is_none() {
        tracing::warn!("SLUICE_DATAPLANE_TOKEN is not set (--dev): any data plane that reaches the gRPC port receives every provider API key");
    }
    tracing::info!(addr = %admin.local_addr()?, "control plane admin API listening");
    tracing::info!(addr = %grpc.local_addr()?, "control plane gRPC config server listening");
    let stop_rx = app.stopping.subscribe();
    let stopper = app.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.stopping.send_replace(true);
    });
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stopped| *stopped).await;
    };
    let router = api::router(app.clone());
    let admin_task = axum::serve(admin, router).with_graceful_shutdown(wait(stop_rx.clone()));
    let mut grpc_server = tonic::transport::Server::builder();
    if let Some(tls) = &app.grpc_tls {
        let identity = tonic::transport::Identity::from_pem(&tls.cert_pem, &tls.key_pem);
        grpc_server = grpc_server
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
            .map_err(|e| anyhow::anyhow!("gRPC TLS configuration: {e}"))?;
        tracing::info!("gRPC config server uses TLS");
    }
    let grpc_task = grpc_server
        .add_service(
            sluice_proto::config_service_server::ConfigServiceServer::new(grpc::ConfigServer::new(
                app.clone(),
            )),
        )
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(grpc),
            wait(stop_rx),
        );
    let (a, g) = tokio::join!(admin_task, grpc_task);
    a?;
    g?;
    Ok(())
}
