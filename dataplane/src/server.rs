//! Wiring the data plane's Pingora server: proxy service, ops service and config sync.

use std::path::PathBuf;
use std::sync::Arc;

use pingora::listeners::{L4BufferSettings, ListenerConfig};
use pingora::server::configuration::ServerConf;
use pingora::server::Server;
use pingora::services::background::background_service;
use pingora::services::listening::Service;

use crate::config::watch::FileWatcher;
use crate::config::ConfigStore;
use crate::health_check::ActiveHealthChecks;
use crate::ops::OpsApp;
use crate::proxy::ProxyApp;
use crate::sync::{SyncClient, SyncOptions};
use crate::AppState;

/// Downstream L4 read buffer per connection: none. Pingora reads request heads and bodies
/// into buffers of its own, so a second buffer underneath only costs memory per connection.
const L4_READ_BUFFER: usize = 0;
/// Downstream L4 write buffer per connection (one MSS, Pingora's default).
const L4_WRITE_BUFFER: usize = 1460;

/// How the data plane gets its configuration.
pub enum ConfigSource {
    /// A TOML file, reloaded when it changes.
    File(PathBuf),
    /// A fixed snapshot (embedded defaults).
    Fixed,
    /// Snapshots pushed by a control plane over gRPC.
    ControlPlane(Box<SyncOptions>),
}

/// Options for [`run`].
pub struct DataPlaneOptions {
    /// The initial, validated config.
    pub store: Arc<ConfigStore>,
    /// Where updates come from.
    pub source: ConfigSource,
    /// Proxy listen address override.
    pub listen: Option<String>,
    /// Ops listen address override.
    pub ops_listen: Option<String>,
    /// Worker threads (0: one per core).
    pub threads: usize,
    /// Where limits and budgets are counted, read once at start-up: `None` takes the
    /// initial config's `[server]` settings. A reload does not change the store (that
    /// needs a restart).
    pub rate_store: Option<sluice_model::RateStoreSettings>,
}

/// Builds the Pingora server with every data-plane service.
pub fn build(opts: DataPlaneOptions) -> anyhow::Result<Server> {
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        opts.threads
    };
    let conf = ServerConf {
        threads,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(5),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let cfg = opts.store.load();
    let listen = opts.listen.unwrap_or_else(|| cfg.server.listen.clone());
    let ops_listen = opts
        .ops_listen
        .unwrap_or_else(|| cfg.server.ops_listen.clone());

    let (usage_tx, usage_rx) = match &opts.source {
        ConfigSource::ControlPlane(_) => {
            let (tx, rx) = tokio::sync::mpsc::channel(16_384);
            (Some(tx), Some(rx))
        }
        _ => (None, None),
    };
    let rate_store = opts
        .rate_store
        .clone()
        .unwrap_or_else(|| cfg.server.rate_store.clone());
    let state = AppState::with_usage(opts.store.clone(), usage_tx, &rate_store);
    let mut proxy = Service::new("proxy".to_string(), ProxyApp::new(state.clone()));
    // Pingora's default per-connection read buffer is 64 KiB, zero-filled at accept: at
    // thousands of open streams that alone is ~40 KiB of RSS each. Requests are parsed into
    // Pingora's own header/body buffers, so going without one costs nothing measurable.
    proxy.add_listener(
        ListenerConfig::tcp(listen.clone())
            .l4_buffer(L4BufferSettings::new(L4_READ_BUFFER, L4_WRITE_BUFFER)),
    );
    server.add_service(proxy);

    let mut ops = Service::new(
        "ops".to_string(),
        pingora::apps::http_app::HttpServer::new_app(OpsApp::new(state.clone(), &listen)),
    );
    ops.add_tcp(&ops_listen);
    server.add_service(ops);

    server.add_service(background_service(
        "health-checks",
        ActiveHealthChecks::new(state.clone()),
    ));
    match opts.source {
        ConfigSource::File(path) => {
            server.add_service(background_service(
                "config-watch",
                FileWatcher::new(path, opts.store),
            ));
        }
        ConfigSource::ControlPlane(sync) => {
            let url = sync.url.clone();
            let client = SyncClient::new(*sync, state, usage_rx);
            client.load_cache();
            server.add_service(background_service("config-sync", client));
            tracing::info!(control_plane = %url, "managed mode");
        }
        ConfigSource::Fixed => {}
    }
    let store_name = match &rate_store.backend {
        sluice_model::RateStoreBackend::Local => "local",
        sluice_model::RateStoreBackend::Redis { .. } => "redis",
    };
    tracing::info!(%listen, %ops_listen, auth = cfg.server.auth.as_str(), rate_store = store_name, failure_mode = rate_store.failure_mode.as_str(), "sluice data plane starting");
    Ok(server)
}
