//! End-to-end tests of the `sluice-mock` binary over real sockets.

mod harness;

use std::time::{Duration, Instant};

use harness::{exchange, fixtures_dir, sse_events, Ending, Mock};

const OPENAI_STREAM: &str = r#"{"model":"gpt-test","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#;

fn all_fixtures(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for flavor in ["openai", "anthropic", "gemini"] {
        let mut names: Vec<String> = std::fs::read_dir(dir.join(flavor))
            .expect("read fixtures dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".request.json"))
            .collect();
        names.sort();
        out.extend(names.into_iter().map(|n| (flavor.to_owned(), n)));
    }
    out
}

fn path_for(flavor: &str, model: &str, stream: bool) -> String {
    match flavor {
        "openai" => "/v1/chat/completions".to_owned(),
        "anthropic" => "/v1/messages".to_owned(),
        _ if stream => format!("/v1beta/models/{model}:streamGenerateContent?alt=sse"),
        _ => format!("/v1beta/models/{model}:generateContent"),
    }
}

#[test]
fn fixture_replay_is_byte_identical() {
    let Some(dir) = fixtures_dir() else { return };
    let fixtures = all_fixtures(&dir);
    let rules: Vec<serde_json::Value> = fixtures
        .iter()
        .enumerate()
        .map(|(i, (flavor, name))| {
            let key = if name.ends_with(".sse") {
                "fixture_stream"
            } else {
                "fixture_json"
            };
            serde_json::json!({"model": format!("f{i}"), key: format!("{flavor}/{name}")})
        })
        .collect();
    let mock = Mock::start(&["--fixtures", dir.to_str().unwrap(), "--gap-ms", "1"]);
    mock.set_scenario(&serde_json::json!({ "rules": rules }).to_string());
    for (i, (flavor, name)) in fixtures.iter().enumerate() {
        let stream = name.ends_with(".sse");
        let model = format!("f{i}");
        let body = serde_json::json!({"model": model, "stream": stream}).to_string();
        let r = mock.post(&path_for(flavor, &model, stream), &body);
        let expected = std::fs::read(dir.join(flavor).join(name)).unwrap();
        assert!(r.complete, "{name}: incomplete");
        assert_eq!(r.body, expected, "{name}: not byte-identical");
        if stream {
            assert_eq!(
                r.header("content-type"),
                Some("text/event-stream"),
                "{name}"
            );
            // One transfer chunk per SSE event, cut at event boundaries.
            let text = String::from_utf8_lossy(&expected).into_owned();
            assert_eq!(r.chunks.len(), sse_events(&text).len(), "{name}");
        } else {
            assert_eq!(r.header("content-type"), Some("application/json"), "{name}");
        }
    }
}

#[test]
fn fixture_base_name_picks_sse_or_json_and_missing_is_500() {
    let Some(dir) = fixtures_dir() else { return };
    let mock = Mock::start(&["--fixtures", dir.to_str().unwrap()]);
    mock.set_scenario(r#"[{"fixture":"openai/chat_stream_text_usage.sse"}]"#);
    let streamed = mock.post("/v1/chat/completions", OPENAI_STREAM);
    assert_eq!(
        streamed.body,
        std::fs::read(dir.join("openai/chat_stream_text_usage.sse")).unwrap()
    );
    let missing = mock.post("/v1/chat/completions", r#"{"model":"x"}"#);
    assert_eq!(missing.status(), 500);
    assert!(missing.json()["error"]["path"]
        .as_str()
        .unwrap()
        .ends_with("openai/chat_stream_text_usage.json"));
}

#[test]
fn error_fixture_is_served_with_the_forced_status() {
    let Some(dir) = fixtures_dir() else { return };
    let mock = Mock::start(&["--fixtures", dir.to_str().unwrap()]);
    mock.set_scenario(
        r#"[{"fixture_json":"anthropic/error_400_invalid_request.json","status":400,"retry_after":2}]"#,
    );
    let expected = std::fs::read(dir.join("anthropic/error_400_invalid_request.json")).unwrap();
    for body in [r#"{"model":"c"}"#, r#"{"model":"c","stream":true}"#] {
        let r = mock.post("/v1/messages", body);
        assert_eq!(r.status(), 400);
        assert_eq!(r.header("retry-after"), Some("2"));
        assert_eq!(r.body, expected);
    }
}

#[test]
fn generated_openai_stream_parses() {
    let mock = Mock::start(&["--chunks", "5", "--chunk-text", "tok ", "--name", "m1"]);
    for path in ["/v1/chat/completions", "/chat/completions"] {
        let r = mock.post(path, OPENAI_STREAM);
        assert_eq!(r.status(), 200);
        assert_eq!(r.header("x-mock-name"), Some("m1"));
        let body = r.body_str();
        let events = sse_events(&body);
        assert_eq!(*events.last().unwrap(), "data: [DONE]\n\n");
        let chunks: Vec<serde_json::Value> = events[..events.len() - 1]
            .iter()
            .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap().trim_end()).unwrap())
            .collect();
        let text: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, "tok tok tok tok tok ");
        assert!(chunks.iter().all(|c| c["model"] == "gpt-test"));
        let usage = &chunks.last().unwrap()["usage"];
        assert_eq!(usage["completion_tokens"], 5);
        assert_eq!(
            chunks[chunks.len() - 2]["choices"][0]["finish_reason"],
            "stop"
        );
    }
    // Without include_usage there is no usage chunk.
    let r = mock.post("/v1/chat/completions", r#"{"model":"a","stream":true}"#);
    assert!(!r.body_str().contains("\"usage\""));
    // Non-stream.
    let r = mock.post("/v1/chat/completions", r#"{"model":"a"}"#);
    let v = r.json();
    assert_eq!(v["model"], "a");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "tok tok tok tok tok "
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[test]
fn generated_anthropic_stream_has_full_event_sequence() {
    let mock = Mock::start(&["--chunks", "3"]);
    let r = mock.call(
        "POST",
        "/v1/messages",
        &[("anthropic-version", "2023-06-01"), ("x-api-key", "sk-ant")],
        br#"{"model":"claude-x","stream":true,"max_tokens":10,"messages":[]}"#,
    );
    let body = r.body_str();
    let names: Vec<&str> = sse_events(&body)
        .iter()
        .map(|e| {
            let (event, data) = e.split_once('\n').unwrap();
            let data = data.strip_prefix("data: ").unwrap().trim_end();
            let v: serde_json::Value = serde_json::from_str(data).unwrap();
            let name = event.strip_prefix("event: ").unwrap();
            assert_eq!(v["type"], name);
            name
        })
        .collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert!(body.contains(r#""model":"claude-x""#));
    let v = mock.post("/v1/messages", r#"{"model":"claude-x"}"#).json();
    assert_eq!(v["type"], "message");
    assert_eq!(v["usage"]["output_tokens"], 3);
}

#[test]
fn generated_gemini_sse_uses_crlf_and_array_form_without_alt() {
    let mock = Mock::start(&["--chunks", "4"]);
    let r = mock.post(
        "/v1beta/models/gemini-x:streamGenerateContent?alt=sse",
        "{}",
    );
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let body = r.body_str();
    let events = sse_events(&body);
    assert_eq!(events.len(), 4);
    for e in &events {
        let json = e
            .strip_prefix("data: ")
            .unwrap()
            .strip_suffix("\r\n\r\n")
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(v["modelVersion"], "gemini-x");
    }
    assert!(events[3].contains(r#""finishReason":"STOP""#));
    let array = mock
        .post("/v1beta/models/gemini-x:streamGenerateContent", "{}")
        .json();
    assert_eq!(array.as_array().unwrap().len(), 4);
    let single = mock
        .post("/v1beta/models/gemini-x:generateContent", "{}")
        .json();
    assert_eq!(single["usageMetadata"]["candidatesTokenCount"], 4);
}

#[test]
fn rate_limit_carries_retry_after_and_provider_error_shapes() {
    let mock = Mock::start(&[]);
    mock.set_scenario(r#"[{"retry_after": 7}]"#);
    let openai = mock.post("/v1/chat/completions", r#"{"model":"a"}"#);
    assert_eq!(openai.status(), 429);
    assert_eq!(openai.header("retry-after"), Some("7"));
    assert_eq!(openai.json()["error"]["code"], "rate_limit_exceeded");
    let anthropic = mock.post("/v1/messages", r#"{"model":"a"}"#);
    assert_eq!(anthropic.json()["error"]["type"], "rate_limit_error");
    let gemini = mock.post("/v1beta/models/g:generateContent", "{}");
    assert_eq!(gemini.json()["error"]["status"], "RESOURCE_EXHAUSTED");

    mock.set_scenario(r#"[{"status": 503, "error_body": {"custom": true}}]"#);
    let r = mock.post("/v1/chat/completions", r#"{"model":"a","stream":true}"#);
    assert_eq!(r.status(), 503);
    assert_eq!(r.json()["custom"], true);
}

#[test]
fn reset_closes_without_a_response() {
    let mock = Mock::start(&[]);
    mock.set_scenario(r#"[{"model":"boom","fault":"reset"}]"#);
    let r = mock.post("/v1/chat/completions", r#"{"model":"boom"}"#);
    assert!(r.raw.is_empty(), "got {:?}", r.body_str());
    assert_eq!(r.ending, Ending::Reset, "expected a TCP reset");

    // Other models are unaffected.
    assert_eq!(
        mock.post("/v1/chat/completions", r#"{"model":"ok"}"#)
            .status(),
        200
    );
}

#[test]
fn stall_sends_nothing_and_stall_body_sends_one_chunk() {
    let mock = Mock::start(&[]);
    mock.set_scenario(
        r#"[{"model":"stall","fault":"stall"},{"model":"stall_body","fault":"stall_body"}]"#,
    );
    let short = Duration::from_millis(300);
    let r = exchange(
        mock.addr,
        "POST",
        "/v1/chat/completions",
        &[],
        br#"{"model":"stall"}"#,
        short,
    );
    assert_eq!(r.ending, Ending::TimedOut);
    assert!(r.raw.is_empty());

    let body = br#"{"model":"stall_body","stream":true}"#;
    let r = exchange(mock.addr, "POST", "/v1/chat/completions", &[], body, short);
    assert_eq!(r.ending, Ending::TimedOut);
    assert_eq!(r.status(), 200);
    assert_eq!(r.chunks.len(), 1);
    assert!(!r.complete);
    assert!(r.body_str().starts_with("data: {"));
}

#[test]
fn cut_sends_half_the_stream_then_closes() {
    let mock = Mock::start(&["--chunks", "8"]);
    mock.set_scenario(r#"[{"fault":"cut"}]"#);
    let r = mock.post("/v1/chat/completions", OPENAI_STREAM);
    assert_eq!(r.status(), 200);
    assert_ne!(r.ending, Ending::TimedOut);
    assert!(!r.complete, "terminal chunk must be missing");
    let body = r.body_str();
    assert!(!body.contains("[DONE]"));
    // 8 deltas + role + finish + usage + [DONE] = 12 events; half are sent.
    assert_eq!(sse_events(&body).len(), 6);
    // Non-stream: content-length announced, half the body sent.
    let r = mock.post("/v1/chat/completions", r#"{"model":"a"}"#);
    let announced: usize = r.header("content-length").unwrap().parse().unwrap();
    assert!(!r.complete);
    assert_eq!(r.body.len(), announced / 2);
}

#[test]
fn fail_rate_is_roughly_honoured() {
    let mock = Mock::start(&["--fail-rate", "0.3", "--fail-status", "502"]);
    let mut failed = 0;
    for _ in 0..300 {
        match mock
            .post("/v1/chat/completions", r#"{"model":"a"}"#)
            .status()
        {
            200 => {}
            502 => failed += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert!((60..=120).contains(&failed), "{failed} of 300 failed");
}

#[test]
fn fail_first_n_then_healthy_and_after_requests_phase() {
    let mock = Mock::start(&[]);
    mock.set_scenario(r#"[{"model":"a","fault":{"fail_first_n":2},"fail_status":503}]"#);
    let statuses: Vec<u16> = (0..4)
        .map(|_| {
            mock.post("/v1/chat/completions", r#"{"model":"a"}"#)
                .status()
        })
        .collect();
    assert_eq!(statuses, [503, 503, 200, 200]);
    // Reset restarts the rule's count.
    assert_eq!(mock.post("/_mock/reset", "").status(), 200);
    assert_eq!(
        mock.post("/v1/chat/completions", r#"{"model":"a"}"#)
            .status(),
        503
    );

    mock.set_scenario(r#"[{"after_requests":2,"status":500},{"until_requests":1,"status":429}]"#);
    let statuses: Vec<u16> = (0..4)
        .map(|_| mock.post("/v1/messages", r#"{"model":"c"}"#).status())
        .collect();
    assert_eq!(statuses, [429, 200, 500, 500]);
}

#[test]
fn scenario_switches_at_runtime_and_rejects_bad_json() {
    let mock = Mock::start(&[]);
    assert_eq!(
        mock.post("/v1/chat/completions", r#"{"model":"a"}"#)
            .status(),
        200
    );
    mock.set_scenario(r#"{"rules":[{"flavor":"openai","status":503}]}"#);
    assert_eq!(
        mock.post("/v1/chat/completions", r#"{"model":"a"}"#)
            .status(),
        503
    );
    assert_eq!(mock.post("/v1/messages", r#"{"model":"a"}"#).status(), 200);
    let shown = mock.get("/_mock/scenario").json();
    assert_eq!(shown["rules"][0]["status"], 503);
    mock.set_scenario("[]");
    assert_eq!(
        mock.post("/v1/chat/completions", r#"{"model":"a"}"#)
            .status(),
        200
    );

    let bad = mock.post("/_mock/scenario", r#"[{"fault":"explode"}]"#);
    assert_eq!(bad.status(), 400);
    assert!(bad.body_str().contains("explode"));
    let typo = mock.post("/_mock/scenario", r#"[{"modle":"a"}]"#);
    assert_eq!(typo.status(), 400);
}

#[test]
fn stats_count_log_headers_and_reset() {
    let mock = Mock::start(&["--name", "primary"]);
    mock.call(
        "POST",
        "/v1/chat/completions",
        &[
            ("authorization", "Bearer sk-1"),
            ("x-request-id", "rid-1"),
            ("x-other", "no"),
        ],
        br#"{"model":"gpt-a","stream":true}"#,
    );
    mock.post("/v1beta/models/gem:generateContent", "{}");
    mock.get("/v1/models");
    mock.post("/nope", "{}");
    let stats = mock.stats();
    assert_eq!(stats["name"], "primary");
    assert_eq!(stats["requests"], 4);
    assert_eq!(stats["by_path"]["/v1/chat/completions"], 1);
    assert_eq!(
        stats["by_path"]["/v1beta/models/{model}:generateContent"],
        1
    );
    assert_eq!(stats["by_path"]["other"], 1);
    let log = stats["log"].as_array().unwrap();
    assert_eq!(log.len(), 4);
    let first = &log[0];
    assert_eq!(first["model"], "gpt-a");
    assert_eq!(first["stream"], true);
    assert_eq!(first["status"], 200);
    assert_eq!(first["bytes_in"], 31);
    assert_eq!(first["headers"]["authorization"], "Bearer sk-1");
    assert_eq!(first["headers"]["x-request-id"], "rid-1");
    assert!(first["headers"].get("x-other").is_none());
    assert_eq!(log[1]["model"], "gem");
    assert_eq!(log[3]["status"], 404);
    assert!(log[1]["t_ms"].as_u64() >= first["t_ms"].as_u64());

    assert_eq!(mock.post("/_mock/reset", "").status(), 200);
    let stats = mock.stats();
    assert_eq!(stats["requests"], 0);
    assert_eq!(stats["log"].as_array().unwrap().len(), 0);
}

#[test]
fn last_body_returns_a_one_mib_prompt_intact() {
    let mock = Mock::start(&[]);
    let prompt = "x".repeat(1 << 20);
    let body = serde_json::json!({"model": "big", "stream": true, "messages": [{"role": "user", "content": prompt}]})
        .to_string();
    let r = mock.post("/v1/chat/completions", &body);
    assert_eq!(r.status(), 200);
    assert!(r.complete);
    let last = mock.get("/_mock/last_body");
    assert_eq!(last.body, body.as_bytes());
    assert_eq!(mock.stats()["log"][0]["bytes_in"], body.len());
}

#[test]
fn pacing_delays_are_applied() {
    let mock = Mock::start(&[
        "--delay-ms",
        "50",
        "--ttft-ms",
        "50",
        "--gap-ms",
        "10",
        "--chunks",
        "4",
    ]);
    let started = Instant::now();
    let r = mock.post("/v1/chat/completions", r#"{"model":"a","stream":true}"#);
    assert!(r.complete);
    // delay + ttft + 5 gaps (4 deltas, finish, [DONE]) = 150 ms at least.
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.chunks.len(), 7);
}

#[test]
fn port_file_gets_the_listening_line() {
    let dir = std::env::temp_dir().join(format!("sluice-mock-port-{}", std::process::id()));
    let _ = std::fs::remove_file(&dir);
    let mock = Mock::start(&["--port-file", dir.to_str().unwrap()]);
    let line = std::fs::read_to_string(&dir).unwrap();
    assert_eq!(line, format!("LISTENING {}\n", mock.addr));
    let _ = std::fs::remove_file(&dir);
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    use std::io::{Read, Write};
    let mock = Mock::start(&[]);
    let mut stream = std::net::TcpStream::connect(mock.addr).unwrap();
    stream
        .set_read_timeout(Some(harness::READ_TIMEOUT))
        .unwrap();
    let body = r#"{"model":"a"}"#;
    let req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    for _ in 0..20 {
        stream.write_all(req.as_bytes()).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 8192];
        // Read one length-delimited response.
        loop {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "connection closed");
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got);
            if let Some(head_end) = text.find("\r\n\r\n") {
                let len: usize = text[..head_end]
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .unwrap()
                    .parse()
                    .unwrap();
                if got.len() >= head_end + 4 + len {
                    break;
                }
            }
        }
        assert!(got.starts_with(b"HTTP/1.1 200"));
    }
}

#[test]
fn inline_rule_header_overrides_for_direct_use() {
    let mock = Mock::start(&[]);
    let r = mock.call(
        "POST",
        "/v1/chat/completions",
        &[("x-mock-rule", r#"{"status":418}"#)],
        br#"{"model":"a"}"#,
    );
    assert_eq!(r.status(), 418);
    let r = mock.call(
        "POST",
        "/v1/messages",
        &[(
            "x-mock-rule",
            r#"{"generate":{"chunks":2,"chunk_text":"z"}}"#,
        )],
        br#"{"model":"a"}"#,
    );
    assert_eq!(r.json()["content"][0]["text"], "zz");
    let r = mock.call(
        "POST",
        "/v1/messages",
        &[("x-mock-rule", r#"{"nope":1}"#)],
        br#"{"model":"a"}"#,
    );
    assert_eq!(r.status(), 400);
}

#[test]
fn model_lists_name_the_scenario_models() {
    let mock = Mock::start(&[]);
    assert_eq!(mock.get("/v1/models").json()["data"][0]["id"], "mock-model");
    mock.set_scenario(r#"[{"model":"gpt-a"},{"model":"gem-b"},{"model":"gpt-a","status":500}]"#);
    let ids: Vec<String> = mock.get("/v1/models").json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["gpt-a", "gem-b"]);
    assert_eq!(
        mock.get("/v1beta/models").json()["models"][1]["name"],
        "models/gem-b"
    );
}

#[test]
fn closed_mock_holds_its_port_and_refuses_until_opened() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};

    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice-mock"))
        .args(["--listen", "127.0.0.1:0", "--workers", "1", "--closed"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn sluice-mock");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr: std::net::SocketAddr = line
        .strip_prefix("BOUND ")
        .and_then(|a| a.trim_end().parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));

    // Down: connecting is refused, and the port cannot be taken by anyone else.
    let refused = std::net::TcpStream::connect(addr).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(
        std::net::TcpListener::bind(addr).is_err(),
        "the port is held"
    );

    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"open\n").unwrap();
    line.clear();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, format!("LISTENING {addr}\n"));
    let r = exchange(addr, "GET", "/_mock/stats", &[], b"", harness::READ_TIMEOUT);
    assert_eq!(r.status(), 200);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn last_request_per_endpoint_with_its_target() {
    let mock = Mock::start(&[]);
    let chat = r#"{"model":"a","messages":[{"role":"user","content":"hi"}]}"#;
    let gem = r#"{"contents":[{"parts":[{"text":"g"}]}]}"#;
    assert_eq!(mock.post("/v1/chat/completions", chat).status(), 200);
    assert_eq!(
        mock.post("/v1beta/models/g-1:streamGenerateContent?alt=sse", gem)
            .status(),
        200
    );
    let r = mock.get("/_mock/last?path=/v1/chat/completions");
    assert_eq!(r.status(), 200);
    assert_eq!(r.body, chat.as_bytes());
    let r = mock.get("/_mock/last?path=%2Fv1beta%2Fmodels%2Fany%3AstreamGenerateContent");
    assert_eq!(r.status(), 200);
    assert_eq!(r.body, gem.as_bytes());
    assert_eq!(
        r.header("x-mock-target"),
        Some("/v1beta/models/g-1:streamGenerateContent?alt=sse")
    );
    assert_eq!(mock.get("/_mock/last?path=/v1/messages").status(), 404);
    assert_eq!(mock.get("/_mock/last?path=/nope").status(), 400);
    assert_eq!(mock.post("/_mock/reset", "").status(), 200);
    assert_eq!(
        mock.get("/_mock/last?path=/v1/chat/completions").status(),
        404
    );
}

#[test]
fn generated_responses_stream_and_object() {
    let mock = Mock::start(&["--chunks", "3", "--chunk-text", "ab"]);
    let r = mock.post(
        "/v1/responses",
        r#"{"model":"r-1","stream":true,"input":"hi"}"#,
    );
    assert_eq!(r.status(), 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let body = r.body_str();
    let kinds: Vec<&str> = body
        .split("\n\n")
        .filter_map(|e| e.lines().next()?.strip_prefix("event: "))
        .collect();
    assert_eq!(kinds.first(), Some(&"response.created"));
    assert_eq!(kinds.last(), Some(&"response.completed"));
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == "response.output_text.delta")
            .count(),
        3
    );
    let r = mock.post("/v1/responses", r#"{"model":"r-1","input":"hi"}"#);
    let v = r.json();
    assert_eq!(v["object"], "response");
    assert_eq!(v["model"], "r-1");
    assert_eq!(v["output"][0]["content"][0]["text"], "ababab");
    assert_eq!(v["usage"]["output_tokens"], 3);
    // Scenario rules can pick the Responses flavor.
    mock.set_scenario(r#"[{"flavor":"openai_responses","status":503}]"#);
    assert_eq!(mock.post("/v1/responses", r#"{"model":"r"}"#).status(), 503);
    assert_eq!(
        mock.post("/v1/chat/completions", r#"{"model":"r"}"#)
            .status(),
        200
    );
}

#[test]
fn embeddings_and_count_tokens_are_built_in() {
    let mock = Mock::start(&[]);
    let v = mock
        .post(
            "/v1/embeddings",
            r#"{"model":"e-1","input":["a","b"],"dimensions":2}"#,
        )
        .json();
    assert_eq!(v["model"], "e-1");
    assert_eq!(v["data"][1]["embedding"], serde_json::json!([0.1875, 0.25]));
    assert_eq!(v["usage"]["prompt_tokens"], 8);
    let v = mock
        .post(
            "/v1/embeddings",
            r#"{"model":"e-1","input":"a","encoding_format":"base64"}"#,
        )
        .json();
    assert!(v["data"][0]["embedding"].is_string(), "{v}");
    let v = mock
        .post(
            "/v1beta/models/e-2:batchEmbedContents",
            r#"{"requests":[{"model":"models/e-2","content":{"parts":[{"text":"a"}]}},{"model":"models/e-2","content":{"parts":[{"text":"b"}]}}]}"#,
        )
        .json();
    assert_eq!(v["embeddings"].as_array().unwrap().len(), 2);
    let v = mock
        .post(
            "/v1beta/models/e-2:embedContent",
            r#"{"content":{"parts":[{"text":"a"}]}}"#,
        )
        .json();
    assert_eq!(v["embedding"]["values"].as_array().unwrap().len(), 8);
    let r = mock.post(
        "/v1/messages/count_tokens",
        r#"{"model":"c","messages":[{"role":"user","content":"hi"}]}"#,
    );
    assert_eq!(r.json(), serde_json::json!({"input_tokens": 10}));
    // Faults and statuses still apply; chat fixtures are never served as embeddings.
    mock.set_scenario(r#"[{"model":"e-1","status":429},{"fixture":"openai/chat_text.json"}]"#);
    assert_eq!(
        mock.post("/v1/embeddings", r#"{"model":"e-1","input":"a"}"#)
            .status(),
        429
    );
    let v = mock
        .post("/v1/embeddings", r#"{"model":"e-3","input":"a"}"#)
        .json();
    assert_eq!(v["object"], "list");
    assert_eq!(mock.post("/v1/embeddings", "{nope").status(), 400);
}

#[test]
fn fixtures_extra_dirs_are_searched() {
    let dir = std::env::temp_dir().join(format!("sluice-mock-extra-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("openai_responses")).unwrap();
    let sse = "event: response.created\ndata: {\"type\":\"response.created\"}\n\n";
    std::fs::write(dir.join("openai_responses/x.sse"), sse).unwrap();
    let scenario = dir.join("s.json");
    std::fs::write(
        &scenario,
        r#"[{"fixture_stream":"openai_responses/x.sse"}]"#,
    )
    .unwrap();
    let mock = Mock::start(&[
        "--fixtures",
        "/nonexistent-sluice-fixtures",
        "--fixtures-extra",
        dir.to_str().unwrap(),
        "--scenario",
        scenario.to_str().unwrap(),
    ]);
    let r = mock.post("/v1/responses", r#"{"model":"r","stream":true}"#);
    assert_eq!(r.status(), 200);
    assert_eq!(r.body_str(), sse);
    let _ = std::fs::remove_dir_all(&dir);
}
