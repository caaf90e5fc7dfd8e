//! OpenAI Responses through the hub: the hand-written recordings in
//! `tests/fixtures/openai_responses/` decoded and re-encoded as Responses answers, whole and
//! split at every byte offset, and the encoder's stream grammar.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use serde_json::{json, Value};
use sluice_translate::hub::{self, Block, Delta, Escaped, Event, Protocol, StopReason};
use sluice_translate::{ResponseContext, StreamTranslator, UpstreamError, Usage};

const P: Protocol = Protocol::OpenAiResponses;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/openai_responses")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
}

fn ctx() -> ResponseContext {
    ResponseContext {
        model: "client-model".into(),
        include_usage: false,
        created: 1_700_000_000,
        id: "chatcmpl-test123".into(),
        json_array: false,
    }
}

/// Feeds `parts` to a fresh Responses → Responses stream translator.
fn run_stream(parts: &[&[u8]]) -> Result<Vec<u8>, UpstreamError> {
    let mut t = hub::translator(P, P, true, ctx());
    let mut out = BytesMut::new();
    for p in parts {
        t.feed(Bytes::copy_from_slice(p), &mut out)?;
    }
    t.finish(&mut out)?;
    Ok(out.to_vec())
}

/// The SSE events of a Responses stream: (event name, payload).
fn events(sse: &[u8]) -> Vec<(String, Value)> {
    let text = std::str::from_utf8(sse).unwrap();
    assert!(text.ends_with("\n\n"), "stream ends with a blank line");
    text.split("\n\n")
        .filter(|f| !f.is_empty())
        .map(|frame| {
            let mut lines = frame.lines();
            let event = lines.next().unwrap().strip_prefix("event: ").unwrap();
            let data = lines.next().unwrap().strip_prefix("data: ").unwrap();
            assert!(lines.next().is_none(), "one data line per event: {frame}");
            let v: Value = serde_json::from_str(data).unwrap();
            assert_eq!(v["type"], event, "event name matches type");
            (event.to_owned(), v)
        })
        .collect()
}

/// The grammar `responses.stream()` relies on; returns the final Response object.
fn check_grammar(sse: &[u8]) -> Value {
    let evs = events(sse);
    assert_eq!(evs[0].0, "response.created");
    assert_eq!(evs[1].0, "response.in_progress");
    let id = evs[0].1["response"]["id"].clone();
    assert!(id.as_str().unwrap().starts_with("resp_"));
    let mut open: Vec<(u64, String)> = Vec::new();
    let mut done: Vec<u64> = Vec::new();
    let mut parts_open = 0i64;
    for (n, (name, v)) in evs.iter().enumerate() {
        assert_eq!(
            v["sequence_number"], n as u64,
            "sequence numbers count up from 0"
        );
        match name.as_str() {
            "response.output_item.added" => {
                let oi = v["output_index"].as_u64().unwrap();
                assert!(!open.iter().any(|(i, _)| *i == oi) && !done.contains(&oi));
                open.push((oi, v["item"]["id"].as_str().unwrap().to_owned()));
            }
            "response.output_item.done" => {
                let oi = v["output_index"].as_u64().unwrap();
                let pos = open
                    .iter()
                    .position(|(i, _)| *i == oi)
                    .expect("done after added");
                assert_eq!(open[pos].1, v["item"]["id"], "item id stable");
                open.remove(pos);
                done.push(oi);
            }
            "response.content_part.added" | "response.reasoning_summary_part.added" => {
                parts_open += 1
            }
            "response.content_part.done" | "response.reasoning_summary_part.done" => {
                parts_open -= 1
            }
            "response.output_text.delta"
            | "response.function_call_arguments.delta"
            | "response.reasoning_summary_text.delta" => {
                let oi = v["output_index"].as_u64().unwrap();
                let item = open
                    .iter()
                    .find(|(i, _)| *i == oi)
                    .expect("delta inside its item");
                assert_eq!(item.1, v["item_id"]);
            }
            _ => {}
        }
    }
    assert!(open.is_empty(), "every added item is done: {open:?}");
    assert_eq!(parts_open, 0, "every part is done");
    let (last, v) = evs.last().unwrap();
    assert!(last == "response.completed" || last == "response.incomplete");
    assert_eq!(v["response"]["id"], id, "same id from created to completed");
    let output = v["response"]["output"].as_array().unwrap();
    assert_eq!(output.len(), done.len(), "completed carries every item");
    v["response"].clone()
}

/// What a client takes from a Response object.
#[derive(Debug, PartialEq)]
struct Content {
    text: String,
    calls: Vec<(String, String, Value)>,
    summaries: Vec<String>,
    encrypted: Vec<String>,
    usage: Value,
    status: String,
}

fn content(r: &Value) -> Content {
    let mut c = Content {
        text: String::new(),
        calls: Vec::new(),
        summaries: Vec::new(),
        encrypted: Vec::new(),
        usage: json!({
            "input_tokens": r["usage"]["input_tokens"],
            "cached_tokens": r["usage"]["input_tokens_details"]["cached_tokens"],
            "output_tokens": r["usage"]["output_tokens"],
            "reasoning_tokens": r["usage"]["output_tokens_details"]["reasoning_tokens"],
            "total_tokens": r["usage"]["total_tokens"],
        }),
        status: r["status"].as_str().unwrap().to_owned(),
    };
    for item in r["output"].as_array().unwrap() {
        match item["type"].as_str().unwrap() {
            "message" => {
                for p in item["content"].as_array().unwrap() {
                    if p["type"] == "output_text" {
                        c.text.push_str(p["text"].as_str().unwrap());
                    }
                }
            }
            "function_call" => c.calls.push((
                item["call_id"].as_str().unwrap().to_owned(),
                item["name"].as_str().unwrap().to_owned(),
                serde_json::from_str(item["arguments"].as_str().unwrap()).unwrap(),
            )),
            "reasoning" => {
                for s in item["summary"].as_array().unwrap() {
                    c.summaries.push(s["text"].as_str().unwrap().to_owned());
                }
                if let Some(e) = item["encrypted_content"].as_str() {
                    c.encrypted.push(e.to_owned());
                }
            }
            other => panic!("unexpected item {other}"),
        }
    }
    c
}

/// The recording's own final Response (its last event), with encrypted content in the
/// `<reasoning id>:<encrypted>` form Sluice carries it in.
fn expected(recording: &Value) -> Content {
    let mut c = content(recording);
    let mut ids = recording["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "reasoning" && i["encrypted_content"].is_string());
    for e in &mut c.encrypted {
        let id = ids.next().unwrap()["id"].as_str().unwrap();
        *e = format!("{id}:{e}");
    }
    c
}

const STREAMS: [&str; 3] = [
    "stream_text.sse",
    "stream_function_call.sse",
    "stream_reasoning_function_call.sse",
];

#[test]
fn recorded_streams_split_anywhere_give_the_same_answer() {
    for name in STREAMS {
        let input = read(name);
        let whole = run_stream(&[&input]).unwrap();
        for split in 0..=input.len() {
            let (a, b) = input.split_at(split);
            assert_eq!(
                run_stream(&[a, b]).unwrap(),
                whole,
                "{name} split at {split}"
            );
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(run_stream(&bytes).unwrap(), whole, "{name} byte by byte");

        let got = check_grammar(&whole);
        let recording = events(&input).pop().unwrap().1["response"].clone();
        assert_eq!(content(&got), expected(&recording), "{name}");
        assert_eq!(got["model"], "client-model");
        assert_eq!(
            got["id"], recording["id"],
            "{name}: the upstream's resp_ id is kept"
        );
    }
}

#[test]
fn recorded_streams_report_usage() {
    let input = read("stream_reasoning_function_call.sse");
    let mut t = hub::translator(P, P, true, ctx());
    let mut out = BytesMut::new();
    t.feed(Bytes::from(input), &mut out).unwrap();
    t.finish(&mut out).unwrap();
    assert_eq!(
        t.usage(),
        Some(Usage {
            prompt_tokens: 412,
            completion_tokens: 219,
            total_tokens: 631,
            cached_tokens: 0,
            reasoning_tokens: 192,
            cache_write_tokens: 0,
        })
    );
    let input = read("stream_function_call.sse");
    let mut obs = hub::observer(P, true);
    obs.observe(&input).unwrap();
    obs.finish().unwrap();
    let u = obs.usage().unwrap();
    assert_eq!((u.prompt_tokens, u.cached_tokens), (1286, 1152));
}

#[test]
fn whole_bodies_translate_and_match_streams() {
    for name in ["text.json", "function_call.json"] {
        let body = read(name);
        let (out, usage) = hub::translator(P, P, false, ctx()).whole(&body).unwrap();
        let got: Value = serde_json::from_slice(&out).unwrap();
        let recording: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(content(&got), expected(&recording), "{name}");
        assert_eq!(got["object"], "response");
        assert_eq!(got["store"], false);
        assert_eq!(got["id"], recording["id"]);
        assert!(usage.is_some());
        for split in 0..=body.len() {
            let mut t = hub::translator(P, P, false, ctx());
            let mut o = BytesMut::new();
            t.feed(Bytes::copy_from_slice(&body[..split]), &mut o)
                .unwrap();
            t.feed(Bytes::copy_from_slice(&body[split..]), &mut o)
                .unwrap();
            t.finish(&mut o).unwrap();
            assert_eq!(o.to_vec(), out, "{name} split at {split}");
        }
    }
    let calls = content(
        &serde_json::from_slice(
            &hub::translator(P, P, false, ctx())
                .whole(&read("function_call.json"))
                .unwrap()
                .0,
        )
        .unwrap(),
    );
    assert_eq!(calls.calls.len(), 2);
    // A stream decoded and answered whole says what the streamed answer's final object says.
    for name in STREAMS {
        let input = read(name);
        let streamed = check_grammar(&run_stream(&[&input]).unwrap());
        let mut t = hub::Translator::new(hub::decoder(P, true), hub::encoder(P, false, ctx()));
        let mut out = BytesMut::new();
        t.feed(Bytes::from(input), &mut out).unwrap();
        t.finish(&mut out).unwrap();
        let whole: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(whole, streamed, "{name}");
    }
}

#[test]
fn cut_streams_and_error_events_fail() {
    let input = read("stream_text.sse");
    let cut = input.len() - 200;
    let err = run_stream(&[&input[..cut]]).unwrap_err();
    assert_eq!(err.status, 502, "{err:?}");

    let error_event = b"event: error\ndata: {\"type\":\"error\",\"sequence_number\":3,\"code\":\"rate_limit_exceeded\",\"message\":\"Slow down\",\"param\":null}\n\n";
    // The first two events (created, in_progress), then the error.
    let text = std::str::from_utf8(&input).unwrap();
    let two = text.match_indices("\n\n").nth(1).unwrap().0 + 2;
    let mut stream = input[..two].to_vec();
    stream.extend_from_slice(error_event);
    let err = run_stream(&[&stream]).unwrap_err();
    assert_eq!(
        (err.status, err.code.as_deref(), err.message.as_str()),
        (429, Some("rate_limit_exceeded"), "Slow down")
    );

    let failed = b"event: response.failed\ndata: {\"type\":\"response.failed\",\"sequence_number\":2,\"response\":{\"id\":\"resp_1\",\"status\":\"failed\",\"output\":[],\"error\":{\"code\":\"server_error\",\"message\":\"The model failed.\"}}}\n\n";
    let err = run_stream(&[failed]).unwrap_err();
    assert_eq!(
        (err.status, err.message.as_str()),
        (500, "The model failed.")
    );

    let err = hub::translator(P, P, false, ctx())
        .whole(br#"{"id":"resp_1","status":"failed","output":[],"error":{"code":"invalid_prompt","message":"Nope"}}"#)
        .unwrap_err();
    assert_eq!(
        (err.status, err.code.as_deref()),
        (400, Some("invalid_prompt"))
    );
    assert!(hub::translator(P, P, false, ctx())
        .whole(b"{\"id\":")
        .is_err());

    let e = hub::upstream_error(P, 400, &read("error_400.json"));
    assert_eq!(e.param.as_deref(), Some("previous_response_id"));
    assert_eq!(e.code.as_deref(), Some("previous_response_not_found"));
}

#[test]
fn incomplete_answers_say_why() {
    let created = "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_9\",\"model\":\"m\",\"status\":\"in_progress\",\"output\":[]}}\n\n";
    for (reason, status, detail) in [
        ("max_output_tokens", "incomplete", Some("max_output_tokens")),
        ("content_filter", "incomplete", Some("content_filter")),
    ] {
        let end = format!("event: response.incomplete\ndata: {{\"type\":\"response.incomplete\",\"sequence_number\":1,\"response\":{{\"id\":\"resp_9\",\"status\":\"incomplete\",\"incomplete_details\":{{\"reason\":\"{reason}\"}},\"output\":[]}}}}\n\n");
        let out = run_stream(&[created.as_bytes(), end.as_bytes()]).unwrap();
        let evs = events(&out);
        let (name, v) = evs.last().unwrap();
        assert_eq!(name, "response.incomplete");
        assert_eq!(v["response"]["status"], status);
        assert_eq!(
            v["response"]["incomplete_details"]["reason"],
            detail.unwrap()
        );
    }
}

/// Events into a Responses encoder.
fn encode(stream: bool, events: &[Event<'_>]) -> Vec<u8> {
    let mut e = hub::encoder(P, stream, ctx());
    let mut out = BytesMut::new();
    for ev in events {
        e.event(*ev, &mut out);
    }
    e.finish(&mut out);
    out.to_vec()
}

fn esc(s: &'static str) -> Escaped<'static> {
    Escaped::from_json_contents(s.as_bytes())
}

/// Every block kind, two interleaved calls, a call without arguments.
fn every_block_kind() -> Vec<Event<'static>> {
    vec![
        Event::Start {
            id: Some(esc("msg_01Anthropic")),
            model: Some(esc("claude")),
        },
        Event::BlockStart {
            index: 0,
            block: Block::Thinking,
        },
        Event::Delta {
            index: 0,
            delta: Delta::Thinking(esc("Let me think \\\"hard\\\"")),
        },
        Event::Delta {
            index: 0,
            delta: Delta::Signature(esc("sig")),
        },
        Event::BlockStop { index: 0 },
        Event::BlockStart {
            index: 1,
            block: Block::RedactedThinking {
                data: esc("opaque=="),
            },
        },
        Event::BlockStop { index: 1 },
        Event::BlockStart {
            index: 2,
            block: Block::Text,
        },
        Event::Delta {
            index: 2,
            delta: Delta::Text(esc("Hello\\n")),
        },
        Event::Delta {
            index: 2,
            delta: Delta::Text(esc("world")),
        },
        Event::BlockStop { index: 2 },
        Event::BlockStart {
            index: 3,
            block: Block::Refusal,
        },
        Event::Delta {
            index: 3,
            delta: Delta::Refusal(esc("no")),
        },
        Event::BlockStop { index: 3 },
        // Two calls whose arguments interleave (as OpenAI Chat may send them).
        Event::BlockStart {
            index: 4,
            block: Block::ToolCall {
                id: esc("toolu_1"),
                name: esc("a"),
            },
        },
        Event::BlockStart {
            index: 5,
            block: Block::ToolCall {
                id: esc("toolu_2"),
                name: esc("b"),
            },
        },
        Event::Delta {
            index: 4,
            delta: Delta::Arguments(esc("{\\\"x\\\":")),
        },
        Event::Delta {
            index: 5,
            delta: Delta::Arguments(esc("{}")),
        },
        Event::BlockStop { index: 5 },
        Event::Delta {
            index: 4,
            delta: Delta::Arguments(esc("1}")),
        },
        Event::BlockStop { index: 4 },
        Event::BlockStart {
            index: 6,
            block: Block::ToolCall {
                id: esc("toolu_3"),
                name: esc("c"),
            },
        },
        Event::BlockStop { index: 6 },
        Event::Usage(Usage {
            prompt_tokens: 100,
            completion_tokens: 20,
            total_tokens: 120,
            cached_tokens: 60,
            reasoning_tokens: 5,
            cache_write_tokens: 10,
        }),
        Event::Stop {
            reason: StopReason::ToolUse,
            sequence: None,
        },
    ]
}

#[test]
fn encoder_grammar_for_every_block_kind() {
    let evs = every_block_kind();
    let out = encode(true, &evs);
    let r = check_grammar(&out);
    assert!(
        r["id"].as_str().unwrap().starts_with("resp_"),
        "not the Anthropic id"
    );
    assert_eq!(r["status"], "completed");
    let output = r["output"].as_array().unwrap();
    let types: Vec<&str> = output.iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "reasoning",
            "message",
            "function_call",
            "function_call",
            "function_call"
        ]
    );
    assert_eq!(output[0]["summary"][0]["text"], "Let me think \"hard\"");
    assert_eq!(output[0]["encrypted_content"], "opaque==");
    assert!(output[0]["id"].as_str().unwrap().starts_with("rs_sluice"));
    assert_eq!(output[1]["content"][0]["text"], "Hello\nworld");
    assert_eq!(
        output[1]["content"][1],
        json!({"type": "refusal", "refusal": "no"})
    );
    assert_eq!(output[2]["arguments"], "{\"x\":1}");
    assert_eq!(output[2]["call_id"], "toolu_1");
    assert_eq!(output[3]["arguments"], "{}");
    assert_eq!(output[4]["arguments"], "{}", "no fragments: empty object");
    assert_eq!(
        r["usage"],
        json!({"input_tokens": 100, "input_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 10},
               "output_tokens": 20, "output_tokens_details": {"reasoning_tokens": 5}, "total_tokens": 120})
    );
    // Every event is one the openai SDK knows, with the fields it reads.
    for (name, v) in events(&out) {
        match name.as_str() {
            "response.output_text.delta" => {
                for k in [
                    "item_id",
                    "output_index",
                    "content_index",
                    "delta",
                    "logprobs",
                ] {
                    assert!(!v[k].is_null(), "{name} has {k}");
                }
            }
            "response.function_call_arguments.done" => assert!(v["arguments"].is_string()),
            "response.output_text.done" => assert!(v["text"].is_string()),
            _ => {}
        }
    }
    // The same events answered whole give the final object.
    let whole: Value = serde_json::from_slice(&encode(false, &evs)).unwrap();
    assert_eq!(whole, r);
}

#[test]
fn encoder_max_tokens_is_incomplete_and_errors_are_events() {
    let evs = [
        Event::Start {
            id: None,
            model: None,
        },
        Event::BlockStart {
            index: 0,
            block: Block::Text,
        },
        Event::Delta {
            index: 0,
            delta: Delta::Text(esc("cut")),
        },
        Event::Stop {
            reason: StopReason::MaxTokens,
            sequence: None,
        },
    ];
    let out = encode(true, &evs);
    let r = check_grammar(&out);
    assert_eq!(r["status"], "incomplete");
    assert_eq!(r["incomplete_details"]["reason"], "max_output_tokens");
    assert_eq!(r["output"][0]["status"], "incomplete");
    assert_eq!(r["id"], "resp_test123");
    assert!(r["usage"].is_null());

    let mut e = hub::encoder(P, true, ctx());
    let mut out = BytesMut::new();
    e.event(
        Event::Start {
            id: None,
            model: None,
        },
        &mut out,
    );
    let mut err = UpstreamError::new(429, "rate_limit_error", "slow \"down\"");
    err.code = Some("rate_limit_exceeded".into());
    e.error(&err, &mut out);
    let evs = events(&out);
    let (name, v) = evs.last().unwrap();
    assert_eq!(name, "error");
    assert_eq!(
        v,
        &json!({"type": "error", "sequence_number": 2, "code": "rate_limit_exceeded",
                "message": "slow \"down\"", "param": null})
    );
    let body: Value = serde_json::from_slice(&hub::error_body(P, &err)).unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
}

/// With `SLUICE_DUMP_RESPONSES=<dir>`, writes the re-encoded recordings there (for checking
/// them with the openai SDK's stream accumulator by hand).
#[test]
fn dump_for_sdk_check() {
    let Some(dir) = std::env::var_os("SLUICE_DUMP_RESPONSES") else {
        return;
    };
    for name in STREAMS {
        let out = run_stream(&[&read(name)]).unwrap();
        std::fs::write(PathBuf::from(&dir).join(name), out).unwrap();
    }
    let out = encode(true, &every_block_kind());
    std::fs::write(PathBuf::from(&dir).join("every_block_kind.sse"), out).unwrap();
}

/// Responses upstream → OpenAI Chat client (the Chat encoder on the hub).
#[test]
fn recorded_streams_answer_openai_chat_clients() {
    let chat_ctx = || ResponseContext {
        include_usage: true,
        ..ctx()
    };
    for name in STREAMS {
        let input = read(name);
        let recording = events(&input).pop().unwrap().1["response"].clone();
        let want = expected(&recording);
        let (out, result) = common::assert_split_invariant(
            || hub::translator(P, Protocol::OpenAi, true, chat_ctx()),
            &input,
        );
        result.unwrap();
        let a = common::assemble(&out, 0);
        assert!(a.done, "{name}");
        assert_eq!(a.content, want.text, "{name}");
        assert_eq!(a.reasoning, want.summaries.concat(), "{name}");
        let calls: Vec<(String, String, Value)> = a
            .tool_calls
            .values()
            .map(|(id, name, args)| {
                (
                    id.clone(),
                    name.clone(),
                    serde_json::from_str(args).unwrap(),
                )
            })
            .collect();
        assert_eq!(calls, want.calls, "{name}");
        let finish = if want.calls.is_empty() {
            "stop"
        } else {
            "tool_calls"
        };
        assert_eq!(a.finish_reason.as_deref(), Some(finish), "{name}");
        let u = a.usage.unwrap();
        assert_eq!(
            u["prompt_tokens"], recording["usage"]["input_tokens"],
            "{name}"
        );
        assert_eq!(
            u["completion_tokens"], recording["usage"]["output_tokens"],
            "{name}"
        );
        assert_eq!(
            u["prompt_tokens_details"]["cached_tokens"],
            recording["usage"]["input_tokens_details"]["cached_tokens"],
            "{name}"
        );
    }
    for name in ["text.json", "function_call.json"] {
        let body = read(name);
        let recording: Value = serde_json::from_slice(&body).unwrap();
        let want = expected(&recording);
        let (out, _) = hub::translator(P, Protocol::OpenAi, false, chat_ctx())
            .whole(&body)
            .unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        let msg = &v["choices"][0]["message"];
        assert_eq!(msg["content"].as_str().unwrap_or(""), want.text, "{name}");
        let calls: Vec<(String, String, Value)> = msg["tool_calls"]
            .as_array()
            .map(|c| {
                c.iter()
                    .map(|c| {
                        (
                            c["id"].as_str().unwrap().to_owned(),
                            c["function"]["name"].as_str().unwrap().to_owned(),
                            serde_json::from_str(c["function"]["arguments"].as_str().unwrap())
                                .unwrap(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(calls, want.calls, "{name}");
        assert_eq!(
            v["usage"]["prompt_tokens"],
            recording["usage"]["input_tokens"]
        );
    }
}

/// Hub events as short text, for decoder tests.
struct Record(Vec<String>);

impl hub::Sink for Record {
    fn event(&mut self, ev: Event<'_>) {
        let s = |e: Escaped<'_>| String::from_utf8(e.raw().to_vec()).unwrap();
        self.0.push(match ev {
            Event::Start { id, model } => {
                format!(
                    "start {} {}",
                    id.map_or("-".into(), s),
                    model.map_or("-".into(), s)
                )
            }
            Event::BlockStart { index, block } => match block {
                Block::Text => format!("{index}+text"),
                Block::Thinking => format!("{index}+thinking"),
                Block::Refusal => format!("{index}+refusal"),
                Block::RedactedThinking { data } => format!("{index}+redacted {}", s(data)),
                Block::ToolCall { id, name } => format!("{index}+call {} {}", s(id), s(name)),
            },
            Event::Delta { index, delta } => match delta {
                Delta::Text(t) | Delta::Thinking(t) | Delta::Refusal(t) | Delta::Arguments(t) => {
                    format!("{index}:{}", s(t))
                }
                Delta::Signature(t) => format!("{index}:sig {}", s(t)),
            },
            Event::BlockStop { index } => format!("{index}-"),
            Event::Usage(u) => format!("usage {} {}", u.prompt_tokens, u.completion_tokens),
            Event::Stop { reason, .. } => format!("stop {reason:?}"),
        });
    }
}

fn decode(stream: bool, body: &str) -> Result<Vec<String>, UpstreamError> {
    let mut d = hub::decoder(P, stream);
    let mut r = Record(Vec::new());
    d.feed(body.as_bytes(), &mut r)?;
    d.finish(&mut r)?;
    Ok(r.0)
}

fn sse(events: &[&str]) -> String {
    events
        .iter()
        .map(|e| {
            let v: Value = serde_json::from_str(e).unwrap();
            format!("event: {}\ndata: {e}\n\n", v["type"].as_str().unwrap())
        })
        .collect()
}

#[test]
fn decoder_events_for_the_recordings() {
    let got = decode(
        true,
        std::str::from_utf8(&read("stream_reasoning_function_call.sse")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        got[0],
        "start resp_68af3e7d9a4c819fbd21e0c3a5f7b9d10e2c4a6b8d0f1e3c o4-mini-2025-04-16"
    );
    assert_eq!(got[1], "0+thinking");
    assert_eq!(got[2], "0:**Choosing");
    assert_eq!(got[11], "0-");
    assert!(got[12].starts_with(
        "1+redacted rs_68af3e7f0c24819f8a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d:gAAAAABorz6K"
    ));
    assert_eq!(got[13], "1-");
    assert_eq!(got[14], "2+call call_8kJt2QwXmN5rVb3Lp9Hd6Ysa get_weather");
    assert_eq!(got[15], "2:{\\\"location\\\":");
    assert_eq!(got[got.len() - 3], "2-");
    assert_eq!(got[got.len() - 2], "usage 412 219");
    assert_eq!(got[got.len() - 1], "stop ToolUse");

    let got = decode(
        false,
        std::str::from_utf8(&read("function_call.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        got[1..],
        [
            "0+call call_Hq4Tz7NcWp2YbK9sLm5Vd1Rx get_forecast",
            "0:{\\\"location\\\":\\\"Paris, France\\\",\\\"days\\\":3}",
            "0-",
            "1+call call_Pn8Gs3KdXv6QwJ1tRb9Mh4Ly get_forecast",
            "1:{\\\"location\\\":\\\"Lyon, France\\\",\\\"days\\\":3}",
            "1-",
            "usage 1544 58",
            "stop ToolUse",
        ]
    );
}

#[test]
fn decoder_edge_cases() {
    let created = r#"{"type":"response.created","sequence_number":0,"response":{"id":"resp_1","model":"m","status":"in_progress","output":[]}}"#;
    let completed = r#"{"type":"response.completed","sequence_number":99,"response":{"id":"resp_1","status":"completed","output":[],"usage":{"input_tokens":3,"output_tokens":4,"total_tokens":7}}}"#;
    // Arguments only in the done item; a refusal; a second summary part; raw reasoning text.
    let got = decode(true, &sse(&[
        created,
        r#"{"type":"response.output_item.added","sequence_number":1,"output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[]}}"#,
        r#"{"type":"response.reasoning_summary_part.added","sequence_number":2,"item_id":"rs_1","output_index":0,"summary_index":0,"part":{"type":"summary_text","text":""}}"#,
        r#"{"type":"response.reasoning_summary_text.delta","sequence_number":3,"item_id":"rs_1","output_index":0,"summary_index":0,"delta":"a"}"#,
        r#"{"type":"response.reasoning_summary_part.done","sequence_number":4,"item_id":"rs_1","output_index":0,"summary_index":0,"part":{"type":"summary_text","text":"a"}}"#,
        r#"{"type":"response.reasoning_summary_part.added","sequence_number":5,"item_id":"rs_1","output_index":0,"summary_index":1,"part":{"type":"summary_text","text":""}}"#,
        r#"{"type":"response.reasoning_summary_text.delta","sequence_number":6,"item_id":"rs_1","output_index":0,"summary_index":1,"delta":"b"}"#,
        r#"{"type":"response.output_item.done","sequence_number":7,"output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[]}}"#,
        r#"{"type":"response.output_item.added","sequence_number":8,"output_index":1,"item":{"id":"msg_1","type":"message","status":"in_progress","content":[],"role":"assistant"}}"#,
        r#"{"type":"response.content_part.added","sequence_number":9,"item_id":"msg_1","output_index":1,"content_index":0,"part":{"type":"refusal","refusal":""}}"#,
        r#"{"type":"response.refusal.delta","sequence_number":10,"item_id":"msg_1","output_index":1,"content_index":0,"delta":"I can\u2019t"}"#,
        r#"{"type":"response.output_item.done","sequence_number":11,"output_index":1,"item":{"id":"msg_1","type":"message","status":"completed","content":[],"role":"assistant"}}"#,
        r#"{"type":"response.output_item.added","sequence_number":12,"output_index":2,"item":{"id":"fc_1","type":"function_call","status":"in_progress","arguments":"","call_id":"call_1","name":"f"}}"#,
        r#"{"type":"response.output_item.done","sequence_number":13,"output_index":2,"item":{"id":"fc_1","type":"function_call","status":"completed","arguments":"{\"a\":1}","call_id":"call_1","name":"f"}}"#,
        r#"{"type":"response.output_item.added","sequence_number":14,"output_index":3,"item":{"id":"ws_1","type":"web_search_call","status":"in_progress"}}"#,
        r#"{"type":"response.output_item.done","sequence_number":15,"output_index":3,"item":{"id":"ws_1","type":"web_search_call","status":"completed"}}"#,
        completed,
    ])).unwrap();
    assert_eq!(
        got,
        [
            "start resp_1 m",
            "0+thinking",
            "0:a",
            "0-",
            "1+thinking",
            "1:b",
            "1-",
            "2+refusal",
            "2:I can\\u2019t",
            "2-",
            "3+call call_1 f",
            "3:{\\\"a\\\":1}",
            "3-",
            "usage 3 4",
            "stop ToolUse",
        ]
    );
    // An answer with no events before its end still starts; a second terminal event
    // and anything after it are ignored.
    let got = decode(true, &sse(&[completed, completed])).unwrap();
    assert_eq!(got, ["start - -", "usage 3 4", "stop EndTurn"]);
    // Not Responses at all.
    assert!(decode(true, "data: {\"choices\":[]}\n\n").is_err());
    assert!(decode(true, "data: not json\n\n").is_err());
    let err = decode(true, &sse(&[created, r#"{"type":"response.function_call_arguments.delta","sequence_number":1,"item_id":"fc_9","output_index":5,"delta":"{"}"#, completed])).unwrap_err();
    assert_eq!(err.status, 502);
    // Whole bodies: reasoning with summary and encrypted content, refusal, incomplete.
    let whole = r#"{"id":"resp_2","model":"o3","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"output":[
        {"id":"rs_2","type":"reasoning","summary":[{"type":"summary_text","text":"s"}],"encrypted_content":"enc"},
        {"id":"msg_2","type":"message","status":"incomplete","role":"assistant","content":[{"type":"output_text","text":"partial","annotations":[]}]}],
        "usage":{"input_tokens":1,"input_tokens_details":{"cached_tokens":0},"output_tokens":2,"output_tokens_details":{"reasoning_tokens":1},"total_tokens":3}}"#;
    assert_eq!(
        decode(false, whole).unwrap(),
        [
            "start resp_2 o3",
            "0+thinking",
            "0:s",
            "0-",
            "1+redacted rs_2:enc",
            "1-",
            "2+text",
            "2:partial",
            "2-",
            "usage 1 2",
            "stop MaxTokens"
        ]
    );
    assert!(decode(
        false,
        r#"{"error":{"message":"bad","type":"invalid_request_error","code":null}}"#
    )
    .is_err());
}

/// The text kept for `*.done` events and the final object is capped; deltas are all sent
/// and every repeated text stays valid JSON.
#[test]
fn kept_text_is_bounded() {
    let chunk = "x\\\"y".repeat(256 * 1024); // 1 MiB of escaped text per delta
    let deltas = 12;
    for stream in [true, false] {
        let mut e = hub::encoder(P, stream, ctx());
        let mut out = BytesMut::new();
        e.event(
            Event::Start {
                id: None,
                model: None,
            },
            &mut out,
        );
        e.event(
            Event::BlockStart {
                index: 0,
                block: Block::Text,
            },
            &mut out,
        );
        let mut sent = 0;
        for _ in 0..deltas {
            e.event(
                Event::Delta {
                    index: 0,
                    delta: Delta::Text(Escaped::from_json_contents(chunk.as_bytes())),
                },
                &mut out,
            );
            sent += out.len();
            out.clear();
        }
        e.event(Event::BlockStop { index: 0 }, &mut out);
        e.event(
            Event::Stop {
                reason: StopReason::EndTurn,
                sequence: None,
            },
            &mut out,
        );
        e.finish(&mut out);
        if stream {
            assert!(sent > deltas * chunk.len(), "every delta is sent");
        }
        let last = if stream {
            let text = std::str::from_utf8(&out).unwrap();
            let data = text.rsplit("data: ").next().unwrap().trim_end();
            serde_json::from_str::<Value>(data).unwrap()["response"].clone()
        } else {
            serde_json::from_slice::<Value>(&out).unwrap()
        };
        let kept = last["output"][0]["content"][0]["text"]
            .as_str()
            .unwrap()
            .len();
        assert!(
            kept > 0 && kept <= 8 * 1024 * 1024 && kept % 768 == 0,
            "{kept}"
        );
        // The done events and the final object repeat the kept text: four copies at most.
        assert!(out.len() < 4 * 8 * 1024 * 1024 + 4096, "{}", out.len());
    }
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    /// Any event, in any order, including ones that break the hub grammar.
    fn event() -> impl Strategy<Value = (u8, u32, String)> {
        (0u8..12, 0u32..4, "[a-z\"\\\\\n é]{0,6}")
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, failure_persistence: None, ..ProptestConfig::default() })]

        /// Whatever arrives, every event written is valid JSON, sequence numbers count up
        /// and the final object parses.
        #[test]
        fn encoder_output_is_always_valid(evs in proptest::collection::vec(event(), 0..40), stream in any::<bool>()) {
            let texts: Vec<Vec<u8>> = evs.iter().map(|(_, _, t)| {
                let mut s = serde_json::to_string(t).unwrap().into_bytes();
                s.pop();
                s.remove(0);
                s
            }).collect();
            let mut e = hub::encoder(P, stream, ctx());
            let mut out = BytesMut::new();
            for ((kind, index, _), t) in evs.iter().zip(&texts) {
                let t = Escaped::from_json_contents(t);
                let ev = match kind {
                    0 => Event::Start { id: Some(t), model: None },
                    1 => Event::BlockStart { index: *index, block: Block::Text },
                    2 => Event::BlockStart { index: *index, block: Block::Thinking },
                    3 => Event::BlockStart { index: *index, block: Block::Refusal },
                    4 => Event::BlockStart { index: *index, block: Block::RedactedThinking { data: t } },
                    5 => Event::BlockStart { index: *index, block: Block::ToolCall { id: t, name: t } },
                    6 => Event::Delta { index: *index, delta: Delta::Text(t) },
                    7 => Event::Delta { index: *index, delta: Delta::Thinking(t) },
                    8 => Event::Delta { index: *index, delta: Delta::Arguments(t) },
                    9 => Event::BlockStop { index: *index },
                    10 => Event::Usage(Usage { prompt_tokens: 1, ..Usage::default() }),
                    _ => Event::Stop { reason: StopReason::MaxTokens, sequence: None },
                };
                e.event(ev, &mut out);
            }
            e.finish(&mut out);
            if stream {
                let all = events(&out);
                for (n, (_, v)) in all.iter().enumerate() {
                    prop_assert_eq!(v["sequence_number"].as_u64(), Some(n as u64));
                }
                let (last, _) = all.last().unwrap();
                prop_assert!(last == "response.completed" || last == "response.incomplete");
            } else {
                let v: Value = serde_json::from_slice(&out).unwrap();
                prop_assert_eq!(&v["object"], "response");
            }
        }

        /// Bytes that are not a Responses stream or body fail cleanly.
        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400), stream in any::<bool>()) {
            let mut d = hub::decoder(P, stream);
            let mut r = Record(Vec::new());
            if d.feed(&bytes, &mut r).is_ok() {
                let _ = d.finish(&mut r);
            }
        }

        /// Recorded streams with one byte changed decode or fail, never panic, and a
        /// decoded answer re-encodes to valid events.
        #[test]
        fn mutated_recordings(pos in any::<prop::sample::Index>(), byte in any::<u8>(), which in 0usize..3) {
            let mut input = read(STREAMS[which]);
            let i = pos.index(input.len());
            input[i] = byte;
            if let Ok(out) = run_stream(&[&input]) {
                events(&out);
            }
        }
    }
}
