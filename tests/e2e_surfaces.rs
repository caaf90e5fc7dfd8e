//! Every client surface end to end (real `sluice` and `sluice-mock` processes): Anthropic
//! Messages, Gemini generateContent, OpenAI Responses, token counting and embeddings —
//! the auth carriers each surface accepts and refuses (in its own error format), unknown
//! models, bad bodies, and same-protocol passthrough byte-identical to what the mock
//! upstream replayed from the recorded fixtures.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use common::*;

const KEY: &str = "sk-surface-client-0123456789";

const ANTHROPIC_RULES: &str = r#"{"rules":[
 {"model":"claude-text","fixture_stream":"anthropic/messages_stream_text.sse","fixture_json":"anthropic/messages_text.json"},
 {"model":"claude-cut","fault":"cut","generate":{"chunks":10}}
]}"#;

const GEMINI_RULES: &str = r#"{"rules":[
 {"model":"gemini-text","fixture_stream":"gemini/stream_text.sse","fixture_json":"gemini/max_tokens.json"}
]}"#;

fn config(anthropic: &Mock, gemini: &Mock, embed_url: &str) -> String {
    format!(
        "env_providers = false
[server]
auth = \"keys\"
api_keys = [\"{KEY}\"]

[[providers]]
name = \"claude\"
kind = \"anthropic\"
models = [\"claude-text\", \"claude-cut\"]
base_url = \"{}\"
api_key = \"sk-ant-upstream\"
[[providers]]
name = \"gem\"
kind = \"gemini\"
models = [\"gemini-text\"]
base_url = \"{}\"
api_key = \"gm-upstream\"
[[providers]]
name = \"emb\"
kind = \"openai_compatible\"
models = [\"embed-small\"]
base_url = \"{embed_url}/v1\"
api_key = \"sk-emb-upstream\"
[[providers]]
name = \"ec\"
kind = \"echo\"
models = [\"echo-1\"]
",
        anthropic.url(),
        gemini.url()
    )
}

/// A minimal OpenAI-style embeddings upstream: answers every request with one fixed
/// body and keeps the last request (head and body).
struct EmbedUpstream {
    url: String,
    last: Arc<Mutex<(String, Vec<u8>)>>,
}

const EMBED_ANSWER: &str = r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0625,0.125]}],"model":"embed-small","usage":{"prompt_tokens":4,"total_tokens":4}}"#;

impl EmbedUpstream {
    fn start() -> EmbedUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let last = Arc::new(Mutex::new((String::new(), Vec::new())));
        let keep = last.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let keep = keep.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut conn = conn;
                    loop {
                        let mut head = String::new();
                        let mut len = 0usize;
                        loop {
                            let mut line = String::new();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if let Some(v) =
                                line.to_ascii_lowercase().strip_prefix("content-length:")
                            {
                                len = v.trim().parse().unwrap_or(0);
                            }
                            if line == "\r\n" {
                                break;
                            }
                            head.push_str(&line);
                        }
                        let mut body = vec![0; len];
                        reader.read_exact(&mut body).unwrap();
                        *keep.lock().unwrap() = (head, body);
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{EMBED_ANSWER}",
                            EMBED_ANSWER.len()
                        );
                        if conn.write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        EmbedUpstream { url, last }
    }
}

struct Setup {
    anthropic: Mock,
    gemini: Mock,
    embed: EmbedUpstream,
    gw: Gateway,
}

fn setup() -> Setup {
    let anthropic = Mock::with_scenario("anthropic", ANTHROPIC_RULES);
    let gemini = Mock::with_scenario("gemini", GEMINI_RULES);
    let embed = EmbedUpstream::start();
    let gw = Gateway::start(&config(&anthropic, &gemini, &embed.url));
    Setup {
        anthropic,
        gemini,
        embed,
        gw,
    }
}

fn fixture(dir: &std::path::Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap()
}

fn bearer() -> String {
    format!("authorization: Bearer {KEY}")
}

/// Anthropic's error shape: `{"type":"error","error":{"type":…,"message":…}}`.
fn assert_anthropic_error(r: &Resp, status: u16, error_type: &str) -> serde_json::Value {
    assert_eq!(r.status, status, "{}", r.text());
    let v = r.json();
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], error_type, "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
    v
}

/// Gemini's error shape: `{"error":{"code":…,"message":…,"status":…}}`.
fn assert_gemini_error(r: &Resp, status: u16, grpc_status: &str) -> serde_json::Value {
    assert_eq!(r.status, status, "{}", r.text());
    let v = r.json();
    assert_eq!(v["error"]["code"], status, "{v}");
    assert_eq!(v["error"]["status"], grpc_status, "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
    v
}

const MESSAGES: &str =
    r#"{"model":"claude-text","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}"#;

#[test]
fn anthropic_surface_auth_errors_and_byte_identical_passthrough() {
    let Some(fx) = fixtures() else { return };
    let s = setup();
    let gw = &s.gw;
    let version = "anthropic-version: 2023-06-01";

    // Auth: x-api-key and Bearer accepted; none or a wrong one refused in Anthropic's format.
    let r = gw.post_bytes("/v1/messages", MESSAGES.as_bytes(), &[version]);
    assert_anthropic_error(&r, 401, "authentication_error");
    let wrong = "x-api-key: sk-wrong";
    let r = gw.post_bytes("/v1/messages", MESSAGES.as_bytes(), &[version, wrong]);
    assert_anthropic_error(&r, 401, "authentication_error");
    let x_api_key = format!("x-api-key: {KEY}");
    let auth = [version, x_api_key.as_str()];

    // Non-streamed: the recorded answer, byte for byte.
    let r = gw.post_bytes("/v1/messages", MESSAGES.as_bytes(), &auth);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, fixture(&fx, "anthropic/messages_text.json"));
    let r = gw.post_bytes("/v1/messages", MESSAGES.as_bytes(), &[version, &bearer()]);
    assert_eq!(r.status, 200, "{}", r.text());

    // Streamed, with gateway fields and bytes the gateway must not touch: the upstream
    // gets the client's body minus the gateway fields; the client gets the recording.
    let body = r#"{"model":"claude-text", "provider" : "claude","max_tokens":64,"stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"hi  there","cache_control":{"type":"ephemeral"}}]}],"metadata":{"user_id":"u-1"}}"#;
    let r = gw.post_bytes(
        "/v1/messages",
        body.as_bytes(),
        &[
            version,
            &x_api_key,
            "anthropic-beta: prompt-caching-2024-07-31",
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    assert_eq!(r.body, fixture(&fx, "anthropic/messages_stream_text.sse"));
    assert_eq!(
        String::from_utf8(s.anthropic.last_body()).unwrap(),
        r#"{"model":"claude-text","max_tokens":64,"stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"hi  there","cache_control":{"type":"ephemeral"}}]}],"metadata":{"user_id":"u-1"}}"#
    );

    // The passed-through answers' usage was read on the way (metrics, usage records).
    let metrics = gw.metrics();
    assert!(
        metrics.lines().any(|l| l.starts_with("sluice_tokens_total")
            && l.contains("provider=\"claude\"")
            && l.contains("completion")
            && !l.ends_with(" 0")),
        "{metrics}"
    );

    // Unknown model: 404 in Anthropic's format.
    let r = gw.post_bytes(
        "/v1/messages",
        br#"{"model":"nope","max_tokens":5,"messages":[{"role":"user","content":"x"}]}"#,
        &auth,
    );
    assert_anthropic_error(&r, 404, "not_found_error");

    // Bad bodies: 400 in Anthropic's format naming the field.
    let r = gw.post_bytes("/v1/messages", b"{not json", &auth);
    assert_anthropic_error(&r, 400, "invalid_request_error");
    let r = gw.post_bytes(
        "/v1/messages",
        br#"{"model":"claude-text","stream":"yes","messages":[]}"#,
        &auth,
    );
    let v = assert_anthropic_error(&r, 400, "invalid_request_error");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("stream"),
        "{v}"
    );

    // The model list in Anthropic's shape when the request says `anthropic-version`.
    let r = curl(
        &[
            "-s",
            "-H",
            version,
            "-H",
            &x_api_key,
            &format!("{}/v1/models", gw.url()),
        ],
        None,
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["data"][0]["type"], "model");
    assert_eq!(v["has_more"], false);
    assert!(v["first_id"].is_string() && v["last_id"].is_string());
}

const GEMINI_BODY: &str = r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#;

#[test]
fn gemini_surface_auth_errors_and_byte_identical_passthrough() {
    let Some(fx) = fixtures() else { return };
    let s = setup();
    let gw = &s.gw;
    let generate = "/v1beta/models/gemini-text:generateContent";
    let stream = "/v1beta/models/gemini-text:streamGenerateContent?alt=sse";

    // Auth: x-goog-api-key, ?key= and Bearer accepted; none or wrong refused, Gemini-style.
    let r = gw.post_bytes(generate, GEMINI_BODY.as_bytes(), &[]);
    assert_gemini_error(&r, 401, "UNAUTHENTICATED");
    let r = gw.post_bytes(generate, GEMINI_BODY.as_bytes(), &["x-goog-api-key: wrong"]);
    assert_gemini_error(&r, 401, "UNAUTHENTICATED");
    let goog = format!("x-goog-api-key: {KEY}");
    let r = gw.post_bytes(generate, GEMINI_BODY.as_bytes(), &[&goog]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, fixture(&fx, "gemini/max_tokens.json"));
    let r = gw.post_bytes(
        &format!("{generate}?key={KEY}"),
        GEMINI_BODY.as_bytes(),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = gw.post_bytes(generate, GEMINI_BODY.as_bytes(), &[&bearer()]);
    assert_eq!(r.status, 200, "{}", r.text());
    // The same path under /v1/models.
    let r = gw.post_bytes(
        "/v1/models/gemini-text:generateContent",
        GEMINI_BODY.as_bytes(),
        &[&goog],
    );
    assert_eq!(r.status, 200, "{}", r.text());

    // Streamed with alt=sse: the recording byte for byte; the upstream body untouched
    // but for the gateway field.
    let body = r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"retry_count":1,"generationConfig":{"temperature":0.5}}"#;
    let r = gw.post_bytes(stream, body.as_bytes(), &[&goog]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, fixture(&fx, "gemini/stream_text.sse"));
    assert_eq!(
        String::from_utf8(s.gemini.last_body()).unwrap(),
        r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"temperature":0.5}}"#
    );

    // Streamed without alt=sse: one JSON array.
    let r = gw.post_bytes(
        "/v1beta/models/gemini-text:streamGenerateContent",
        GEMINI_BODY.as_bytes(),
        &[&goog],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert!(v.as_array().is_some_and(|a| !a.is_empty()), "{v}");

    // Unknown model and bad JSON in Gemini's format.
    let r = gw.post_bytes(
        "/v1beta/models/nope:generateContent",
        GEMINI_BODY.as_bytes(),
        &[&goog],
    );
    assert_gemini_error(&r, 404, "NOT_FOUND");
    let r = gw.post_bytes(generate, b"[not json", &[&goog]);
    assert_gemini_error(&r, 400, "INVALID_ARGUMENT");

    // Gemini's model list.
    let r = curl(
        &["-s", "-H", &goog, &format!("{}/v1beta/models", gw.url())],
        None,
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    let names: Vec<&str> = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"models/gemini-text"), "{v}");
}

#[test]
fn responses_surface_auth_and_errors_in_openai_format() {
    let s = setup();
    let gw = &s.gw;
    let body = r#"{"model":"nope","input":"hi"}"#;
    let r = gw.post_bytes("/v1/responses", body.as_bytes(), &[]);
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.json()["error"]["type"], "authentication_error");
    let r = gw.post_bytes("/v1/responses", body.as_bytes(), &[&bearer()]);
    assert_eq!(r.status, 404, "{}", r.text());
    let v = r.json();
    assert_eq!(v["error"]["code"], "model_not_found");
    assert!(v["request_id"].is_string(), "the envelope's fields: {v}");
    let r = gw.post_bytes("/v1/responses", br#"{"input":"hi"}"#, &[&bearer()]);
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"]["param"], "model");

    // Nothing is stored: retrieval and deletion are 404s saying so.
    for method in ["GET", "DELETE"] {
        let r = curl(
            &[
                "-s",
                "-X",
                method,
                "-H",
                &bearer(),
                &format!("{}/v1/responses/resp_123", gw.url()),
            ],
            None,
        );
        assert_eq!(r.status, 404, "{}", r.text());
        assert!(r.text().contains("not stored"), "{}", r.text());
    }
}

#[test]
fn count_tokens_estimates_for_providers_without_a_counter() {
    let s = setup();
    let gw = &s.gw;
    let r = gw.post_bytes(
        "/v1/messages/count_tokens",
        br#"{"model":"gemini-text","messages":[{"role":"user","content":"hello there"}]}"#,
        &["anthropic-version: 2023-06-01", &bearer()],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-sluice-token-count"), Some("estimate"));
    assert!(r.json()["input_tokens"].as_u64().unwrap() > 0);
    let r = gw.post_bytes(
        "/v1/messages/count_tokens",
        br#"{"model":"nope","messages":[]}"#,
        &[&bearer()],
    );
    assert_anthropic_error(&r, 404, "not_found_error");
}

#[test]
fn embeddings_pass_through_to_openai_compatible_upstreams() {
    let s = setup();
    let gw = &s.gw;
    let body = r#"{"model":"embed-small","input":"hello", "timeout": 30}"#;
    let r = gw.post_bytes("/v1/embeddings", body.as_bytes(), &[]);
    assert_eq!(r.status, 401, "{}", r.text());
    let r = gw.post_bytes("/v1/embeddings", body.as_bytes(), &[&bearer()]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), EMBED_ANSWER);
    assert_eq!(r.header("x-sluice-provider"), Some("emb"));
    let (head, sent) = s.embed.last.lock().unwrap().clone();
    assert!(head.starts_with("POST /v1/embeddings "), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("authorization: bearer sk-emb-upstream"),
        "{head}"
    );
    assert_eq!(
        String::from_utf8(sent).unwrap(),
        r#"{"model":"embed-small","input":"hello"}"#
    );
    // A provider that cannot embed is not tried; with no other candidate, a 400.
    let r = gw.post_bytes(
        "/v1/embeddings",
        br#"{"model":"claude-text","input":"x"}"#,
        &[&bearer()],
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = gw.post_bytes(
        "/v1/embeddings",
        br#"{"model":"nope","input":"x"}"#,
        &[&bearer()],
    );
    assert_eq!(r.status, 404, "{}", r.text());
    let metrics = gw.metrics();
    assert!(metrics.contains("provider=\"emb\""), "{metrics}");
}

/// The `data:` payloads of an SSE body (`\n` or Gemini's `\r\n` framing), as JSON
/// (`[DONE]` skipped).
fn events(body: &[u8]) -> Vec<serde_json::Value> {
    sse_data(
        String::from_utf8_lossy(body)
            .replace("\r\n", "\n")
            .as_bytes(),
    )
    .into_iter()
    .filter(|d| d != "[DONE]")
    .map(|d| serde_json::from_str(&d).unwrap_or_else(|e| panic!("{e}: {d}")))
    .collect()
}

#[test]
fn surfaces_translate_to_other_providers_and_the_echo() {
    let Some(_fx) = fixtures() else { return };
    let s = setup();
    let gw = &s.gw;
    let auth = bearer();

    // Anthropic client, Gemini upstream: a streamed Messages answer.
    let r = gw.post_bytes(
        "/v1/messages",
        br#"{"model":"gemini-text","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
        &[&auth],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let types: Vec<String> = events(&r.body)
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        types.first().map(String::as_str),
        Some("message_start"),
        "{types:?}"
    );
    assert_eq!(
        types.last().map(String::as_str),
        Some("message_stop"),
        "{types:?}"
    );
    assert!(
        types.iter().any(|t| t == "content_block_delta"),
        "{types:?}"
    );

    // Gemini client, Anthropic upstream: a whole generateContent answer.
    let r = gw.post_bytes(
        "/v1beta/models/claude-text:generateContent",
        GEMINI_BODY.as_bytes(),
        &[&auth],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert!(
        v["candidates"][0]["content"]["parts"][0]["text"].is_string(),
        "{v}"
    );

    // Gemini client streaming from an Anthropic upstream (the stream is named by the
    // URL alone): SSE events, and a JSON array without alt=sse.
    let r = gw.post_bytes(
        "/v1beta/models/claude-text:streamGenerateContent?alt=sse",
        GEMINI_BODY.as_bytes(),
        &[&auth],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let chunks = events(&r.body);
    assert!(chunks.len() > 1, "{}", r.text());
    assert_eq!(
        chunks.last().unwrap()["candidates"][0]["finishReason"],
        "STOP",
        "{}",
        r.text()
    );
    let r = gw.post_bytes(
        "/v1beta/models/claude-text:streamGenerateContent",
        GEMINI_BODY.as_bytes(),
        &[&auth],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert!(
        r.json().as_array().is_some_and(|a| a.len() > 1),
        "{}",
        r.text()
    );

    // Responses client, Anthropic upstream: a whole response object.
    let r = gw.post_bytes(
        "/v1/responses",
        br#"{"model":"claude-text","input":"hi"}"#,
        &[&auth],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["object"], "response", "{v}");

    // The echo provider answers every surface in its own protocol.
    let r = gw.post_bytes(
        "/v1/messages",
        br#"{"model":"echo-1","max_tokens":16,"messages":[{"role":"user","content":"ping pong"}]}"#,
        &[&auth],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["type"], "message", "{v}");
    assert_eq!(v["content"][0]["text"], "Echo: ping pong", "{v}");
    let r = gw.post_bytes(
        "/v1beta/models/echo-1:streamGenerateContent?alt=sse",
        GEMINI_BODY.as_bytes(),
        &[&auth],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let text: String = events(&r.body)
        .iter()
        .filter_map(|e| {
            e["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "Echo: hi");
}

#[test]
fn a_cut_stream_ends_with_the_surface_error_event() {
    let s = setup();
    let gw = &s.gw;
    // Same protocol (passed through): the Anthropic client's stream ends with
    // Anthropic's `error` event, never a silent clean end.
    let r = gw.post_bytes(
        "/v1/messages",
        br#"{"model":"claude-cut","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
        &[&bearer()],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    assert!(text.starts_with("event: message_start"), "{text}");
    assert!(!text.contains("message_stop"), "{text}");
    let last = events(&r.body).pop().unwrap();
    assert_eq!(last["type"], "error", "{text}");
    // Translated for an OpenAI Chat client: the gateway's envelope as the last event.
    let r = gw.post_bytes(
        "/v1/chat/completions",
        br#"{"model":"claude-cut","stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
        &[&bearer()],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let last = events(&r.body).pop().unwrap();
    assert!(last["error"]["message"].is_string(), "{}", r.text());
    assert!(last["request_id"].is_string(), "{}", r.text());
    // Translated for a Responses client: its `error` event.
    let r = gw.post_bytes(
        "/v1/responses",
        br#"{"model":"claude-cut","stream":true,"input":"hi"}"#,
        &[&bearer()],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let last = events(&r.body).pop().unwrap();
    assert!(
        last["type"] == "error" || last["type"] == "response.failed",
        "{}",
        r.text()
    );
}
