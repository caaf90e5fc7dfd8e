//! Request and response bodies of the orchestrator API, and their conversions from and
//! into the canonical records and patches: `provider_id` is the numeric id, `type` the
//! kind, `timeout` seconds, and `base_url`/`api_key` the first endpoint.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::{now_ms, rfc3339};
use crate::error::ApiError;
use crate::service::health::{HealthReport, ProviderStatus};
use crate::service::providers::{EndpointsPatch, ProviderPatch};
use crate::service::stats::{LogPage, ProviderUsage, UsageStats, UsageTotals};
use crate::store::records::ProviderRecord;
use crate::usage::UsageEntry;

/// Longest accepted `timeout`, in seconds.
pub const MAX_TIMEOUT_SECS: f64 = 3600.0;

/// A provider to create (`name`, and `base_url` unless `type` is `echo`, required) or
/// change.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(as = OrchestratorProviderInput)]
pub struct ProviderInput {
    /// Unique name.
    pub name: Option<String>,
    /// Provider kind (`kind` is accepted too).
    #[serde(rename = "type", alias = "kind")]
    pub kind: Option<String>,
    /// API root.
    pub base_url: Option<String>,
    /// Key; an echoed mask keeps the stored key (same origin only).
    pub api_key: Option<String>,
    /// Enabled.
    pub enabled: Option<bool>,
    /// Failover tier, lower first.
    pub priority: Option<i32>,
    /// Relative weight.
    pub weight: Option<u32>,
    /// Upstream timeout in seconds (0 < t ≤ 3600).
    pub timeout: Option<f64>,
    /// Models served.
    pub models: Option<Vec<String>>,
}

impl TryFrom<ProviderInput> for ProviderPatch {
    type Error = ApiError;

    fn try_from(i: ProviderInput) -> Result<Self, ApiError> {
        let timeout_ms = match i.timeout {
            Some(t) if !(t.is_finite() && t > 0.0 && t <= MAX_TIMEOUT_SECS) => {
                return Err(ApiError::field(
                    "timeout",
                    "must be between 0 and 3600 seconds",
                ))
            }
            // In range (0, 3600]: the product fits a u64.
            Some(t) => Some(((t * 1000.0).round() as u64).max(1)),
            None => None,
        };
        Ok(Self {
            name: i.name,
            kind: i.kind,
            endpoints: Some(EndpointsPatch::Primary {
                base_url: i.base_url,
                api_key: i.api_key,
            }),
            enabled: i.enabled,
            priority: i.priority,
            weight: i.weight,
            timeout_ms,
            models: i.models,
            ..Self::default()
        })
    }
}

/// Renames canonical field paths into this API's.
pub fn field_name(field: &str) -> String {
    match field {
        "endpoints[0].base_url" | "endpoints" => "base_url".into(),
        "endpoints[0].api_key" => "api_key".into(),
        "kind" => "type".into(),
        "timeout_ms" => "timeout".into(),
        other => other.to_string(),
    }
}

/// A provider; the key is masked.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = OrchestratorProvider)]
pub struct Provider {
    /// Numeric id.
    pub id: u64,
    /// The same numeric id.
    pub provider_id: u64,
    /// Unique name.
    pub name: String,
    /// Provider kind.
    #[serde(rename = "type")]
    pub kind: String,
    /// First endpoint's API root.
    pub base_url: String,
    /// First endpoint's masked key.
    pub api_key: String,
    /// Enabled.
    pub enabled: bool,
    /// Failover tier.
    pub priority: i32,
    /// Relative weight.
    pub weight: u32,
    /// Upstream timeout, seconds.
    pub timeout: f64,
    /// Models served.
    pub models: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<&ProviderRecord> for Provider {
    fn from(p: &ProviderRecord) -> Self {
        let ep = p.endpoints.first();
        Self {
            id: p.id,
            provider_id: p.id,
            name: p.name.clone(),
            kind: p.kind.clone(),
            base_url: ep.map(|e| e.base_url.clone()).unwrap_or_default(),
            api_key: ep.map(|e| e.api_key_masked.clone()).unwrap_or_default(),
            enabled: p.enabled,
            priority: p.priority,
            weight: p.weight,
            timeout: p.timeout_ms as f64 / 1000.0,
            models: p.models.clone(),
            created_at: rfc3339(p.created_ms),
            updated_at: rfc3339(p.updated_ms),
        }
    }
}

/// A deletion's confirmation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProviderDeleted {
    /// What was done.
    pub message: &'static str,
    /// The deleted provider's id.
    pub provider_id: u64,
}

/// One provider's health.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProviderHealthStatus {
    /// Numeric id.
    pub provider_id: u64,
    /// Name.
    pub provider_name: String,
    /// Enabled and healthy on some connected data plane.
    pub is_healthy: bool,
    /// Mean latency EWMA reported by data planes.
    pub response_time_ms: f64,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// Success rate, percent.
    pub success_rate: f64,
    /// Whether any data plane reported on it.
    pub reported: bool,
}

impl From<ProviderStatus> for ProviderHealthStatus {
    fn from(s: ProviderStatus) -> Self {
        Self {
            provider_id: s.provider_id,
            provider_name: s.provider_name,
            is_healthy: s.is_healthy,
            response_time_ms: s.response_time_ms,
            consecutive_failures: s.consecutive_failures,
            success_rate: s.success_rate,
            reported: s.reported,
        }
    }
}

/// The gateway's health.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = OrchestratorHealth)]
pub struct Health {
    /// `healthy`, or `degraded` when every enabled provider is down.
    pub status: &'static str,
    /// RFC 3339.
    pub timestamp: String,
    /// Per provider.
    pub providers: Vec<ProviderHealthStatus>,
    /// `healthy` or `unhealthy`.
    pub database_status: &'static str,
    /// Always `healthy` (no cache tier).
    pub cache_status: &'static str,
    /// Data planes with an open config stream.
    pub connected_dataplanes: usize,
    /// Current config version.
    pub config_version: u64,
}

impl From<HealthReport> for Health {
    fn from(r: HealthReport) -> Self {
        Self {
            status: if r.degraded { "degraded" } else { "healthy" },
            timestamp: rfc3339(now_ms()),
            providers: r.providers.into_iter().map(Into::into).collect(),
            database_status: if r.database_ok {
                "healthy"
            } else {
                "unhealthy"
            },
            cache_status: "healthy",
            connected_dataplanes: r.connected_dataplanes,
            config_version: r.config_version,
        }
    }
}

/// One provider's request totals.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProviderStats {
    /// Numeric id, while the provider exists.
    pub provider_id: Option<u64>,
    /// Name as reported.
    pub provider_name: String,
    /// Requests.
    pub total_requests: u64,
    /// Answered 2xx/3xx.
    pub successful_requests: u64,
    /// The others.
    pub failed_requests: u64,
    /// Percent.
    pub success_rate: f64,
    /// Mean latency.
    pub avg_response_time_ms: f64,
    /// Prompt plus completion tokens.
    pub total_tokens: u64,
    /// Cost of its recorded requests, US dollars (from the data planes' price table).
    pub total_cost: f64,
}

impl From<ProviderUsage> for ProviderStats {
    fn from(u: ProviderUsage) -> Self {
        let t: UsageTotals = u.totals;
        Self {
            provider_id: u.provider_id,
            provider_name: u.provider_name,
            total_requests: t.total,
            successful_requests: t.ok,
            failed_requests: t.failed(),
            success_rate: t.success_rate(),
            avg_response_time_ms: t.avg_latency_ms(),
            total_tokens: t.tokens,
            total_cost: t.cost_usd(),
        }
    }
}

/// Request totals over a window.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = OrchestratorStats)]
pub struct Stats {
    /// Requests.
    pub total_requests: u64,
    /// Answered 2xx/3xx.
    pub successful_requests: u64,
    /// The others.
    pub failed_requests: u64,
    /// Percent.
    pub success_rate: f64,
    /// Mean latency.
    pub avg_response_time_ms: f64,
    /// Cost of every recorded request in the window, US dollars.
    pub total_cost: f64,
    /// Per provider, by name.
    pub providers: Vec<ProviderStats>,
    /// The window.
    pub hours: u64,
    /// RFC 3339.
    pub timestamp: String,
}

impl From<UsageStats> for Stats {
    fn from(s: UsageStats) -> Self {
        let t = s.totals;
        Self {
            total_requests: t.total,
            successful_requests: t.ok,
            failed_requests: t.failed(),
            success_rate: t.success_rate(),
            avg_response_time_ms: t.avg_latency_ms(),
            total_cost: t.cost_usd(),
            providers: s.providers.into_iter().map(Into::into).collect(),
            hours: s.hours,
            timestamp: rfc3339(now_ms()),
        }
    }
}

/// One request as a data plane reported it (no prompt text).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RequestLog {
    /// Stable record id.
    pub id: u64,
    /// The request's id.
    pub request_id: String,
    /// RFC 3339.
    pub timestamp: String,
    /// Reporting data plane.
    pub node_id: String,
    /// Route (public model name).
    pub route: String,
    /// Numeric id, while the provider exists.
    pub provider_id: Option<u64>,
    /// Provider name.
    pub provider_name: String,
    /// Upstream model.
    pub model: String,
    /// HTTP status answered.
    pub status_code: u32,
    /// Total latency.
    pub response_time_ms: u64,
    /// Time to first token.
    pub ttft_ms: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Their sum.
    pub total_tokens: u64,
    /// Upstream attempts.
    pub attempts: u32,
    /// Streamed.
    pub stream: bool,
    /// Cost, US dollars.
    pub cost: f64,
    /// The client key's id (empty without keys).
    pub key_id: String,
    /// The key's team.
    pub team: String,
    /// The key's user.
    pub user: String,
}

impl From<(UsageEntry, Option<u64>)> for RequestLog {
    fn from((e, provider_id): (UsageEntry, Option<u64>)) -> Self {
        Self {
            id: e.id,
            timestamp: rfc3339(e.unix_ms),
            provider_id,
            status_code: e.status,
            response_time_ms: e.latency_ms,
            ttft_ms: e.ttft_ms,
            total_tokens: e.prompt_tokens.saturating_add(e.completion_tokens),
            prompt_tokens: e.prompt_tokens,
            completion_tokens: e.completion_tokens,
            attempts: e.attempts,
            stream: e.stream,
            cost: sluice_model::nanousd_to_usd(e.cost_nanousd),
            key_id: e.key_id,
            team: e.team,
            user: e.user,
            request_id: e.request_id,
            node_id: e.node_id,
            route: e.route,
            provider_name: e.provider,
            model: e.model,
        }
    }
}

/// One page of the request log, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = OrchestratorLogs)]
pub struct Logs {
    /// The page's records.
    pub logs: Vec<RequestLog>,
    /// Matching records over all pages.
    pub total: usize,
    /// 1-based page.
    pub page: u64,
    /// Records per page.
    pub page_size: u64,
    /// Number of pages.
    pub total_pages: usize,
}

impl From<LogPage> for Logs {
    fn from(p: LogPage) -> Self {
        Self {
            total_pages: p.total_pages(),
            total: p.total,
            page: p.query.page,
            page_size: p.query.page_size,
            logs: p.entries.into_iter().map(Into::into).collect(),
        }
    }
}
