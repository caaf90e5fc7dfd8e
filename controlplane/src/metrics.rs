//! Control-plane metrics in the Prometheus text format (hand-written: a handful of series
//! with bounded labels, no ids or keys as labels).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::api::surface::SurfaceKind;
use crate::store::policy::current_mark;
use crate::store::records::State;

/// Push-latency histogram bucket bounds, in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

/// Status classes (the `code` label).
const CLASSES: [&str; 4] = ["2xx", "4xx", "5xx", "other"];

/// Budgets past their thresholds, by scope kind (from the ledger's marks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BudgetGauges {
    /// Keys past their soft limit.
    pub soft_keys: usize,
    /// Teams past their soft limit.
    pub soft_teams: usize,
    /// Keys at their hard limit.
    pub exhausted_keys: usize,
    /// Teams at their hard limit.
    pub exhausted_teams: usize,
}

impl BudgetGauges {
    /// Counts the marks of `state` that belong to their budget's current window.
    pub fn of(state: &State, now_ms: u64) -> Self {
        let mut g = Self::default();
        for (scope, mark) in &state.budget_marks {
            let (budget, is_key) = if let Some(id) = scope.strip_prefix("key:") {
                let b = id
                    .parse::<u64>()
                    .ok()
                    .and_then(|id| state.keys.get(&id))
                    .and_then(|k| k.budget.as_ref());
                (b, true)
            } else if let Some(name) = scope.strip_prefix("team:") {
                (state.teams.get(name).and_then(|t| t.budget.as_ref()), false)
            } else {
                (None, false)
            };
            let Some(budget) = budget else { continue };
            if current_mark(Some(mark), budget, now_ms).is_none() {
                continue;
            }
            let exhausted = mark.exhausted_until_ms > now_ms;
            match is_key {
                true => {
                    g.soft_keys += usize::from(mark.soft_alerted);
                    g.exhausted_keys += usize::from(exhausted);
                }
                false => {
                    g.soft_teams += usize::from(mark.soft_alerted);
                    g.exhausted_teams += usize::from(exhausted);
                }
            }
        }
        g
    }
}

/// Counters and the push-latency histogram.
#[derive(Debug, Default)]
pub struct Metrics {
    api_requests: [[AtomicU64; 4]; SurfaceKind::ALL.len()],
    push_buckets: [AtomicU64; 10],
    push_count: AtomicU64,
    push_sum_us: AtomicU64,
    snapshots_sent: AtomicU64,
    acks: AtomicU64,
    nacks: AtomicU64,
}

impl Metrics {
    /// Counts one admin API request.
    pub fn api_request(&self, surface: SurfaceKind, status: u16) {
        let class = match status {
            200..=299 => 0,
            400..=499 => 1,
            500..=599 => 2,
            _ => 3,
        };
        if let Some(cell) = self
            .api_requests
            .get(surface.index())
            .and_then(|r| r.get(class))
        {
            cell.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Observes the time from a commit to its snapshot being handed to a stream.
    pub fn push_latency(&self, d: Duration) {
        let s = d.as_secs_f64();
        for (b, bound) in self.push_buckets.iter().zip(BUCKETS) {
            if s <= bound {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.push_count.fetch_add(1, Ordering::Relaxed);
        self.push_sum_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    /// Counts a snapshot sent.
    pub fn snapshot_sent(&self) {
        self.snapshots_sent.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an ACK (`true`) or NACK.
    pub fn ack(&self, accepted: bool) {
        if accepted {
            self.acks.fetch_add(1, Ordering::Relaxed);
        } else {
            self.nacks.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Renders the text exposition; `budgets` is where the ledger's budgets stand.
    pub fn render(&self, connected: usize, version: u64, budgets: &BudgetGauges) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP sluice_cp_budgets_soft_alert Budgets past their soft limit in the current window, by scope kind.\n# TYPE sluice_cp_budgets_soft_alert gauge\nsluice_cp_budgets_soft_alert{{scope=\"key\"}} {}\nsluice_cp_budgets_soft_alert{{scope=\"team\"}} {}", budgets.soft_keys, budgets.soft_teams);
        let _ = writeln!(out, "# HELP sluice_cp_budgets_exhausted Budgets at their hard limit in the current window, by scope kind.\n# TYPE sluice_cp_budgets_exhausted gauge\nsluice_cp_budgets_exhausted{{scope=\"key\"}} {}\nsluice_cp_budgets_exhausted{{scope=\"team\"}} {}", budgets.exhausted_keys, budgets.exhausted_teams);
        let _ = writeln!(out, "# HELP sluice_cp_connected_dataplanes Data planes with an open Sync stream.\n# TYPE sluice_cp_connected_dataplanes gauge\nsluice_cp_connected_dataplanes {connected}");
        let _ = writeln!(out, "# HELP sluice_cp_config_version Current configuration version.\n# TYPE sluice_cp_config_version gauge\nsluice_cp_config_version {version}");
        let _ = writeln!(out, "# HELP sluice_cp_api_requests_total Admin API requests.\n# TYPE sluice_cp_api_requests_total counter");
        for (surface, row) in SurfaceKind::ALL.iter().zip(&self.api_requests) {
            let s = surface.label();
            for (c, n) in CLASSES.iter().zip(row) {
                let _ = writeln!(
                    out,
                    "sluice_cp_api_requests_total{{surface=\"{s}\",code=\"{c}\"}} {}",
                    n.load(Ordering::Relaxed)
                );
            }
        }
        let _ = writeln!(out, "# HELP sluice_cp_push_latency_seconds Time from a commit to its snapshot being sent on a stream.\n# TYPE sluice_cp_push_latency_seconds histogram");
        for (b, bound) in self.push_buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "sluice_cp_push_latency_seconds_bucket{{le=\"{bound}\"}} {}",
                b.load(Ordering::Relaxed)
            );
        }
        let count = self.push_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "sluice_cp_push_latency_seconds_bucket{{le=\"+Inf\"}} {count}\nsluice_cp_push_latency_seconds_sum {}\nsluice_cp_push_latency_seconds_count {count}",
            self.push_sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "# HELP sluice_cp_snapshots_sent_total Snapshots sent to data planes.\n# TYPE sluice_cp_snapshots_sent_total counter\nsluice_cp_snapshots_sent_total {}", self.snapshots_sent.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP sluice_cp_snapshot_replies_total ACKs and NACKs received.\n# TYPE sluice_cp_snapshot_replies_total counter\nsluice_cp_snapshot_replies_total{{result=\"ack\"}} {}\nsluice_cp_snapshot_replies_total{{result=\"nack\"}} {}", self.acks.load(Ordering::Relaxed), self.nacks.load(Ordering::Relaxed));
        out
    }
}
