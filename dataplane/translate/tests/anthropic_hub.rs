//! Recorded Anthropic answers (../shared/fixtures/anthropic) through the hub: the Anthropic
//! decoder joined to the Anthropic encoder must give back the same message an SDK
//! assembles from the recording (content, signatures, tool calls, stop reason, usage),
//! whatever the chunk boundaries.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use bytes::BytesMut;
use common::{ctx, fixtures, list, read, run_pieces};
use serde_json::{json, Map, Value};
use sluice_translate::hub::{self, Protocol};
use sluice_translate::StreamTranslator;

/// Anthropic → Anthropic through the hub events.
fn hub_translator(stream: bool) -> hub::Translator {
    hub::translator(Protocol::Anthropic, Protocol::Anthropic, stream, ctx(false))
}

/// (event name, data) of every SSE frame, checking the framing.
fn frames(sse: &[u8]) -> Vec<(String, Value)> {
    let text = std::str::from_utf8(sse).unwrap();
    let mut out = Vec::new();
    for frame in text.split("\n\n").filter(|f| !f.trim().is_empty()) {
        let mut name = String::new();
        let mut data = String::new();
        for line in frame.lines() {
            if let Some(n) = line.strip_prefix("event:") {
                name = n.trim().to_owned();
            } else if let Some(d) = line.strip_prefix("data:") {
                data.push_str(d.trim());
            }
        }
        let v: Value = serde_json::from_str(&data).unwrap_or_else(|e| panic!("{data}: {e}"));
        assert_eq!(v["type"], name.as_str(), "event name matches the data type");
        out.push((name, v));
    }
    out
}

/// The message an SDK assembles from a stream (anthropic-python `accumulate_event`:
/// blocks by index, `input_json_delta`s parsed at the end, `message_delta` usage counts
/// overwrite, optional ones only when present).
fn accumulate(sse: &[u8]) -> Value {
    let mut msg = Value::Null;
    let mut json_bufs: Map<String, Value> = Map::new();
    let mut stopped = false;
    for (name, v) in frames(sse) {
        assert!(!stopped, "nothing after message_stop");
        match name.as_str() {
            "message_start" => {
                assert!(msg.is_null(), "one message_start, first");
                msg = v["message"].clone();
                assert_eq!(msg["content"], json!([]));
            }
            "content_block_start" => {
                let content = msg["content"].as_array_mut().expect("message_start first");
                assert_eq!(v["index"], content.len(), "blocks numbered in order");
                content.push(v["content_block"].clone());
            }
            "content_block_delta" => {
                let i = v["index"].as_u64().unwrap() as usize;
                let block = &mut msg["content"][i];
                let d = &v["delta"];
                let append = |block: &mut Value, key: &str, add: &Value| {
                    let s = block[key].as_str().unwrap().to_owned() + add.as_str().unwrap();
                    block[key] = Value::String(s);
                };
                match d["type"].as_str().unwrap() {
                    "text_delta" => append(block, "text", &d["text"]),
                    "thinking_delta" => append(block, "thinking", &d["thinking"]),
                    "signature_delta" => block["signature"] = d["signature"].clone(),
                    "input_json_delta" => {
                        let buf = json_bufs.entry(i.to_string()).or_insert(json!(""));
                        *buf = Value::String(
                            buf.as_str().unwrap().to_owned() + d["partial_json"].as_str().unwrap(),
                        );
                    }
                    other => panic!("unexpected delta {other}"),
                }
            }
            "content_block_stop" => {
                let i = v["index"].as_u64().unwrap() as usize;
                if let Some(buf) = json_bufs.get(&i.to_string()).and_then(Value::as_str) {
                    if !buf.is_empty() {
                        msg["content"][i]["input"] = serde_json::from_str(buf).unwrap();
                    }
                }
            }
            "message_delta" => {
                msg["stop_reason"] = v["delta"]["stop_reason"].clone();
                msg["stop_sequence"] = v["delta"]["stop_sequence"].clone();
                let u = &v["usage"];
                msg["usage"]["output_tokens"] = u["output_tokens"].clone();
                for k in [
                    "input_tokens",
                    "cache_creation_input_tokens",
                    "cache_read_input_tokens",
                ] {
                    if !u[k].is_null() {
                        msg["usage"][k] = u[k].clone();
                    }
                }
            }
            "message_stop" => stopped = true,
            "ping" => {}
            other => panic!("unexpected event {other}"),
        }
    }
    assert!(stopped, "the stream ends with message_stop");
    msg
}

/// What must survive the hub: every block's content, the stop and the usage numbers.
fn essentials(msg: &Value) -> Value {
    let content: Vec<Value> = msg["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| match b["type"].as_str().unwrap() {
            "text" => json!({"type": "text", "text": b["text"]}),
            "thinking" => {
                json!({"type": "thinking", "thinking": b["thinking"], "signature": b["signature"]})
            }
            "redacted_thinking" => json!({"type": "redacted_thinking", "data": b["data"]}),
            "tool_use" => {
                json!({"type": "tool_use", "id": b["id"], "name": b["name"], "input": b["input"]})
            }
            other => panic!("unexpected block {other}"),
        })
        .collect();
    let u = &msg["usage"];
    json!({
        "id": msg["id"],
        "content": content,
        "stop_reason": msg["stop_reason"],
        "stop_sequence": msg["stop_sequence"],
        "usage": {
            "input_tokens": u["input_tokens"],
            "output_tokens": u["output_tokens"],
            "cache_creation_input_tokens": u["cache_creation_input_tokens"],
            "cache_read_input_tokens": u["cache_read_input_tokens"],
        },
    })
}

/// Output of `input` fed whole, checked to be the same when split in two at every byte.
fn translate_split_invariant(stream: bool, input: &[u8], name: &str) -> Vec<u8> {
    let (whole, r) = run_pieces(hub_translator(stream), input, &[]);
    r.unwrap_or_else(|e| panic!("{name}: {e}"));
    for cut in 0..=input.len() {
        let split = run_pieces(hub_translator(stream), input, &[cut]);
        assert_eq!(
            split,
            (whole.clone(), Ok(())),
            "{name}: split at byte {cut} differs"
        );
    }
    whole
}

#[test]
fn every_stream_fixture_round_trips_through_the_hub() {
    let Some(dir) = fixtures() else { return };
    let mut seen = 0;
    for name in list(&dir, "anthropic") {
        if !name.ends_with(".sse") {
            continue;
        }
        seen += 1;
        let input = read(&dir, &name);
        let out = translate_split_invariant(true, &input, &name);
        let want = accumulate(&input);
        let got = accumulate(&out);
        assert_eq!(essentials(&got), essentials(&want), "{name}");
        assert_eq!(got["model"], "client-model", "{name}");
        assert_eq!(
            (got["type"].as_str(), got["role"].as_str()),
            (Some("message"), Some("assistant"))
        );
        let names: Vec<String> = frames(&out).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names[..2], ["message_start", "ping"], "{name}");
        assert_eq!(
            names[names.len() - 2..],
            ["message_delta", "message_stop"],
            "{name}"
        );
        // The output is a fixed point: Anthropic → Anthropic again changes nothing.
        let (again, r) = run_pieces(hub_translator(true), &out, &[]);
        r.unwrap();
        assert_eq!(again, out, "{name}: re-translated output differs");
    }
    assert_eq!(seen, 7, "every recorded stream is covered");
}

#[test]
fn every_message_fixture_round_trips_through_the_hub() {
    let Some(dir) = fixtures() else { return };
    let mut seen = 0;
    for name in list(&dir, "anthropic") {
        if !name.ends_with(".json") || name.ends_with(".request.json") || name.contains("/error_") {
            continue;
        }
        seen += 1;
        let input = read(&dir, &name);
        let out = translate_split_invariant(false, &input, &name);
        let got: Value = serde_json::from_slice(&out).unwrap();
        let want: Value = serde_json::from_slice(&input).unwrap();
        assert_eq!(essentials(&got), essentials(&want), "{name}");
        assert_eq!(got["model"], "client-model", "{name}");
        assert_eq!(
            (got["type"].as_str(), got["role"].as_str()),
            (Some("message"), Some("assistant"))
        );
        let (u, usage) = hub_translator(false).whole(&input).unwrap();
        assert_eq!(u, out);
        let usage = usage.unwrap();
        assert_eq!(
            usage.prompt_tokens,
            want["usage"]["input_tokens"].as_u64().unwrap()
        );
        assert_eq!(
            usage.completion_tokens,
            want["usage"]["output_tokens"].as_u64().unwrap()
        );
    }
    assert_eq!(seen, 3, "every recorded message is covered");
}

#[test]
fn error_fixtures_keep_their_type_and_message() {
    let Some(dir) = fixtures() else { return };
    for name in list(&dir, "anthropic") {
        if !name.contains("/error_") || name.ends_with(".request.json") {
            continue;
        }
        let input = read(&dir, &name);
        let want: Value = serde_json::from_slice(&input).unwrap();
        let e = hub_translator(false).whole(&input).unwrap_err();
        let upstream = hub::upstream_error(Protocol::Anthropic, 400, &input);
        assert_eq!(e.message, upstream.message, "{name}");
        let body: Value =
            serde_json::from_slice(&hub::error_body(Protocol::Anthropic, &e)).unwrap();
        assert_eq!(body["type"], "error");
        assert_eq!(
            body["error"],
            json!({"type": want["error"]["type"], "message": want["error"]["message"]}),
            "{name}"
        );
    }
}

#[test]
fn mid_stream_error_and_cut_stream() {
    let Some(dir) = fixtures() else { return };
    let input = read(&dir, "anthropic/messages_stream_text.sse");
    let text = String::from_utf8(input).unwrap();
    let cut = text.find("event: message_delta").unwrap();
    let mut t = hub_translator(true);
    let mut out = BytesMut::new();
    t.feed(text[..cut].to_owned().into(), &mut out).unwrap();
    let err = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let e = t.feed(err.into(), &mut out).unwrap_err();
    t.write_error(&e, &mut out);
    let f = frames(&out);
    let (last, data) = f.last().unwrap();
    assert_eq!(last, "error");
    assert_eq!(
        data["error"],
        json!({"type": "overloaded_error", "message": "Overloaded"})
    );
    assert!(!f.iter().any(|(n, _)| n == "message_stop"), "no clean end");

    let (out, r) = run_pieces(hub_translator(true), &text.as_bytes()[..cut], &[]);
    assert!(r.unwrap_err().message.contains("message_stop"));
    assert!(!String::from_utf8(out).unwrap().contains("message_stop"));
}

/// A late-usage answer (as OpenAI upstreams report it) through the public encoder.
fn late_usage_stream() -> Vec<u8> {
    use sluice_translate::hub::{Block, Delta, Escaped, Event, StopReason};
    use sluice_translate::Usage;
    let esc = |s: &'static str| Escaped::from_json_contents(s.as_bytes());
    let mut enc = hub::encoder(Protocol::Anthropic, true, ctx(false));
    let mut out = BytesMut::new();
    for ev in [
        Event::Start {
            id: Some(esc("chatcmpl-1")),
            model: None,
        },
        Event::BlockStart {
            index: 0,
            block: Block::Text,
        },
        Event::Delta {
            index: 0,
            delta: Delta::Text(esc("Hi")),
        },
        Event::BlockStart {
            index: 1,
            block: Block::ToolCall {
                id: esc("call_1"),
                name: esc("f"),
            },
        },
        Event::Delta {
            index: 1,
            delta: Delta::Arguments(esc("{\\\"a\\\":1}")),
        },
        Event::Stop {
            reason: StopReason::ToolUse,
            sequence: None,
        },
        Event::Usage(Usage {
            prompt_tokens: 50,
            completion_tokens: 7,
            total_tokens: 57,
            cached_tokens: 20,
            reasoning_tokens: 0,
            cache_write_tokens: 0,
        }),
    ] {
        enc.event(ev, &mut out);
    }
    enc.finish(&mut out);
    out.to_vec()
}

#[test]
fn late_usage_ends_up_in_the_assembled_message() {
    let msg = accumulate(&late_usage_stream());
    assert_eq!(
        msg["usage"],
        json!({"input_tokens": 30, "output_tokens": 7, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 20})
    );
    // Another protocol's answer id gives way to the gateway's (the context's) id.
    assert_eq!(msg["id"], "chatcmpl-test123");
    assert_eq!(msg["content"][1]["input"], json!({"a": 1}));
    assert_eq!(msg["stop_reason"], "tool_use");
}

/// Writes every translated stream to `$DUMP_DIR` (for checking with the official SDKs).
#[test]
#[ignore = "writes translated streams for an external SDK check"]
fn dump_streams() {
    let Some(dir) = fixtures() else { return };
    let dump = std::path::PathBuf::from(std::env::var("DUMP_DIR").unwrap());
    for name in list(&dir, "anthropic") {
        if name.ends_with(".sse") {
            let (out, r) = run_pieces(hub_translator(true), &read(&dir, &name), &[]);
            r.unwrap();
            let file = name.trim_start_matches("anthropic/");
            std::fs::write(dump.join(file), out).unwrap();
            std::fs::copy(dir.join(&name), dump.join(format!("{file}.upstream"))).unwrap();
        }
    }
    std::fs::write(dump.join("late_usage.sse"), late_usage_stream()).unwrap();
}
