//! `sluice-loadgen`: the load generator of Sluice's benchmark harness (tests/bench/).
//! Every mode is bounded in count and time, stops by itself and prints one JSON object
//! on stdout. Requests are realistic ~300-byte OpenAI chat bodies.

#![forbid(unsafe_code)]

mod client;
mod hold;
mod latency;
mod rate;
mod stats;
mod stream;

use std::time::Duration;

use anyhow::Result;
use bytes::Bytes;
use clap::{Args, Parser, Subcommand};

use client::Target;

#[derive(Parser)]
#[command(name = "sluice-loadgen", version, about)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

/// Options every mode shares.
#[derive(Args, Clone)]
pub struct Common {
    /// Full URL of the chat endpoint, e.g. http://127.0.0.1:8000/v1/chat/completions
    #[arg(long)]
    url: String,
    /// `model` sent in the body.
    #[arg(long, default_value = "bench-pass")]
    model: String,
    /// Extra request header `name: value` (repeatable).
    #[arg(long = "header", short = 'H')]
    headers: Vec<String>,
    /// Per-request timeout in milliseconds (a timed-out request counts as an error).
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// Tokio worker threads (0: current-thread runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

impl Common {
    fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

#[derive(Subcommand)]
enum Mode {
    /// Concurrency 1: N sequential non-streamed requests on one keep-alive connection.
    Latency(latency::Opts),
    /// Open loop at a fixed rate on K connections; latency from the intended send time.
    Rate(rate::Opts),
    /// Streamed (SSE) requests: time to first byte and gaps between events.
    Stream(stream::Opts),
    /// Hold N streams open concurrently and sample the gateway's RSS meanwhile.
    Hold(hold::Opts),
}

/// A realistic OpenAI chat completion body (~300 bytes).
pub fn chat_body(model: &str, stream: bool) -> Bytes {
    let body = serde_json::json!({
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a concise assistant for an operations team. Answer in plain text."},
            {"role": "user", "content": "Summarize in two sentences why an HTTP reverse proxy keeps upstream connections alive."}
        ],
        "temperature": 0.2,
        "max_tokens": 128,
        "stream": stream,
        "user": "bench-user-0001"
    });
    Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
}

fn runtime(threads: usize) -> Result<tokio::runtime::Runtime> {
    Ok(if threads == 0 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    })
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let common = match &cli.mode {
        Mode::Latency(o) => &o.common,
        Mode::Rate(o) => &o.common,
        Mode::Stream(o) => &o.common,
        Mode::Hold(o) => &o.common,
    };
    let rt = runtime(common.threads)?;
    let out = rt.block_on(async {
        let target = Target::new(&common.url, &common.headers).await?;
        match &cli.mode {
            Mode::Latency(o) => latency::run(o, &target).await,
            Mode::Rate(o) => rate::run(o, &target).await,
            Mode::Stream(o) => stream::run(o, &target).await,
            Mode::Hold(o) => hold::run(o, &target).await,
        }
    })?;
    println!("{out}");
    // Held connections and stragglers must not delay the exit.
    rt.shutdown_timeout(Duration::from_millis(100));
    Ok(())
}
