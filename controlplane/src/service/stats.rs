//! Usage reads over the records data planes report: totals per provider over a window
//! (the orchestrator API's `/admin/stats`) and the newest-first request log
//! (`/admin/logs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::hundredths;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::usage::UsageEntry;
use crate::App;

/// Counts over a set of requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageTotals {
    /// Requests.
    pub total: u64,
    /// Requests answered 2xx or 3xx.
    pub ok: u64,
    /// Sum of their latencies.
    pub latency_sum_ms: u64,
    /// Prompt plus completion tokens.
    pub tokens: u64,
    /// Recorded cost (nano-US-dollars).
    pub cost_nanousd: u64,
}

impl UsageTotals {
    fn add(&mut self, e: &UsageEntry) {
        self.total += 1;
        if (200..400).contains(&e.status) {
            self.ok += 1;
        }
        self.latency_sum_ms = self.latency_sum_ms.saturating_add(e.latency_ms);
        self.tokens = self
            .tokens
            .saturating_add(e.prompt_tokens.saturating_add(e.completion_tokens));
        self.cost_nanousd = self.cost_nanousd.saturating_add(e.cost_nanousd);
    }

    /// Recorded cost, US dollars.
    pub fn cost_usd(&self) -> f64 {
        sluice_model::nanousd_to_usd(self.cost_nanousd)
    }

    /// Requests that were not answered 2xx/3xx.
    pub fn failed(&self) -> u64 {
        self.total - self.ok
    }

    /// Percent of requests answered 2xx/3xx, in hundredths (0 without requests).
    pub fn success_rate(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            hundredths(100.0 * self.ok as f64 / self.total as f64)
        }
    }

    /// Mean latency, in hundredths of a millisecond (0 without requests).
    pub fn avg_latency_ms(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            hundredths(self.latency_sum_ms as f64 / self.total as f64)
        }
    }
}

/// One provider's totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderUsage {
    /// Its id, while the provider still exists.
    pub provider_id: Option<u64>,
    /// The name the data plane reported.
    pub provider_name: String,
    /// Its counts.
    pub totals: UsageTotals,
}

/// Totals over the last [`UsageStats::hours`] hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageStats {
    /// The window.
    pub hours: u64,
    /// Over every provider.
    pub totals: UsageTotals,
    /// Per provider, by name.
    pub providers: Vec<ProviderUsage>,
}

/// Totals over the last `hours` hours.
pub async fn stats(app: &Arc<App>, hours: u64) -> Result<UsageStats, ApiError> {
    let since = now_ms().saturating_sub(hours.saturating_mul(3_600_000));
    let entries = read_since(app, since).await?;
    let state = app.store.state();
    let mut totals = UsageTotals::default();
    let mut per: BTreeMap<&str, UsageTotals> = BTreeMap::new();
    for e in &entries {
        totals.add(e);
        per.entry(e.provider.as_str()).or_default().add(e);
    }
    let providers = per
        .into_iter()
        .map(|(name, totals)| ProviderUsage {
            provider_id: state.provider_by_name(name).map(|p| p.id),
            provider_name: name.to_string(),
            totals,
        })
        .collect();
    Ok(UsageStats {
        hours,
        totals,
        providers,
    })
}

/// Which log records to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogQuery {
    /// 1-based page.
    pub page: u64,
    /// Records per page (at least 1).
    pub page_size: u64,
    /// Only records answered with this status.
    pub status: Option<u32>,
}

/// One page of the request log, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPage {
    /// The records of the page, each with its provider's id while it still exists.
    pub entries: Vec<(UsageEntry, Option<u64>)>,
    /// Records matching the query over all pages.
    pub total: usize,
    /// The query answered.
    pub query: LogQuery,
}

impl LogPage {
    /// Number of pages of this size.
    pub fn total_pages(&self) -> usize {
        let size = usize::try_from(self.query.page_size)
            .unwrap_or(usize::MAX)
            .max(1);
        self.total.div_ceil(size)
    }
}

/// One page of the request log.
pub async fn logs(app: &Arc<App>, query: LogQuery) -> Result<LogPage, ApiError> {
    let mut entries = read_since(app, 0).await?;
    entries.retain(|e| query.status.is_none_or(|s| e.status == s));
    let total = entries.len();
    let state = app.store.state();
    let skip = query.page.saturating_sub(1).saturating_mul(query.page_size);
    let entries = entries
        .into_iter()
        .rev()
        .skip(usize::try_from(skip).unwrap_or(usize::MAX))
        .take(usize::try_from(query.page_size).unwrap_or(usize::MAX))
        .map(|e| {
            let id = state.provider_by_name(&e.provider).map(|p| p.id);
            (e, id)
        })
        .collect();
    Ok(LogPage {
        entries,
        total,
        query,
    })
}

async fn read_since(app: &Arc<App>, since_ms: u64) -> Result<Vec<UsageEntry>, ApiError> {
    let reader = app.clone();
    tokio::task::spawn_blocking(move || reader.usage.since(since_ms))
        .await
        .map_err(ApiError::internal)
}
