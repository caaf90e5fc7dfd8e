//! State shared by every connection of one mock process.

use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};
use bytes::Bytes;
use hyper::header::HeaderValue;

use crate::fixture::FixtureRoots;
use crate::flavor::ApiEndpoint;
use crate::scenario::{Defaults, Scenario};
use crate::stats::Stats;

/// The last request one endpoint received (served by `GET /_mock/last?path=`).
#[derive(Debug)]
pub struct LastRequest {
    /// Path and query as received (e.g. `/v1beta/models/m:streamGenerateContent?alt=sse`).
    pub target: String,
    /// The whole body.
    pub body: Bytes,
}

/// Everything a request handler reads; swapped parts use `ArcSwap`, counters are atomics.
pub struct MockState {
    /// The active scenario (replaced by `POST /_mock/scenario`).
    pub scenario: ArcSwap<Scenario>,
    /// Counters and request log.
    pub stats: Stats,
    /// Body of the last upstream API request.
    pub last_body: ArcSwap<Bytes>,
    /// The last request of each endpoint, by [`ApiEndpoint::index`].
    pub last: [ArcSwapOption<LastRequest>; ApiEndpoint::ALL.len()],
    /// Command-line defaults, used to compile scenarios posted at runtime.
    pub defaults: Defaults,
    /// Roots that scenario fixture paths are relative to.
    pub fixtures_dir: FixtureRoots,
    /// `--name`, as sent in `x-mock-name`.
    pub name: String,
    /// `--name` as a header value, built once.
    pub name_header: HeaderValue,
}

impl MockState {
    /// Builds the state around an initial scenario.
    pub fn new(
        scenario: Scenario,
        defaults: Defaults,
        fixtures_dir: FixtureRoots,
        name: String,
    ) -> anyhow::Result<Self> {
        let name_header = HeaderValue::from_str(&name)
            .map_err(|_| anyhow::anyhow!("--name {name:?} is not a valid header value"))?;
        Ok(Self {
            scenario: ArcSwap::from_pointee(scenario),
            stats: Stats::new(),
            last_body: ArcSwap::from_pointee(Bytes::new()),
            last: Default::default(),
            defaults,
            fixtures_dir,
            name,
            name_header,
        })
    }

    /// Clears counters, the log, rule counters and the last body.
    pub fn reset(&self) {
        self.stats.reset();
        self.scenario.load().reset_counters();
        self.last_body.store(Arc::new(Bytes::new()));
        for last in &self.last {
            last.store(None);
        }
    }
}
