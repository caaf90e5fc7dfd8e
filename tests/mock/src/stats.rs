//! Request counters and the log of recent requests served at `/_mock/stats`.
//!
//! Writers never block: counters are atomics and the log is a ring of `ArcSwapOption`
//! slots claimed by a sequence number.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwapOption;
use serde::Serialize;

use crate::flavor::ApiEndpoint;

/// How many requests the log keeps.
pub const LOG_CAPACITY: usize = 10_000;

/// Request headers copied into the log (the ones tests check the gateway sets upstream).
pub const LOGGED_HEADERS: [&str; 6] = [
    "authorization",
    "x-api-key",
    "x-goog-api-key",
    "host",
    "anthropic-version",
    "x-request-id",
];

/// One logged request.
#[derive(Debug, Serialize)]
pub struct LogEntry {
    /// Position in arrival order since start or reset (0-based).
    pub seq: u64,
    /// Milliseconds since the mock started (monotonic clock) when the request head arrived.
    pub t_ms: u64,
    /// Request path, query excluded.
    pub path: String,
    /// Model from the body (or the path, for Gemini).
    pub model: Option<String>,
    /// Whether a streamed answer was asked for.
    pub stream: bool,
    /// Response status; 0 when a fault sent no response.
    pub status: u16,
    /// Request body length.
    pub bytes_in: usize,
    /// The [`LOGGED_HEADERS`] present on the request.
    pub headers: serde_json::Map<String, serde_json::Value>,
    /// The fault applied, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<&'static str>,
}

/// Counters and the request log.
pub struct Stats {
    start: Instant,
    total: AtomicU64,
    by_endpoint: [AtomicU64; ApiEndpoint::ALL.len()],
    other: AtomicU64,
    log: Box<[ArcSwapOption<LogEntry>]>,
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    /// Empty stats; the clock for `t_ms` starts now.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            total: AtomicU64::new(0),
            by_endpoint: Default::default(),
            other: AtomicU64::new(0),
            log: (0..LOG_CAPACITY).map(|_| ArcSwapOption::empty()).collect(),
        }
    }

    /// Milliseconds since start.
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Counts a request to `endpoint` (`None`: an unknown path) and returns its sequence number.
    pub fn count(&self, endpoint: Option<ApiEndpoint>) -> u64 {
        match endpoint {
            Some(e) => self.by_endpoint[e.index()].fetch_add(1, Ordering::Relaxed),
            None => self.other.fetch_add(1, Ordering::Relaxed),
        };
        self.total.fetch_add(1, Ordering::Relaxed)
    }

    /// Stores a log entry in the slot of its sequence number.
    pub fn record(&self, entry: LogEntry) {
        let slot = (entry.seq % LOG_CAPACITY as u64) as usize;
        self.log[slot].store(Some(Arc::new(entry)));
    }

    /// Clears counters and log.
    pub fn reset(&self) {
        self.total.store(0, Ordering::Relaxed);
        self.other.store(0, Ordering::Relaxed);
        for counter in &self.by_endpoint {
            counter.store(0, Ordering::Relaxed);
        }
        for slot in self.log.iter() {
            slot.store(None);
        }
    }

    /// The `/_mock/stats` document.
    pub fn to_json(&self, name: &str) -> serde_json::Value {
        let total = self.total.load(Ordering::Relaxed);
        let mut by_path = serde_json::Map::new();
        for endpoint in ApiEndpoint::ALL {
            let n = self.by_endpoint[endpoint.index()].load(Ordering::Relaxed);
            if n > 0 {
                by_path.insert(endpoint.label().to_owned(), n.into());
            }
        }
        let other = self.other.load(Ordering::Relaxed);
        if other > 0 {
            by_path.insert("other".to_owned(), other.into());
        }
        let oldest = total.saturating_sub(LOG_CAPACITY as u64);
        let mut log: Vec<Arc<LogEntry>> = self
            .log
            .iter()
            .filter_map(|slot| slot.load_full())
            .filter(|e| e.seq >= oldest && e.seq < total)
            .collect();
        log.sort_by_key(|e| e.seq);
        let log: Vec<&LogEntry> = log.iter().map(|e| &**e).collect();
        serde_json::json!({
            "name": name,
            "requests": total,
            "by_path": by_path,
            "log": log,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64) -> LogEntry {
        LogEntry {
            seq,
            t_ms: 0,
            path: "/v1/messages".to_owned(),
            model: None,
            stream: false,
            status: 200,
            bytes_in: 0,
            headers: Default::default(),
            fault: None,
        }
    }

    #[test]
    fn log_keeps_the_newest_in_order() {
        let stats = Stats::new();
        for _ in 0..LOG_CAPACITY + 5 {
            let seq = stats.count(Some(ApiEndpoint::AnthropicMessages));
            stats.record(entry(seq));
        }
        let doc = stats.to_json("m");
        let log = doc["log"].as_array().unwrap();
        assert_eq!(log.len(), LOG_CAPACITY);
        assert_eq!(log[0]["seq"], 5);
        assert_eq!(doc["by_path"]["/v1/messages"], LOG_CAPACITY as u64 + 5);
        stats.reset();
        assert_eq!(stats.to_json("m")["log"].as_array().unwrap().len(), 0);
    }
}
