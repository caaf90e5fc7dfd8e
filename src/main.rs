//! `sluice`: the one binary. Parses the command line and wires the services; all logic
//! lives in the library crates.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sluice_dataplane::config::{self, ConfigStore};
use sluice_dataplane::server::{self, ConfigSource, DataPlaneOptions};

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

#[derive(Subcommand)]
enum Command {
    /// Run the gateway on its embedded defaults (or --config), for a laptop or a quickstart.
    Up {
        /// Config file to use instead of the embedded defaults (hot reloaded).
        #[arg(long, env = "SLUICE_CONFIG")]
        config: Option<PathBuf>,
        /// Proxy listen address (overrides the config).
        #[arg(long, env = "SLUICE_LISTEN")]
        listen: Option<String>,
        /// Ops (metrics/health) listen address (overrides the config).
        #[arg(long, env = "SLUICE_OPS_LISTEN")]
        ops_listen: Option<String>,
    },
    /// Run a standalone data plane from a config file, reloaded when it changes.
    Dataplane {
        /// Static TOML config file.
        #[arg(long, env = "SLUICE_CONFIG")]
        config: PathBuf,
        /// Proxy listen address (overrides the config).
        #[arg(long, env = "SLUICE_LISTEN")]
        listen: Option<String>,
        /// Ops (metrics/health) listen address (overrides the config).
        #[arg(long, env = "SLUICE_OPS_LISTEN")]
        ops_listen: Option<String>,
        /// Worker threads (0: one per core).
        #[arg(long, env = "SLUICE_THREADS", default_value_t = 0)]
        threads: usize,
    },
    /// Print the version.
    Version,
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("info,pingora_core=warn,pingora_proxy=warn")
        });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn run_dataplane(
    config: Option<PathBuf>,
    listen: Option<String>,
    ops_listen: Option<String>,
    threads: usize,
) -> anyhow::Result<()> {
    let (cfg, source) = match config {
        Some(path) => (config::load_file(&path)?, ConfigSource::File(path)),
        None => (
            config::parse_config("<embedded config/sluice.toml>", DEFAULT_CONFIG, &|k| {
                std::env::var(k).ok()
            })?,
            ConfigSource::Fixed,
        ),
    };
    let store = ConfigStore::new(cfg, true);
    let server = server::build(DataPlaneOptions {
        store,
        source,
        listen,
        ops_listen,
        threads,
    })
    .context("building the data plane")?;
    server.run_forever()
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
            listen,
            ops_listen,
        } => {
            init_tracing();
            run_dataplane(config, listen, ops_listen, 0)
        }
        Command::Dataplane {
            config,
            listen,
            ops_listen,
            threads,
        } => {
            init_tracing();
            run_dataplane(Some(config), listen, ops_listen, threads)
        }
    }
}
