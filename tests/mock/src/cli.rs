//! Command-line flags.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::fixture::FixtureRoots;
use crate::generate::GenerateSpec;
use crate::scenario::Defaults;

/// sluice-mock: a fast, deterministic mock LLM upstream (OpenAI, Anthropic and Gemini
/// flavors in one process) that replays recorded provider traffic and injects faults.
#[derive(Debug, Parser)]
#[command(name = "sluice-mock", version)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port. Once ready, the mock prints
    /// exactly one line `LISTENING <ip>:<port>` to stdout.
    #[arg(long, env = "SLUICE_MOCK_LISTEN", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,

    /// Directory that scenario fixture paths are relative to
    /// [default: ../shared/fixtures, relative to the working directory].
    #[arg(long, env = "SLUICE_FIXTURES")]
    pub fixtures: Option<PathBuf>,

    /// Further directories searched for a fixture path the fixtures directory lacks, in
    /// order (e.g. recordings kept in the repository beside the shared ones). Repeatable.
    #[arg(long)]
    pub fixtures_extra: Vec<PathBuf>,

    /// Also write the `LISTENING ...` line to this file (atomically: temp file + rename).
    #[arg(long)]
    pub port_file: Option<PathBuf>,

    /// Start as an endpoint that is down but keeps its port: bind the address without
    /// listening (connections are refused, and no other process can take the port), print
    /// `BOUND <ip>:<port>`, and start listening once a line (or EOF) arrives on stdin.
    #[arg(long)]
    pub closed: bool,

    /// Scenario file (JSON rules; see README.md). Without it every request gets a
    /// generated answer of the flavor its path implies.
    #[arg(long, env = "SLUICE_MOCK_SCENARIO")]
    pub scenario: Option<PathBuf>,

    /// Delay before response headers, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub delay_ms: u64,

    /// Delay before the first body chunk of a stream, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub ttft_ms: u64,

    /// Delay between stream chunks, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub gap_ms: u64,

    /// Number of text deltas in a generated stream.
    #[arg(long, default_value_t = 16)]
    pub chunks: u32,

    /// Text of each generated delta.
    #[arg(long, default_value = "mock ")]
    pub chunk_text: String,

    /// Probability (0..=1) that a request fails with --fail-status.
    #[arg(long, default_value_t = 0.0)]
    pub fail_rate: f64,

    /// Status of injected failures.
    #[arg(long, default_value_t = 500)]
    pub fail_status: u16,

    /// Name sent in the `x-mock-name` header and used in generated response ids.
    #[arg(long, env = "SLUICE_MOCK_NAME", default_value = "mock")]
    pub name: String,

    /// Runtime worker threads [default: number of CPUs].
    #[arg(long)]
    pub workers: Option<usize>,
}

impl Args {
    /// The fixtures directories: `--fixtures` (else `$SLUICE_FIXTURES`, else
    /// `../shared/fixtures`), then every `--fixtures-extra`.
    pub fn fixtures_dir(&self) -> FixtureRoots {
        let primary = self
            .fixtures
            .clone()
            .unwrap_or_else(|| PathBuf::from("../shared/fixtures"));
        FixtureRoots::new(primary, self.fixtures_extra.iter().cloned())
    }

    /// The behaviour used where a scenario rule leaves a knob unset.
    pub fn defaults(&self) -> Defaults {
        Defaults {
            delay: Duration::from_millis(self.delay_ms),
            ttft: Duration::from_millis(self.ttft_ms),
            gap: Duration::from_millis(self.gap_ms),
            fail_rate: self.fail_rate,
            fail_status: self.fail_status,
            generate: GenerateSpec {
                chunks: self.chunks,
                chunk_text: self.chunk_text.clone(),
                id: response_id(&self.name),
            },
        }
    }
}

/// `name` reduced to characters that are safe inside JSON strings and ids.
fn response_id(name: &str) -> String {
    let id: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if id.is_empty() {
        "mock".to_owned()
    } else {
        id
    }
}
