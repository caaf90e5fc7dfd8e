//! The attacks of issue #10 ("Edge hardening"), re-run as a new attacker would: each test
//! starts its own `sluice dataplane` (and mock upstream where one is needed) on free
//! loopback ports, attacks it over real sockets, and asserts the refusal (a 4xx, a 503 with
//! `Retry-After`, or a clean close), that the same process serves a normal request right
//! after, and, where the attack was about memory, that its RSS stays within a generous bound
//! of idle (read from `/proc/<pid>/status`; `VmHWM` is the peak). A watchdog kills a data
//! plane whose RSS runs away so an undefended attack fails the test rather than the machine.
//!
//! Nothing here asserts on time: waits poll observable state (a response, a close, a
//! counter) under an overall cap of tens of seconds, and durations are only printed.
//!
//! Run: `cargo build --release --workspace --bins && cargo test --release --test e2e_attacks`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod attacks;
mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use attacks::corpus::{self, Expect};
use attacks::dataplane::{echo_config, metric, mib, DataPlane, Start, MIB};
use attacks::http::{self, Client, Ending, RawResp};
use common::{poll_until, Mock};
use serde_json::json;

/// The shipped config: also `sluice up`'s embedded default (echo provider, no client keys).
const EMBEDDED: &str = include_str!("../config/sluice.toml");

/// RSS beyond which the watchdog kills a data plane under attack (far above every bound
/// asserted here: it only keeps a runaway from taking the machine down).
const RUNAWAY: u64 = 2048 * MIB;

/// Panics with the watchdog's reading if it killed the data plane.
fn assert_not_runaway(dp: &DataPlane, what: &str) {
    if let Some(rss) = dp.guard_tripped() {
        panic!(
            "{what}: the data plane's RSS ran past {:.0} MiB and the watchdog killed it",
            mib(rss)
        );
    }
}

/// Asserts an OpenAI-style error envelope with `status`; returns the `error` object.
fn assert_error(r: &RawResp, status: u16, what: &str) -> serde_json::Value {
    assert_eq!(r.status, status, "{what}: {}", r.snippet());
    let v = r.json();
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: no error.message in {v}"
    );
    v["error"].clone()
}

/// Asserts a 503 refusal with `Retry-After`.
fn assert_overloaded(r: &RawResp, what: &str) {
    assert_error(r, 503, what);
    assert!(
        r.header("retry-after").is_some(),
        "{what}: 503 without Retry-After: {:?}",
        r.headers
    );
}

/// Asserts peak RSS stayed within `bound` of `idle`, and prints the measurement.
fn assert_rss_bounded(dp: &DataPlane, idle: u64, bound: u64, what: &str) {
    assert_not_runaway(dp, what);
    let (now, peak) = (dp.rss(), dp.peak_rss());
    eprintln!(
        "[{what}] RSS idle {:.1} MiB, now {:.1} MiB, peak {:.1} MiB (bound idle + {:.0} MiB)",
        mib(idle),
        mib(now),
        mib(peak),
        mib(bound)
    );
    assert!(
        peak < idle + bound,
        "{what}: peak RSS {:.1} MiB is not below idle {:.1} MiB + {:.0} MiB",
        mib(peak),
        mib(idle),
        mib(bound)
    );
}

fn chat_body(model: &str, stream: bool, content: &str) -> String {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": content}]})
        .to_string()
}

// ---------------------------------------------------------------------------------------
// 1. A megabyte model name against the shipped echo config.
// ---------------------------------------------------------------------------------------

#[test]
fn attack_01_megabyte_model_name_against_embedded_echo_config() {
    let dp = DataPlane::start(EMBEDDED);
    dp.assert_serves("start");
    let idle = dp.rss();
    dp.guard_rss(idle + RUNAWAY);
    let long = "A".repeat(1_000_000);

    // As in the issue: a long answer (thousands of words), every streamed event of which
    // would carry the model name. Read at most 64 MiB / 30 s of whatever comes back.
    let words = "a ".repeat(4000);
    for stream in [true, false] {
        let body = chat_body(&format!("echo:{long}"), stream, &words);
        let t = Instant::now();
        let x = http::exchange(
            dp.port(),
            &http::chat_request(body.as_bytes(), "", true),
            Duration::from_secs(30),
        );
        assert_not_runaway(&dp, "1 MB model name");
        let first = x.responses.iter().find(|r| r.status >= 200);
        eprintln!(
            "[1] model of {} bytes, 4,000 words, stream={stream}: {:?} after {:?}, {} bytes received, peak RSS {:.1} MiB",
            long.len() + 5,
            first.map(|r| r.status),
            t.elapsed(),
            x.raw.len(),
            mib(dp.peak_rss())
        );
        let r = first.unwrap_or_else(|| {
            panic!(
                "1 MB model name, stream={stream}: no complete answer ({} bytes, {:?})",
                x.raw.len(),
                x.ending
            )
        });
        let err = assert_error(r, 400, &format!("1 MB model name, stream={stream}"));
        assert_eq!(err["param"], "model", "1 MB model name: {err}");
    }

    // The class: every client-chosen name is capped (pins included), at 256 bytes by default.
    for field in ["provider", "backend"] {
        let mut v: serde_json::Value =
            serde_json::from_str(&chat_body("echo", true, "hi")).unwrap();
        v[field] = json!(long);
        let r = http::post_chat(dp.port(), &v.to_string(), "").expect(field);
        eprintln!("[1] 1 MB `{field}` pin: {}", r.status);
        assert_error(&r, 400, &format!("1 MB {field} pin"));
    }
    let at_cap = format!("echo:{}", "A".repeat(256 - 5));
    let over_cap = format!("echo:{}", "A".repeat(256 - 4));
    let r = http::post_chat(dp.port(), &chat_body(&at_cap, false, "hi"), "").expect("at cap");
    assert_eq!(
        r.status,
        200,
        "a 256-byte model name is accepted: {}",
        r.snippet()
    );
    let r = http::post_chat(dp.port(), &chat_body(&over_cap, false, "hi"), "").expect("over cap");
    let err = assert_error(&r, 400, "257-byte model name");
    assert_eq!(err["param"], "model");

    // Echo output stays independent of the input's size: a 9 MB one-word prompt, streamed.
    let big = chat_body("echo", true, &"B".repeat(9 * 1024 * 1024));
    let r = http::post_chat(dp.port(), &big, "");
    assert_not_runaway(&dp, "9 MB echo prompt");
    let r = r.expect("9 MB echo prompt");
    eprintln!(
        "[1] 9 MiB one-word echo prompt, streamed: {} with {} body bytes",
        r.status,
        r.body.len()
    );
    assert!(r.status < 500, "9 MB echo prompt: {}", r.status);
    assert!(
        r.body.len() < 1024 * 1024,
        "the echo answer grew with the prompt: {} bytes",
        r.body.len()
    );

    assert_rss_bounded(&dp, idle, 300 * MIB, "1 megabyte model name");
    dp.assert_serves("a 1 MB model name");
}

// ---------------------------------------------------------------------------------------
// 2. Gemini `$ref` fan-out.
// ---------------------------------------------------------------------------------------

fn gemini_config(mock: &Mock, server: &str) -> String {
    format!(
        "{}\n[[providers]]\nname = \"mock-gemini\"\nkind = \"gemini\"\nmodels = [\"gemini-x\"]\nbase_url = \"{}\"\napi_key = \"gm-operator-key\"\n",
        echo_config(server, 0),
        mock.url()
    )
}

/// `levels` definitions, each an `anyOf` of `fanout` `$ref`s to the next: fanout^levels
/// leaves once inlined, from a schema of about 2 KB.
fn fanout_schema(levels: usize, fanout: usize, defs_key: &str) -> serde_json::Value {
    let mut defs = serde_json::Map::new();
    for i in 0..levels {
        let next = format!("#/{defs_key}/d{}", i + 1);
        let refs: Vec<serde_json::Value> = (0..fanout).map(|_| json!({"$ref": next})).collect();
        defs.insert(format!("d{i}"), json!({ "anyOf": refs }));
    }
    defs.insert(format!("d{levels}"), json!({"type": "string"}));
    json!({
        "type": "object",
        "properties": {"x": {"$ref": format!("#/{defs_key}/d0")}},
        defs_key: defs,
    })
}

fn tool_request(model: &str, stream: bool, parameters: serde_json::Value) -> String {
    json!({
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": "call it"}],
        "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": parameters}}],
    })
    .to_string()
}

#[test]
fn attack_02_gemini_ref_fanout_schema() {
    let mock = Mock::start("gemini-fanout", &[]);
    let dp = DataPlane::start(&gemini_config(&mock, ""));
    dp.assert_serves("start");
    let idle = dp.rss();
    dp.guard_rss(idle + RUNAWAY);

    let fanout = fanout_schema(30, 2, "$defs");
    // Within a nesting-depth cap of ~32 (each level costs two: `anyOf`, `$ref`), wider
    // fan-out still explodes: 4^16 leaves from 1.6 KB. Only an output budget stops both.
    let wide = fanout_schema(16, 4, "$defs");
    eprintln!(
        "[2] fan-out schemas: {} bytes (2 refs x 30 levels), {} bytes (4 refs x 16 levels)",
        fanout.to_string().len(),
        wide.to_string().len()
    );
    let mut recursive = json!({"type": "object", "properties": {"x": {"$ref": "#/$defs/a"}},
        "$defs": {"a": {"type": "object", "properties": {"next": {"$ref": "#/$defs/a"}}}}});
    let cases = [
        (
            "2x30 fan-out $defs, streamed",
            tool_request("gemini-x", true, fanout.clone()),
        ),
        (
            "2x30 fan-out $defs",
            tool_request("gemini-x", false, fanout.clone()),
        ),
        (
            "2x30 fan-out definitions",
            tool_request("gemini-x", false, fanout_schema(30, 2, "definitions")),
        ),
        (
            "2x30 fan-out via provider:model",
            tool_request("mock-gemini:gemini-x", true, fanout),
        ),
        (
            "self-recursive $ref",
            tool_request("gemini-x", false, recursive.take()),
        ),
        ("4x16 fan-out $defs", tool_request("gemini-x", false, wide)),
    ];
    let mut wrong = Vec::new();
    for (what, body) in &cases {
        let t = Instant::now();
        let r = http::post_chat(dp.port(), body, "");
        let rss = dp.guard_tripped().unwrap_or_else(|| dp.peak_rss());
        match r {
            Ok(r) => {
                eprintln!(
                    "[2] {what}: {} in {:?}, peak RSS {:.1} MiB",
                    r.status,
                    t.elapsed(),
                    mib(rss)
                );
                if r.status != 400 || r.json()["error"]["message"].as_str().is_none() {
                    wrong.push(format!("{what}: {} {}", r.status, r.snippet()));
                }
            }
            Err(e) => {
                eprintln!("[2] {what}: no answer ({e}), peak RSS {:.1} MiB", mib(rss));
                wrong.push(format!("{what}: no answer ({e})"));
            }
        }
        if dp.guard_tripped().is_some() {
            break;
        }
    }
    assert_not_runaway(&dp, "gemini $ref fan-out");
    assert!(
        wrong.is_empty(),
        "expected a 400 for each:\n{}",
        wrong.join("\n")
    );
    assert_eq!(
        mock.requests(),
        0,
        "a refused schema must not reach the upstream"
    );
    assert_rss_bounded(&dp, idle, 300 * MIB, "gemini $ref fan-out");

    // A legitimate `$ref` is still inlined and served.
    let ok = json!({"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}, "b": {"$ref": "#/$defs/A"}},
        "$defs": {"A": {"type": "string", "description": "shared"}}});
    let r =
        http::post_chat(dp.port(), &tool_request("gemini-x", false, ok), "").expect("small $ref");
    assert_eq!(r.status, 200, "small $ref schema: {}", r.snippet());
    assert_eq!(mock.requests(), 1);
    dp.assert_serves("a $ref fan-out");
}

// ---------------------------------------------------------------------------------------
// 3. 150,000 keys, and the other per-request caps.
// ---------------------------------------------------------------------------------------

#[test]
fn attack_03_many_keys_and_request_caps() {
    let dp = DataPlane::start(&echo_config("max_body_bytes = 10485760", 0));
    dp.assert_serves("start");
    let idle = dp.rss();
    dp.guard_rss(idle + RUNAWAY);

    let mut top = String::from(r#"{"model":"echo","messages":[{"role":"user","content":"hi"}]"#);
    for i in 0..150_000 {
        top.push_str(&format!(",\"k{i:07}\":0"));
    }
    top.push('}');
    let mut nested = String::from(r#"{"model":"echo","messages":[{"role":"user","content":"hi""#);
    for i in 0..150_000 {
        nested.push_str(&format!(",\"k{i:07}\":0"));
    }
    nested.push_str("}]}");
    let messages = format!(
        r#"{{"model":"echo","messages":[{}]}}"#,
        vec![r#"{"role":"user","content":"x"}"#; 10_001].join(",")
    );
    let tools = format!(
        r#"{{"model":"echo","messages":[{{"role":"user","content":"x"}}],"tools":[{}]}}"#,
        (0..513)
            .map(|i| format!(r#"{{"type":"function","function":{{"name":"f{i}"}}}}"#))
            .collect::<Vec<_>>()
            .join(",")
    );
    let depth = format!(
        r#"{{"model":"echo","messages":[{{"role":"user","content":"x"}}],"metadata":{}1{}}}"#,
        r#"{"a":"#.repeat(100),
        "}".repeat(100)
    );
    let cases: [(&str, &String, Option<&str>); 5] = [
        ("150,000 top-level keys", &top, None),
        ("150,000 keys in a message", &nested, None),
        ("10,001 messages", &messages, Some("messages")),
        ("513 tools", &tools, Some("tools")),
        ("nesting 100 deep", &depth, None),
    ];
    let mut wrong = Vec::new();
    for (what, body, param) in cases {
        let t = Instant::now();
        let r = http::post_chat(dp.port(), body, "");
        let took = t.elapsed();
        assert_not_runaway(&dp, what);
        let r = r.unwrap_or_else(|e| panic!("{what}: {e}"));
        eprintln!(
            "[3] {what}: {:.2} MiB body -> {} in {took:?} (wall time, printed only)",
            body.len() as f64 / MIB as f64,
            r.status
        );
        let err = r.json()["error"].clone();
        eprintln!("[3]   error: {err}");
        let param_ok = match param {
            Some(p) => err["param"] == p,
            // The top-level object is the body itself: no parameter to name (OpenAI
            // answers whole-body problems with `param: null`).
            None if body.as_str() == top.as_str() => {
                err["param"].is_null()
                    && err["message"].as_str().is_some_and(|m| m.contains("4096"))
            }
            None => err["param"].is_string(),
        };
        if r.status != 400 || !err["message"].is_string() || !param_ok {
            wrong.push(format!(
                "{what}: {} (a cap refusal is a 400 naming its param{}): {err}",
                r.status,
                param.map(|p| format!(" `{p}`")).unwrap_or_default()
            ));
        }
    }
    assert!(wrong.is_empty(), "request caps:\n{}", wrong.join("\n"));
    assert!(top.len() > 1_900_000, "the attack body is 1.9 MB");
    assert_rss_bounded(&dp, idle, 300 * MIB, "many keys");
    dp.assert_serves("150,000 keys");
}

// ---------------------------------------------------------------------------------------
// 4. 3,000 invented model names must not grow /metrics.
// ---------------------------------------------------------------------------------------

#[test]
fn attack_04_distinct_model_names_do_not_grow_metrics() {
    let dp = DataPlane::start(&echo_config("", 0));
    dp.assert_serves("start");
    let before = dp.metrics();
    const N: usize = 3_000;
    const WORKERS: usize = 4;
    let next = Arc::new(AtomicUsize::new(1));
    let statuses = Arc::new(Mutex::new(std::collections::BTreeMap::<u16, usize>::new()));
    let t = Instant::now();
    let port = dp.port();
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let next = next.clone();
            let statuses = statuses.clone();
            std::thread::spawn(move || {
                let mut c = Client::connect(port, Duration::from_secs(30));
                let until = Instant::now() + Duration::from_secs(180);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i > N || Instant::now() > until {
                        return;
                    }
                    let body = chat_body(&format!("echo:m{i:04}"), false, "x");
                    let status = match c.chat(body.as_bytes(), "") {
                        Ok(r) => r.status,
                        Err(_) => {
                            c = Client::connect(port, Duration::from_secs(30));
                            0
                        }
                    };
                    *statuses.lock().unwrap().entry(status).or_default() += 1;
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let statuses = statuses.lock().unwrap().clone();
    let after = dp.metrics();
    eprintln!(
        "[4] {N} requests with distinct models over {WORKERS} connections in {:?}: statuses {statuses:?}; /metrics {} -> {} bytes (+{})",
        t.elapsed(),
        before.len(),
        after.len(),
        after.len() as i64 - before.len() as i64
    );
    assert_eq!(
        statuses.get(&200).copied().unwrap_or(0),
        N,
        "every invented model is served by the echo provider: {statuses:?}"
    );
    assert!(
        after.len() < before.len() + 20 * 1024,
        "/metrics grew by {} bytes for {N} invented model names",
        after.len() - before.len()
    );
    assert!(
        after.contains("model=\"other\""),
        "invented names are counted under model=\"other\""
    );
    assert!(
        !after.contains("m0001") && !after.contains("m2999"),
        "a client-invented model name became a label"
    );
    dp.assert_serves("3,000 invented model names");
}

// ---------------------------------------------------------------------------------------
// 5. A percent escape followed by a multi-byte character in a path.
// ---------------------------------------------------------------------------------------

#[test]
fn attack_05_percent_escape_before_multibyte_path() {
    let dp = DataPlane::start(&echo_config("", 0));
    dp.assert_serves("start");
    let paths: &[&[u8]] = &[
        b"/v1/models/%a\xc3\xa9",
        b"/v1/models/%\xc3\xa9",
        b"/v1/models/%a",
        b"/v1/models/%",
        b"/v1/models/%%%",
        b"/v1/models/%c3",
        b"/v1/models/%ff%fe",
        b"/v1/models/%e2%82",
        b"/v1/models/x%a\xe2\x82\xac",
        b"/v1/models/\xf0\x9f\x98\x80%f",
        b"/api/v1/models/%a\xc3\xa9",
        b"/v1/models/%a\xc3\xa9?x=%a\xc3\xa9",
    ];
    for p in paths {
        let shown = String::from_utf8_lossy(p).into_owned();
        for method in ["GET", "HEAD"] {
            let mut req = format!("{method} ").into_bytes();
            req.extend_from_slice(p);
            req.extend_from_slice(b" HTTP/1.1\r\nhost: sluice.test\r\nconnection: close\r\n\r\n");
            let x = http::exchange(dp.port(), &req, Duration::from_secs(20));
            let finals = x.finals();
            eprintln!(
                "[5] {method} {shown:?}: {:?} ({:?})",
                finals.iter().map(|r| r.status).collect::<Vec<_>>(),
                x.ending
            );
            assert!(
                !finals.is_empty() && x.trailing.is_empty() && x.malformed.is_none(),
                "{method} {shown:?}: no complete answer (dropped connection): {x:?}"
            );
            assert!(
                (400..500).contains(&finals[0].status),
                "{method} {shown:?}: expected a 4xx, got {}",
                finals[0].status
            );
        }
    }
    dp.assert_serves("percent escapes before multi-byte characters");
}

// ---------------------------------------------------------------------------------------
// 6. Model names that would become part of another API's path.
// ---------------------------------------------------------------------------------------

#[test]
fn attack_06_model_name_cannot_reach_count_tokens() {
    let mock = Mock::start("gemini-paths", &[]);
    let dp = DataPlane::start(&gemini_config(&mock, ""));
    dp.assert_serves("start");
    let bad: &[(&str, Option<&str>)] = &[
        ("mock-gemini:gemini-x:countTokens?", None),
        ("mock-gemini:gemini-x:countTokens", None),
        ("mock-gemini:gemini-x:countTokens#", None),
        ("mock-gemini:gemini-x?alt=sse", None),
        ("mock-gemini:gemini-x#frag", None),
        (
            "mock-gemini:../../v1beta/models/gemini-x:countTokens?",
            None,
        ),
        ("mock-gemini:gemini-x/../../gemini-y", None),
        ("mock-gemini:gemini\u{0}x", None),
        ("mock-gemini:gemini-x\r\nx-injected: 1", None),
        ("gemini-x:countTokens?", None),
        ("gemini-x:countTokens?", Some("mock-gemini")),
    ];
    for (model, pin) in bad {
        let mut v: serde_json::Value =
            serde_json::from_str(&chat_body(model, false, "hi")).unwrap();
        if let Some(p) = pin {
            v["provider"] = json!(p);
        }
        let r = http::post_chat(dp.port(), &v.to_string(), "").expect("answer");
        eprintln!("[6] model {model:?} pin {pin:?}: {}", r.status);
        assert_error(&r, 400, &format!("model {model:?} pin {pin:?}"));
    }
    let stats = mock.stats();
    eprintln!("[6] mock saw: {}", stats["by_path"]);
    let text = stats.to_string();
    assert!(
        !text.contains("countTokens"),
        "the upstream received a countTokens request: {stats}"
    );
    assert_eq!(
        mock.requests(),
        0,
        "no refused model may reach the upstream: {stats}"
    );

    // The real model still works and goes to the generateContent path.
    let r = http::post_chat(
        dp.port(),
        &chat_body("mock-gemini:gemini-x", false, "hi"),
        "",
    )
    .expect("gemini");
    assert_eq!(r.status, 200, "{}", r.snippet());
    assert_eq!(
        mock.stats()["log"][0]["path"],
        "/v1beta/models/gemini-x:generateContent"
    );
    dp.assert_serves("model names with path syntax");
}

// ---------------------------------------------------------------------------------------
// 7. Clients that send most of a big body and stall.
// ---------------------------------------------------------------------------------------

/// How one stalled uploader's connection ended.
#[derive(Debug)]
struct StallOutcome {
    sent: usize,
    write_failed: bool,
    status: Option<u16>,
    retry_after: bool,
    ending: Ending,
}

#[test]
fn attack_07_stalled_big_bodies_hold_bounded_memory() {
    // 150 clients x 8 MiB as in the issue (1.2 GiB offered against a 256 MiB budget).
    const CLIENTS: usize = 150;
    const SEND: usize = 8 * 1024 * 1024;
    const DECLARED: usize = 10 * 1024 * 1024;
    let dp = DataPlane::start(&echo_config(
        "max_body_bytes = 10485760\nmax_buffered_body_bytes = 268435456\nbody_timeout_ms = 3000",
        0,
    ));
    dp.assert_serves("start");
    let idle = dp.rss();
    dp.guard_rss(idle + RUNAWAY);
    let port = dp.port();
    let piece: Arc<Vec<u8>> = Arc::new(vec![b'x'; 64 * 1024]);
    let started = Arc::new(AtomicUsize::new(0));
    let t = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let piece = piece.clone();
            let started = started.clone();
            std::thread::spawn(move || {
                let mut s = http::connect(port);
                s.set_write_timeout(Some(Duration::from_secs(10))).ok();
                let head = format!(
                    "POST /v1/chat/completions HTTP/1.1\r\nhost: sluice.test\r\ncontent-type: application/json\r\ncontent-length: {DECLARED}\r\n\r\n{{\"model\":\"echo\",\"messages\":[{{\"role\":\"user\",\"content\":\""
                );
                let mut sent = 0;
                let mut write_failed = s.write_all(head.as_bytes()).is_err();
                started.fetch_add(1, Ordering::Relaxed);
                while !write_failed && sent < SEND {
                    match s.write_all(&piece) {
                        Ok(()) => sent += piece.len(),
                        Err(_) => write_failed = true,
                    }
                }
                // Stall: send nothing more, wait for the verdict.
                let (bytes, ending) = http::read_to_close(&mut s, Duration::from_secs(40), MIB as usize);
                let (rs, _, _) = http::split_responses(&bytes, ending != Ending::StillOpen, false);
                let first = rs.into_iter().find(|r| r.status >= 200);
                StallOutcome {
                    sent,
                    write_failed,
                    status: first.as_ref().map(|r| r.status),
                    retry_after: first.as_ref().is_some_and(|r| r.header("retry-after").is_some()),
                    ending,
                }
            })
        })
        .collect();
    // While they upload and stall, the data plane still answers (a normal request may be
    // refused with a 503 while the budget is spent: that is the defence working).
    poll_until(Duration::from_secs(20), || {
        started.load(Ordering::Relaxed) == CLIENTS
    });
    let during = http::post_chat(port, NORMAL, "");
    match &during {
        Ok(r) => {
            eprintln!("[7] normal request during the stall: {}", r.status);
            if r.status != 200 {
                assert_overloaded(r, "normal request during the stall");
            }
        }
        Err(e) => panic!("normal request during the stall got no answer: {e}"),
    }
    let outcomes: Vec<StallOutcome> = clients
        .into_iter()
        .map(|c| c.join().expect("client"))
        .collect();
    assert_not_runaway(&dp, "stalled bodies");
    let mut tally = std::collections::BTreeMap::<String, usize>::new();
    for o in &outcomes {
        let k = match o.status {
            Some(s) => s.to_string(),
            None => format!("closed:{:?}", o.ending),
        };
        *tally.entry(k).or_default() += 1;
    }
    let sent: usize = outcomes.iter().map(|o| o.sent).sum();
    eprintln!(
        "[7] {CLIENTS} clients sent {:.0} MiB in total ({} writes cut short) in {:?}: {tally:?}; rejected body_timeout={} buffered_bytes={} body_rate={}",
        sent as f64 / MIB as f64,
        outcomes.iter().filter(|o| o.write_failed).count(),
        t.elapsed(),
        dp.rejected("body_timeout"),
        dp.rejected("buffered_bytes"),
        dp.rejected("body_rate")
    );
    // The budget bounds the bytes the gateway buffers (capacity included); resident memory
    // peaks at ~1.5x it under this churn (150 buffers allocated and freed: allocator
    // retention), so the claim tested is "within twice the configured budget".
    assert_rss_bounded(&dp, idle, 512 * MIB, "stalled big bodies");
    for o in &outcomes {
        match o.status {
            Some(408) => assert_ne!(o.ending, Ending::StillOpen, "408 then close: {o:?}"),
            Some(503) => assert!(o.retry_after, "503 without Retry-After: {o:?}"),
            Some(s) => panic!("a stalled upload got {s}: {o:?}"),
            None => assert_ne!(
                o.ending,
                Ending::StillOpen,
                "a stalled upload was never answered nor closed: {o:?}"
            ),
        }
    }
    assert!(
        dp.rejected("body_timeout") + dp.rejected("buffered_bytes") + dp.rejected("body_rate")
            > 0.0,
        "the refusals are counted"
    );
    dp.wait_serves("150 stalled 8 MiB uploads");
}

const NORMAL: &str = attacks::dataplane::NORMAL_CHAT;

// ---------------------------------------------------------------------------------------
// 8. Clients trickling a request head.
// ---------------------------------------------------------------------------------------

#[test]
fn attack_08_trickled_heads_are_disconnected() {
    const CLIENTS: usize = 200;
    let dp = DataPlane::start(&echo_config("header_timeout_ms = 2000", 0));
    dp.assert_serves("start");
    let head = b"POST /v1/chat/completions HTTP/1.1\r\nhost: sluice.test\r\nx-trickle: ";
    let mut socks: Vec<Option<TcpStream>> = (0..CLIENTS)
        .map(|_| {
            let s = http::connect(dp.port());
            s.set_nonblocking(true).expect("nonblocking");
            Some(s)
        })
        .collect();
    let mut got_bytes = vec![0usize; CLIENTS];
    let mut closed_after = vec![None::<Duration>; CLIENTS];
    let start = Instant::now();
    let mut round = 0usize;
    let mut served_meanwhile = None;
    // One byte per client every 500 ms until every connection is gone (cap: 30 s).
    while socks.iter().any(Option::is_some) && start.elapsed() < Duration::from_secs(30) {
        let byte = head.get(round).copied().unwrap_or(b'a');
        for (i, slot) in socks.iter_mut().enumerate() {
            let Some(s) = slot else { continue };
            let mut buf = [0u8; 4096];
            let mut gone = match s.read(&mut buf) {
                Ok(0) => true,
                Ok(n) => {
                    got_bytes[i] += n;
                    false
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => false,
                Err(_) => true,
            };
            if !gone {
                gone = matches!(s.write(&[byte]), Err(e) if e.kind() != ErrorKind::WouldBlock);
            }
            if gone {
                closed_after[i] = Some(start.elapsed());
                *slot = None;
            }
        }
        if round == 1 {
            // The trickling clients do not block anyone else.
            let r = http::post_chat(dp.port(), NORMAL, "").expect("normal request while trickling");
            served_meanwhile = Some(r.status);
        }
        round += 1;
        // The attack itself: a slow-loris client sends one byte per 500 ms.
        std::thread::sleep(Duration::from_millis(500));
    }
    let closed = closed_after.iter().filter(|c| c.is_some()).count();
    let last = closed_after.iter().flatten().max().copied();
    eprintln!(
        "[8] {closed}/{CLIENTS} trickling clients disconnected, last after {last:?} ({} bytes trickled each at most); {} got bytes back; normal request meanwhile: {served_meanwhile:?}; header_timeout rejections {}",
        round,
        got_bytes.iter().filter(|&&n| n > 0).count(),
        dp.rejected("header_timeout")
    );
    assert_eq!(closed, CLIENTS, "every trickling client is disconnected");
    assert_eq!(
        served_meanwhile,
        Some(200),
        "a normal request is served while they trickle"
    );
    assert!(
        dp.rejected("header_timeout") >= CLIENTS as f64,
        "each head timeout is counted"
    );
    dp.assert_serves("200 trickled heads");
}

// ---------------------------------------------------------------------------------------
// 9. The open-connection cap.
// ---------------------------------------------------------------------------------------

#[test]
fn attack_09_connection_cap() {
    const CAP: usize = 50;
    const OPEN: usize = 60;
    let dp = DataPlane::start(&echo_config(
        "max_connections = 50\nheader_timeout_ms = 60000\nkeepalive_timeout_ms = 60000",
        0,
    ));
    dp.assert_serves("start");
    // The check above used a connection of its own: wait until the server let it go.
    assert!(
        poll_until(Duration::from_secs(20), || metric(
            &dp.metrics(),
            "sluice_open_connections"
        ) == 0.0),
        "open connections never went back to 0"
    );
    let mut conns: Vec<TcpStream> = (0..OPEN)
        .map(|_| {
            let s = http::connect(dp.port());
            s.set_nonblocking(true).expect("nonblocking");
            s
        })
        .collect();
    let mut got: Vec<Vec<u8>> = vec![Vec::new(); OPEN];
    let mut ended: Vec<Option<Ending>> = vec![None; OPEN];
    poll_until(Duration::from_secs(20), || {
        for (i, s) in conns.iter_mut().enumerate() {
            if ended[i].is_some() {
                continue;
            }
            let mut buf = [0u8; 4096];
            loop {
                match s.read(&mut buf) {
                    Ok(0) => {
                        ended[i] = Some(Ending::Eof);
                        break;
                    }
                    Ok(n) => got[i].extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        ended[i] = Some(Ending::Reset);
                        break;
                    }
                }
            }
        }
        ended.iter().filter(|e| e.is_some()).count() >= OPEN - CAP
    });
    let refused: Vec<usize> = (0..OPEN).filter(|&i| ended[i].is_some()).collect();
    eprintln!(
        "[9] {OPEN} idle connections against max_connections={CAP}: {} refused ({} with a 503), rejected{{connections}}={}",
        refused.len(),
        refused.iter().filter(|&&i| !got[i].is_empty()).count(),
        dp.rejected("connections")
    );
    assert_eq!(
        refused.len(),
        OPEN - CAP,
        "exactly the connections over the cap are refused"
    );
    for &i in &refused {
        if got[i].is_empty() {
            continue; // closed without a word: allowed
        }
        let (rs, trailing, bad) = http::split_responses(&got[i], true, false);
        assert!(
            bad.is_none() && trailing.is_empty() && rs.len() == 1,
            "refusal {i}: {:?}",
            String::from_utf8_lossy(&got[i])
        );
        assert_overloaded(&rs[0], "connection over the cap");
    }
    // The admitted ones are real connections that serve requests.
    for (i, s) in conns.iter_mut().enumerate() {
        if ended[i].is_some() {
            continue;
        }
        s.set_nonblocking(false).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(b"GET /v1/models HTTP/1.1\r\nhost: sluice.test\r\n\r\n")
            .unwrap();
        let mut buf = Vec::new();
        let mut tmp = [0u8; 8192];
        let r = loop {
            if let Ok(Some((r, _))) = http::parse_response(&buf, false, false) {
                break r;
            }
            let n = s.read(&mut tmp).unwrap_or(0);
            assert!(
                n > 0,
                "admitted connection {i} closed: {:?}",
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&tmp[..n]);
        };
        assert_eq!(r.status, 200, "admitted connection {i}: {}", r.snippet());
    }
    // Still at the cap: a new connection is refused.
    let x = http::exchange(
        dp.port(),
        b"GET /v1/models HTTP/1.1\r\nhost: sluice.test\r\n\r\n",
        Duration::from_secs(20),
    );
    assert_ne!(
        x.ending,
        Ending::StillOpen,
        "a connection over the cap is closed"
    );
    if let Some(r) = x.finals().first() {
        assert_overloaded(r, "new connection at the cap");
    }
    assert!(dp.rejected("connections") >= (OPEN - CAP + 1) as f64);
    drop(conns);
    dp.wait_serves("60 idle connections against a cap of 50");
}

// ---------------------------------------------------------------------------------------
// 10. The in-flight cap.
// ---------------------------------------------------------------------------------------

#[test]
fn attack_10_inflight_cap() {
    let dp = DataPlane::start(&echo_config("max_inflight_requests = 4", 200));
    dp.assert_serves("start");
    let words = (0..40)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let slow = chat_body("echo", true, &words);
    let streams: Vec<Client> = (0..4)
        .map(|i| {
            let mut c = Client::connect(dp.port(), Duration::from_secs(20));
            c.send(&http::chat_request(slow.as_bytes(), "", false))
                .expect("send");
            let head = c.read_head().unwrap_or_else(|e| panic!("stream {i}: {e}"));
            assert_eq!(head.status, 200, "stream {i}");
            c
        })
        .collect();
    let fifth = http::post_chat(dp.port(), &slow, "").expect("fifth request");
    eprintln!(
        "[10] 4 paced streams in flight; 5th streamed request: {} retry-after {:?}",
        fifth.status,
        fifth.header("retry-after")
    );
    assert_overloaded(&fifth, "5th streamed request");
    let r = http::post_chat(dp.port(), NORMAL, "").expect("non-stream");
    assert_overloaded(&r, "5th non-streamed request");
    let r = http::get(dp.port(), "/v1/models", "").expect("models");
    assert_overloaded(&r, "GET /v1/models at the cap");
    assert!(dp.rejected("inflight") >= 3.0, "refusals are counted");
    drop(streams);
    dp.wait_serves("an in-flight cap of 4");
}

// ---------------------------------------------------------------------------------------
// 11. A client that never reads its streamed answer.
// ---------------------------------------------------------------------------------------

#[test]
fn attack_11_slow_reader_is_dropped() {
    let dp = DataPlane::start(&echo_config("write_timeout_ms = 2000", 0));
    dp.assert_serves("start");
    let idle = dp.rss();
    dp.guard_rss(idle + RUNAWAY);
    // Each answer is ~4,000 SSE events (~700 KB); pipelining many of them on one connection
    // that is never read fills both socket buffers (a few MiB) whatever their sizes.
    let content = "a ".repeat(4096);
    let req = http::chat_request(chat_body("echo", true, &content).as_bytes(), "", false);
    let mut s = http::connect(dp.port());
    s.set_write_timeout(Some(Duration::from_secs(5))).ok();
    let mut pipelined = 0;
    for _ in 0..64 {
        if s.write_all(&req).is_err() {
            break;
        }
        pipelined += 1;
    }
    let t = Instant::now();
    let dropped = poll_until(Duration::from_secs(60), || {
        dp.rejected("write_timeout") >= 1.0
    });
    eprintln!(
        "[11] {pipelined} pipelined streamed requests, never read: write_timeout counted={dropped} after {:?}",
        t.elapsed()
    );
    assert!(
        dropped,
        "the slow reader was never cut off (write_timeout counter stayed 0)"
    );
    // Served while the slow reader still holds its socket.
    dp.assert_serves("a slow reader (while connected)");
    // Its connection is gone: reading drains what the kernel buffered, then ends.
    let (drained, ending) =
        http::read_to_close(&mut s, Duration::from_secs(30), 512 * MIB as usize);
    eprintln!(
        "[11] slow reader drained {:.1} MiB then {ending:?}",
        drained.len() as f64 / MIB as f64
    );
    assert_ne!(
        ending,
        Ending::StillOpen,
        "the slow reader's connection was closed"
    );
    assert_rss_bounded(&dp, idle, 300 * MIB, "slow reader");
    dp.assert_serves("a slow reader");
}

// ---------------------------------------------------------------------------------------
// 12. Client auth fails closed.
// ---------------------------------------------------------------------------------------

#[test]
fn attack_12_auth_fails_closed() {
    // keys mode without a single key: nobody gets in.
    let dp = DataPlane::start(&echo_config("auth = \"keys\"", 0));
    let ready = dp.readyz();
    eprintln!("[12] keys mode, no keys: /readyz {ready}");
    assert_eq!(ready["auth"], "keys");
    assert!(
        ready["warnings"].is_array(),
        "/readyz lists warnings: {ready}"
    );
    for (what, r) in [
        ("chat", http::post_chat(dp.port(), NORMAL, "")),
        (
            "chat with a made-up key",
            http::post_chat(dp.port(), NORMAL, "authorization: Bearer anything\r\n"),
        ),
        (
            "chat with an empty key",
            http::post_chat(dp.port(), NORMAL, "authorization: Bearer \r\n"),
        ),
        ("models", http::get(dp.port(), "/v1/models", "")),
        ("model", http::get(dp.port(), "/v1/models/echo", "")),
    ] {
        let r = r.expect(what);
        eprintln!("[12] no keys, {what}: {}", r.status);
        assert_error(&r, 401, what);
    }
    assert_eq!(
        http::get(dp.port(), "/health", "").expect("health").status,
        200
    );

    // A key source that yields nothing (an empty environment variable) also denies.
    let cfg = echo_config("api_keys_env = \"SLUICE_ATTACK_KEYS\"", 0);
    let dp = DataPlane::start_with(Start {
        env: &[("SLUICE_ATTACK_KEYS", "")],
        ..Start::config(&cfg)
    });
    let r = http::post_chat(dp.port(), NORMAL, "").expect("chat");
    assert_error(&r, 401, "empty key list from the environment");

    // With a key: it works with it and only with it.
    let dp = DataPlane::start(&echo_config(
        "auth = \"keys\"\napi_keys = [\"sk-attack-client-0123456789\"]",
        0,
    ));
    let with = "authorization: Bearer sk-attack-client-0123456789\r\n";
    dp.assert_serves_with("start", with);
    let r = http::get(dp.port(), "/v1/models", with).expect("models");
    assert_eq!(r.status, 200);
    for (what, h) in [
        ("no key", ""),
        (
            "wrong key",
            "authorization: Bearer sk-attack-client-0123456780\r\n",
        ),
        (
            "prefix of the key",
            "authorization: Bearer sk-attack-client\r\n",
        ),
        (
            "key plus suffix",
            "authorization: Bearer sk-attack-client-0123456789x\r\n",
        ),
    ] {
        let r = http::post_chat(dp.port(), NORMAL, h).expect(what);
        assert_error(&r, 401, what);
        let r = http::get(dp.port(), "/v1/models", h).expect(what);
        assert_error(&r, 401, what);
    }
    dp.assert_serves_with("refused keys", with);

    // auth = "none" on a non-loopback address is loud; on loopback it is quiet.
    let open = echo_config("auth = \"none\"\nlisten = \"127.0.0.1:1\"", 0);
    let dp = DataPlane::start_with(Start {
        listen_host: "0.0.0.0",
        ..Start::config(&open)
    });
    let ready = dp.readyz();
    eprintln!("[12] auth none on 0.0.0.0: /readyz {ready}");
    assert_eq!(ready["auth"], "none");
    assert!(
        ready["warnings"].as_array().is_some_and(|w| !w.is_empty()),
        "no warning for an open relay on 0.0.0.0: {ready}"
    );
    let log = dp.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("auth")),
        "no warning logged at start for auth = none on 0.0.0.0; log:\n{log}"
    );
    let dp = DataPlane::start(&echo_config("auth = \"none\"", 0));
    let ready = dp.readyz();
    assert_eq!(ready["auth"], "none");
    assert_eq!(
        ready["warnings"],
        json!([]),
        "loopback needs no warning: {ready}"
    );
}

// ---------------------------------------------------------------------------------------
// 13. The malformed-request corpus.
// ---------------------------------------------------------------------------------------

#[test]
fn attack_13_malformed_request_corpus() {
    let cases = corpus::load();
    assert!(cases.len() >= 100, "the corpus has {} cases", cases.len());
    let dp = DataPlane::start(&echo_config(
        "header_timeout_ms = 2000\nbody_timeout_ms = 2000\nkeepalive_timeout_ms = 1000",
        0,
    ));
    dp.assert_serves("start");
    let idle = dp.rss();
    dp.guard_rss(idle + RUNAWAY);
    let port = dp.port();
    let cases = Arc::new(cases);
    let next = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(Mutex::new(Vec::new()));
    let t = Instant::now();
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (cases, next, results) = (cases.clone(), next.clone(), results.clone());
            std::thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = cases.get(i) else { return };
                let x = http::exchange(port, &case.bytes, Duration::from_secs(20));
                results.lock().unwrap().push((i, x));
            })
        })
        .collect();
    for w in workers {
        w.join().expect("corpus worker");
    }
    let mut results = std::mem::take(&mut *results.lock().unwrap());
    results.sort_by_key(|(i, _)| *i);
    let mut failures = Vec::new();
    let mut tally = std::collections::BTreeMap::<String, usize>::new();
    for (i, x) in &results {
        let case = &cases[*i];
        let statuses: Vec<u16> = x.responses.iter().map(|r| r.status).collect();
        eprintln!(
            "[13] {:<52} -> {statuses:?} {:?}{}",
            case.name,
            x.ending,
            if x.write_failed { " (write cut)" } else { "" }
        );
        for s in &statuses {
            *tally.entry(s.to_string()).or_default() += 1;
        }
        if statuses.is_empty() {
            *tally.entry(format!("closed:{:?}", x.ending)).or_default() += 1;
        }
        let mut problems = Vec::new();
        if let Some(s) = statuses.iter().find(|&&s| s >= 500) {
            problems.push(format!("status {s}"));
        }
        if x.malformed.is_some() || !x.trailing.is_empty() {
            problems.push(format!(
                "incomplete or malformed response ({:?}): {:?}",
                x.malformed,
                String::from_utf8_lossy(&x.trailing[..x.trailing.len().min(200)])
            ));
        }
        if x.ending == Ending::StillOpen {
            problems.push("connection neither answered to the end nor closed within 20 s".into());
        }
        if case.expect == Expect::Answer && x.finals().is_empty() {
            problems.push(format!("no response (connection {:?})", x.ending));
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}", case.name, problems.join("; ")));
        }
    }
    eprintln!(
        "[13] {} cases in {:?}: {tally:?}",
        results.len(),
        t.elapsed()
    );
    assert!(dp.alive(), "the data plane died; log:\n{}", dp.log_text());
    assert_rss_bounded(&dp, idle, 300 * MIB, "corpus");
    dp.assert_serves("the malformed-request corpus");
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases failed:\n{}",
        failures.len(),
        results.len(),
        failures.join("\n")
    );
}
