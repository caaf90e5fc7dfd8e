//! Governance end to end, real processes only: one `redis-server`, one control plane, two
//! data planes sharing the Redis rate store (plus a third that fails closed), one mock
//! upstream replaying a recording. A 60 RPM key gets exactly 60 answers across both
//! planes, a $0.01 budget stops a key on both planes after the request that crosses it,
//! `/admin/stats` reports the cost computed by hand from the recording, and killing Redis
//! moves the data planes into their configured failure mode (observed on `/metrics`).
//! A second test prices recordings with cache and reasoning tokens through a static data
//! plane's `[[prices]]` and compares `sluice_cost_usd_total` with the spec's formula.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use serde_json::{json, Value};

const MASTER_KEY: &str = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=";
const DP_TOKEN: &str = "dp-token-0123456789";
const ADMIN_TOKEN: &str = "cp-admin-token-0123";

/// The model clients ask for (a route of that name) and the upstream model it maps to: the
/// same name, so a price entry matches whichever of the two the data plane looks up.
/// Nothing in the shipped price table starts like this, so only the override prices it.
const MODEL: &str = "e2e-governance-model";
/// The recording every answer of the managed test replays (non-stream OpenAI chat).
const RECORDING: &str = "openai/chat_text.json";

// ------------------------------------------------------------------ token usage and prices

/// Token counts of one answer, normalised as the spec says: `input` includes cache reads
/// and writes, `output` includes reasoning.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
    reasoning: u64,
}

/// A price entry, USD per million tokens (`per_request` in USD).
#[derive(Debug, Clone, Copy)]
struct Price {
    input: f64,
    output: f64,
    cache_read: Option<f64>,
    cache_write: Option<f64>,
    reasoning: Option<f64>,
    per_request: f64,
}

impl Price {
    /// The spec's formula, computed here independently of the gateway:
    /// (input − cache_read − cache_write)·input + cache_read·cache_read
    /// + cache_write·cache_write + (output − reasoning)·output + reasoning·reasoning
    /// + per_request.
    fn cost_usd(&self, u: &Usage) -> f64 {
        let plain_in = u.input.saturating_sub(u.cache_read + u.cache_write) as f64;
        let plain_out = u.output.saturating_sub(u.reasoning) as f64;
        (plain_in * self.input
            + u.cache_read as f64 * self.cache_read.unwrap_or(self.input)
            + u.cache_write as f64 * self.cache_write.unwrap_or(self.input)
            + plain_out * self.output
            + u.reasoning as f64 * self.reasoning.unwrap_or(self.output))
            / 1e6
            + self.per_request
    }

    /// The body of `PUT /v1/admin/prices/{model}` (and the fields of a `[[prices]]` entry).
    fn json(&self) -> Value {
        let mut v = json!({"input": self.input, "output": self.output});
        for (k, p) in [
            ("cache_read", self.cache_read),
            ("cache_write", self.cache_write),
            ("reasoning", self.reasoning),
        ] {
            if let Some(p) = p {
                v[k] = json!(p);
            }
        }
        if self.per_request != 0.0 {
            v["per_request"] = json!(self.per_request);
        }
        v
    }

    /// A `[[prices]]` entry of a static config file.
    fn toml(&self, model: &str) -> String {
        let mut s = format!(
            "[[prices]]\nmodel = \"{model}\"\ninput = {:?}\noutput = {:?}\n",
            self.input, self.output
        );
        for (k, p) in [
            ("cache_read", self.cache_read),
            ("cache_write", self.cache_write),
            ("reasoning", self.reasoning),
        ] {
            if let Some(p) = p {
                s.push_str(&format!("{k} = {p:?}\n"));
            }
        }
        s.push_str(&format!("per_request = {:?}\n", self.per_request));
        s
    }
}

/// Two costs equal up to the gateway's nano-dollar rounding (at most a few nano-dollars
/// per request).
fn same_cost(measured: f64, expected: f64, requests: u64) -> bool {
    (measured - expected).abs() <= 5e-9 * (requests as f64 + 1.0)
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// Usage of an OpenAI Chat answer (`usage` of a JSON body or of the last SSE chunk).
fn openai_chat_usage(usage: &Value) -> Usage {
    Usage {
        input: u(&usage["prompt_tokens"]),
        output: u(&usage["completion_tokens"]),
        cache_read: u(&usage["prompt_tokens_details"]["cached_tokens"]),
        cache_write: 0,
        reasoning: u(&usage["completion_tokens_details"]["reasoning_tokens"]),
    }
}

/// Usage of an OpenAI Responses answer (`response.usage` of `response.completed`).
fn responses_usage(usage: &Value) -> Usage {
    Usage {
        input: u(&usage["input_tokens"]),
        output: u(&usage["output_tokens"]),
        cache_read: u(&usage["input_tokens_details"]["cached_tokens"]),
        cache_write: u(&usage["input_tokens_details"]["cache_write_tokens"]),
        reasoning: u(&usage["output_tokens_details"]["reasoning_tokens"]),
    }
}

/// Usage of an Anthropic answer: `input_tokens` excludes the cache, so the prompt is the
/// sum of the three.
fn anthropic_usage(usage: &Value) -> Usage {
    let read = u(&usage["cache_read_input_tokens"]);
    let write = u(&usage["cache_creation_input_tokens"]);
    Usage {
        input: u(&usage["input_tokens"]) + read + write,
        output: u(&usage["output_tokens"]),
        cache_read: read,
        cache_write: write,
        reasoning: 0,
    }
}

/// Usage of a Gemini answer: thoughts are billed as output beside the candidates.
fn gemini_usage(meta: &Value) -> Usage {
    let thoughts = u(&meta["thoughtsTokenCount"]);
    Usage {
        input: u(&meta["promptTokenCount"]) + u(&meta["toolUsePromptTokenCount"]),
        output: u(&meta["candidatesTokenCount"]) + thoughts,
        cache_read: u(&meta["cachedContentTokenCount"]),
        cache_write: 0,
        reasoning: thoughts,
    }
}

/// The JSON payloads of a recorded SSE stream (LF or CRLF framing).
fn sse_payloads(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.trim_end_matches('\r').strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str(d.trim()).ok())
        .collect()
}

/// The usage a recording reports, read from the file as the provider wrote it.
fn recorded_usage(flavor: &str, file: &Path) -> Usage {
    let text =
        std::fs::read_to_string(file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
    let stream = file.extension().is_some_and(|e| e == "sse");
    match (flavor, stream) {
        ("openai", false) => {
            openai_chat_usage(&serde_json::from_str::<Value>(&text).unwrap()["usage"])
        }
        ("anthropic", false) => {
            anthropic_usage(&serde_json::from_str::<Value>(&text).unwrap()["usage"])
        }
        ("gemini", false) => {
            gemini_usage(&serde_json::from_str::<Value>(&text).unwrap()["usageMetadata"])
        }
        ("openai_responses", true) => {
            let done = sse_payloads(&text)
                .into_iter()
                .rev()
                .find(|e| e["type"] == "response.completed")
                .expect("a response.completed event");
            responses_usage(&done["response"]["usage"])
        }
        ("gemini", true) => {
            // Streams repeat the running usage; the last one counts.
            let last = sse_payloads(&text)
                .into_iter()
                .rev()
                .find(|e| e.get("usageMetadata").is_some())
                .expect("a chunk with usageMetadata");
            gemini_usage(&last["usageMetadata"])
        }
        other => panic!("no usage reader for {other:?}"),
    }
}

// ------------------------------------------------------------------ processes

struct ControlPlane {
    /// Kept for its Drop (kills the process).
    _proc: Listening,
    admin: Admin,
    grpc: u16,
}

/// Starts `sluice controlplane` with tokens, the master key and an empty seed.
fn start_control_plane(dir: &Path) -> ControlPlane {
    let seed = dir.join("seed.toml");
    std::fs::write(&seed, "env_providers = false\n").unwrap();
    let data_dir = dir.join("cp");
    let proc = spawn_listening("controlplane", 2, Echo::Forward, |ports| {
        let mut cmd = Command::new(bin("sluice"));
        cmd.args(["controlplane", "--data-dir"])
            .arg(&data_dir)
            .args([
                "--admin-listen",
                &format!("127.0.0.1:{}", ports[0]),
                "--grpc-listen",
                &format!("127.0.0.1:{}", ports[1]),
            ])
            .arg("--seed-config")
            .arg(&seed)
            .env("SLUICE_MASTER_KEY", MASTER_KEY)
            .env("SLUICE_DATAPLANE_TOKEN", DP_TOKEN)
            .env("SLUICE_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("SLUICE_LOG", "warn")
            .stdout(Stdio::null());
        cmd
    });
    let admin = Admin {
        port: proc.ports[0],
    };
    let grpc = proc.ports[1];
    wait_until(
        || {
            curl(
                &[
                    "-s",
                    "--max-time",
                    "1",
                    &format!("http://127.0.0.1:{}/healthz", admin.port),
                ],
                None,
            )
            .status
                == 200
        },
        "control plane health",
    );
    ControlPlane {
        _proc: proc,
        admin,
        grpc,
    }
}

/// A managed data plane on the shared rate store.
struct DataPlane {
    /// Kept for its Drop (kills the process).
    proc: Listening,
    node_id: String,
    port: u16,
    ops: u16,
}

/// Starts `sluice dataplane --control-plane ... --rate-store <store>
/// --rate-store-failure-mode <mode>` and waits until it has a snapshot (ready).
fn start_data_plane(cp: &ControlPlane, node_id: &str, store: &str, mode: &str) -> DataPlane {
    let cache = tempdir().join(format!("{node_id}-cache"));
    let grpc = format!("http://127.0.0.1:{}", cp.grpc);
    let proc = spawn_listening(node_id, 2, Echo::Forward, |ports| {
        let mut cmd = Command::new(bin("sluice"));
        cmd.args(["dataplane", "--control-plane", &grpc, "--node-id", node_id])
            .arg("--cache-dir")
            .arg(&cache)
            .args(["--rate-store", store, "--rate-store-failure-mode", mode])
            .args([
                "--listen",
                &format!("127.0.0.1:{}", ports[0]),
                "--ops-listen",
                &format!("127.0.0.1:{}", ports[1]),
                "--threads",
                "2",
            ])
            .env("SLUICE_MASTER_KEY", MASTER_KEY)
            .env("SLUICE_DATAPLANE_TOKEN", DP_TOKEN)
            .env("SLUICE_LOG", "warn")
            .stdout(Stdio::null());
        cmd
    });
    let dp = DataPlane {
        node_id: node_id.to_string(),
        port: proc.ports[0],
        ops: proc.ports[1],
        proc,
    };
    wait_until(
        || ready(dp.ops),
        &format!("{node_id} readiness (first snapshot)"),
    );
    dp
}

impl DataPlane {
    fn metrics(&self) -> String {
        metrics(self.ops)
    }

    /// One sample (or the sum over label sets) of a metric; 0 when not exported yet.
    fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        metric_sum(&self.metrics(), name, labels).unwrap_or(0.0)
    }

    /// A non-stream chat request with a client key.
    fn chat(&self, key: &str, model: &str) -> Resp {
        chat_with_key(self.port, key, model, false)
    }
}

/// POSTs `{"model", "messages"}` (and `"stream": true`) to `/v1/chat/completions` with
/// `Authorization: Bearer <key>`.
fn chat_with_key(port: u16, key: &str, model: &str, stream: bool) -> Resp {
    let url = format!("http://127.0.0.1:{port}/v1/chat/completions");
    let auth = format!("authorization: Bearer {key}");
    let body = json!({
        "model": model,
        "messages": [{"role": "user", "content": "hello"}],
        "stream": stream,
    })
    .to_string();
    curl(
        &[
            "-s",
            "-N",
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
            "-H",
            &auth,
            "--data-binary",
            "@-",
            &url,
        ],
        Some(body.as_bytes()),
    )
}

// ------------------------------------------------------------------ admin API, one call each

/// The control plane's admin listener.
struct Admin {
    port: u16,
}

impl Admin {
    /// Any admin call with the admin token; `body` is sent as JSON.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Resp {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        let auth = format!("authorization: Bearer {ADMIN_TOKEN}");
        let mut args = vec!["-s", "-X", method, "-H", auth.as_str()];
        if body.is_some() {
            args.extend([
                "-H",
                "content-type: application/json",
                "--data-binary",
                "@-",
            ]);
        }
        args.push(&url);
        let text = body.map(Value::to_string);
        curl(&args, text.as_deref().map(str::as_bytes))
    }

    /// `call` that must answer `status`; the body as JSON (`null` when empty).
    fn expect(&self, status: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
        let r = self.call(method, path, body);
        assert_eq!(r.status, status, "{method} {path} {body:?} -> {}", r.text());
        if r.body.is_empty() {
            Value::Null
        } else {
            r.json()
        }
    }

    /// `POST /v1/admin/providers`: an `openai_compatible` provider on `base_url`.
    fn create_provider(&self, name: &str, base_url: &str, models: &[&str]) -> Value {
        let body = json!({
            "name": name,
            "kind": "openai_compatible",
            "models": models,
            "endpoints": [{"base_url": base_url, "api_key": "sk-e2e-upstream-key-1234"}],
        });
        self.expect(201, "POST", "/v1/admin/providers", Some(&body))
    }

    /// `POST /v1/admin/routes`: `name` → `provider`/`model`, no retries.
    fn create_route(&self, name: &str, provider: &str, model: &str) -> Value {
        let body = json!({
            "name": name,
            "retries": 0,
            "targets": [{"provider": provider, "model": model}],
        });
        self.expect(201, "POST", "/v1/admin/routes", Some(&body))
    }

    /// `POST /v1/admin/teams`.
    fn create_team(&self, body: &Value) -> Value {
        self.expect(201, "POST", "/v1/admin/teams", Some(body))
    }

    /// `POST /v1/admin/keys` → (id, plaintext key).
    fn create_key(&self, body: &Value) -> (String, String) {
        let v = self.expect(201, "POST", "/v1/admin/keys", Some(body));
        let key = v["key"].as_str().expect("plaintext key").to_string();
        // The id is numeric today; a string id works as well.
        let id = match &v["id"] {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            other => panic!("key id: {other}"),
        };
        (id, key)
    }

    /// `GET /v1/admin/keys/{id}`.
    fn get_key(&self, id: &str) -> Value {
        self.expect(200, "GET", &format!("/v1/admin/keys/{id}"), None)
    }

    /// `PUT /v1/admin/prices/{model}`.
    fn put_price(&self, model: &str, price: &Price) -> Value {
        let r = self.call(
            "PUT",
            &format!("/v1/admin/prices/{model}"),
            Some(&price.json()),
        );
        assert!(
            r.status == 200 || r.status == 201,
            "PUT price {model}: {} {}",
            r.status,
            r.text()
        );
        if r.body.is_empty() {
            Value::Null
        } else {
            r.json()
        }
    }

    /// `GET /v1/admin/prices`.
    fn prices(&self) -> Value {
        self.expect(200, "GET", "/v1/admin/prices", None)
    }

    /// `GET /v1/admin/version` → the config version.
    fn version(&self) -> u64 {
        self.expect(200, "GET", "/v1/admin/version", None)["version"]
            .as_u64()
            .expect("version")
    }

    /// `GET /v1/admin/dataplanes`.
    fn dataplanes(&self) -> Value {
        self.expect(200, "GET", "/v1/admin/dataplanes", None)
    }

    /// `GET /admin/stats` (orchestrator API).
    fn stats(&self) -> Value {
        self.expect(200, "GET", "/admin/stats", None)
    }

    /// Waits until every data plane in `dps` applied the current config version.
    fn wait_applied(&self, dps: &[&DataPlane]) {
        let version = self.version();
        wait_until(
            || {
                let list = self.dataplanes();
                dps.iter().all(|dp| {
                    list["dataplanes"].as_array().is_some_and(|all| {
                        all.iter().any(|d| {
                            d["node_id"] == dp.node_id.as_str()
                                && d["applied_version"].as_u64().unwrap_or(0) >= version
                        })
                    })
                })
            },
            &format!("every data plane to apply config version {version}"),
        );
    }
}

/// `/admin/stats` total cost: the top-level `total_cost` when the shape has one, else the
/// sum over providers.
fn stats_total_cost(stats: &Value) -> f64 {
    stats["total_cost"].as_f64().unwrap_or_else(|| {
        stats["providers"]
            .as_array()
            .map(|ps| ps.iter().filter_map(|p| p["total_cost"].as_f64()).sum())
            .unwrap_or(0.0)
    })
}

/// The `x-ratelimit-*` / `retry-after` shape of a refusal (429 or 503).
fn assert_retry_after(r: &Resp, what: &str) {
    let ra: u64 = r
        .header("retry-after")
        .unwrap_or_else(|| panic!("{what}: no retry-after: {:?}", r.headers))
        .parse()
        .unwrap_or_else(|e| panic!("{what}: retry-after not whole seconds ({e})"));
    assert!(ra >= 1, "{what}: retry-after {ra}");
}

/// The OpenAI error `code` of a refusal.
fn error_code(r: &Resp) -> String {
    r.json()["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The budget spend of `scope` in Redis, nano-USD: the `sluice:{<scope>}:spend:<window>`
/// counters summed.
fn redis_spend(redis: &RedisServer, scope: &str) -> u64 {
    redis
        .keys(&format!("sluice:{{{scope}}}:spend:*"))
        .iter()
        .map(|k| match redis.command_reply(&["GET", k]) {
            Reply::Bulk(Some(v)) => v.parse::<u64>().unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// Sum of `sluice_cost_usd_total` over the data planes.
fn cost_metric(dps: &[&DataPlane]) -> f64 {
    dps.iter()
        .map(|dp| dp.metric("sluice_cost_usd_total", &[]))
        .sum()
}

// ------------------------------------------------------------------ the must-show run

/// Two data planes, one Redis: RPM exact across planes, a budget stops a key on both
/// planes, `/admin/stats` cost equals the hand computation, Redis loss → failure modes.
#[test]
fn two_data_planes_share_limits_and_budgets_on_redis() {
    let Some(fx) = fixtures() else { return };
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let dir = tempdir();
    let scenario = json!({"rules": [{"model": MODEL, "fixture_json": RECORDING}]});
    let mock = Mock::with_scenario("gov-upstream", &scenario.to_string());
    let cp = start_control_plane(&dir);
    let admin = &cp.admin;
    let store = redis.url();
    let dp1 = start_data_plane(&cp, "dp-1", &store, "fail_open");
    let dp2 = start_data_plane(&cp, "dp-2", &store, "fail_open");
    let dp3 = start_data_plane(&cp, "dp-closed", &store, "fail_closed");
    let planes = [&dp1, &dp2];
    let all = [&dp1, &dp2, &dp3];

    // The price every answer is billed at: the recording's usage × this = a handful of
    // requests per cent. Exact in nano-dollars (≤ 3 decimals per million tokens).
    let price = Price {
        input: 50.0,
        output: 62.5,
        cache_read: None,
        cache_write: None,
        reasoning: None,
        per_request: 0.0,
    };
    let usage = recorded_usage("openai", &fx.join(RECORDING));
    let unit = price.cost_usd(&usage);
    assert!(unit > 0.0, "the recording reports usage: {usage:?}");

    admin.create_provider("gov-mock", &format!("{}/v1", mock.url()), &[MODEL]);
    admin.create_route(MODEL, "gov-mock", MODEL);
    admin.put_price(MODEL, &price);
    let prices = admin.prices();
    assert!(
        prices.to_string().contains(MODEL) && prices.to_string().contains("override"),
        "the override is listed: {prices}"
    );
    admin.create_team(&json!({"name": "e2e", "enabled": true}));

    // ---- (a) 60 RPM across both planes: exactly 60 answers, then 429s.
    let (_, rpm_key) = admin.create_key(&json!({
        "name": "rpm-60", "team": "e2e", "user": "alice", "limits": {"rpm": 60},
    }));
    admin.wait_applied(&all);
    for dp in all {
        wait_until(
            || dp.metric("sluice_rate_store_up", &[]) == 1.0,
            &format!("{}: sluice_rate_store_up 1", dp.node_id),
        );
    }
    let mut ok = 0;
    for i in 0..100 {
        let dp = planes[i % 2];
        let r = dp.chat(&rpm_key, MODEL);
        match r.status {
            200 => {
                assert!(i < 60, "request {i} answered after 60: {}", r.text());
                ok += 1;
            }
            429 => {
                assert!(i >= 60, "request {i} refused before 60: {}", r.text());
                assert_retry_after(&r, "rpm refusal");
                assert_eq!(r.header("x-ratelimit-limit-requests"), Some("60"));
                assert_eq!(r.header("x-ratelimit-remaining-requests"), Some("0"));
                assert_eq!(error_code(&r), "rate_limit_exceeded", "{}", r.text());
            }
            s => panic!("request {i} on {}: {s} {}", dp.node_id, r.text()),
        }
    }
    assert_eq!(ok, 60, "exactly the limit across both planes");
    let mut successes: u64 = 60;
    // Each settle reaches the metrics before the next check below.
    wait_until(
        || same_cost(cost_metric(&planes), successes as f64 * unit, successes),
        "the data planes' sluice_cost_usd_total to hold the 60 answers",
    );

    // ---- (b) a $0.01 daily budget: answered until the request that crosses it.
    let limit_usd = 0.01;
    let (budget_id, budget_key) = admin.create_key(&json!({
        "name": "budget-1c", "team": "e2e",
        "budget": {"limit_usd": limit_usd, "window": "day"},
    }));
    admin.wait_applied(&all);
    let unit_nano = (unit * 1e9).round() as u64;
    let crossing = (1..).find(|n| n * unit_nano >= 10_000_000).unwrap();
    assert!(
        (2..=10).contains(&crossing),
        "the price makes a handful of requests cross $0.01 ({crossing})"
    );
    let mut answered = 0;
    for i in 0..crossing + 4 {
        let dp = planes[(i % 2) as usize];
        let r = dp.chat(&budget_key, MODEL);
        if r.status == 200 {
            answered += 1;
            successes += 1;
            // The next request goes out once this one's cost is settled in Redis (the
            // settle runs after the answer's last byte).
            wait_until(
                || same_cost(cost_metric(&planes), successes as f64 * unit, successes),
                "the answer's cost on the data planes' metrics",
            );
            let scope = format!("key:{budget_id}");
            wait_until(
                || redis_spend(&redis, &scope) == answered * unit_nano,
                &format!("{answered} × {unit_nano} nano-USD in Redis's spend counter"),
            );
            continue;
        }
        assert_eq!(r.status, 429, "{}", r.text());
        assert_eq!(error_code(&r), "budget_exceeded", "{}", r.text());
        assert_eq!(r.json()["error"]["type"], "insufficient_quota");
        assert_retry_after(&r, "budget refusal");
        break;
    }
    assert_eq!(
        answered, crossing,
        "answered up to and including the request that crossed $0.01"
    );
    let crossed_at = std::time::Instant::now();
    // Both planes refuse at once (the spend is in Redis).
    for dp in planes {
        let r = dp.chat(&budget_key, MODEL);
        assert_eq!(r.status, 429, "{}: {}", dp.node_id, r.text());
        assert_eq!(error_code(&r), "budget_exceeded");
    }
    // The control plane's ledger marks the key exhausted ...
    let status = wait_for(
        || {
            let k = admin.get_key(&budget_id);
            (k["budget_status"]["exhausted"] == true).then_some(k)
        },
        "GET key: budget_status.exhausted",
    );
    let spent = status["budget_status"]["spent_usd"].as_f64().unwrap_or(0.0);
    assert!(
        same_cost(spent, crossing as f64 * unit, crossing),
        "ledger spend {spent} vs {} × {unit}: {status}",
        crossing
    );
    // ... and pushes it: with every counter in Redis gone, the snapshot alone still stops
    // the key on both planes.
    let keys = redis.keys("*");
    assert!(!keys.is_empty(), "the rate store wrote keys");
    for k in &keys {
        assert!(k.starts_with("sluice:"), "key prefix: {k}");
        assert!(k.contains('{') && k.contains('}'), "hash tag: {k}");
        assert!(redis.ttl(k) > 0, "every key expires: {k}");
    }
    admin.wait_applied(&all);
    // The README quotes this: how long the ledger's stop takes to reach every data plane.
    eprintln!(
        "budget stop through the ledger applied on every data plane {} ms after the crossing answer",
        crossed_at.elapsed().as_millis()
    );
    redis.flushall();
    for dp in planes {
        let r = dp.chat(&budget_key, MODEL);
        assert_eq!(r.status, 429, "{} after FLUSHALL: {}", dp.node_id, r.text());
        assert_eq!(error_code(&r), "budget_exceeded");
    }

    // ---- (c) /admin/stats total_cost = the recording's usage × the price, summed over
    // every answered request (shipped in 1 s batches).
    let expected = successes as f64 * unit;
    let stats = wait_for(
        || {
            let s = admin.stats();
            same_cost(stats_total_cost(&s), expected, successes).then_some(s)
        },
        &format!("/admin/stats total_cost = {successes} × {unit} = {expected}"),
    );
    let provider = stats["providers"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["provider_name"] == "gov-mock"))
        .unwrap_or_else(|| panic!("gov-mock in {stats}"));
    assert!(
        same_cost(
            provider["total_cost"].as_f64().unwrap_or(0.0),
            expected,
            successes
        ),
        "{provider}"
    );

    // ---- (d) Redis killed mid-test.
    let (_, probe_key) = admin.create_key(&json!({
        "name": "probe", "team": "e2e", "limits": {"rpm": 100000},
    }));
    admin.wait_applied(&all);
    assert_eq!(
        dp3.chat(&probe_key, MODEL).status,
        200,
        "fail_closed with Redis up"
    );
    let downs: Vec<f64> = all
        .iter()
        .map(|dp| dp.metric("sluice_rate_store_transitions_total", &[("state", "down")]))
        .collect();
    redis.kill();
    // fail_open: still answering, the store reported down.
    for dp in planes {
        wait_until(
            || {
                let r = dp.chat(&probe_key, MODEL);
                assert_eq!(r.status, 200, "{} fails open: {}", dp.node_id, r.text());
                dp.metric("sluice_rate_store_up", &[]) == 0.0
            },
            &format!("{}: sluice_rate_store_up 0", dp.node_id),
        );
    }
    for (dp, before) in all.iter().zip(&downs).take(2) {
        let now = dp.metric("sluice_rate_store_transitions_total", &[("state", "down")]);
        assert!(
            now > *before,
            "{}: transitions down {before} → {now}",
            dp.node_id
        );
        assert!(
            dp.metric("sluice_rate_store_errors_total", &[("mode", "fail_open")]) > 0.0,
            "{}: errors counted",
            dp.node_id
        );
    }
    // fail_closed: 503 + Retry-After, rate_store_unavailable.
    let r = dp3.chat(&probe_key, MODEL);
    assert_eq!(r.status, 503, "{}", r.text());
    assert_retry_after(&r, "fail_closed");
    assert_eq!(error_code(&r), "rate_store_unavailable", "{}", r.text());
    wait_until(
        || dp3.metric("sluice_rate_store_up", &[]) == 0.0,
        "dp-closed: sluice_rate_store_up 0",
    );
    assert!(dp3.metric("sluice_rate_store_errors_total", &[("mode", "fail_closed")]) > 0.0);
    // The fallback limits per plane: a 3 RPM key gets 3 answers on EACH plane (N× the
    // limit with N planes while Redis is away).
    let (_, fallback_key) = admin.create_key(&json!({
        "name": "fallback-3", "team": "e2e", "limits": {"rpm": 3},
    }));
    admin.wait_applied(&all);
    for dp in planes {
        let statuses: Vec<u16> = (0..5)
            .map(|_| dp.chat(&fallback_key, MODEL).status)
            .collect();
        assert_eq!(
            statuses,
            [200, 200, 200, 429, 429],
            "{}: the local fallback enforces the limit per plane",
            dp.node_id
        );
    }
    // Redis back: the store is up again everywhere.
    let ups: Vec<f64> = all
        .iter()
        .map(|dp| dp.metric("sluice_rate_store_transitions_total", &[("state", "up")]))
        .collect();
    redis.restart();
    for (dp, before) in all.iter().zip(&ups) {
        wait_until(
            || {
                let _ = dp.chat(&probe_key, MODEL);
                dp.metric("sluice_rate_store_up", &[]) == 1.0
            },
            &format!("{}: sluice_rate_store_up back to 1", dp.node_id),
        );
        let now = dp.metric("sluice_rate_store_transitions_total", &[("state", "up")]);
        assert!(
            now > *before,
            "{}: transitions up {before} → {now}",
            dp.node_id
        );
    }
    let r = dp3.chat(&probe_key, MODEL);
    assert_eq!(
        r.status,
        200,
        "fail_closed plane serves again: {}",
        r.text()
    );
    assert!(dp1.proc.proc.alive() && dp2.proc.proc.alive() && dp3.proc.proc.alive());
}

// ------------------------------------------------------------------ cost of recordings

/// One priced recording: the model a client asks for, the provider kind that answers it,
/// the recording, and whether the client streams.
struct CostCase {
    model: &'static str,
    kind: &'static str,
    /// Path under the shared fixtures, the repo's `tests/fixtures`, or the derived dir.
    fixture: &'static str,
    stream: bool,
}

/// Recordings with cache reads/writes and reasoning tokens. The shared recordings have no
/// non-zero Anthropic cache counts or Gemini cached content; `derived/` files are those
/// recordings with only the usage counts set (written by [`derive_fixtures`]).
const COST_CASES: [CostCase; 6] = [
    CostCase {
        model: "cost-openai-chat",
        kind: "openai",
        fixture: "openai/chat_text.json",
        stream: false,
    },
    CostCase {
        model: "cost-responses-cached",
        kind: "openai_responses",
        fixture: "openai_responses/stream_function_call.sse",
        stream: true,
    },
    CostCase {
        model: "cost-responses-reasoning",
        kind: "openai_responses",
        fixture: "openai_responses/stream_reasoning_function_call.sse",
        stream: true,
    },
    CostCase {
        model: "cost-anthropic-cache",
        kind: "anthropic",
        fixture: "derived/anthropic_messages_text_cache.json",
        stream: false,
    },
    CostCase {
        model: "cost-gemini-thinking",
        kind: "gemini",
        fixture: "gemini/stream_thinking.sse",
        stream: true,
    },
    CostCase {
        model: "cost-gemini-cached",
        kind: "gemini",
        fixture: "derived/gemini_max_tokens_cached.json",
        stream: false,
    },
];

/// Writes `derived/` recordings into `dir`: Anthropic's text answer with 4096 cache-read
/// and 2048 cache-write tokens; Gemini's max-tokens answer with 10 of its 15 prompt tokens
/// from cached content.
fn derive_fixtures(shared: &Path, dir: &Path) {
    let out = dir.join("derived");
    std::fs::create_dir_all(&out).unwrap();
    let read = |rel: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(shared.join(rel)).unwrap()).unwrap()
    };
    let mut a = read("anthropic/messages_text.json");
    a["usage"]["cache_read_input_tokens"] = json!(4096);
    a["usage"]["cache_creation_input_tokens"] = json!(2048);
    std::fs::write(
        out.join("anthropic_messages_text_cache.json"),
        a.to_string(),
    )
    .unwrap();
    let mut g = read("gemini/max_tokens.json");
    g["usageMetadata"]["cachedContentTokenCount"] = json!(10);
    std::fs::write(out.join("gemini_max_tokens_cached.json"), g.to_string()).unwrap();
}

fn repo_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The sum of `sluice_cost_usd_total` samples with any label equal to `value`.
fn cost_of_model(text: &str, value: &str) -> f64 {
    let needle = format!("=\"{value}\"");
    text.lines()
        .filter(|l| l.starts_with("sluice_cost_usd_total{") && l.contains(&needle))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

/// Recorded answers with cache reads/writes and reasoning tokens, priced by `[[prices]]`:
/// `sluice_cost_usd_total` equals the spec's formula applied by hand to each recording.
#[test]
fn recorded_cache_and_reasoning_tokens_are_priced_by_the_formula() {
    let Some(fx) = fixtures() else { return };
    let dir = tempdir();
    derive_fixtures(&fx, &dir);
    let find = |rel: &str| -> PathBuf {
        [fx.join(rel), repo_fixtures().join(rel), dir.join(rel)]
            .into_iter()
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("recording {rel} not found"))
    };
    let rules: Vec<Value> = COST_CASES
        .iter()
        .map(|c| {
            let key = if c.stream {
                "fixture_stream"
            } else {
                "fixture_json"
            };
            json!({"model": c.model, key: c.fixture})
        })
        .collect();
    let scenario = dir.join("cost-scenario.json");
    std::fs::write(&scenario, json!({ "rules": rules }).to_string()).unwrap();
    let mock = Mock::start(
        "cost-upstream",
        &[
            "--scenario",
            scenario.to_str().unwrap(),
            "--fixtures-extra",
            repo_fixtures().to_str().unwrap(),
            "--fixtures-extra",
            dir.to_str().unwrap(),
        ],
    );

    // Every kind of token at its own price, so a token billed twice or at the wrong
    // price shows.
    let price = Price {
        input: 3.0,
        output: 15.0,
        cache_read: Some(0.3),
        cache_write: Some(3.75),
        reasoning: Some(20.0),
        per_request: 0.001,
    };
    let m = mock.url();
    let mut config = String::from("env_providers = false\n");
    for (kind, base) in [
        ("openai", format!("{m}/v1")),
        ("openai_responses", format!("{m}/v1")),
        ("anthropic", m.clone()),
        ("gemini", m.clone()),
    ] {
        let models: Vec<String> = COST_CASES
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| format!("\"{}\"", c.model))
            .collect();
        config.push_str(&format!(
            "[[providers]]\nname = \"up-{kind}\"\nkind = \"{kind}\"\nmodels = [{}]\nbase_url = \"{base}\"\napi_key = \"sk-up-{kind}-0123\"\n",
            models.join(", ")
        ));
    }
    const CLIENT_KEY: &str = "sk-cost-client-0123456789abcdef";
    config.push_str(&format!(
        "[[keys]]\nname = \"cost\"\nkey = \"{CLIENT_KEY}\"\n"
    ));
    for c in &COST_CASES {
        config.push_str(&price.toml(c.model));
    }
    let gw = Gateway::start(&config);

    let mut rows = Vec::new();
    for c in &COST_CASES {
        let usage = recorded_usage(c.kind, &find(c.fixture));
        let expected = price.cost_usd(&usage);
        let r = chat_with_key(gw.port, CLIENT_KEY, c.model, c.stream);
        assert_eq!(r.status, 200, "{}: {}", c.model, r.text());
        let measured = poll_for(PATIENCE, || {
            let v = cost_of_model(&gw.metrics(), c.model);
            same_cost(v, expected, 1).then_some(v)
        });
        rows.push(format!(
            "{:<26} {usage:?}: expected ${expected:.9}, metric {}",
            c.model,
            measured.map_or_else(
                || format!("${:.9} (WRONG)", cost_of_model(&gw.metrics(), c.model)),
                |v| format!("${v:.9}")
            )
        ));
    }
    eprintln!("{}", rows.join("\n"));
    assert!(
        !rows.iter().any(|r| r.contains("WRONG")),
        "cost per recording:\n{}",
        rows.join("\n")
    );
    // The recordings exercise every kind of token.
    let used: Vec<Usage> = COST_CASES
        .iter()
        .map(|c| recorded_usage(c.kind, &find(c.fixture)))
        .collect();
    assert!(used.iter().any(|u| u.cache_read > 0));
    assert!(used.iter().any(|u| u.cache_write > 0));
    assert!(used.iter().any(|u| u.reasoning > 0));
}

// ------------------------------------------------------------------ the harness itself

/// The Redis helper: a real server answering on loopback, killed (the port refuses) and
/// restarted on the same port, empty (nothing persisted).
#[test]
fn redis_server_helper_kills_and_restarts_on_the_same_port() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let port = redis.port;
    assert_eq!(
        redis.command_reply(&["SET", "sluice:{key:1}:probe", "1", "EX", "60"]),
        Reply::Status("OK".into())
    );
    assert_eq!(redis.keys("sluice:*"), ["sluice:{key:1}:probe"]);
    assert!(redis.ttl("sluice:{key:1}:probe") > 0);
    redis.kill();
    assert!(!redis.running());
    assert!(redis.try_command(&["PING"]).is_err());
    redis.restart();
    assert_eq!(redis.port, port, "same address for the data planes");
    assert!(redis.running());
    assert!(
        redis.keys("*").is_empty(),
        "nothing persisted: {}",
        redis.log()
    );
    redis.flushall();
}

/// The hand computation reads the recordings as their providers report usage: Gemini
/// thoughts beside the candidates, Anthropic's prompt = uncached + cache reads + writes,
/// Responses' cached and reasoning details.
#[test]
fn recorded_usage_is_read_as_each_provider_reports_it() {
    let Some(fx) = fixtures() else { return };
    let g = recorded_usage("gemini", &fx.join("gemini/stream_thinking.sse"));
    assert_eq!((g.input, g.output, g.reasoning), (34, 469 + 787, 787));
    let dir = tempdir();
    derive_fixtures(&fx, &dir);
    let a = recorded_usage(
        "anthropic",
        &dir.join("derived/anthropic_messages_text_cache.json"),
    );
    assert_eq!(
        (a.input, a.output, a.cache_read, a.cache_write),
        (12 + 4096 + 2048, 29, 4096, 2048)
    );
    let r = recorded_usage(
        "openai_responses",
        &repo_fixtures().join("openai_responses/stream_reasoning_function_call.sse"),
    );
    assert_eq!((r.input, r.output, r.reasoning), (412, 219, 192));
    let c = recorded_usage(
        "openai_responses",
        &repo_fixtures().join("openai_responses/stream_function_call.sse"),
    );
    assert_eq!((c.input, c.cache_read), (1286, 1152));
    // The formula: every token once, at its own price.
    let p = Price {
        input: 3.0,
        output: 15.0,
        cache_read: Some(0.3),
        cache_write: Some(3.75),
        reasoning: Some(20.0),
        per_request: 0.001,
    };
    let by_hand = (12.0 * 3.0 + 4096.0 * 0.3 + 2048.0 * 3.75 + 29.0 * 15.0) / 1e6 + 0.001;
    assert!(same_cost(p.cost_usd(&a), by_hand, 1));
}

// ------------------------------------------------------------------ TPM and concurrency

/// A static data plane (local rate store) with one client key, `limits` as TOML lines
/// under `[keys.limits]`, on a mock serving `rules`; every model priced at $1 per million
/// tokens so `sluice_cost_usd_total` shows each settle.
fn limited_gateway(mock: &Mock, models: &[&str], limits: &str, key: &str) -> Gateway {
    let list: Vec<String> = models.iter().map(|m| format!("\"{m}\"")).collect();
    let mut config = format!(
        "env_providers = false\n[[providers]]\nname = \"up\"\nkind = \"openai\"\nmodels = [{}]\nbase_url = \"{}/v1\"\napi_key = \"sk-up-0123456789\"\n[[keys]]\nname = \"limited\"\nkey = \"{key}\"\n[keys.limits]\n{limits}\n",
        list.join(", "),
        mock.url()
    );
    for m in models {
        config.push_str(&format!(
            "[[prices]]\nmodel = \"{m}\"\ninput = 1.0\noutput = 1.0\n"
        ));
    }
    Gateway::start(&config)
}

/// Waits until the wall clock is at least 15 s away from the next minute, so a short run
/// of requests stays in one TPM minute (the sliding counter weighs the previous minute).
fn wait_for_minute_room() {
    wait_until(
        || {
            let ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0);
            ms % 60_000 < 45_000
        },
        "a wall clock 15 s away from the next minute",
    );
}

/// TPM reserve-then-settle with streamed answers: each admission reserves prompt/4 +
/// max_tokens, far more than the recording's usage; the settle from the stream's usage
/// chunk gives the difference back, so the key admits as many requests as their REAL
/// usage allows (a missing settle would admit one).
#[test]
fn tpm_reservations_are_settled_from_streamed_usage() {
    let Some(fx) = fixtures() else { return };
    const STREAM: &str = "openai/chat_stream_n3_choices.sse";
    const MODEL: &str = "tpm-stream";
    let actual = {
        let text = std::fs::read_to_string(fx.join(STREAM)).unwrap();
        let usage = sse_payloads(&text)
            .into_iter()
            .rev()
            .find(|e| e["usage"].is_object())
            .expect("a usage chunk");
        let u = openai_chat_usage(&usage["usage"]);
        u.input + u.output
    };
    let max_tokens = 20 * actual;
    let body = json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": "hello"}],
        "stream": true,
        "max_tokens": max_tokens,
    })
    .to_string();
    let estimate = body.len() as u64 / 4 + max_tokens;
    // Room for the estimate on top of 3.5 settled answers: the 5th is refused.
    let tpm = 3 * actual + actual / 2 + estimate;
    let mock = Mock::with_scenario(
        "tpm-upstream",
        &json!({"rules": [{"model": MODEL, "fixture_stream": STREAM}]}).to_string(),
    );
    const KEY: &str = "sk-tpm-client-0123456789abcdef";
    let gw = limited_gateway(
        &mock,
        &[MODEL],
        &format!("tpm = {tpm}\ntpm_counts = \"total\""),
        KEY,
    );
    let auth = format!("authorization: Bearer {KEY}");
    wait_for_minute_room();
    let mut answered = 0u64;
    for i in 0..6 {
        let r = gw.post_bytes("/v1/chat/completions", body.as_bytes(), &[&auth]);
        if r.status == 200 {
            answered += 1;
            let cost = answered as f64 * actual as f64 / 1e6;
            wait_until(
                || same_cost(cost_of_model(&gw.metrics(), MODEL), cost, answered),
                "the stream's settle (its cost on /metrics)",
            );
            continue;
        }
        assert_eq!(r.status, 429, "request {i}: {}", r.text());
        assert_retry_after(&r, "tpm refusal");
        assert_eq!(
            r.header("x-ratelimit-limit-tokens"),
            Some(tpm.to_string().as_str())
        );
        assert_eq!(error_code(&r), "rate_limit_exceeded", "{}", r.text());
        assert_eq!(r.json()["error"]["type"], "tokens", "{}", r.text());
        break;
    }
    assert_eq!(
        answered, 4,
        "settled at {actual} tokens each (reserved {estimate}) under tpm {tpm}"
    );
}

/// `max_concurrent = 2`: two held streams take both slots, a third request is refused
/// with 429 + Retry-After; closing one stream frees its slot.
#[test]
fn concurrency_limit_is_held_by_open_streams() {
    const HELD: &str = "held-stream";
    const QUICK: &str = "quick";
    let mock = Mock::with_scenario(
        "held-upstream",
        &json!({"rules": [
            {"model": HELD, "generate": {"chunks": 600}, "gap_ms": 100},
            {"model": QUICK, "generate": {"chunks": 2}},
        ]})
        .to_string(),
    );
    const KEY: &str = "sk-conc-client-0123456789abcdef";
    let gw = limited_gateway(&mock, &[HELD, QUICK], "max_concurrent = 2", KEY);
    let body = json!({
        "model": HELD,
        "messages": [{"role": "user", "content": "hello"}],
        "stream": true,
    })
    .to_string();
    let hold = || Proc {
        child: Command::new("curl")
            .args(["-s", "-N", "--max-time", "120", "-X", "POST"])
            .args(["-H", "content-type: application/json"])
            .args(["-H", &format!("authorization: Bearer {KEY}")])
            .args(["--data-binary", &body])
            .arg(format!("{}/v1/chat/completions", gw.url()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("curl"),
        name: "held stream".into(),
    };
    let first = hold();
    let _second = hold();
    wait_until(|| mock.requests() == 2, "both held streams at the upstream");
    let r = chat_with_key(gw.port, KEY, QUICK, false);
    assert_eq!(r.status, 429, "third while two are open: {}", r.text());
    assert_retry_after(&r, "concurrency refusal");
    drop(first);
    wait_until(
        || chat_with_key(gw.port, KEY, QUICK, false).status == 200,
        "the closed stream's slot to be free again",
    );
    assert_eq!(
        mock.requests(),
        3,
        "refused requests never reached the upstream"
    );
}
