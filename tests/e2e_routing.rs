//! Routing, health and failover end to end: real gateway, fault-injecting mock upstreams,
//! clients driven by the `openai` SDK / httpx (tests/sdk/drive.py).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use common::*;
use serde_json::Value;

fn provider(name: &str, mock: &Mock, timeout_ms: u64) -> String {
    format!(
        "[[providers]]\nname = \"{name}\"\nkind = \"openai_compatible\"\ntimeout_ms = {timeout_ms}\nbase_url = \"{}/v1\"\napi_key = \"sk-{name}\"\n",
        mock.url()
    )
}

fn route(name: &str, strategy: &str, retries: u32, targets: &[(&str, u32, i32)]) -> String {
    let mut s =
        format!("[[routes]]\nname = \"{name}\"\nstrategy = \"{strategy}\"\nretries = {retries}\n");
    for (p, w, prio) in targets {
        s.push_str(&format!("[[routes.targets]]\nprovider = \"{p}\"\nmodel = \"gpt-4o\"\nweight = {w}\npriority = {prio}\n"));
    }
    s
}

fn drive(gw: &Gateway, n: usize, model: &str, flags: &[&str]) -> Value {
    let mut args = vec![n.to_string(), model.to_string()];
    args.extend(flags.iter().map(|s| s.to_string()));
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/drive.py");
    let out = std::process::Command::new(python())
        .arg(script)
        .args(&args)
        .env("SLUICE_BASE_URL", gw.url())
        .output()
        .expect("run drive.py");
    assert!(
        out.status.success(),
        "drive.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("drive.py JSON")
}

fn request_times(mock: &Mock) -> Vec<u64> {
    mock.stats()["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["t_ms"].as_u64().unwrap())
        .collect()
}

/// The issue's must-show: three providers, one failing half the time with 500, one
/// answering 429 with Retry-After: 5. 1,000 SDK requests all succeed, and the 429 provider
/// sees no request inside its 5 s window.
#[test]
fn three_providers_500s_and_429_all_succeed() {
    let good = Mock::start("good", &["--delay-ms", "4"]);
    let flaky = Mock::start(
        "flaky",
        &[
            "--delay-ms",
            "4",
            "--fail-rate",
            "0.5",
            "--fail-status",
            "500",
        ],
    );
    let limited = Mock::with_scenario("limited", r#"{"rules":[{"status":429,"retry_after":5}]}"#);
    let cfg = format!(
        "env_providers = false\n{}{}{}{}",
        provider("good", &good, 5000),
        provider("flaky", &flaky, 5000),
        provider("limited", &limited, 5000),
        route(
            "trio",
            "round_robin",
            2,
            &[("good", 1, 0), ("flaky", 1, 0), ("limited", 1, 0)]
        )
    );
    let gw = Gateway::start(&cfg);
    let t0 = std::time::Instant::now();
    let v = drive(&gw, 1000, "trio", &["--sdk"]);
    let elapsed = t0.elapsed();
    assert_eq!(v["statuses"]["200"], 1000, "{v}");
    let times = request_times(&limited);
    assert!(!times.is_empty(), "the 429 provider was tried");
    for w in times.windows(2) {
        assert!(
            w[1] - w[0] >= 5000,
            "429 provider got a request {} ms after its Retry-After: 5 answer",
            w[1] - w[0]
        );
    }
    // When the run outlasted the window, the provider was tried again afterwards.
    if elapsed.as_millis() > 6000 {
        assert!(
            times.len() >= 2,
            "after the window the provider is retried ({times:?})"
        );
    }
    let flaky_n = flaky.requests();
    assert!(flaky_n > 0, "the flaky provider carried traffic too");
    eprintln!(
        "1000 requests in {elapsed:?}; providers {}; flaky saw {flaky_n}, limited saw {}",
        v["providers"],
        times.len()
    );
}

#[test]
fn weights_split_within_5_percent() {
    let a = Mock::start("wa", &[]);
    let b = Mock::start("wb", &[]);
    let c = Mock::start("wc", &[]);
    let cfg = format!(
        "env_providers = false\n{}{}{}{}",
        provider("a", &a, 5000),
        provider("b", &b, 5000),
        provider("c", &c, 5000),
        route("w", "weighted", 1, &[("a", 1, 0), ("b", 3, 0), ("c", 6, 0)])
    );
    let gw = Gateway::start(&cfg);
    let v = drive(&gw, 2000, "w", &[]);
    assert_eq!(v["statuses"]["200"], 2000, "{v}");
    for (p, share) in [("a", 0.1), ("b", 0.3), ("c", 0.6)] {
        let got = v["providers"][p].as_f64().unwrap_or(0.0) / 2000.0;
        assert!((got - share).abs() <= 0.05, "{p}: {got} vs {share}");
    }
}

#[test]
fn priority_tier_fails_over_and_back() {
    let primary = Mock::start("primary", &[]);
    let backup = Mock::start("backup", &[]);
    let cfg = format!(
        "env_providers = false\n{}{}{}",
        provider("primary", &primary, 5000),
        provider("backup", &backup, 5000),
        route(
            "tiers",
            "priority",
            1,
            &[("primary", 1, 0), ("backup", 1, 1)]
        )
    );
    let gw = Gateway::start(&cfg);
    let v = drive(&gw, 20, "tiers", &[]);
    assert_eq!(v["providers"]["primary"], 20, "{v}");
    primary.set_scenario(r#"{"rules":[{"status":500}]}"#);
    let v = drive(&gw, 50, "tiers", &[]);
    assert_eq!(v["statuses"]["200"], 50, "{v}");
    assert!(
        v["providers"]["backup"].as_u64().unwrap() >= 47,
        "failed over: {v}"
    );
    let v = drive(&gw, 20, "tiers", &[]);
    assert_eq!(v["providers"]["backup"], 20, "{v}");
    // An ejected primary gets no traffic during its window: after its third consecutive
    // 500, each request it sees (a half-open probe) comes at least 5 s after the previous
    // one. Read from the mock's own clock, so a slow machine lets a window pass (and a
    // probe through) without failing the test.
    let failures: Vec<u64> = primary.stats()["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["status"] == 500)
        .map(|l| l["t_ms"].as_u64().unwrap())
        .collect();
    assert!(failures.len() >= 3, "{failures:?}");
    for w in failures[2..].windows(2) {
        assert!(
            w[1] - w[0] >= 5000,
            "ejected primary got traffic after {} ms: {failures:?}",
            w[1] - w[0]
        );
    }
    // Recovery: once the ejection window passes, the half-open probe succeeds and traffic fails back.
    primary.set_scenario(r#"{"rules":[]}"#);
    let mut last = Value::Null;
    let failed_back = poll_until(PATIENCE, || {
        last = drive(&gw, 5, "tiers", &[]);
        assert_eq!(last["statuses"]["200"], 5, "{last}");
        last["providers"]["primary"] == 5
    });
    assert!(failed_back, "no failback to the recovered primary: {last}");
}

#[test]
fn ejected_endpoint_receives_nothing_during_backoff() {
    let bad = Mock::with_scenario("always500", r#"{"rules":[{"status":500}]}"#);
    let good = Mock::start("fine", &[]);
    let cfg = format!(
        "env_providers = false\n{}{}{}",
        provider("bad", &bad, 5000),
        provider("good", &good, 5000),
        route("rr", "round_robin", 1, &[("bad", 1, 0), ("good", 1, 0)])
    );
    let gw = Gateway::start(&cfg);
    let v = drive(&gw, 300, "rr", &[]);
    assert_eq!(v["statuses"]["200"], 300, "{v}");
    let times = request_times(&bad);
    assert!(times.len() >= 3);
    // After the third consecutive failure the endpoint is ejected for at least 5 s.
    for w in times[2..].windows(2) {
        assert!(
            w[1] - w[0] >= 5000,
            "ejected endpoint got traffic after {} ms: {times:?}",
            w[1] - w[0]
        );
    }
}

#[test]
fn resets_and_stalls_fail_over_and_timeouts_bound_requests() {
    let reset = Mock::with_scenario("reset", r#"{"rules":[{"fault":"reset"}]}"#);
    let stall = Mock::with_scenario("stall", r#"{"rules":[{"fault":"stall"}]}"#);
    let good = Mock::start("ok", &[]);
    let cfg = format!(
        "env_providers = false\n{}{}{}{}{}",
        provider("reset", &reset, 5000),
        provider("stall", &stall, 300),
        provider("good", &good, 5000),
        route(
            "chain",
            "priority",
            2,
            &[("reset", 1, 0), ("stall", 1, 1), ("good", 1, 2)]
        ),
        route("stuck", "priority", 0, &[("stall", 1, 0)])
    );
    let gw = Gateway::start(&cfg);
    for stream in [false, true] {
        let body = format!(
            r#"{{"model":"chain","stream":{stream},"messages":[{{"role":"user","content":"x"}}]}}"#
        );
        let r = gw.post("/v1/chat/completions", &body);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-sluice-provider"), Some("good"));
    }
    // Only a stalled provider: the request ends with a 504 instead of hanging.
    let r = gw.post(
        "/v1/chat/completions",
        r#"{"model":"stuck","messages":[{"role":"user","content":"x"}]}"#,
    );
    assert_eq!(r.status, 504, "{}", r.text());
    assert_eq!(r.json()["error"]["type"], "timeout_error");
    // The client's own `timeout` bounds the whole request.
    let r = gw.post("/v1/chat/completions", r#"{"model":"chain","provider":"stall","timeout":0.2,"messages":[{"role":"user","content":"x"}]}"#);
    assert_eq!(r.status, 504, "{}", r.text());
}

#[test]
fn all_ejected_answers_503_with_retry_after() {
    let limited = Mock::with_scenario("only429", r#"{"rules":[{"status":429,"retry_after":30}]}"#);
    let cfg = format!(
        "env_providers = false\n{}{}",
        provider("l", &limited, 5000),
        route("one", "round_robin", 0, &[("l", 1, 0)])
    );
    let gw = Gateway::start(&cfg);
    let body = r#"{"model":"one","messages":[{"role":"user","content":"x"}]}"#;
    let r = gw.post("/v1/chat/completions", body);
    assert_eq!(r.status, 429, "the upstream's 429 comes back as 429");
    assert_eq!(r.header("retry-after"), Some("30"));
    let r = gw.post("/v1/chat/completions", body);
    assert_eq!(r.status, 503, "{}", r.text());
    let ra: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&ra));
    assert_eq!(
        limited.requests(),
        1,
        "no request inside the Retry-After window"
    );
}

#[test]
fn active_health_checks_eject_and_readmit() {
    let good = Mock::start("hc-good", &[]);
    // Holds its port but refuses connections until opened: a dead endpoint that later
    // comes up on the same address.
    let mut flappy = Mock::start_closed("hc-revived");
    let cfg = format!(
        "env_providers = false\n{}[[providers]]\nname = \"flappy\"\nkind = \"openai_compatible\"\ntimeout_ms = 1000\nhealth_check_interval_ms = 150\nbase_url = \"{}/v1\"\n{}",
        provider("good", &good, 5000),
        flappy.url(),
        route("hc", "round_robin", 1, &[("flappy", 1, 0), ("good", 1, 0)])
    );
    let gw = Gateway::start(&cfg);
    let metrics = || gw.metrics();
    let health = |m: &str| -> Option<String> {
        m.lines()
            .find(|l| {
                l.starts_with("sluice_endpoint_healthy{") && l.contains("provider=\"flappy\"")
            })
            .map(|l| l.rsplit(' ').next().unwrap_or("").to_string())
    };
    // Nothing listens on the endpoint: checks alone eject it, before any client request.
    wait_until(
        || health(&metrics()).as_deref() == Some("0"),
        "the dead endpoint to be ejected by active checks",
    );
    let v = drive(&gw, 20, "hc", &[]);
    assert_eq!(v["providers"]["good"], 20, "{v}");
    assert!(
        !metrics().contains(
            "sluice_upstream_attempts_total{outcome=\"connect_error\",provider=\"flappy\"}"
        ),
        "no client request was sent to the ejected endpoint"
    );
    // The endpoint comes up: a passing check readmits it and it carries traffic again.
    flappy.open();
    wait_until(
        || health(&metrics()).as_deref() == Some("1"),
        "the endpoint to be readmitted by a passing check",
    );
    let v = drive(&gw, 20, "hc", &[]);
    assert_eq!(v["statuses"]["200"], 20, "{v}");
    assert!(
        flappy.stats()["by_path"]
            .to_string()
            .contains("chat/completions"),
        "{}",
        flappy.stats()
    );
}
