//! The protocol matrix (issue #12): every client surface (OpenAI Chat, OpenAI Responses,
//! Anthropic Messages, Gemini) in front of every upstream provider kind (`openai`,
//! `openai_responses`, `anthropic`, `gemini`), each cell a tool-use turn, streamed and
//! not, through the REAL SDK of the ingress protocol (`tests/sdk/*.py`) against a mock
//! upstream replaying a recorded answer.
//!
//! A cell passes when the SDK assembles the recording's tool calls (names, arguments
//! JSON-equal), text, usage (normalised: prompt incl. cache, completion incl. reasoning)
//! and stop reason; the expectation is read from the recording by `tests/sdk/recording.py`,
//! independently of the gateway. Each cell also checks what went upstream: one request,
//! the route's model mapped, the provider's own key, the stream flag.
//!
//! Diagonal cells (same protocol both sides) must also be byte-identical to the upstream's
//! bytes, checked with a raw HTTP client (curl), not the SDK. Embeddings go through the
//! `openai` passthrough and Gemini `batchEmbedContents`.
//!
//! Each row prints a table of its cells and every failure in full before failing, so one
//! run shows the whole state of the matrix.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

/// An upstream provider of the matrix: its kind, what the gateway calls it, the model
/// clients ask for (a route) and the model the upstream must receive, and its recordings.
struct Upstream {
    kind: &'static str,
    provider: &'static str,
    route: &'static str,
    model: &'static str,
    stream_fixture: &'static str,
    /// `None` for a variant that only adds a streamed recording.
    whole_fixture: Option<&'static str>,
    /// Header carrying the provider key upstream, and its expected value.
    auth: (&'static str, &'static str),
}

/// The four upstream kinds of the matrix (the diagonal uses these), then variants: more
/// recordings of the same kinds (single call, calls without arguments, reasoning) run
/// streamed through every ingress too.
const UPSTREAMS: [Upstream; 8] = [
    Upstream {
        kind: "openai",
        provider: "up-openai",
        route: "to-openai",
        model: "m-openai",
        stream_fixture: "openai/chat_stream_tool_calls_parallel.sse",
        whole_fixture: Some("openai/chat_tool_calls_parallel.json"),
        auth: ("authorization", "Bearer sk-up-openai"),
    },
    Upstream {
        kind: "openai_responses",
        provider: "up-responses",
        route: "to-responses",
        model: "m-responses",
        stream_fixture: "openai_responses/stream_function_call.sse",
        whole_fixture: Some("openai_responses/function_call.json"),
        auth: ("authorization", "Bearer sk-up-responses"),
    },
    Upstream {
        kind: "anthropic",
        provider: "up-anthropic",
        route: "to-anthropic",
        model: "m-anthropic",
        stream_fixture: "anthropic/messages_stream_tool_use_quoted_args.sse",
        whole_fixture: Some("anthropic/messages_parallel_tool_use.json"),
        auth: ("x-api-key", "sk-ant-up"),
    },
    Upstream {
        kind: "gemini",
        provider: "up-gemini",
        route: "to-gemini",
        model: "m-gemini",
        stream_fixture: "gemini/stream_tool_call_args.sse",
        whole_fixture: Some("gemini/tool_call.json"),
        auth: ("x-goog-api-key", "gm-up"),
    },
    Upstream {
        kind: "openai",
        provider: "up-openai",
        route: "to-openai-single",
        model: "m-openai-single",
        stream_fixture: "openai/chat_stream_tool_call_single.sse",
        whole_fixture: None,
        auth: ("authorization", "Bearer sk-up-openai"),
    },
    Upstream {
        kind: "openai_responses",
        provider: "up-responses",
        route: "to-responses-reasoning",
        model: "m-responses-reasoning",
        stream_fixture: "openai_responses/stream_reasoning_function_call.sse",
        whole_fixture: None,
        auth: ("authorization", "Bearer sk-up-responses"),
    },
    Upstream {
        kind: "anthropic",
        provider: "up-anthropic",
        route: "to-anthropic-noargs",
        model: "m-anthropic-noargs",
        stream_fixture: "anthropic/messages_stream_parallel_tool_use_no_args.sse",
        whole_fixture: None,
        auth: ("x-api-key", "sk-ant-up"),
    },
    Upstream {
        kind: "gemini",
        provider: "up-gemini",
        route: "to-gemini-noargs",
        model: "m-gemini-noargs",
        stream_fixture: "gemini/stream_tool_call_no_args_thought_signature.sse",
        whole_fixture: None,
        auth: ("x-goog-api-key", "gm-up"),
    },
];

/// The upstream models of a provider (for its `models` list).
fn models_of(provider: &str) -> String {
    UPSTREAMS
        .iter()
        .filter(|u| u.provider == provider)
        .map(|u| format!("\"{}\"", u.model))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A client surface of the matrix and the SDK driver that speaks it.
struct Ingress {
    name: &'static str,
    script: &'static str,
    /// The upstream kind of the same protocol (the diagonal).
    same_kind: &'static str,
}

const CHAT: Ingress = Ingress {
    name: "openai_chat",
    script: "openai_chat_tools.py",
    same_kind: "openai",
};
const RESPONSES: Ingress = Ingress {
    name: "openai_responses",
    script: "openai_responses.py",
    same_kind: "openai_responses",
};
const MESSAGES: Ingress = Ingress {
    name: "anthropic_messages",
    script: "anthropic_messages.py",
    same_kind: "anthropic",
};
const GEMINI: Ingress = Ingress {
    name: "gemini",
    script: "gemini_genai.py",
    same_kind: "gemini",
};

/// Recordings kept in the repository (`tests/fixtures`), searched after the shared ones.
fn repo_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The file of a recording: under the shared fixtures, else under the repo's.
fn fixture_file(shared: &Path, rel: &str) -> Option<PathBuf> {
    [shared.join(rel), repo_fixtures().join(rel)]
        .into_iter()
        .find(|p| p.is_file())
}

/// Whether the Python SDKs of every ingress are importable (else a loud SKIPPED).
fn sdks_present() -> bool {
    let out = Command::new(python())
        .args(["-c", "import openai, anthropic, google.genai"])
        .output();
    match out {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            eprintln!(
                "\n!!! SKIPPED: the Python SDKs (openai, anthropic, google-genai) are not importable by {} (run tests/run.sh or set SLUICE_PYTHON): {} !!!\n",
                python().display(),
                String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or("")
            );
            false
        }
        Err(e) => {
            eprintln!(
                "\n!!! SKIPPED: cannot run {} ({e}) !!!\n",
                python().display()
            );
            false
        }
    }
}

/// Runs `tests/sdk/<script> args...`; returns its stdout parsed as JSON, or the reason not.
fn run_driver(script: &str, args: &[&str]) -> Result<Value, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sdk")
        .join(script);
    let out = Command::new(python())
        .arg(&path)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python().display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().rev().find(|l| l.starts_with('{'));
    match line.map(serde_json::from_str::<Value>) {
        Some(Ok(v)) if out.status.success() => Ok(v),
        _ => Err(format!(
            "{script} {args:?} exited {}:\n--- stdout\n{stdout}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

/// The mock upstream: one process, every protocol, a rule per upstream model.
fn start_mock(name: &str) -> Mock {
    let mut rules = Vec::new();
    for up in &UPSTREAMS {
        let mut rule = serde_json::json!({
            "model": up.model,
            "fixture_stream": up.stream_fixture,
        });
        if let Some(whole) = up.whole_fixture {
            rule["fixture_json"] = Value::from(whole);
        }
        rules.push(rule);
    }
    let dir = tempdir();
    let scenario = dir.join("protocols-scenario.json");
    std::fs::write(&scenario, serde_json::json!({ "rules": rules }).to_string()).unwrap();
    let extra = repo_fixtures();
    Mock::start(
        name,
        &[
            "--scenario",
            scenario.to_str().unwrap(),
            "--fixtures-extra",
            extra.to_str().unwrap(),
        ],
    )
}

/// Four providers on the mock (one per kind) and a route per upstream that maps the
/// client's model to the upstream's (no retries: a cell is one upstream request); plus
/// two embedding routes.
fn config(mock: &Mock) -> String {
    let m = mock.url();
    let openai = models_of("up-openai");
    let responses = models_of("up-responses");
    let anthropic = models_of("up-anthropic");
    let gemini = models_of("up-gemini");
    let mut c = format!(
        r#"env_providers = false
[[providers]]
name = "up-openai"
kind = "openai"
models = [{openai}, "e-openai"]
base_url = "{m}/v1"
api_key = "sk-up-openai"
[[providers]]
name = "up-responses"
kind = "openai_responses"
models = [{responses}]
base_url = "{m}/v1"
api_key = "sk-up-responses"
[[providers]]
name = "up-anthropic"
kind = "anthropic"
models = [{anthropic}]
base_url = "{m}"
api_key = "sk-ant-up"
[[providers]]
name = "up-gemini"
kind = "gemini"
models = [{gemini}, "e-gemini"]
base_url = "{m}"
api_key = "gm-up"
"#
    );
    let routes = UPSTREAMS
        .iter()
        .map(|u| (u.route, u.provider, u.model))
        .chain([
            ("embed-openai", "up-openai", "e-openai"),
            ("embed-gemini", "up-gemini", "e-gemini"),
        ]);
    for (route, provider, model) in routes {
        c.push_str(&format!(
            "[[routes]]\nname = \"{route}\"\nretries = 0\n[[routes.targets]]\nprovider = \"{provider}\"\nmodel = \"{model}\"\n"
        ));
    }
    c
}

/// `GET /_mock/last?path=...`: (status, x-mock-target, body).
fn upstream_last(mock: &Mock, path: &str) -> (u16, String, Vec<u8>) {
    let r = curl(
        &["-s", &format!("{}/_mock/last?path={path}", mock.url())],
        None,
    );
    let target = r.header("x-mock-target").unwrap_or("").to_owned();
    (r.status, target, r.body)
}

/// The mock's API path for an upstream kind (Gemini: with the model and action).
fn upstream_path(kind: &str, model: &str, stream: bool) -> String {
    match kind {
        "openai" => "/v1/chat/completions".to_owned(),
        "openai_responses" => "/v1/responses".to_owned(),
        "anthropic" => "/v1/messages".to_owned(),
        _ if stream => format!("/v1beta/models/{model}:streamGenerateContent"),
        _ => format!("/v1beta/models/{model}:generateContent"),
    }
}

/// What went upstream for the cell just run: exactly one request, the mapped model, the
/// provider's own key, the stream flag. Returns the problems found.
fn check_upstream(mock: &Mock, up: &Upstream, stream: bool, requests_before: u64) -> Vec<String> {
    let mut problems = Vec::new();
    let stats = mock.stats();
    let n = stats["requests"].as_u64().unwrap_or(0) - requests_before;
    if n != 1 {
        problems.push(format!("{n} upstream requests (expected 1)"));
    }
    if n == 0 {
        return problems;
    }
    let log = stats["log"].as_array().cloned().unwrap_or_default();
    let entry = log.last().cloned().unwrap_or(Value::Null);
    let (header, value) = up.auth;
    if entry["headers"][header] != value {
        problems.push(format!(
            "upstream {header} was {} (expected the provider's key {value:?})",
            entry["headers"][header]
        ));
    }
    let path = upstream_path(up.kind, up.model, stream);
    let (status, target, body) = upstream_last(mock, &path);
    if status != 200 {
        problems.push(format!(
            "no upstream request at {path} (the last went to {})",
            entry["path"]
        ));
        return problems;
    }
    if up.kind == "gemini" {
        let want = if stream {
            format!("{path}?alt=sse")
        } else {
            path.clone()
        };
        if !(target == want || target.starts_with(&format!("{want}&"))) {
            problems.push(format!("upstream target {target:?}, expected {want:?}"));
        }
        return problems;
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(v) => {
            if v["model"] != up.model {
                problems.push(format!(
                    "upstream model {} (expected the route's mapping to {:?})",
                    v["model"], up.model
                ));
            }
            let streamed = v["stream"].as_bool().unwrap_or(false);
            if streamed != stream {
                problems.push(format!(
                    "upstream stream={streamed}, client stream={stream}"
                ));
            }
        }
        Err(e) => problems.push(format!("upstream body is not JSON ({e})")),
    }
    problems
}

/// Compares a driver's normalised answer with the recording's; returns the differences.
fn compare(got: &Value, want: &Value) -> Vec<String> {
    let mut diffs = Vec::new();
    if let Some(err) = got.get("error") {
        diffs.push(format!("SDK error: {}", err.as_str().unwrap_or("?")));
        // The SDK frame that raised (the message above usually says it all).
        if let Some(line) = got["trace"].as_str().and_then(|t| {
            t.lines()
                .rev()
                .find(|l| l.trim_start().starts_with("File "))
        }) {
            diffs.push(format!("raised at: {}", line.trim()));
        }
        return diffs;
    }
    let calls = |v: &Value| v["tool_calls"].as_array().cloned().unwrap_or_default();
    let (g, w) = (calls(got), calls(want));
    if g.len() != w.len() {
        diffs.push(format!(
            "{} tool calls, recording has {}: got {:?}",
            g.len(),
            w.len(),
            g.iter().map(|c| c["name"].clone()).collect::<Vec<_>>()
        ));
    }
    for (i, (gc, wc)) in g.iter().zip(&w).enumerate() {
        if gc["name"] != wc["name"] {
            diffs.push(format!(
                "tool call {i}: name {} != {}",
                gc["name"], wc["name"]
            ));
        }
        if gc["arguments"] != wc["arguments"] {
            diffs.push(format!(
                "tool call {i}: arguments {} != {}",
                gc["arguments"], wc["arguments"]
            ));
        }
    }
    for field in ["text", "usage", "stop"] {
        if got[field] != want[field] {
            diffs.push(format!("{field}: {} != {}", got[field], want[field]));
        }
    }
    for p in got["problems"].as_array().into_iter().flatten() {
        diffs.push(format!("protocol problem: {}", p.as_str().unwrap_or("?")));
    }
    diffs
}

/// One cell's outcome.
enum Outcome {
    Pass,
    Fail(Vec<String>),
    Skipped(String),
}

/// Runs one ingress row against every upstream, streamed and whole; prints the row and
/// every failure; panics if any cell failed.
fn run_row(ingress: &Ingress) {
    let Some(fx) = fixtures() else { return };
    if !sdks_present() {
        return;
    }
    let mock = start_mock(&format!("protocols-{}", ingress.name));
    let mut gw = Gateway::start(&config(&mock));
    let mut rows = Vec::new();
    for up in &UPSTREAMS {
        for stream in [true, false] {
            let mode = if stream { "stream" } else { "whole" };
            let fixture = if stream {
                up.stream_fixture
            } else if let Some(whole) = up.whole_fixture {
                whole
            } else {
                continue;
            };
            let outcome = match fixture_file(&fx, fixture) {
                None => Outcome::Skipped(format!("recording {fixture} absent")),
                Some(file) => cell(&mock, &gw.url(), ingress, up, stream, &file),
            };
            // A failed cell may have ejected its provider (consecutive failures): the
            // next cell gets a fresh gateway, so one failure does not cascade.
            if matches!(outcome, Outcome::Fail(_)) {
                drop(gw);
                gw = Gateway::start(&config(&mock));
            }
            rows.push((up.kind, mode, fixture, outcome));
        }
    }
    report(ingress.name, &rows);
}

fn cell(
    mock: &Mock,
    base: &str,
    ingress: &Ingress,
    up: &Upstream,
    stream: bool,
    file: &Path,
) -> Outcome {
    let want = match run_driver("recording.py", &[up.kind, file.to_str().unwrap()]) {
        Ok(v) => v,
        Err(e) => return Outcome::Fail(vec![format!("reading the recording: {e}")]),
    };
    let names: Vec<&str> = want["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let mut tools: Vec<&str> = Vec::new();
    for n in names {
        if !tools.contains(&n) {
            tools.push(n);
        }
    }
    let tools = tools.join(",");
    let before = mock.requests();
    let mode = if stream { "--stream" } else { "--whole" };
    let got = match run_driver(ingress.script, &[base, up.route, mode, "--tools", &tools]) {
        Ok(v) => v,
        Err(e) => return Outcome::Fail(vec![e]),
    };
    let mut diffs = compare(&got, &want);
    diffs.extend(
        check_upstream(mock, up, stream, before)
            .into_iter()
            .map(|p| format!("upstream: {p}")),
    );
    if diffs.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Fail(diffs)
    }
}

fn report(row: &str, cells: &[(&str, &str, &str, Outcome)]) {
    let mut table = format!("\n=== protocol matrix: ingress {row} ===\n");
    let mut failures = String::new();
    let (mut pass, mut fail, mut skip) = (0, 0, 0);
    for (kind, mode, fixture, outcome) in cells {
        let verdict = match outcome {
            Outcome::Pass => {
                pass += 1;
                "PASS".to_owned()
            }
            Outcome::Fail(diffs) => {
                fail += 1;
                failures.push_str(&format!(
                    "\n--- FAIL {row} <- {kind} ({mode}, {fixture}):\n"
                ));
                for d in diffs {
                    failures.push_str(&format!("    {d}\n"));
                }
                "FAIL".to_owned()
            }
            Outcome::Skipped(why) => {
                skip += 1;
                format!("SKIPPED ({why})")
            }
        };
        let file = fixture.rsplit('/').next().unwrap_or(fixture);
        table.push_str(&format!(
            "  {row:<18} <- {kind:<16} {mode:<6} {file:<46} {verdict}\n"
        ));
    }
    table.push_str(&format!("  {pass} passed, {fail} failed, {skip} skipped\n"));
    eprintln!("{table}{failures}");
    if skip > 0 {
        eprintln!("\n!!! SKIPPED {skip} cell(s) of ingress {row}: see above !!!\n");
    }
    assert_eq!(
        fail, 0,
        "ingress {row}: {fail} cell(s) failed (details above)"
    );
}

#[test]
fn matrix_openai_chat_ingress() {
    run_row(&CHAT);
}

#[test]
fn matrix_openai_responses_ingress() {
    run_row(&RESPONSES);
}

#[test]
fn matrix_anthropic_messages_ingress() {
    run_row(&MESSAGES);
}

#[test]
fn matrix_gemini_ingress() {
    run_row(&GEMINI);
}

/// The raw request of an ingress protocol for a diagonal cell: (path, body).
fn raw_request(ingress: &Ingress, model: &str, stream: bool) -> (String, String) {
    let tools_chat = r#"[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{}}}}]"#;
    match ingress.same_kind {
        "openai" => (
            "/v1/chat/completions".to_owned(),
            if stream {
                format!(
                    r#"{{"model":"{model}","stream":true,"stream_options":{{"include_usage":true}},"messages":[{{"role":"user","content":"weather?"}}],"tools":{tools_chat}}}"#
                )
            } else {
                format!(
                    r#"{{"model":"{model}","messages":[{{"role":"user","content":"weather?"}}],"tools":{tools_chat}}}"#
                )
            },
        ),
        "openai_responses" => (
            "/v1/responses".to_owned(),
            format!(
                r#"{{"model":"{model}","stream":{stream},"input":"weather?","tools":[{{"type":"function","name":"get_weather","parameters":{{"type":"object","properties":{{}}}}}}]}}"#
            ),
        ),
        "anthropic" => (
            "/v1/messages".to_owned(),
            format!(
                r#"{{"model":"{model}","max_tokens":1024,"stream":{stream},"messages":[{{"role":"user","content":"weather?"}}],"tools":[{{"name":"json","input_schema":{{"type":"object"}}}}]}}"#
            ),
        ),
        _ => (
            if stream {
                format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
            } else {
                format!("/v1beta/models/{model}:generateContent")
            },
            r#"{"contents":[{"role":"user","parts":[{"text":"weather?"}]}],"tools":[{"functionDeclarations":[{"name":"weather","parameters":{"type":"OBJECT","properties":{}}}]}]}"#.to_owned(),
        ),
    }
}

/// Headers a client of the protocol sends.
fn raw_headers(ingress: &Ingress) -> Vec<&'static str> {
    match ingress.same_kind {
        "anthropic" => vec!["anthropic-version: 2023-06-01", "x-api-key: sk-ant-client"],
        "gemini" => vec!["x-goog-api-key: gm-client"],
        _ => vec!["authorization: Bearer sk-client"],
    }
}

/// `body` is `recording` with the orchestrator API's `provider` and `latency_ms` appended
/// (what the OpenAI Chat surface adds to non-streamed answers, by design).
fn is_recording_plus_chat_extras(body: &[u8], recording: &[u8], provider: &str) -> bool {
    let Some(end) = recording.iter().rposition(|&b| b == b'}') else {
        return false;
    };
    let (head, tail) = recording.split_at(end);
    let prefix = format!(",\"provider\":\"{provider}\",\"latency_ms\":");
    let Some(rest) = body
        .strip_prefix(head)
        .and_then(|r| r.strip_prefix(prefix.as_bytes()))
    else {
        return false;
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    digits > 0 && &rest[digits..] == tail
}

/// Diagonal cells: same protocol both sides. The answer is the upstream's bytes exactly
/// (raw HTTP, streamed and not); the request with the upstream's own model name and no
/// gateway fields goes upstream byte for byte; with a route name, only the model changes.
#[test]
fn diagonal_cells_are_byte_identical() {
    let Some(fx) = fixtures() else { return };
    let mock = start_mock("protocols-diagonal");
    let gw = Gateway::start(&config(&mock));
    let mut table = String::from("\n=== protocol matrix: diagonal byte identity ===\n");
    let mut failures = Vec::new();
    let mut skipped = 0;
    for ingress in [&CHAT, &RESPONSES, &MESSAGES, &GEMINI] {
        let up = UPSTREAMS
            .iter()
            .find(|u| u.kind == ingress.same_kind)
            .unwrap();
        for stream in [true, false] {
            let mode = if stream { "stream" } else { "whole" };
            let rel = if stream {
                up.stream_fixture
            } else {
                up.whole_fixture.unwrap()
            };
            let Some(file) = fixture_file(&fx, rel) else {
                skipped += 1;
                table.push_str(&format!(
                    "  {:<20} {mode:<6} SKIPPED (recording {rel} absent)\n",
                    ingress.name
                ));
                continue;
            };
            let recording = std::fs::read(&file).unwrap();
            let mut problems = Vec::new();
            let mut note = "";
            // 1. Through a route: the answer is the recording's bytes.
            let (path, body) = raw_request(ingress, up.route, stream);
            let r = gw.post_bytes(&path, body.as_bytes(), &raw_headers(ingress));
            if r.status != 200 {
                problems.push(format!("status {}: {}", r.status, r.text()));
            } else if r.body != recording {
                if !stream
                    && ingress.same_kind == "openai"
                    && is_recording_plus_chat_extras(&r.body, &recording, up.provider)
                {
                    note = " (+ provider/latency_ms extras of the OpenAI Chat surface)";
                } else {
                    problems.push(first_difference(&r.body, &recording));
                }
            }
            // ... and upstream got the client's body with the model mapped.
            let upath = upstream_path(up.kind, up.model, stream);
            let (status, target, sent) = upstream_last(&mock, &upath);
            if status != 200 {
                problems.push(format!("nothing reached {upath}"));
            } else if up.kind == "gemini" {
                if !target.starts_with(&format!("/v1beta/models/{}:", up.model)) {
                    problems.push(format!(
                        "upstream target {target:?} does not name {}",
                        up.model
                    ));
                }
                if sent != body.as_bytes() {
                    problems.push(format!(
                        "Gemini request body not passed through byte for byte: {}",
                        first_difference(&sent, body.as_bytes())
                    ));
                }
            } else {
                let mut want: Value = serde_json::from_str(&body).unwrap();
                want["model"] = Value::from(up.model);
                match serde_json::from_slice::<Value>(&sent) {
                    Ok(got) if got == want => {}
                    Ok(got) => problems.push(format!(
                        "upstream body {got} != the client's with the model mapped {want}"
                    )),
                    Err(e) => problems.push(format!("upstream body not JSON: {e}")),
                }
            }
            // 1b. OpenAI Chat's gateway fields are for the gateway: stripped, the rest kept.
            if ingress.same_kind == "openai" {
                let mut with_fields: Value = serde_json::from_str(&body).unwrap();
                with_fields["retry_count"] = Value::from(0);
                with_fields["timeout"] = Value::from(30);
                let r = gw.post_bytes(
                    &path,
                    with_fields.to_string().as_bytes(),
                    &raw_headers(ingress),
                );
                let (_, _, sent) = upstream_last(&mock, &upath);
                let mut want: Value = serde_json::from_str(&body).unwrap();
                want["model"] = Value::from(up.model);
                match serde_json::from_slice::<Value>(&sent) {
                    Ok(got) if r.status == 200 && got == want => {}
                    Ok(got) => problems.push(format!(
                        "with gateway fields retry_count/timeout (status {}): upstream body {got} != {want}",
                        r.status
                    )),
                    Err(e) => problems.push(format!("upstream body not JSON: {e}")),
                }
            }
            // 2. Asking for the upstream's own model name: the body goes up untouched.
            if up.kind != "gemini" {
                let (path, body) = raw_request(ingress, up.model, stream);
                let r = gw.post_bytes(&path, body.as_bytes(), &raw_headers(ingress));
                let (_, _, sent) = upstream_last(&mock, &upath);
                if r.status != 200 {
                    problems.push(format!(
                        "model {}: status {}: {}",
                        up.model,
                        r.status,
                        r.text()
                    ));
                } else if sent != body.as_bytes() {
                    problems.push(format!(
                        "request with the upstream's own model not passed through byte for byte: {}",
                        first_difference(&sent, body.as_bytes())
                    ));
                }
            }
            let verdict = if problems.is_empty() { "PASS" } else { "FAIL" };
            table.push_str(&format!(
                "  {:<20} {mode:<6} {verdict}{note}\n",
                ingress.name
            ));
            if !problems.is_empty() {
                failures.push(format!(
                    "--- FAIL diagonal {} ({mode}, {rel}):\n    {}",
                    ingress.name,
                    problems.join("\n    ")
                ));
            }
        }
    }
    eprintln!("{table}\n{}", failures.join("\n"));
    if skipped > 0 {
        eprintln!("\n!!! SKIPPED {skipped} diagonal cell(s): see above !!!\n");
    }
    assert!(
        failures.is_empty(),
        "{} diagonal cell(s) failed (details above)",
        failures.len()
    );
}

/// Where two byte strings first differ, with a little context of each.
fn first_difference(got: &[u8], want: &[u8]) -> String {
    let at = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    let ctx = |b: &[u8]| {
        let from = at.saturating_sub(40);
        let to = (at + 80).min(b.len());
        String::from_utf8_lossy(&b[from.min(to)..to]).into_owned()
    };
    format!(
        "bytes differ at offset {at} (got {} bytes, upstream sent {}): got …{:?}… upstream …{:?}…",
        got.len(),
        want.len(),
        ctx(got),
        ctx(want)
    )
}

/// Embeddings through the `openai` SDK's `embeddings.create` (base64 by default, and
/// float) to an `openai` upstream (passthrough) and a `gemini` one (batchEmbedContents).
#[test]
fn embeddings_through_openai_and_gemini_upstreams() {
    let Some(_fx) = fixtures() else { return };
    if !sdks_present() {
        return;
    }
    let mock = start_mock("protocols-embeddings");
    let gw = Gateway::start(&config(&mock));
    // The mock's vectors: input i, component j = (i*8 + j + 1) / 16.
    let want: Vec<Vec<f64>> = (0..2)
        .map(|i| (0..8).map(|j| (i * 8 + j + 1) as f64 / 16.0).collect())
        .collect();
    let mut failures = Vec::new();
    for (route, kind) in [("embed-openai", "openai"), ("embed-gemini", "gemini")] {
        let got = match run_driver("openai_embeddings.py", &[&gw.url(), route]) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{kind}: {e}"));
                continue;
            }
        };
        if let Some(err) = got.get("error") {
            failures.push(format!("{kind}: SDK error {err}"));
            continue;
        }
        for encoding in ["base64", "float"] {
            let g = &got[encoding];
            let vectors: Vec<Vec<f64>> =
                serde_json::from_value(g["vectors"].clone()).unwrap_or_default();
            if vectors != want {
                failures.push(format!(
                    "{kind} {encoding}: vectors {vectors:?} != {want:?}"
                ));
            }
            if g["wire"] != encoding {
                failures.push(format!(
                    "{kind}: asked encoding_format {encoding}, the answer carried {}",
                    g["wire"]
                ));
            }
            if g["indexes"] != serde_json::json!([0, 1]) {
                failures.push(format!("{kind} {encoding}: indexes {}", g["indexes"]));
            }
            if kind == "openai" && g["usage"]["input"] != 8 {
                failures.push(format!(
                    "{kind} {encoding}: usage {} (the upstream reported 8 prompt tokens)",
                    g["usage"]
                ));
            }
        }
        // What went upstream.
        if kind == "openai" {
            let (status, _, sent) = upstream_last(&mock, "/v1/embeddings");
            match serde_json::from_slice::<Value>(&sent) {
                Ok(v) if status == 200 => {
                    if v["model"] != "e-openai" {
                        failures.push(format!("openai: upstream model {}", v["model"]));
                    }
                    if v["input"] != serde_json::json!(["the first text", "the second text"]) {
                        failures.push(format!("openai: upstream input {}", v["input"]));
                    }
                }
                _ => failures.push(format!("openai: nothing reached /v1/embeddings ({status})")),
            }
        } else {
            let (status, target, sent) =
                upstream_last(&mock, "/v1beta/models/x:batchEmbedContents");
            match serde_json::from_slice::<Value>(&sent) {
                Ok(v) if status == 200 => {
                    if !target.starts_with("/v1beta/models/e-gemini:batchEmbedContents") {
                        failures.push(format!("gemini: upstream target {target:?}"));
                    }
                    let texts: Vec<&str> = v["requests"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|r| r["content"]["parts"][0]["text"].as_str())
                        .collect();
                    if texts != ["the first text", "the second text"] {
                        failures.push(format!("gemini: upstream requests {v}"));
                    }
                }
                _ => failures.push(format!(
                    "gemini: nothing reached :batchEmbedContents ({status})"
                )),
            }
        }
    }
    eprintln!(
        "\n=== embeddings: {} ===\n{}",
        if failures.is_empty() { "PASS" } else { "FAIL" },
        failures.join("\n")
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Anthropic `count_tokens` to an Anthropic upstream: the upstream's count comes back.
#[test]
fn anthropic_count_tokens_passthrough() {
    let Some(_fx) = fixtures() else { return };
    let mock = start_mock("protocols-count");
    let gw = Gateway::start(&config(&mock));
    let r = gw.post_bytes(
        "/v1/messages/count_tokens",
        br#"{"model":"to-anthropic","messages":[{"role":"user","content":"hi"}]}"#,
        &["anthropic-version: 2023-06-01"],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), serde_json::json!({"input_tokens": 10}));
    let (status, _, sent) = upstream_last(&mock, "/v1/messages/count_tokens");
    assert_eq!(status, 200, "nothing reached count_tokens upstream");
    let v: Value = serde_json::from_slice(&sent).unwrap();
    assert_eq!(v["model"], "m-anthropic");
}
