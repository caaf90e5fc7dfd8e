//! Prometheus metrics of the data plane (all named `sluice_*`; bounded label sets, never
//! keys or request ids as labels).

use std::sync::LazyLock;

use prometheus::{
    CounterVec, Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    ttft: HistogramVec,
    tokens: IntCounterVec,
    attempts: IntCounterVec,
    endpoint_healthy: IntGaugeVec,
    inflight: IntGauge,
    config_version: IntGauge,
    config_updates: IntCounterVec,
    admission_rejected: IntCounterVec,
    open_connections: IntGauge,
    buffered_body_bytes: IntGauge,
    cost: CounterVec,
    rate_limited: IntCounterVec,
    rate_store_up: IntGauge,
    rate_store_transitions: IntCounterVec,
    rate_store_errors: IntCounterVec,
}

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0,
];

// Static definitions: every name, help text and label set is a constant, so these cannot
// fail at run time (and `render` in the tests exercises them all).
#[allow(clippy::expect_used)]
static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let registry = Registry::new();
    let requests = IntCounterVec::new(
        Opts::new(
            "sluice_requests_total",
            "Chat completion requests by outcome",
        ),
        &["route", "provider", "model", "status"],
    )
    .expect("static metric definition");
    let duration = HistogramVec::new(
        HistogramOpts::new("sluice_request_duration_seconds", "Whole request duration")
            .buckets(LATENCY_BUCKETS.to_vec()),
        &["route", "provider"],
    )
    .expect("static metric definition");
    let ttft = HistogramVec::new(
        HistogramOpts::new(
            "sluice_time_to_first_token_seconds",
            "Time to the first streamed byte sent to the client",
        )
        .buckets(LATENCY_BUCKETS.to_vec()),
        &["route", "provider"],
    )
    .expect("static metric definition");
    let tokens = IntCounterVec::new(
        Opts::new("sluice_tokens_total", "Tokens reported by upstreams"),
        &["route", "provider", "model", "kind"],
    )
    .expect("static metric definition");
    let attempts = IntCounterVec::new(
        Opts::new(
            "sluice_upstream_attempts_total",
            "Upstream attempts by outcome",
        ),
        &["provider", "outcome"],
    )
    .expect("static metric definition");
    let endpoint_healthy = IntGaugeVec::new(
        Opts::new(
            "sluice_endpoint_healthy",
            "1 when the endpoint is eligible for traffic",
        ),
        &["provider", "endpoint"],
    )
    .expect("static metric definition");
    let inflight = IntGauge::new("sluice_inflight_requests", "Requests being served")
        .expect("static metric definition");
    let config_version = IntGauge::new(
        "sluice_config_version",
        "Version of the config snapshot in use",
    )
    .expect("static metric definition");
    let config_updates = IntCounterVec::new(
        Opts::new("sluice_config_updates_total", "Config updates by result"),
        &["result"],
    )
    .expect("static metric definition");
    let admission_rejected = IntCounterVec::new(
        Opts::new(
            "sluice_admission_rejected_total",
            "Connections and requests refused by admission control, by reason",
        ),
        &["reason"],
    )
    .expect("static metric definition");
    let open_connections = IntGauge::new(
        "sluice_open_connections",
        "Open client connections on the proxy port",
    )
    .expect("static metric definition");
    let buffered_body_bytes = IntGauge::new(
        "sluice_buffered_request_body_bytes",
        "Request-body bytes held in memory across all connections",
    )
    .expect("static metric definition");
    let cost = CounterVec::new(
        Opts::new(
            "sluice_cost_usd_total",
            "Cost of answered requests from the price table, US dollars",
        ),
        &["route", "provider", "model"],
    )
    .expect("static metric definition");
    let rate_limited = IntCounterVec::new(
        Opts::new(
            "sluice_rate_limited_total",
            "Requests refused by a rate limit or budget, by scope kind and what ran out",
        ),
        &["scope", "reason"],
    )
    .expect("static metric definition");
    let rate_store_up = IntGauge::new(
        "sluice_rate_store_up",
        "1 while the shared rate store (Redis) answers; 0 while the failure mode is in force",
    )
    .expect("static metric definition");
    let rate_store_transitions = IntCounterVec::new(
        Opts::new(
            "sluice_rate_store_transitions_total",
            "Rate store availability changes, by the state entered (up, down)",
        ),
        &["state"],
    )
    .expect("static metric definition");
    let rate_store_errors = IntCounterVec::new(
        Opts::new(
            "sluice_rate_store_errors_total",
            "Rate store calls that failed, by what the failure mode did (fail_open, fail_closed)",
        ),
        &["mode"],
    )
    .expect("static metric definition");
    rate_store_up.set(1);
    for r in crate::admission::Reject::ALL {
        admission_rejected.with_label_values(&[r.as_str()]);
    }
    for c in [
        Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
        Box::new(duration.clone()),
        Box::new(ttft.clone()),
        Box::new(tokens.clone()),
        Box::new(attempts.clone()),
        Box::new(endpoint_healthy.clone()),
        Box::new(inflight.clone()),
        Box::new(config_version.clone()),
        Box::new(config_updates.clone()),
        Box::new(admission_rejected.clone()),
        Box::new(open_connections.clone()),
        Box::new(buffered_body_bytes.clone()),
        Box::new(cost.clone()),
        Box::new(rate_limited.clone()),
        Box::new(rate_store_up.clone()),
        Box::new(rate_store_transitions.clone()),
        Box::new(rate_store_errors.clone()),
    ] {
        registry.register(c).expect("unique metric names");
    }
    Metrics {
        registry,
        requests,
        duration,
        ttft,
        tokens,
        attempts,
        endpoint_healthy,
        inflight,
        config_version,
        config_updates,
        admission_rejected,
        open_connections,
        buffered_body_bytes,
        cost,
        rate_limited,
        rate_store_up,
        rate_store_transitions,
        rate_store_errors,
    }
});

/// The label value for anything not named in the configuration (a client-chosen model).
pub const OTHER: &str = "other";

/// Prometheus text exposition of every data-plane metric.
pub fn render() -> Vec<u8> {
    let mut buf = Vec::with_capacity(8192);
    let _ = TextEncoder::new().encode(&METRICS.registry.gather(), &mut buf);
    buf
}

/// Records a finished request.
pub fn request_done(route: &str, provider: &str, model: &str, status: u16, seconds: f64) {
    let mut b = itoa::Buffer::new();
    METRICS
        .requests
        .with_label_values(&[route, provider, model, b.format(status)])
        .inc();
    METRICS
        .duration
        .with_label_values(&[route, provider])
        .observe(seconds);
}

/// Records time to first token.
pub fn first_token(route: &str, provider: &str, seconds: f64) {
    METRICS
        .ttft
        .with_label_values(&[route, provider])
        .observe(seconds);
}

/// Records token usage.
pub fn tokens(route: &str, provider: &str, model: &str, prompt: u64, completion: u64) {
    METRICS
        .tokens
        .with_label_values(&[route, provider, model, "prompt"])
        .inc_by(prompt);
    METRICS
        .tokens
        .with_label_values(&[route, provider, model, "completion"])
        .inc_by(completion);
}

/// Records one upstream attempt's outcome.
pub fn attempt(provider: &str, outcome: &str) {
    METRICS
        .attempts
        .with_label_values(&[provider, outcome])
        .inc();
}

/// Sets an endpoint's health gauge.
pub fn endpoint_health(provider: &str, endpoint: &str, healthy: bool) {
    METRICS
        .endpoint_healthy
        .with_label_values(&[provider, endpoint])
        .set(i64::from(healthy));
}

/// RAII in-flight request gauge.
pub struct InflightGuard(());

impl InflightGuard {
    /// Counts one request in flight until dropped.
    pub fn new() -> Self {
        METRICS.inflight.inc();
        Self(())
    }
}

impl Default for InflightGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        METRICS.inflight.dec();
    }
}

/// Sets the config version gauge.
pub fn set_config_version(v: u64) {
    METRICS
        .config_version
        .set(i64::try_from(v).unwrap_or(i64::MAX));
}

/// Counts a config update (`ok` or `rejected`).
pub fn config_update(result: &str) {
    METRICS.config_updates.with_label_values(&[result]).inc();
}

/// Counts a refusal by admission control.
pub fn admission_rejected(reason: crate::admission::Reject) {
    METRICS
        .admission_rejected
        .with_label_values(&[reason.as_str()])
        .inc();
}

/// Sets the admission gauges (read at scrape time).
pub fn admission_levels(open_connections: usize, buffered_body_bytes: usize) {
    METRICS
        .open_connections
        .set(i64::try_from(open_connections).unwrap_or(i64::MAX));
    METRICS
        .buffered_body_bytes
        .set(i64::try_from(buffered_body_bytes).unwrap_or(i64::MAX));
}

/// Adds a request's cost (US dollars).
pub fn cost(route: &str, provider: &str, model: &str, usd: f64) {
    METRICS
        .cost
        .with_label_values(&[route, provider, model])
        .inc_by(usd);
}

/// Counts a request refused by a limit or budget (`scope`: key, team, route, provider;
/// `reason`: requests, tokens, concurrency, budget, store_unavailable).
pub fn rate_limited(scope: &str, reason: &str) {
    METRICS
        .rate_limited
        .with_label_values(&[scope, reason])
        .inc();
}

/// Records a rate-store availability change (`up`: the store answers again).
pub fn rate_store_transition(up: bool) {
    METRICS.rate_store_up.set(i64::from(up));
    METRICS
        .rate_store_transitions
        .with_label_values(&[if up { "up" } else { "down" }])
        .inc();
}

/// Counts a failed rate-store call and what the failure mode did about it.
pub fn rate_store_error(mode: sluice_model::FailureMode) {
    METRICS
        .rate_store_errors
        .with_label_values(&[mode.as_str()])
        .inc();
}
