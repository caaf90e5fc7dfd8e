//! Recorded Anthropic traffic (../shared/fixtures/anthropic) through the translators.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use common::{assemble, assert_split_invariant, ctx, fixtures, list, read, Assembled};
use serde_json::{json, Value};
use sluice_translate::anthropic::{self, AnthropicStreamTranslator};

/// (content, thinking, tool calls (id, name, arguments), stop_reason).
type Reference = (
    String,
    String,
    Vec<(String, String, String)>,
    Option<String>,
);

/// Reference reading of an Anthropic SSE recording, independent of the translator.
fn reference(sse: &[u8]) -> Reference {
    let text = String::from_utf8_lossy(sse);
    let (mut content, mut thinking, mut tools, mut stop) =
        (String::new(), String::new(), Vec::new(), None);
    for line in text.lines() {
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        let v: Value = serde_json::from_str(data.trim()).unwrap();
        match v["type"].as_str().unwrap() {
            "content_block_start" if v["content_block"]["type"] == "tool_use" => tools.push((
                v["content_block"]["id"].as_str().unwrap().to_owned(),
                v["content_block"]["name"].as_str().unwrap().to_owned(),
                String::new(),
            )),
            "content_block_delta" => match v["delta"]["type"].as_str().unwrap() {
                "text_delta" => content.push_str(v["delta"]["text"].as_str().unwrap()),
                "thinking_delta" => thinking.push_str(v["delta"]["thinking"].as_str().unwrap()),
                "input_json_delta" => tools
                    .last_mut()
                    .unwrap()
                    .2
                    .push_str(v["delta"]["partial_json"].as_str().unwrap()),
                _ => {}
            },
            "message_delta" => stop = v["delta"]["stop_reason"].as_str().map(str::to_owned),
            _ => {}
        }
    }
    for t in &mut tools {
        if t.2.is_empty() {
            t.2 = "{}".into();
        }
    }
    (content, thinking, tools, stop)
}

struct Expect {
    file: &'static str,
    finish: &'static str,
    prompt: u64,
    completion: u64,
    content_starts: &'static str,
    tools: &'static [(&'static str, &'static str, &'static str)],
    reasoning: bool,
}

const STREAMS: &[Expect] = &[
    Expect {
        file: "messages_stream_text.sse",
        finish: "stop",
        prompt: 10,
        completion: 4,
        content_starts: "Hello",
        tools: &[],
        reasoning: false,
    },
    Expect {
        file: "messages_stream_stop_sequence.sse",
        finish: "stop",
        prompt: 16,
        completion: 28,
        content_starts: "\ndef pelican():\n    return \"A large waterbird",
        tools: &[],
        reasoning: false,
    },
    Expect {
        file: "messages_stream_parallel_tool_use_no_args.sse",
        finish: "tool_calls",
        prompt: 542,
        completion: 62,
        content_starts: "",
        tools: &[
            (
                "toolu_01LtHJmixrs9NcWQkK8hu8hj",
                "pelican_name_generator",
                "{}",
            ),
            (
                "toolu_01N8a4jWyf116qKTMqKKmjyt",
                "pelican_name_generator",
                "{}",
            ),
        ],
        reasoning: false,
    },
    Expect {
        file: "messages_stream_text_after_tool_result.sse",
        finish: "stop",
        prompt: 678,
        completion: 82,
        content_starts: "Here are two great names for your pet pelican:\n\n1. **Charles**",
        tools: &[],
        reasoning: false,
    },
    Expect {
        file: "messages_stream_thinking.sse",
        finish: "stop",
        prompt: 46,
        completion: 84,
        content_starts: "- Captain\n- Scoop",
        tools: &[],
        reasoning: true,
    },
    Expect {
        file: "messages_stream_redacted_thinking.sse",
        finish: "stop",
        prompt: 92,
        completion: 0,
        content_starts: "I notice that you've sent what appears to be some",
        tools: &[],
        reasoning: false,
    },
    Expect {
        file: "messages_stream_tool_use_quoted_args.sse",
        finish: "tool_calls",
        prompt: 849,
        completion: 47,
        content_starts: "I'll invoke the JSON response tool.",
        tools: &[(
            "toolu_01KFbKqPYSuAKujiL6mTfzYA",
            "json",
            r#"{"elements": [{"location": "San Francisco", "temperature": 58, "condition": "sunny"}]}"#,
        )],
        reasoning: false,
    },
];

fn check_stream(dir: &std::path::Path, e: &Expect, include_usage: bool) -> Assembled {
    let input = read(dir, &format!("anthropic/{}", e.file));
    let (out, result) = assert_split_invariant(
        || AnthropicStreamTranslator::new(ctx(include_usage)),
        &input,
    );
    result.unwrap_or_else(|err| panic!("{}: {err}", e.file));
    let a = assemble(&out, 0);
    let (content, thinking, tools, stop) = reference(&input);
    assert!(a.done, "{}: [DONE]", e.file);
    assert_eq!(a.role.as_deref(), Some("assistant"), "{}", e.file);
    assert_eq!(a.model, "client-model");
    assert!(a.id.starts_with("msg_"), "{}: upstream id kept", e.file);
    assert_eq!(a.content, content, "{}: content", e.file);
    assert!(
        a.content.starts_with(e.content_starts),
        "{}: {:?}",
        e.file,
        a.content
    );
    assert_eq!(a.reasoning, thinking, "{}: reasoning", e.file);
    assert_eq!(!a.reasoning.is_empty(), e.reasoning, "{}", e.file);
    let got: Vec<_> = a.tool_calls.values().cloned().collect();
    assert_eq!(got, tools, "{}: tool calls vs recording", e.file);
    let want: Vec<_> = e
        .tools
        .iter()
        .map(|(i, n, a)| (i.to_string(), n.to_string(), a.to_string()))
        .collect();
    assert_eq!(got, want, "{}: tool calls", e.file);
    for (k, (_, _, args)) in a.tool_calls.iter() {
        serde_json::from_str::<Value>(args)
            .unwrap_or_else(|err| panic!("{} tool {k} args not JSON: {err}", e.file));
    }
    assert_eq!(
        a.tool_calls.keys().copied().collect::<Vec<_>>(),
        (0..e.tools.len() as u64).collect::<Vec<_>>()
    );
    assert_eq!(a.finish_reason.as_deref(), Some(e.finish), "{}", e.file);
    assert_eq!(anthropic::finish_reason(stop.as_deref().unwrap()), e.finish);
    if include_usage {
        let u = a.usage.clone().expect("usage chunk");
        assert_eq!(u["prompt_tokens"], e.prompt, "{}", e.file);
        if e.completion > 0 {
            assert_eq!(u["completion_tokens"], e.completion, "{}", e.file);
        }
        assert_eq!(
            u["total_tokens"].as_u64().unwrap(),
            u["prompt_tokens"].as_u64().unwrap() + u["completion_tokens"].as_u64().unwrap()
        );
        assert_eq!(u["prompt_tokens_details"]["cached_tokens"], 0);
    } else {
        assert!(a.usage.is_none(), "no usage chunk unless asked");
    }
    a
}

#[test]
fn every_anthropic_stream_fixture_translates_at_every_split() {
    let Some(dir) = fixtures() else { return };
    let files: Vec<String> = list(&dir, "anthropic")
        .into_iter()
        .filter(|f| f.ends_with(".sse"))
        .collect();
    assert_eq!(
        files.len(),
        STREAMS.len(),
        "every .sse fixture has an expectation: {files:?}"
    );
    for e in STREAMS {
        check_stream(&dir, e, true);
        check_stream(&dir, e, false);
    }
}

#[test]
fn stream_usage_reported_for_metrics() {
    let Some(dir) = fixtures() else { return };
    let input = read(&dir, "anthropic/messages_stream_redacted_thinking.sse");
    let mut t = AnthropicStreamTranslator::new(ctx(false));
    let mut out = bytes::BytesMut::new();
    sluice_translate::StreamTranslator::feed(&mut t, input.into(), &mut out).unwrap();
    sluice_translate::StreamTranslator::finish(&mut t, &mut out).unwrap();
    let u = sluice_translate::StreamTranslator::usage(&t).unwrap();
    assert_eq!(u.prompt_tokens, 92);
    assert!(
        u.completion_tokens > 88,
        "message_delta's cumulative output tokens win"
    );
}

fn translate(dir: &std::path::Path, file: &str) -> (Value, Option<sluice_translate::Usage>) {
    let body = read(dir, &format!("anthropic/{file}"));
    let (out, usage) = anthropic::translate_response(&body, &ctx(false)).unwrap();
    (serde_json::from_slice(&out).unwrap(), usage)
}

#[test]
fn non_stream_fixtures() {
    let Some(dir) = fixtures() else { return };

    let (v, u) = translate(&dir, "messages_text.json");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["id"], "msg_01VdEjxAP5ahtHKrrRdNBteQ");
    assert_eq!(v["model"], "client-model");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Hello! I'm doing well, thanks for asking. How are you doing today? Is there anything I can help you with?"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 12, "completion_tokens": 29, "total_tokens": 41,
        "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}})
    );
    assert_eq!(u.unwrap().total_tokens, 41);

    let (v, u) = translate(&dir, "messages_parallel_tool_use.json");
    let m = &v["choices"][0]["message"];
    assert!(m["content"]
        .as_str()
        .unwrap()
        .starts_with("I'll help you find out who is the youngest"));
    let calls = m["tool_calls"].as_array().unwrap();
    let names = ["Alice", "Bob", "Charlie", "Daisy"];
    let ids = [
        "toolu_0167cfEnoQaPviGdVXA95zcu",
        "toolu_01EEe2V5HD1Ac4rKiUR4HD2T",
        "toolu_01XFyAjstT3966qvRynZyVPo",
        "toolu_013mnQZbgtK2oe3Mo3XKJsx3",
    ];
    assert_eq!(calls.len(), 4);
    for (i, call) in calls.iter().enumerate() {
        assert_eq!(call["id"], ids[i]);
        assert_eq!(call["type"], "function");
        assert_eq!(call["function"]["name"], "retrieve_entity_info");
        let args: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args, json!({"name": names[i]}));
    }
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let u = u.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (423, 202, 625)
    );

    let (v, u) = translate(&dir, "messages_thinking_tool_use.json");
    let m = &v["choices"][0]["message"];
    assert!(m["reasoning_content"]
        .as_str()
        .unwrap()
        .starts_with("The user is asking about the largest city"));
    assert_eq!(m["content"], "I'll help you find the largest city in your country. First, let me determine which country you're from.");
    assert_eq!(m["tool_calls"][0]["id"], "toolu_01YGzqpRE16Vricda3Aqcejo");
    assert_eq!(m["tool_calls"][0]["function"]["name"], "get_user_country");
    assert_eq!(m["tool_calls"][0]["function"]["arguments"], "{}");
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(u.unwrap().prompt_tokens, 398);
    assert_eq!(u.unwrap().completion_tokens, 155);
}

#[test]
fn cache_tokens_count_into_prompt() {
    let body = br#"{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"hi"}],
        "stop_reason":"max_tokens","usage":{"input_tokens":10,"cache_creation_input_tokens":20,"cache_read_input_tokens":300,"output_tokens":7}}"#;
    let (out, usage) = anthropic::translate_response(body, &ctx(false)).unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["usage"]["prompt_tokens"], 330);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 300);
    assert_eq!(v["usage"]["total_tokens"], 337);
    assert_eq!(usage.unwrap().cached_tokens, 300);
}

#[test]
fn error_fixtures() {
    let Some(dir) = fixtures() else { return };
    let e =
        anthropic::translate_error(400, &read(&dir, "anthropic/error_400_invalid_request.json"));
    assert_eq!((e.status, e.error_type), (400, "invalid_request_error"));
    assert!(e
        .message
        .starts_with("messages.2.content.0: unexpected `tool_use_id`"));
    assert_eq!(e.code.as_deref(), Some("invalid_request_error"));
    let e = anthropic::translate_error(
        400,
        &read(&dir, "anthropic/error_400_unsupported_effort.json"),
    );
    assert_eq!((e.status, e.error_type), (400, "invalid_request_error"));
    assert!(e.message.contains("effort level 'xhigh'"));
    // Every non-request JSON fixture is either a message or an error body.
    for f in list(&dir, "anthropic") {
        if f.ends_with(".json") && !f.ends_with(".request.json") {
            let body = read(&dir, &f);
            let is_err = f.contains("/error_");
            assert_eq!(
                anthropic::translate_response(&body, &ctx(false)).is_err(),
                is_err,
                "{f}"
            );
        }
    }
}

#[test]
#[ignore = "prints a translated stream for eyeballing"]
fn show_output() {
    let Some(dir) = fixtures() else { return };
    let f = std::env::var("SHOW")
        .unwrap_or("anthropic/messages_stream_tool_use_quoted_args.sse".into());
    let input = read(&dir, &f);
    let (out, r) = if f.starts_with("gemini") {
        common::run_pieces(
            sluice_translate::gemini::GeminiStreamTranslator::new(ctx(true)),
            &input,
            &[],
        )
    } else {
        common::run_pieces(AnthropicStreamTranslator::new(ctx(true)), &input, &[])
    };
    println!("{}\n{r:?}", String::from_utf8_lossy(&out));
}
