//! End-to-end: governance on the request path of one `sluice dataplane` (static config,
//! in-process rate store) against a mock upstream, driven by curl: client keys (revoked,
//! expired, allowed models), requests-per-minute, concurrency and tokens-per-minute limits
//! with their 429s and headers on two surfaces, and cost from a price override.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use std::process::{Command, Stdio};

use common::*;

/// Completion tokens of the mock's generated answer (its default `--chunks`).
const MOCK_COMPLETION_TOKENS: u64 = 16;
/// Prompt tokens the mock reports.
const MOCK_PROMPT_TOKENS: u64 = 10;

/// A config with one OpenAI-compatible provider `p` at `url` serving `gpt-4o`,
/// `gpt-4o-mini` and `slow`, plus `extra` (keys, teams, prices).
fn config(url: &str, extra: &str) -> String {
    format!(
        r#"env_providers = false
[server]
rate_store = "local"
default_output_estimate = 1000

[[providers]]
name = "p"
kind = "openai_compatible"
models = ["gpt-4o", "gpt-4o-mini", "slow"]
timeout_ms = 3000
  [[providers.endpoints]]
  base_url = "{url}/v1"
  api_key = "sk-upstream-secret"

{extra}"#
    )
}

const CHAT: &str = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#;

fn chat_as(gw: &Gateway, key: &str, body: &str) -> Resp {
    gw.post_bytes(
        "/v1/chat/completions",
        body.as_bytes(),
        &[&format!("authorization: Bearer {key}")],
    )
}

#[test]
fn requests_per_minute_refuse_the_sixth_with_openai_headers() {
    let mock = Mock::start("rpm", &[]);
    let gw = Gateway::start(&config(
        &mock.url(),
        r#"
[[keys]]
name = "alice"
key = "sk-alice-0123456789abcdef"
[keys.limits]
rpm = 5

[[keys]]
name = "bob"
key = "sk-bob-0123456789abcdef"
[keys.limits]
rpm = 1
"#,
    ));
    for i in 0..5 {
        let r = chat_as(&gw, "sk-alice-0123456789abcdef", CHAT);
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
    }
    let r = chat_as(&gw, "sk-alice-0123456789abcdef", CHAT);
    assert_eq!(r.status, 429, "{}", r.text());
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "retry-after {retry}");
    assert_eq!(r.header("x-ratelimit-limit-requests"), Some("5"));
    assert_eq!(r.header("x-ratelimit-remaining-requests"), Some("0"));
    let reset = r.header("x-ratelimit-reset-requests").unwrap();
    assert!(reset.ends_with('s'), "reset {reset}");
    // The key has no token limit: no token headers.
    assert_eq!(r.header("x-ratelimit-limit-tokens"), None);
    let v = r.json();
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    assert_eq!(v["error"]["type"], "requests");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("key 'alice'") && msg.contains("5 requests per minute"),
        "{msg}"
    );
    assert!(
        !msg.contains("sk-alice"),
        "the message never carries the secret"
    );
    // The refused request never reached the upstream.
    assert_eq!(mock.requests(), 5);

    // Anthropic's surface gets Anthropic's error object.
    let anthropic =
        |gw: &Gateway| {
            gw.post_bytes(
            "/v1/messages",
            br#"{"model":"gpt-4o","max_tokens":32,"messages":[{"role":"user","content":"hi"}]}"#,
            &["x-api-key: sk-bob-0123456789abcdef", "anthropic-version: 2023-06-01"],
        )
        };
    assert_eq!(anthropic(&gw).status, 200);
    let r = anthropic(&gw);
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.header("retry-after").is_some());
    assert_eq!(r.header("x-ratelimit-limit-requests"), Some("1"));
    let v = r.json();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "rate_limit_error");

    let metrics = gw.metrics();
    assert!(
        metrics.lines().any(
            |l| l.starts_with("sluice_rate_limited_total{reason=\"requests\",scope=\"key\"} 2")
        ),
        "{metrics}"
    );
}

#[test]
fn keys_revoked_expired_and_models_not_allowed() {
    let mock = Mock::start("keys", &[]);
    let gw = Gateway::start(&config(
        &mock.url(),
        r#"
[[teams]]
name = "ml"
allowed_models = ["gpt-4o-mini"]

[[keys]]
name = "member"
key = "sk-member-0123456789abcdef"
team = "ml"

[[keys]]
name = "narrow"
key = "sk-narrow-0123456789abcdef"
allowed_models = ["gpt-4o"]

[[keys]]
name = "revoked"
key = "sk-revoked-0123456789abcdef"
enabled = false

[[keys]]
name = "expired"
key = "sk-expired-0123456789abcdef"
expires_at = "2020-01-01T00:00:00Z"
"#,
    ));
    let mini = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;
    assert_eq!(chat_as(&gw, "sk-member-0123456789abcdef", mini).status, 200);
    let r = chat_as(&gw, "sk-member-0123456789abcdef", CHAT);
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "model_not_allowed");
    assert_eq!(chat_as(&gw, "sk-narrow-0123456789abcdef", CHAT).status, 200);
    let r = chat_as(&gw, "sk-narrow-0123456789abcdef", mini);
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["code"], "model_not_allowed");

    let r = chat_as(&gw, "sk-revoked-0123456789abcdef", CHAT);
    assert_eq!(r.status, 401);
    assert!(r.text().contains("revoked"), "{}", r.text());
    let r = chat_as(&gw, "sk-expired-0123456789abcdef", CHAT);
    assert_eq!(r.status, 401);
    assert!(r.text().contains("expired"), "{}", r.text());
    let r = chat_as(&gw, "sk-unknown-0123456789abcdef", CHAT);
    assert_eq!(r.status, 401);
    assert_eq!(gw.post("/v1/chat/completions", CHAT).status, 401);
    // Only the two allowed requests reached the upstream.
    assert_eq!(mock.requests(), 2);
}

#[test]
fn concurrency_limit_refuses_while_a_stream_is_held() {
    let mock = Mock::with_scenario(
        "held",
        r#"{"rules":[{"model":"slow","fault":"stall_body"}]}"#,
    );
    let gw = Gateway::start(&config(
        &mock.url(),
        r#"
[[keys]]
name = "solo"
key = "sk-solo-0123456789abcdef"
[keys.limits]
max_concurrent = 1
"#,
    ));
    // One stream the upstream never finishes, held open by a background client.
    let mut held = Command::new("curl")
        .args([
            "-s",
            "-N",
            "--max-time",
            "60",
            "-H",
            "authorization: Bearer sk-solo-0123456789abcdef",
            "-H",
            "content-type: application/json",
            "--data-binary",
            r#"{"model":"slow","stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
            &format!("{}/v1/chat/completions", gw.url()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(
        || mock.requests() >= 1,
        "the held stream reaches the upstream",
    );
    let r = chat_as(&gw, "sk-solo-0123456789abcdef", CHAT);
    assert_eq!(r.status, 429, "{}", r.text());
    let v = r.json();
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    assert_eq!(v["error"]["type"], "concurrency");
    assert!(r.header("retry-after").is_some());
    let _ = held.kill();
    let _ = held.wait();
    // The slot comes back once the held request ends (the upstream's stall times out).
    wait_until(
        || chat_as(&gw, "sk-solo-0123456789abcdef", CHAT).status == 200,
        "the slot is released after the held stream ends",
    );
}

#[test]
fn tokens_per_minute_settle_with_the_streamed_usage() {
    let mock = Mock::start("tpm", &[]);
    // Estimate of one request without max_tokens: body/4 + 1000 (the configured default).
    // Two estimates do not fit in 1100; one estimate plus one real usage (26 tokens) does.
    let gw = Gateway::start(&config(
        &mock.url(),
        r#"
[[keys]]
name = "carol"
key = "sk-carol-0123456789abcdef"
[keys.limits]
tpm = 1100
"#,
    ));
    let stream = r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let r = chat_as(&gw, "sk-carol-0123456789abcdef", stream);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(sse_data(&r.body).last().map(String::as_str), Some("[DONE]"));
    // Admitted only because the first request settled its estimate down to its usage.
    let r = chat_as(&gw, "sk-carol-0123456789abcdef", stream);
    assert_eq!(r.status, 200, "{}", r.text());
    // 2 × 26 used: a request asking for 1100 completion tokens does not fit.
    let big = r#"{"model":"gpt-4o","max_tokens":1100,"messages":[{"role":"user","content":"hi"}]}"#;
    let r = chat_as(&gw, "sk-carol-0123456789abcdef", big);
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.json()["error"]["type"], "tokens");
    assert_eq!(r.header("x-ratelimit-limit-tokens"), Some("1100"));
    let remaining: u64 = r
        .header("x-ratelimit-remaining-tokens")
        .unwrap()
        .parse()
        .unwrap();
    // What is left reflects the real usage (at most 2 × 26; less when the sliding window
    // has moved on), not two estimates of over 1000 each.
    let used = 2 * (MOCK_PROMPT_TOKENS + MOCK_COMPLETION_TOKENS);
    assert!(
        (1100 - used..=1100).contains(&remaining),
        "remaining {remaining} reflects real usage"
    );
    assert_eq!(mock.requests(), 2);
}

#[test]
fn cost_follows_the_price_override() {
    let mock = Mock::start("cost", &[]);
    let gw = Gateway::start(&config(
        &mock.url(),
        r#"
[[prices]]
model = "gpt-4o-mini*"
input = 1.0
output = 2.0
per_request = 0.0
"#,
    ));
    let mini = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;
    for _ in 0..2 {
        let r = gw.post("/v1/chat/completions", mini);
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let want =
        2.0 * (MOCK_PROMPT_TOKENS as f64 * 1.0 + MOCK_COMPLETION_TOKENS as f64 * 2.0) / 1_000_000.0;
    let metrics = gw.metrics();
    let got: f64 = metrics
        .lines()
        .find(|l| l.starts_with("sluice_cost_usd_total{") && l.contains("model=\"gpt-4o-mini\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no cost metric:\n{metrics}"));
    assert!(got > 0.0);
    assert!((got - want).abs() < 1e-12, "cost {got} != {want}");
}

#[test]
fn a_provider_over_its_limit_is_skipped_and_answers_429_when_alone() {
    let mock = Mock::start("prov", &[]);
    let cfg = config(&mock.url(), "").replace(
        "timeout_ms = 3000\n",
        "timeout_ms = 3000\n[providers.limits]\nrpm = 1\n",
    );
    let gw = Gateway::start(&cfg);
    assert_eq!(gw.post("/v1/chat/completions", CHAT).status, 200);
    let r = gw.post("/v1/chat/completions", CHAT);
    assert_eq!(r.status, 429, "{}", r.text());
    let v = r.json();
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("provider 'p'"), "{msg}");
    assert_eq!(r.header("x-ratelimit-limit-requests"), Some("1"));
    assert_eq!(mock.requests(), 1);
}
