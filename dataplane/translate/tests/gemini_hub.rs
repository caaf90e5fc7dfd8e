//! Recorded Gemini answers through the hub: Gemini decoder → Gemini encoder gives the same
//! content, thoughts, function calls, finish reason and usage as the recording, for SSE,
//! JSON-array and whole answers, fed whole and split at every byte offset.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use common::{assert_split_invariant, fixtures, list, read, run_pieces};
use serde_json::Value;
use sluice_translate::hub::{self, Protocol};
use sluice_translate::{ResponseContext, StreamTranslator};

fn ctx(json_array: bool) -> ResponseContext {
    ResponseContext {
        model: "client-model".into(),
        include_usage: false,
        created: 1_700_000_000,
        id: "fallback-id".into(),
        json_array,
    }
}

/// What a Gemini answer says, read without the crate.
#[derive(Debug, PartialEq)]
struct Reading {
    content: String,
    thoughts: String,
    /// (name, args, thought signature).
    calls: Vec<(String, Value, Option<String>)>,
    finish: Option<String>,
    /// (prompt, candidates, thoughts, cached) of the last `usageMetadata`.
    usage: (u64, u64, u64, u64),
    response_id: Option<String>,
}

/// The responses in a Gemini answer body: SSE, a JSON array or one object.
fn responses(raw: &[u8]) -> Vec<Value> {
    let text = String::from_utf8_lossy(raw);
    let t = text.trim_start();
    if t.starts_with('[') {
        serde_json::from_str(t).unwrap()
    } else if t.starts_with('{') {
        vec![serde_json::from_str(t).unwrap()]
    } else {
        text.split("\r\n\r\n")
            .filter(|e| !e.trim().is_empty())
            .map(|e| serde_json::from_str(e.trim().strip_prefix("data:").unwrap().trim()).unwrap())
            .collect()
    }
}

fn reading(raw: &[u8]) -> Reading {
    let mut r = Reading {
        content: String::new(),
        thoughts: String::new(),
        calls: Vec::new(),
        finish: None,
        usage: (0, 0, 0, 0),
        response_id: None,
    };
    for ev in responses(raw) {
        if let Some(u) = ev.get("usageMetadata") {
            let n = |k: &str| u[k].as_u64().unwrap_or(0);
            r.usage = (
                n("promptTokenCount"),
                n("candidatesTokenCount"),
                n("thoughtsTokenCount"),
                n("cachedContentTokenCount"),
            );
        }
        if let Some(id) = ev["responseId"].as_str() {
            r.response_id = Some(id.to_owned());
        }
        if ev["promptFeedback"]["blockReason"].is_string() && ev.get("candidates").is_none() {
            // A blocked prompt: Gemini clients see it as a safety stop.
            r.finish = Some("SAFETY".into());
        }
        for c in ev["candidates"].as_array().into_iter().flatten() {
            for p in c["content"]["parts"].as_array().into_iter().flatten() {
                if let Some(t) = p["text"].as_str() {
                    if p["thought"] == true {
                        r.thoughts.push_str(t);
                    } else {
                        r.content.push_str(t);
                    }
                }
                if let Some(fc) = p.get("functionCall") {
                    r.calls.push((
                        fc["name"].as_str().unwrap().to_owned(),
                        fc["args"].clone(),
                        p["thoughtSignature"].as_str().map(str::to_owned),
                    ));
                }
            }
            if let Some(f) = c["finishReason"].as_str() {
                r.finish = Some(f.to_owned());
            }
        }
    }
    r
}

fn is_answer(name: &str) -> bool {
    !name.ends_with(".request.json") && !name.contains("/error_")
}

#[test]
fn every_gemini_answer_round_trips_through_the_hub() {
    let Some(dir) = fixtures() else { return };
    let files: Vec<String> = list(&dir, "gemini")
        .into_iter()
        .filter(|f| is_answer(f))
        .collect();
    assert_eq!(files.len(), 11, "{files:?}");
    for file in &files {
        let input = read(&dir, file);
        let stream = file.ends_with(".sse") || file.contains("stream_");
        let want = reading(&input);
        for json_array in [false, true] {
            let make =
                || hub::translator(Protocol::Gemini, Protocol::Gemini, stream, ctx(json_array));
            let (out, result) = if stream {
                assert_split_invariant(make, &input)
            } else {
                let whole = make().whole(&input).map(|(b, _)| b);
                let out = whole.clone().unwrap_or_else(|e| panic!("{file}: {e}"));
                // A whole body may still arrive in pieces.
                for cut in 0..=input.len() {
                    assert_eq!(
                        run_pieces(make(), &input, &[cut]).0,
                        out,
                        "{file}: split at {cut}"
                    );
                }
                (out, whole.map(|_| ()))
            };
            result.unwrap_or_else(|e| panic!("{file}: {e}"));
            let text = String::from_utf8(out.clone()).unwrap();
            if stream && json_array {
                assert!(
                    text.starts_with('[') && text.ends_with(']'),
                    "{file}: {text}"
                );
            } else if stream {
                assert!(
                    text.starts_with("data: {") && text.ends_with("}\r\n\r\n"),
                    "{file}"
                );
            }
            let got = reading(&out);
            let want = Reading {
                response_id: want.response_id.clone().or(Some("fallback-id".into())),
                calls: want.calls.clone(),
                content: want.content.clone(),
                thoughts: want.thoughts.clone(),
                // A whole answer without finishReason ends as STOP.
                finish: want.finish.clone().or(Some("STOP".into())),
                usage: want.usage,
            };
            assert_eq!(got, want, "{file} (json_array: {json_array})");
            for ev in responses(&out) {
                assert_eq!(ev["modelVersion"], "client-model", "{file}");
            }
        }
    }
}

#[test]
fn error_answers_fail_with_their_status() {
    let Some(dir) = fixtures() else { return };
    let body = read(&dir, "gemini/error_400_invalid_argument.json");
    let e = hub::translator(Protocol::Gemini, Protocol::Gemini, false, ctx(false))
        .whole(&body)
        .unwrap_err();
    assert_eq!(
        (e.status, e.code.as_deref()),
        (400, Some("INVALID_ARGUMENT"))
    );
    let v: Value = serde_json::from_slice(&hub::error_body(Protocol::Gemini, &e)).unwrap();
    assert_eq!(v["error"]["code"], 400);
    assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(
        v["error"]["message"],
        "Penalty is not enabled for models/gemini-2.5-flash"
    );
    let e = hub::upstream_error(Protocol::Gemini, 400, &body);
    assert_eq!(e.status, 400);
}

#[test]
fn mid_stream_error_becomes_a_gemini_error_event() {
    let s = concat!(
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}],\"role\":\"model\"}}]}\r\n\r\n",
        "data: {\"error\":{\"code\":503,\"message\":\"The model is overloaded.\",\"status\":\"UNAVAILABLE\"}}\r\n\r\n",
    );
    for json_array in [false, true] {
        let mut t = hub::translator(Protocol::Gemini, Protocol::Gemini, true, ctx(json_array));
        let mut out = bytes::BytesMut::new();
        let e = t
            .feed(bytes::Bytes::from_static(s.as_bytes()), &mut out)
            .unwrap_err();
        assert_eq!(e.status, 503);
        t.write_error(&e, &mut out);
        let evs = responses(&out);
        assert_eq!(evs[0]["candidates"][0]["content"]["parts"][0]["text"], "Hi");
        assert_eq!(evs[1]["error"]["status"], "UNAVAILABLE");
    }
}

#[test]
fn cut_streams_fail() {
    for input in [
        &b"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}]}}]}\r\n\r\n"[..],
        b"[{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}]},\"finishReason\":\"STOP\"}]}",
        b"",
    ] {
        let t = hub::translator(Protocol::Gemini, Protocol::Gemini, true, ctx(false));
        assert!(run_pieces(t, input, &[]).1.is_err());
    }
}
