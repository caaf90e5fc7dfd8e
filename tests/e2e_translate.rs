//! Translation end to end: OpenAI clients (curl and the openai SDK) against Anthropic- and
//! Gemini-kind providers whose mock upstreams replay recorded traffic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use common::*;

fn config(anthropic: &Mock, gemini: &Mock) -> String {
    format!(
        "env_providers = false
[[providers]]
name = \"claude\"
kind = \"anthropic\"
models = [\"claude-tools\", \"claude-tools-json\", \"claude-text\"]
base_url = \"{}\"
api_key = \"sk-ant-test-key\"
[[providers]]
name = \"gem\"
kind = \"gemini\"
models = [\"gemini-tools\", \"gemini-tools-noargs\", \"gemini-text\"]
base_url = \"{}\"
api_key = \"gm-test-key\"
",
        anthropic.url(),
        gemini.url()
    )
}

const ANTHROPIC_RULES: &str = r#"{"rules":[
 {"model":"claude-tools","fixture_stream":"anthropic/messages_stream_parallel_tool_use_no_args.sse","fixture_json":"anthropic/messages_parallel_tool_use.json"},
 {"model":"claude-tools-json","fixture_stream":"anthropic/messages_stream_tool_use_quoted_args.sse","fixture_json":"anthropic/messages_parallel_tool_use.json"},
 {"model":"claude-text","fixture_stream":"anthropic/messages_stream_text.sse","fixture_json":"anthropic/messages_text.json"}
]}"#;

const GEMINI_RULES: &str = r#"{"rules":[
 {"model":"gemini-tools","fixture_stream":"gemini/stream_tool_call_args.sse","fixture_json":"gemini/tool_call.json"},
 {"model":"gemini-tools-noargs","fixture_stream":"gemini/stream_tool_call_no_args_thought_signature.sse","fixture_json":"gemini/tool_call.json"},
 {"model":"gemini-text","fixture_stream":"gemini/stream_text.sse","fixture_json":"gemini/max_tokens.json"}
]}"#;

#[test]
fn sdk_gets_recorded_tool_calls_through_translation() {
    let Some(fx) = fixtures() else { return };
    let anthropic = Mock::with_scenario("anthropic", ANTHROPIC_RULES);
    let gemini = Mock::with_scenario("gemini", GEMINI_RULES);
    let gw = Gateway::start(&config(&anthropic, &gemini));
    let env = [("SLUICE_FIXTURES", fx.to_str().unwrap())];
    for (flavor, fixture, model) in [
        (
            "anthropic",
            "anthropic/messages_stream_parallel_tool_use_no_args.sse",
            "claude-tools",
        ),
        (
            "anthropic",
            "anthropic/messages_parallel_tool_use.json",
            "claude-tools",
        ),
        (
            "anthropic",
            "anthropic/messages_stream_tool_use_quoted_args.sse",
            "claude-tools-json",
        ),
        ("gemini", "gemini/stream_tool_call_args.sse", "gemini-tools"),
        (
            "gemini",
            "gemini/stream_tool_call_no_args_thought_signature.sse",
            "gemini-tools-noargs",
        ),
        ("gemini", "gemini/tool_call.json", "gemini-tools"),
    ] {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/translated_tools.py");
        let out = std::process::Command::new(python())
            .arg(script)
            .args([flavor, fixture, model])
            .env("SLUICE_BASE_URL", gw.url())
            .envs(env)
            .output()
            .expect("python");
        assert!(
            out.status.success(),
            "{fixture}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprint!("{}", String::from_utf8_lossy(&out.stdout));
    }
    // What the upstreams received: their own protocol, their own auth, the mapped path.
    let a = &anthropic.stats()["log"][0];
    assert_eq!(a["path"], "/v1/messages");
    assert_eq!(a["headers"]["x-api-key"], "sk-ant-test-key");
    assert!(a["headers"]["anthropic-version"].is_string());
    let sent: serde_json::Value = serde_json::from_slice(&anthropic.last_body()).unwrap();
    assert!(
        sent["max_tokens"].as_u64().unwrap() > 0,
        "Anthropic requires max_tokens"
    );
    assert!(
        sent["tools"][0]["name"].is_string() && sent["tools"][0]["input_schema"].is_object(),
        "{sent}"
    );
    assert!(sent.get("model").is_some() && sent.get("messages").is_some());
    let g = &gemini.stats()["log"][0];
    assert!(
        g["path"]
            .as_str()
            .unwrap()
            .starts_with("/v1beta/models/gemini-tools:streamGenerateContent"),
        "{g}"
    );
    assert_eq!(g["headers"]["x-goog-api-key"], "gm-test-key");
}

#[test]
fn translated_text_streams_and_errors() {
    let Some(_fx) = fixtures() else { return };
    let anthropic = Mock::with_scenario("anthropic-t", ANTHROPIC_RULES);
    let gemini = Mock::with_scenario("gemini-t", GEMINI_RULES);
    let gw = Gateway::start(&config(&anthropic, &gemini));
    for model in ["claude-text", "gemini-text"] {
        let r = gw.post(
            "/v1/chat/completions",
            &format!(r#"{{"model":"{model}","stream":true,"messages":[{{"role":"system","content":"be brief"}},{{"role":"user","content":"hi"}}]}}"#),
        );
        assert_eq!(r.status, 200, "{model}: {}", r.text());
        let data = sse_data(&r.body);
        assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{model}");
        let mut text = String::new();
        for d in &data[..data.len() - 1] {
            let v: serde_json::Value = serde_json::from_str(d).unwrap();
            assert_eq!(v["object"], "chat.completion.chunk", "{d}");
            if let Some(t) = v["choices"][0]["delta"]["content"].as_str() {
                text.push_str(t);
            }
        }
        assert!(!text.is_empty(), "{model} produced text");
        let r = gw.post(
            "/v1/chat/completions",
            &format!(r#"{{"model":"{model}","messages":[{{"role":"user","content":"hi"}}]}}"#),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        assert_eq!(v["object"], "chat.completion");
        assert!(v["usage"]["total_tokens"].as_u64().unwrap() > 0);
        assert_eq!(
            v["provider"],
            if model.starts_with("claude") {
                "claude"
            } else {
                "gem"
            }
        );
    }
    // n > 1 cannot be expressed for Anthropic: a clear 400, nothing sent upstream.
    let before = anthropic.requests();
    let r = gw.post(
        "/v1/chat/completions",
        r#"{"model":"claude-text","n":2,"messages":[{"role":"user","content":"hi"}]}"#,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"]["param"], "n");
    assert_eq!(anthropic.requests(), before);
    // Provider errors come back as OpenAI errors with the right status.
    anthropic.set_scenario(r#"{"rules":[{"status":529}]}"#);
    let r = gw.post(
        "/v1/chat/completions",
        r#"{"model":"claude-text","retry_count":0,"messages":[{"role":"user","content":"hi"}]}"#,
    );
    assert_eq!(
        r.status,
        503,
        "Anthropic 529 overloaded maps to 503: {}",
        r.text()
    );
    gemini.set_scenario(r#"{"rules":[{"status":429,"retry_after":7}]}"#);
    let r = gw.post(
        "/v1/chat/completions",
        r#"{"model":"gemini-text","retry_count":0,"messages":[{"role":"user","content":"hi"}]}"#,
    );
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
}
