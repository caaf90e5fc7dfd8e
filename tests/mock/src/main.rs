//! `sluice-mock`: mock LLM upstream for Sluice's end-to-end, fault and load tests.
//!
//! Wiring only: parse flags, compile the scenario, bind, announce the address, serve.

#![forbid(unsafe_code)]

mod api;
mod body;
mod cli;
mod control;
mod embed;
mod fixture;
mod flavor;
mod generate;
mod scenario;
mod server;
mod state;
mod stats;

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;

use crate::cli::Args;
use crate::scenario::Scenario;
use crate::state::MockState;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(workers) = args.workers {
        runtime.worker_threads(workers.max(1));
    }
    runtime.build()?.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let defaults = args.defaults();
    let fixtures_dir = args.fixtures_dir();
    let scenario = match &args.scenario {
        Some(path) => {
            let source = std::fs::read(path)
                .with_context(|| format!("reading scenario {}", path.display()))?;
            Scenario::compile(Bytes::from(source), &defaults, &fixtures_dir)
                .with_context(|| format!("scenario {}", path.display()))?
        }
        None => Scenario::empty(&defaults)?,
    };
    let state = MockState::new(scenario, defaults, fixtures_dir, args.name.clone())?;

    let listener = if args.closed {
        bind_closed(args.listen).await?
    } else {
        tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?
    };
    let line = format!("LISTENING {}\n", listener.local_addr()?);
    if let Some(path) = &args.port_file {
        write_atomically(path, line.as_bytes())?;
    }
    announce(&line)?;

    server::serve(listener, Arc::new(state)).await
}

/// `--closed`: holds the address without listening until stdin says to open. The socket
/// has no `SO_REUSEADDR`, so nobody can bind the port meanwhile; connecting is refused,
/// exactly as to a port nothing listens on.
async fn bind_closed(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket
        .bind(addr)
        .with_context(|| format!("binding {addr}"))?;
    announce(&format!("BOUND {}\n", socket.local_addr()?))?;
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)
    })
    .await??;
    Ok(socket.listen(1024)?)
}

/// Prints one announcement line on stdout, flushed (tests read it).
fn announce(line: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(line.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// Writes `contents` to a temp file next to `path`, then renames it into place, so a
/// reader never sees a partial line.
fn write_atomically(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, contents).with_context(|| format!("writing {}", path.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
