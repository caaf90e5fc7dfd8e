//! `sluice`: the one binary. Parses the command line and wires the services; all logic
//! lives in the library crates.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// mimalloc: fewer instructions per request than glibc malloc on the hot path (the data
/// plane makes ~100 small allocations per request); measured in README "Benchmarks".
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::{Parser, Subcommand};
use sluice_controlplane::{App, ControlPlaneOptions, GrpcTls};
use sluice_dataplane::config::{self, AuthMode, ConfigStore, RuntimeConfig, ServerSettings};
use sluice_dataplane::config::{FailureMode, RateStoreBackend, RateStoreSettings};
use sluice_dataplane::server::{self, ConfigSource, DataPlaneOptions};
use sluice_dataplane::sync::{
    snapshot_from_config, token_from_env, MasterKey, SnapshotCache, SyncOptions,
};

/// The embedded default configuration (`config/sluice.toml`).
const DEFAULT_CONFIG: &str = include_str!("../config/sluice.toml");

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Sluice: an LLM API gateway on Pingora"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Listen {
    /// Proxy listen address (overrides the config).
    #[arg(long, env = "SLUICE_LISTEN")]
    listen: Option<String>,
    /// Ops (metrics/health) listen address (overrides the config).
    #[arg(long, env = "SLUICE_OPS_LISTEN")]
    ops_listen: Option<String>,
    /// Worker threads (0: one per core).
    #[arg(long, env = "SLUICE_THREADS", default_value_t = 0)]
    threads: usize,
}

/// Where the data plane counts limits and budgets (`up` and `dataplane`).
#[derive(clap::Args)]
struct RateStoreArgs {
    /// Where rate limits, concurrency and budget spend are counted: `local` (in this
    /// process) or a Redis/Valkey URL (`redis://host:6379/0`, `rediss://...`) shared by every
    /// data plane. Overrides `[server] rate_store`. Read once at start-up: changing the rate
    /// store (flag or config) needs a restart.
    #[arg(long, env = "SLUICE_RATE_STORE", value_parser = parse_rate_store)]
    rate_store: Option<RateStoreBackend>,
    /// What to do when the shared rate store cannot be reached: `fail_open` (keep serving,
    /// limited per data plane by an in-process store) or `fail_closed` (refuse limited
    /// requests with 503). Overrides `[server] rate_store_failure_mode`; needs a restart to
    /// change.
    #[arg(long, env = "SLUICE_RATE_STORE_FAILURE_MODE", value_parser = parse_failure_mode)]
    rate_store_failure_mode: Option<FailureMode>,
}

impl RateStoreArgs {
    /// `base` (the config's `[server]` settings) with the flags applied.
    fn effective(&self, base: &RateStoreSettings) -> RateStoreSettings {
        let mut s = base.clone();
        if let Some(b) = &self.rate_store {
            s.backend = b.clone();
        }
        if let Some(m) = self.rate_store_failure_mode {
            s.failure_mode = m;
        }
        s
    }
}

fn parse_rate_store(s: &str) -> Result<RateStoreBackend, String> {
    if s == "local" {
        return Ok(RateStoreBackend::Local);
    }
    if s.starts_with("redis://") || s.starts_with("rediss://") {
        return Ok(RateStoreBackend::Redis { url: s.to_owned() });
    }
    Err(format!(
        "`{s}` is not a rate store (local | redis://host:port/db | rediss://...)"
    ))
}

fn parse_failure_mode(s: &str) -> Result<FailureMode, String> {
    FailureMode::parse(s)
        .ok_or_else(|| format!("`{s}` is not a failure mode (fail_open | fail_closed)"))
}

/// Control-plane settings shared by `up` and `controlplane`.
#[derive(clap::Args)]
struct ControlPlaneArgs {
    /// Client auth mode pushed to data planes: `keys` (only client keys created through
    /// the admin API; none at all denies every request) or `none`. Default: `keys` once a
    /// client key exists or ever existed in the store, `none` before.
    #[arg(long, env = "SLUICE_CLIENT_AUTH", value_parser = parse_auth_mode)]
    client_auth: Option<AuthMode>,
    /// Extra host names the admin API answers to when it has no token (comma-separated;
    /// localhost, 127.0.0.1 and [::1] always are). Other `Host` headers get 403.
    #[arg(long, env = "SLUICE_ADMIN_ALLOWED_HOSTS", value_delimiter = ',')]
    admin_allowed_hosts: Vec<String>,
}

fn parse_auth_mode(s: &str) -> Result<AuthMode, String> {
    AuthMode::parse(s).ok_or_else(|| format!("`{s}` is not a client auth mode (keys | none)"))
}

#[derive(Subcommand)]
enum Command {
    /// Control plane and data plane in one process: sled under --data-dir, gRPC over
    /// loopback, seeded from --config (default: the embedded config/sluice.toml) and env keys.
    Up {
        /// Seed config for an empty store (default: the embedded config/sluice.toml).
        #[arg(long, env = "SLUICE_CONFIG")]
        config: Option<PathBuf>,
        /// Where the control plane keeps its database, backup and development master key.
        #[arg(long, env = "SLUICE_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
        /// Admin API listen address.
        #[arg(long, env = "SLUICE_ADMIN_LISTEN", default_value = "0.0.0.0:8001")]
        admin_listen: SocketAddr,
        /// gRPC config server listen address (loopback: only the local data plane uses it).
        #[arg(long, env = "SLUICE_GRPC_LISTEN", default_value = "127.0.0.1:8002")]
        grpc_listen: SocketAddr,
        /// The proxy listens on 127.0.0.1 unless --listen (or --config) says otherwise; on a
        /// non-loopback address without client keys a key is generated and printed once.
        #[command(flatten)]
        listen: Listen,
        #[command(flatten)]
        control: ControlPlaneArgs,
        #[command(flatten)]
        rate_store: RateStoreArgs,
    },
    /// A data plane: from a static config file (hot reloaded) or managed by a control plane.
    Dataplane {
        /// Static TOML config file.
        #[arg(
            long,
            env = "SLUICE_CONFIG",
            conflicts_with = "control_plane",
            required_unless_present = "control_plane"
        )]
        config: Option<PathBuf>,
        /// Control plane gRPC URL, e.g. http://controlplane:8002 (managed mode).
        #[arg(long, env = "SLUICE_CONTROL_PLANE")]
        control_plane: Option<String>,
        /// This data plane's id in managed mode (default: the host name).
        #[arg(long, env = "SLUICE_NODE_ID")]
        node_id: Option<String>,
        /// Where managed mode keeps its encrypted last-good snapshot.
        #[arg(long, env = "SLUICE_CACHE_DIR", default_value = "./data/dataplane")]
        cache_dir: PathBuf,
        /// Extra CA certificate (PEM file) to trust for an https:// control plane.
        #[arg(long, env = "SLUICE_CONTROL_PLANE_CA")]
        control_plane_ca: Option<PathBuf>,
        #[command(flatten)]
        listen: Listen,
        #[command(flatten)]
        rate_store: RateStoreArgs,
    },
    /// The control plane: admin APIs, sled store, gRPC config server.
    Controlplane {
        /// Database, backups.
        #[arg(long, env = "SLUICE_DATA_DIR", default_value = "/var/lib/sluice")]
        data_dir: PathBuf,
        /// Admin API listen address.
        #[arg(long, env = "SLUICE_ADMIN_LISTEN", default_value = "0.0.0.0:8001")]
        admin_listen: SocketAddr,
        /// gRPC config server listen address.
        #[arg(long, env = "SLUICE_GRPC_LISTEN", default_value = "0.0.0.0:8002")]
        grpc_listen: SocketAddr,
        /// Seed config imported when the store is empty.
        #[arg(long, env = "SLUICE_SEED_CONFIG")]
        seed_config: Option<PathBuf>,
        /// Development mode: generate and keep a master key in the data dir when
        /// SLUICE_MASTER_KEY is not set, and allow running without SLUICE_DATAPLANE_TOKEN
        /// (never use in production).
        #[arg(long, env = "SLUICE_DEV")]
        dev: bool,
        /// Serve gRPC over TLS with this certificate chain (PEM file); needs --grpc-tls-key.
        #[arg(long, env = "SLUICE_GRPC_TLS_CERT", requires = "grpc_tls_key")]
        grpc_tls_cert: Option<PathBuf>,
        /// Private key (PEM file) for --grpc-tls-cert.
        #[arg(long, env = "SLUICE_GRPC_TLS_KEY", requires = "grpc_tls_cert")]
        grpc_tls_key: Option<PathBuf>,
        #[command(flatten)]
        control: ControlPlaneArgs,
    },
    /// Export or restore the control plane's JSON backup.
    Backup {
        #[command(subcommand)]
        action: BackupAction,
    },
    /// Print the version.
    Version,
}

#[derive(Subcommand)]
enum BackupAction {
    /// Write the current providers and routes (secrets encrypted) to a JSON file.
    Export {
        /// Control plane data directory.
        #[arg(long, env = "SLUICE_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Replace providers and routes with a backup file's, all or nothing.
    Restore {
        /// Control plane data directory.
        #[arg(long, env = "SLUICE_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
        /// Backup file.
        #[arg(long = "in")]
        input: PathBuf,
    },
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,pingora_core=warn,pingora_proxy=warn")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn load_seed(config: Option<&Path>) -> anyhow::Result<RuntimeConfig> {
    Ok(match config {
        Some(path) => config::load_file(path)?,
        None => config::parse_config("<embedded config/sluice.toml>", DEFAULT_CONFIG, &|k| {
            std::env::var(k).ok()
        })?,
    })
}

/// The control plane's key: SLUICE_MASTER_KEY, or (development only) a key kept in the data dir.
fn master_key(data_dir: &Path, dev: bool) -> anyhow::Result<MasterKey> {
    if std::env::var_os("SLUICE_MASTER_KEY").is_none()
        && !dev
        && !data_dir.join("master.key").exists()
    {
        anyhow::bail!(
            "SLUICE_MASTER_KEY is not set: provider API keys are encrypted at rest with it.\n\
             Generate one with `openssl rand -base64 32` and export SLUICE_MASTER_KEY, or pass --dev \
             to keep a generated key in {} (development only).",
            data_dir.display()
        );
    }
    Ok(MasterKey::from_env_or_file(&data_dir.join("master.key"))?)
}

/// Without an admin token the admin API only listens on loopback: an open admin API must
/// never be reachable from the network.
fn admin_address(requested: SocketAddr, token: Option<&str>) -> SocketAddr {
    if token.is_none() && !requested.ip().is_loopback() {
        tracing::warn!(
            requested = %requested,
            "SLUICE_ADMIN_TOKEN is not set: the admin API listens on 127.0.0.1 only"
        );
        return SocketAddr::new([127, 0, 0, 1].into(), requested.port());
    }
    requested
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "dataplane".into())
}

/// Runs the control plane on its own thread and runtime (Pingora owns the main thread).
fn spawn_control_plane(app: std::sync::Arc<App>, opts: ControlPlaneOptions) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("controlplane".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the control plane runtime");
                    std::process::exit(1);
                }
            };
            if let Err(e) = rt.block_on(sluice_controlplane::run_app(
                app,
                &opts,
                std::future::pending(),
            )) {
                tracing::error!(error = %e, "control plane failed");
                std::process::exit(1);
            }
        })
        .context("spawning the control plane thread")?;
    Ok(())
}

/// Where `sluice up`'s proxy listens: --listen, else the --config file's address, else
/// loopback on the embedded config's port (the quickstart is not an open relay).
fn up_listen(flag: Option<String>, config_given: bool, seed: &ServerSettings) -> String {
    match flag {
        Some(l) => l,
        None if config_given => seed.listen.clone(),
        None => {
            let port = seed.listen.parse::<SocketAddr>().map_or(8000, |a| a.port());
            format!("127.0.0.1:{port}")
        }
    }
}

/// The loud start-up warning of an open proxy: no client auth on a non-loopback address.
fn warn_if_open(server: &ServerSettings) {
    if server.auth == AuthMode::None && server.exposed() {
        tracing::warn!(
            listen = %server.listen,
            "CLIENT AUTH IS OFF (auth = \"none\") and the proxy listens on a non-loopback address: \
             anyone who reaches it spends your provider keys. Configure client keys (auth = \"keys\") \
             or listen on 127.0.0.1."
        );
    }
}

fn random_token() -> String {
    use std::fmt::Write;
    let key = MasterKey::generate().to_base64();
    key.bytes().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("sluice {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Up {
            config,
            data_dir,
            admin_listen,
            grpc_listen,
            mut listen,
            control,
            rate_store,
        } => {
            init_tracing();
            // Tokens first: a bad one is refused before anything is opened.
            let admin_token = token_from_env("SLUICE_ADMIN_TOKEN")?;
            // One process, gRPC over loopback: a random token unless the operator gave one.
            let token = match token_from_env("SLUICE_DATAPLANE_TOKEN")? {
                Some(t) => t,
                None => random_token(),
            };
            let seed = load_seed(config.as_deref())?;
            let rate_store = rate_store.effective(&seed.server.rate_store);
            let key = master_key(&data_dir, true)?;
            let mut server = seed.server.clone();
            server.listen = up_listen(listen.listen.take(), config.is_some(), &seed.server);
            listen.listen = Some(server.listen.clone());
            let opts = ControlPlaneOptions {
                data_dir: data_dir.clone(),
                admin_listen: admin_address(admin_listen, admin_token.as_deref()),
                grpc_listen,
                master_key: key.clone(),
                admin_token,
                dataplane_token: Some(token.clone()),
                dev: true,
                client_auth: control.client_auth,
                allowed_hosts: control.admin_allowed_hosts,
                seed: Some(snapshot_from_config(&seed)),
                grpc_tls: None,
            };
            let app = App::open(&opts)?;
            if server.exposed()
                && app.store.client_auth() == AuthMode::None
                && control.client_auth.is_none()
            {
                let (_, plain) = app
                    .store
                    .add_client_key("sluice-up".into())
                    .map_err(|e| anyhow::anyhow!("creating a client key: {e}"))?;
                eprintln!(
                    "\nsluice up: the proxy listens on {} (beyond loopback), so clients need a key.\n\
                     Generated client key (shown once, only its hash is stored):\n\n    {plain}\n\n\
                     Send it as `Authorization: Bearer <key>`. Manage keys with /v1/admin/keys.\n",
                    server.listen
                );
            }
            server.auth = app.store.client_auth();
            warn_if_open(&server);
            spawn_control_plane(app, opts)?;
            let grpc = SocketAddr::new(
                if grpc_listen.ip().is_unspecified() {
                    [127, 0, 0, 1].into()
                } else {
                    grpc_listen.ip()
                },
                grpc_listen.port(),
            );
            let sync = SyncOptions {
                url: format!("http://{grpc}"),
                node_id: "local".into(),
                token: Some(token),
                server: server.clone(),
                cache: Some(SnapshotCache::new(
                    data_dir.join("dataplane-snapshot.enc"),
                    key,
                )),
                ca_pem: None,
            };
            run_dataplane(
                empty_config(server)?,
                ConfigSource::ControlPlane(Box::new(sync)),
                listen,
                rate_store,
            )
        }
        Command::Dataplane {
            config,
            control_plane,
            node_id,
            control_plane_ca,
            cache_dir,
            listen,
            rate_store,
        } => {
            init_tracing();
            match (config, control_plane) {
                (Some(path), _) => {
                    let cfg = config::load_file(&path)?;
                    let mut server = cfg.server.clone();
                    if let Some(l) = &listen.listen {
                        server.listen = l.clone();
                    }
                    warn_if_open(&server);
                    let rate_store = rate_store.effective(&cfg.server.rate_store);
                    run_dataplane_ready(cfg, ConfigSource::File(path), listen, rate_store)
                }
                (None, Some(url)) => {
                    let token = token_from_env("SLUICE_DATAPLANE_TOKEN")?;
                    if token.is_none() {
                        tracing::warn!("SLUICE_DATAPLANE_TOKEN is not set: only a control plane in --dev mode will accept this data plane");
                    }
                    let cache = match std::env::var("SLUICE_MASTER_KEY") {
                        Ok(k) => Some(SnapshotCache::new(
                            cache_dir.join("snapshot.enc"),
                            MasterKey::from_base64(&k)?,
                        )),
                        Err(_) => {
                            tracing::warn!("SLUICE_MASTER_KEY not set: the last good snapshot is not cached on disk");
                            None
                        }
                    };
                    let mut server = ServerSettings::default();
                    if let Some(l) = &listen.listen {
                        server.listen = l.clone();
                    }
                    let ca_pem = match control_plane_ca {
                        Some(p) => Some(
                            std::fs::read(&p)
                                .with_context(|| format!("reading {}", p.display()))?,
                        ),
                        None => None,
                    };
                    let sync = SyncOptions {
                        url,
                        node_id: node_id.unwrap_or_else(host_name),
                        token,
                        server: server.clone(),
                        cache,
                        ca_pem,
                    };
                    run_dataplane(
                        empty_config(server)?,
                        ConfigSource::ControlPlane(Box::new(sync)),
                        listen,
                        rate_store.effective(&RateStoreSettings::default()),
                    )
                }
                (None, None) => anyhow::bail!("give --config FILE or --control-plane URL"),
            }
        }
        Command::Controlplane {
            data_dir,
            admin_listen,
            grpc_listen,
            grpc_tls_cert,
            grpc_tls_key,
            seed_config,
            dev,
            control,
        } => {
            init_tracing();
            let admin_token = token_from_env("SLUICE_ADMIN_TOKEN")?;
            let dataplane_token = token_from_env("SLUICE_DATAPLANE_TOKEN")?;
            if dataplane_token.is_none() && !dev {
                anyhow::bail!(
                    "SLUICE_DATAPLANE_TOKEN is not set: snapshots carry every provider API key, so data \
                     planes must authenticate. Set it (at least 16 bytes, e.g. `openssl rand -hex 32`) \
                     here and on every data plane, or pass --dev (development only)."
                );
            }
            let key = master_key(&data_dir, dev)?;
            if admin_token.is_none() && !dev {
                anyhow::bail!(
                    "SLUICE_ADMIN_TOKEN is not set: the admin API needs a token (Authorization: Bearer or \
                     X-Admin-Key). Set it, or pass --dev for an unauthenticated admin API on 127.0.0.1."
                );
            }
            let seed = match seed_config {
                Some(p) => Some(snapshot_from_config(&config::load_file(&p)?)),
                None => None,
            };
            let grpc_tls = match (grpc_tls_cert, grpc_tls_key) {
                (Some(c), Some(k)) => Some(GrpcTls {
                    cert_pem: std::fs::read(&c)
                        .with_context(|| format!("reading {}", c.display()))?,
                    key_pem: std::fs::read(&k)
                        .with_context(|| format!("reading {}", k.display()))?,
                }),
                _ => None,
            };
            let opts = ControlPlaneOptions {
                data_dir,
                admin_listen: admin_address(admin_listen, admin_token.as_deref()),
                grpc_listen,
                master_key: key,
                admin_token,
                dataplane_token,
                dev,
                client_auth: control.client_auth,
                allowed_hosts: control.admin_allowed_hosts,
                seed,
                grpc_tls,
            };
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(sluice_controlplane::run(opts, async {
                let _ = tokio::signal::ctrl_c().await;
            }))
        }
        Command::Backup { action } => match action {
            BackupAction::Export { data_dir, out } => {
                let key = master_key(&data_dir, false)?;
                sluice_controlplane::backup_export(&data_dir, &out, &key)?;
                println!("exported to {}", out.display());
                Ok(())
            }
            BackupAction::Restore { data_dir, input } => {
                let key = master_key(&data_dir, false)?;
                sluice_controlplane::backup_restore(&data_dir, &input, &key)?;
                println!("restored from {}", input.display());
                Ok(())
            }
        },
    }
}

fn empty_config(server: ServerSettings) -> anyhow::Result<RuntimeConfig> {
    RuntimeConfig::new(
        server,
        Vec::new(),
        Vec::new(),
        config::default_prefix_rules(),
    )
    .map_err(|e| anyhow::anyhow!("invalid server settings: {e}"))
}

fn run_dataplane_ready(
    cfg: RuntimeConfig,
    source: ConfigSource,
    listen: Listen,
    rate_store: RateStoreSettings,
) -> anyhow::Result<()> {
    start(ConfigStore::new(cfg, true), source, listen, rate_store)
}

fn run_dataplane(
    initial: RuntimeConfig,
    source: ConfigSource,
    listen: Listen,
    rate_store: RateStoreSettings,
) -> anyhow::Result<()> {
    start(ConfigStore::new(initial, false), source, listen, rate_store)
}

fn start(
    store: std::sync::Arc<ConfigStore>,
    source: ConfigSource,
    listen: Listen,
    rate_store: RateStoreSettings,
) -> anyhow::Result<()> {
    let server = server::build(DataPlaneOptions {
        store,
        source,
        listen: listen.listen,
        ops_listen: listen.ops_listen,
        threads: listen.threads,
        rate_store: Some(rate_store),
    })
    .context("building the data plane")?;
    server.run_forever()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_listens_on_loopback_unless_told_otherwise() {
        let seed = ServerSettings::default();
        assert_eq!(seed.listen, "0.0.0.0:8000");
        assert_eq!(up_listen(None, false, &seed), "127.0.0.1:8000");
        assert_eq!(up_listen(None, true, &seed), "0.0.0.0:8000");
        assert_eq!(
            up_listen(Some("0.0.0.0:9000".into()), false, &seed),
            "0.0.0.0:9000"
        );
    }

    #[test]
    fn rate_store_flags_override_the_config() {
        assert_eq!(parse_rate_store("local"), Ok(RateStoreBackend::Local));
        assert_eq!(
            parse_rate_store("redis://127.0.0.1:6379/0"),
            Ok(RateStoreBackend::Redis {
                url: "redis://127.0.0.1:6379/0".into()
            })
        );
        assert!(parse_rate_store("memcached://x").is_err());
        assert!(parse_failure_mode("fail_sometimes").is_err());
        let base = RateStoreSettings {
            backend: RateStoreBackend::Redis {
                url: "redis://cfg".into(),
            },
            ..RateStoreSettings::default()
        };
        let none = RateStoreArgs {
            rate_store: None,
            rate_store_failure_mode: None,
        };
        assert_eq!(none.effective(&base), base);
        let flags = RateStoreArgs {
            rate_store: Some(RateStoreBackend::Local),
            rate_store_failure_mode: Some(FailureMode::FailClosed),
        };
        let eff = flags.effective(&base);
        assert_eq!(eff.backend, RateStoreBackend::Local);
        assert_eq!(eff.failure_mode, FailureMode::FailClosed);
        assert_eq!(eff.timeout, base.timeout);
    }
}
