//! End-to-end: the real `sluice dataplane` against mock upstreams on loopback, driven by
//! curl. Covers OpenAI passthrough (byte identity, body rewriting), errors and bad input,
//! 1 MiB prompts with a retry, and config hot reload.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use common::*;

fn openai_config(providers: &[(&str, &str)], extra: &str) -> String {
    let mut s = String::from("env_providers = false\n[server]\nmax_body_bytes = 4194304\n");
    for (name, url) in providers {
        s.push_str(&format!(
            "[[providers]]\nname = \"{name}\"\nkind = \"openai_compatible\"\nmodels = [\"gpt-4o\"]\ntimeout_ms = 5000\n  [[providers.endpoints]]\n  base_url = \"{url}/v1\"\n  api_key = \"sk-{name}-secret\"\n"
        ));
    }
    s.push_str(extra);
    s
}

const CHAT: &str =
    r#"{"model":"gpt-4o","messages":[{"role":"user","content":"Hello \u00e9 \"quoted\""}]}"#;

#[test]
fn non_stream_passthrough_rewrites_body_and_adds_extras() {
    let mock = Mock::start("up1", &[]);
    let gw = Gateway::start(&openai_config(
        &[("primary", &mock.url())],
        "[[routes]]\nname = \"llm-auto-route\"\n[[routes.targets]]\nprovider = \"primary\"\nmodel = \"gpt-4o-mini\"\n",
    ));
    let body = r#"{"model":"llm-auto-route","messages":[{"role":"user","content":"Hello \u00e9  \"quoted\""}],"temperature":0.5,"provider":"primary","fallback_providers":[],"timeout":30,"retry_count":1}"#;
    let r = gw.post_bytes(
        "/v1/chat/completions",
        body.as_bytes(),
        &["x-request-id: my-req-42"],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-sluice-provider"), Some("primary"));
    assert_eq!(r.header("x-request-id"), Some("my-req-42"));
    let v = r.json();
    assert_eq!(v["provider"], "primary");
    assert!(v["latency_ms"].is_u64());
    assert_eq!(v["object"], "chat.completion");
    // What the upstream received: model mapped, gateway fields gone, messages byte-identical.
    let sent = String::from_utf8(mock.last_body()).unwrap();
    assert_eq!(
        sent,
        r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello \u00e9  \"quoted\""}],"temperature":0.5}"#
    );
    let log = &mock.stats()["log"][0];
    assert_eq!(log["headers"]["authorization"], "Bearer sk-primary-secret");
    // The /api alias works too.
    assert_eq!(gw.post("/api/v1/chat/completions", CHAT).status, 200);
}

#[test]
fn stream_passthrough_is_byte_identical() {
    let Some(fx) = fixtures() else { return };
    let recorded = std::fs::read(fx.join("openai/chat_stream_text_usage.sse")).unwrap();
    let mock = Mock::with_scenario(
        "sse",
        r#"{"rules":[{"fixture_stream":"openai/chat_stream_text_usage.sse","fixture_json":"openai/chat_text.json","gap_ms":2}]}"#,
    );
    let gw = Gateway::start(&openai_config(&[("p", &mock.url())], ""));
    // Client asks for usage itself: every byte passes through untouched.
    let r = gw.post(
        "/v1/chat/completions",
        r#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert_eq!(
        r.body, recorded,
        "stream must be byte-identical to the upstream's"
    );
    // Client did not ask: the gateway asked on its behalf and strips only the usage chunk.
    let r = gw.post(
        "/v1/chat/completions",
        r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
    );
    let sent: serde_json::Value = serde_json::from_slice(&mock.last_body()).unwrap();
    assert_eq!(sent["stream_options"]["include_usage"], true);
    let got = sse_data(&r.body);
    let want: Vec<String> = sse_data(&recorded)
        .into_iter()
        .filter(|d| !d.contains("\"choices\":[]"))
        .collect();
    assert_eq!(got, want);
    assert_eq!(got.last().map(String::as_str), Some("[DONE]"));
    // Non-stream replay keeps the recorded JSON and adds the extras.
    let r = gw.post("/v1/chat/completions", CHAT);
    let v = r.json();
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fx.join("openai/chat_text.json")).unwrap()).unwrap();
    assert_eq!(v["choices"], rec["choices"]);
    assert_eq!(v["usage"], rec["usage"]);
    assert_eq!(v["provider"], "p");
}

#[test]
fn bad_input_gets_clear_4xx() {
    let mock = Mock::start("bad", &[]);
    let gw = Gateway::start(&openai_config(&[("p", &mock.url())], ""));
    let cases: &[(&str, u16, &str)] = &[
        ("{not json", 400, "invalid_request_error"),
        (
            r#"{"messages":[{"role":"user","content":"x"}]}"#,
            400,
            "invalid_request_error",
        ),
        (r#"{"model":"gpt-4o"}"#, 400, "invalid_request_error"),
        (
            r#"{"model":"gpt-4o","messages":"x"}"#,
            400,
            "invalid_request_error",
        ),
        (
            r#"{"model":"gpt-4o","messages":[{"role":"user"}],"stream":"yes"}"#,
            400,
            "invalid_request_error",
        ),
        (
            r#"{"model":"gpt-4o","messages":[{"role":"user"}],"temperature":9}"#,
            400,
            "invalid_request_error",
        ),
        (
            r#"{"model":"no-such-model","messages":[{"role":"user","content":"x"}]}"#,
            404,
            "not_found_error",
        ),
        (
            r#"{"model":"gpt-4o","backend":"nope","messages":[{"role":"user","content":"x"}]}"#,
            400,
            "invalid_request_error",
        ),
    ];
    for (body, status, ty) in cases {
        let r = gw.post("/v1/chat/completions", body);
        assert_eq!(r.status, *status, "{body}: {}", r.text());
        let v = r.json();
        assert_eq!(v["error"]["type"], *ty, "{body}");
        assert!(v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        assert!(v["request_id"].is_string() && v["timestamp"].is_string());
        assert_eq!(v["error"]["details"]["request_id"], v["request_id"]);
    }
    let big = format!(
        r#"{{"model":"gpt-4o","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(5 * 1024 * 1024)
    );
    let r = gw.post("/v1/chat/completions", &big);
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(gw.get("/v1/nothing").status, 404);
    assert_eq!(gw.get("/v1/chat/completions").status, 405);
    assert_eq!(mock.requests(), 0, "no bad request may reach the upstream");
    // Still healthy afterwards.
    assert_eq!(gw.post("/v1/chat/completions", CHAT).status, 200);
}

#[test]
fn upstream_errors_pass_through_and_5xx_fails_over() {
    let err400 = r#"{"error":{"message":"Unsupported parameter: 'max_tokens'","type":"invalid_request_error","param":"max_tokens","code":"unsupported_parameter"}}"#;
    let bad = Mock::with_scenario(
        "bad",
        &format!(r#"{{"rules":[{{"model":"gpt-4o","status":400,"error_body":{err400}}}]}}"#),
    );
    let gw = Gateway::start(&openai_config(&[("p", &bad.url())], ""));
    let r = gw.post("/v1/chat/completions", CHAT);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        serde_json::from_str::<serde_json::Value>(err400).unwrap()
    );
    assert_eq!(bad.requests(), 1, "4xx is never retried");

    let failing = Mock::with_scenario("failing", r#"{"rules":[{"status":503}]}"#);
    let healthy = Mock::start("healthy", &[]);
    let gw = Gateway::start(&openai_config(
        &[("a", &failing.url()), ("b", &healthy.url())],
        "[[routes]]\nname = \"r\"\nstrategy = \"priority\"\nretries = 1\n[[routes.targets]]\nprovider = \"a\"\nmodel = \"gpt-4o\"\n[[routes.targets]]\nprovider = \"b\"\nmodel = \"gpt-4o\"\npriority = 1\n",
    ));
    let r = gw.post(
        "/v1/chat/completions",
        r#"{"model":"r","messages":[{"role":"user","content":"x"}]}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-sluice-provider"), Some("b"));
    // With no retries left the upstream status comes back as is.
    let r = gw.post("/v1/chat/completions", r#"{"model":"r","retry_count":0,"provider":"a","messages":[{"role":"user","content":"x"}]}"#);
    assert_eq!(r.status, 503, "{}", r.text());
}

#[test]
fn one_mib_prompt_retries_streamed_and_not() {
    let first = Mock::with_scenario("first", r#"{"rules":[{"status":500}]}"#);
    let second = Mock::start("second", &["--chunks", "64"]);
    let gw = Gateway::start(&openai_config(
        &[("a", &first.url()), ("b", &second.url())],
        "[[routes]]\nname = \"big\"\nstrategy = \"priority\"\nretries = 1\n[[routes.targets]]\nprovider = \"a\"\nmodel = \"gpt-4o\"\n[[routes.targets]]\nprovider = \"b\"\nmodel = \"gpt-4o\"\npriority = 1\n",
    ));
    let prompt = "lorem ipsum ".repeat(1024 * 1024 / 12 + 1);
    for stream in [false, true] {
        let body = format!(
            r#"{{"model":"big","stream":{stream},"messages":[{{"role":"user","content":"{prompt}"}}]}}"#
        );
        assert!(body.len() > 1024 * 1024);
        let r = gw.post("/v1/chat/completions", &body);
        assert_eq!(r.status, 200, "stream={stream}: {}", r.text());
        assert_eq!(r.header("x-sluice-provider"), Some("b"));
        let got = second.last_body();
        let v: serde_json::Value = serde_json::from_slice(&got).unwrap();
        assert_eq!(
            v["messages"][0]["content"].as_str().map(str::len),
            Some(prompt.len()),
            "prompt arrived intact"
        );
        if stream {
            let data = sse_data(&r.body);
            assert!(data.len() >= 64, "expected 64+ events, got {}", data.len());
            assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
        } else {
            assert_eq!(r.json()["object"], "chat.completion");
        }
    }
    let failed: Vec<u64> = first.stats()["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["bytes_in"].as_u64().unwrap())
        .collect();
    assert_eq!(failed.len(), 2);
    assert!(
        failed.iter().all(|&b| b > 1024 * 1024),
        "the failed attempts got the whole body too"
    );
}

#[test]
fn mid_stream_cut_ends_with_error_event() {
    let mock = Mock::with_scenario(
        "cut",
        r#"{"rules":[{"fault":"cut","generate":{"chunks":20}}]}"#,
    );
    let gw = Gateway::start(&openai_config(&[("p", &mock.url())], ""));
    let r = gw.post(
        "/v1/chat/completions",
        r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"x"}]}"#,
    );
    assert_eq!(r.status, 200);
    let data = sse_data(&r.body);
    let last = data.last().expect("some events");
    let v: serde_json::Value =
        serde_json::from_str(last).unwrap_or_else(|_| panic!("last event is not JSON: {last}"));
    assert!(
        v["error"]["message"].is_string(),
        "stream must end with an error event, got {last}"
    );
    assert!(!data.iter().any(|d| d == "[DONE]"));
}

#[test]
fn models_endpoints() {
    let mock = Mock::start("m", &[]);
    let gw = Gateway::start(&openai_config(
        &[("p", &mock.url())],
        "[[routes]]\nname = \"llm-auto-route\"\n[[routes.targets]]\nprovider = \"p\"\nmodel = \"gpt-4o\"\n",
    ));
    let v = gw.get("/v1/models").json();
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"llm-auto-route") && ids.contains(&"gpt-4o") && ids.contains(&"p:gpt-4o"),
        "{ids:?}"
    );
    assert_eq!(gw.get("/v1/models/p:gpt-4o").json()["owned_by"], "p");
    let r = gw.get("/v1/models/unknown");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "model_not_found");
    for p in ["/health", "/healthz", "/ping"] {
        assert_eq!(gw.get(p).status, 200, "{p}");
    }
}

#[test]
fn client_keys_are_enforced_when_configured() {
    let mock = Mock::start("k", &[]);
    let cfg = openai_config(&[("p", &mock.url())], "")
        .replace("[server]\n", "[server]\napi_keys = [\"client-key-1\"]\n");
    let gw = Gateway::start(&cfg);
    let r = gw.post("/v1/chat/completions", CHAT);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["type"], "authentication_error");
    let r = gw.post_bytes(
        "/v1/chat/completions",
        CHAT.as_bytes(),
        &["authorization: Bearer client-key-1"],
    );
    assert_eq!(r.status, 200);
    let r = gw.post_bytes(
        "/v1/chat/completions",
        CHAT.as_bytes(),
        &["x-api-key: client-key-1"],
    );
    assert_eq!(r.status, 200);
    assert_eq!(gw.get("/health").status, 200, "health needs no key");
}

#[test]
fn config_hot_reload_and_rejection() {
    let mock = Mock::start("hr", &[]);
    let base = openai_config(&[("p", &mock.url())], "");
    let gw = Gateway::start(&base);
    let ask = |model: &str| {
        gw.post(
            "/v1/chat/completions",
            &format!(r#"{{"model":"{model}","messages":[{{"role":"user","content":"x"}}]}}"#),
        )
        .status
    };
    assert_eq!(ask("new-route"), 404);
    gw.rewrite_config(&format!("{base}[[routes]]\nname = \"new-route\"\n[[routes.targets]]\nprovider = \"p\"\nmodel = \"gpt-4o\"\n"));
    wait_until(|| ask("new-route") == 200, "the new route to be served");
    // A broken edit is rejected (the reload saw it once the rejection is counted): the
    // previous config keeps serving.
    gw.rewrite_config(&format!(
        "{base}[[routes]]\nname = \"broken\"\nbogus_key = 1\n"
    ));
    wait_until(
        || {
            gw.metrics()
                .contains("sluice_config_updates_total{result=\"rejected\"}")
        },
        "the rejection to be counted",
    );
    assert_eq!(ask("new-route"), 200);
    assert_eq!(ask("gpt-4o"), 200);
    assert!(gw.metrics().contains("sluice_config_version"));
}

/// Reads one HTTP/1.1 response with a chunked body from `buf` (starting at `at`); returns
/// (head, de-chunked body, bytes consumed).
fn split_chunked_response(buf: &[u8], at: usize) -> (String, Vec<u8>, usize) {
    let rest = &buf[at..];
    let head_end = rest
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head")
        + 4;
    let head = String::from_utf8_lossy(&rest[..head_end]).to_lowercase();
    assert!(
        head.contains("transfer-encoding: chunked"),
        "chunked head expected: {head}"
    );
    let mut i = head_end;
    let mut body = Vec::new();
    loop {
        let line_end = rest[i..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size")
            + i;
        let size = usize::from_str_radix(std::str::from_utf8(&rest[i..line_end]).unwrap(), 16)
            .expect("hex chunk size");
        i = line_end + 2;
        if size == 0 {
            assert_eq!(&rest[i..i + 2], b"\r\n", "body ends with an empty chunk");
            return (head, body, at + i + 2);
        }
        body.extend_from_slice(&rest[i..i + size]);
        assert_eq!(&rest[i + size..i + size + 2], b"\r\n");
        i += size + 2;
    }
}

#[test]
fn streamed_answers_start_in_one_write_and_keep_the_connection() {
    use std::io::{Read, Write};
    let mock = Mock::start("sse", &["--chunks", "3", "--gap-ms", "5"]);
    let gw = Gateway::start(&openai_config(&[("p", &mock.url())], ""));
    let body = r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let request = |close: bool| {
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{}\r\n{body}",
            body.len(),
            if close { "connection: close\r\n" } else { "" }
        )
    };
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();

    // The head and the first event leave together: the first read holds both.
    conn.write_all(request(false).as_bytes()).unwrap();
    let mut first = vec![0u8; 65536];
    let n = conn.read(&mut first).unwrap();
    let got = String::from_utf8_lossy(&first[..n]);
    let head_end = got.find("\r\n\r\n").expect("head in the first read");
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(
        got[head_end..].contains("data: "),
        "first event must arrive with the head: {got}"
    );

    // Then two more requests pipelined in one write on the same connection, the last
    // asking to close: every answer arrives, in order, and the server closes after it.
    conn.write_all(format!("{}{}", request(false), request(true)).as_bytes())
        .unwrap();
    let mut all = first[..n].to_vec();
    conn.read_to_end(&mut all).unwrap();
    let mut at = 0;
    for i in 0..3 {
        let (head, body, used) = split_chunked_response(&all, at);
        assert!(head.starts_with("http/1.1 200"), "response {i}: {head}");
        assert!(head.contains("text/event-stream"), "response {i}: {head}");
        let events = sse_data(&body);
        assert_eq!(
            events.last().map(String::as_str),
            Some("[DONE]"),
            "response {i}"
        );
        assert!(events.len() >= 4, "response {i}: {events:?}");
        at = used;
    }
    assert_eq!(at, all.len(), "nothing after the third answer");
    assert_eq!(mock.requests(), 3);
}

/// The harness's answer to the port race: a data plane handed a port that another process
/// took between the pick and the bind is started again on fresh ports, and counts as
/// started only once it listens itself (not the squatter).
#[test]
fn a_port_taken_before_the_bind_is_retried_on_fresh_ports() {
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = squatter.local_addr().unwrap().port();
    let dir = tempdir();
    let config_path = dir.join("sluice.toml");
    let config = "env_providers = false\n[[providers]]\nname = \"echo\"\nkind = \"echo\"\nmodels = [\"echo\"]\n";
    std::fs::write(&config_path, config).unwrap();
    let opts = GatewayOptions::config(config);
    let mut attempts = 0;
    let started = spawn_listening_on(
        "sluice",
        Echo::Forward,
        || {
            attempts += 1;
            let mut ports = free_ports(2);
            if attempts == 1 {
                ports[0] = taken;
            }
            ports
        },
        |ports| Gateway::command(&config_path, &opts, ports),
    );
    assert_eq!(attempts, 2, "one retry after the taken port");
    assert_ne!(started.ports[0], taken);
    assert!(listens_on(started.proc.child.id(), &started.ports));
    assert!(!listens_on(started.proc.child.id(), &[taken]));
    wait_until(|| ready(started.ports[1]), "readiness after the retry");
    assert_eq!(
        chat(
            started.ports[0],
            r#"{"model":"echo","messages":[{"role":"user","content":"x"}]}"#
        )
        .status,
        200
    );
    drop(squatter);
}
