//! Recorded Gemini traffic (../shared/fixtures/gemini) through the translators.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use common::{assemble, assert_split_invariant, ctx, fixtures, list, read};
use serde_json::{json, Value};
use sluice_translate::gemini::{self, GeminiStreamTranslator};

/// (content, thoughts, function calls (name, args, signature), last usageMetadata, last finishReason).
type Reference = (
    String,
    String,
    Vec<(String, Value, Option<String>)>,
    Value,
    Option<String>,
);

/// Reference reading of a Gemini stream recording (SSE or JSON array), independent of the
/// translator: (content, thoughts, function calls (name, args), last usageMetadata, last finishReason).
fn reference(raw: &[u8]) -> Reference {
    let text = String::from_utf8_lossy(raw);
    let events: Vec<Value> = if text.trim_start().starts_with('[') {
        serde_json::from_str::<Vec<Value>>(&text).unwrap()
    } else {
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| serde_json::from_str(d.trim()).unwrap())
            .collect()
    };
    let (mut content, mut thoughts, mut calls, mut usage, mut finish) =
        (String::new(), String::new(), Vec::new(), Value::Null, None);
    for ev in events {
        if let Some(u) = ev.get("usageMetadata") {
            usage = u.clone();
        }
        for c in ev["candidates"].as_array().into_iter().flatten() {
            for p in c["content"]["parts"].as_array().into_iter().flatten() {
                if let Some(t) = p["text"].as_str() {
                    if p["thought"] == true {
                        thoughts.push_str(t);
                    } else {
                        content.push_str(t);
                    }
                }
                if let Some(fc) = p.get("functionCall") {
                    calls.push((
                        fc["name"].as_str().unwrap().to_owned(),
                        fc["args"].clone(),
                        p["thoughtSignature"].as_str().map(str::to_owned),
                    ));
                }
            }
            if let Some(f) = c["finishReason"].as_str() {
                finish = Some(f.to_owned());
            }
        }
    }
    (content, thoughts, calls, usage, finish)
}

struct Expect {
    file: &'static str,
    finish: &'static str,
    prompt: u64,
    completion: u64,
    reasoning: u64,
    total: u64,
    content: Option<&'static str>,
    tools: &'static [(&'static str, &'static str)],
}

const STREAMS: &[Expect] = &[
    Expect {
        file: "stream_text.sse",
        finish: "stop",
        prompt: 13,
        completion: 8,
        reasoning: 0,
        total: 21,
        content: Some("The capital of France is Paris.\n"),
        tools: &[],
    },
    Expect {
        file: "stream_thinking.sse",
        finish: "stop",
        prompt: 34,
        completion: 0,
        reasoning: 0,
        total: 0,
        content: None,
        tools: &[],
    },
    Expect {
        file: "stream_tool_call_no_args_thought_signature.sse",
        finish: "tool_calls",
        prompt: 29,
        completion: 0,
        reasoning: 0,
        total: 0,
        content: Some(""),
        tools: &[("get_country", "{}")],
    },
    Expect {
        file: "stream_text_after_function_response.sse",
        finish: "stop",
        prompt: 257,
        completion: 8,
        reasoning: 0,
        total: 265,
        content: Some("The capital of Mexico is Mexico City."),
        tools: &[],
    },
    Expect {
        file: "stream_tool_call_args.sse",
        finish: "tool_calls",
        prompt: 29,
        completion: 60,
        reasoning: 45,
        total: 89,
        content: Some(""),
        tools: &[("weather", r#"{"location":"San Francisco"}"#)],
    },
    Expect {
        file: "stream_prompt_blocked.sse",
        finish: "content_filter",
        prompt: 9,
        completion: 0,
        reasoning: 0,
        total: 9,
        content: Some(""),
        tools: &[],
    },
    Expect {
        file: "stream_json_array_thinking_tool_call.json",
        finish: "tool_calls",
        prompt: 32,
        completion: 54,
        reasoning: 42,
        total: 86,
        content: Some(""),
        tools: &[("pelican_name_generator", "{}")],
    },
];

fn check_stream(dir: &std::path::Path, e: &Expect, include_usage: bool) {
    let input = read(dir, &format!("gemini/{}", e.file));
    let (out, result) =
        assert_split_invariant(|| GeminiStreamTranslator::new(ctx(include_usage)), &input);
    result.unwrap_or_else(|err| panic!("{}: {err}", e.file));
    let a = assemble(&out, 0);
    let (content, thoughts, calls, usage, finish) = reference(&input);
    assert!(a.done, "{}", e.file);
    assert_eq!(a.role.as_deref(), Some("assistant"), "{}", e.file);
    assert_eq!(a.model, "client-model");
    assert_eq!(a.content, content, "{}: content", e.file);
    if let Some(c) = e.content {
        assert_eq!(a.content, c, "{}", e.file);
    }
    assert_eq!(a.reasoning, thoughts, "{}: reasoning", e.file);
    assert_eq!(a.tool_calls.len(), calls.len(), "{}", e.file);
    assert_eq!(a.tool_calls.len(), e.tools.len(), "{}", e.file);
    for (i, ((name, args, sig), (want_name, want_args))) in calls.iter().zip(e.tools).enumerate() {
        let (id, got_name, got_args) = &a.tool_calls[&(i as u64)];
        assert_eq!(got_name, name);
        assert_eq!(got_name, want_name);
        assert_eq!(got_args, want_args, "{}", e.file);
        assert_eq!(&serde_json::from_str::<Value>(got_args).unwrap(), args);
        assert!(id.starts_with("call_test123_"), "{id}");
        match sig {
            Some(sig) => assert!(
                id.ends_with(&format!("__thought__{sig}")),
                "signature carried in the id"
            ),
            None => assert!(!id.contains("__thought__")),
        }
    }
    assert_eq!(a.finish_reason.as_deref(), Some(e.finish), "{}", e.file);
    if let Some(f) = finish {
        assert_eq!(gemini::finish_reason(&f, !calls.is_empty()), e.finish);
    }
    if include_usage {
        let u = a.usage.expect("usage chunk");
        let num = |k: &str| usage[k].as_u64().unwrap_or(0);
        assert_eq!(u["prompt_tokens"], e.prompt, "{}", e.file);
        assert_eq!(u["prompt_tokens"], num("promptTokenCount"));
        assert_eq!(
            u["completion_tokens"],
            num("candidatesTokenCount") + num("thoughtsTokenCount")
        );
        assert_eq!(
            u["completion_tokens_details"]["reasoning_tokens"],
            num("thoughtsTokenCount")
        );
        assert_eq!(
            u["total_tokens"],
            num("totalTokenCount"),
            "{}: matches the recording's total",
            e.file
        );
        if e.total > 0 {
            assert_eq!(u["total_tokens"], e.total);
            assert_eq!(u["completion_tokens"], e.completion);
            assert_eq!(
                u["completion_tokens_details"]["reasoning_tokens"],
                e.reasoning
            );
        }
    } else {
        assert!(a.usage.is_none());
    }
}

#[test]
fn every_gemini_stream_fixture_translates_at_every_split() {
    let Some(dir) = fixtures() else { return };
    let files: Vec<String> = list(&dir, "gemini")
        .into_iter()
        .filter(|f| {
            f.ends_with(".sse") || f.contains("stream_json_array") && !f.ends_with(".request.json")
        })
        .collect();
    assert_eq!(
        files.len(),
        STREAMS.len(),
        "every stream fixture has an expectation: {files:?}"
    );
    for e in STREAMS {
        check_stream(&dir, e, true);
        check_stream(&dir, e, false);
    }
}

fn translate(dir: &std::path::Path, file: &str) -> (Value, Option<sluice_translate::Usage>) {
    let body = read(dir, &format!("gemini/{file}"));
    let (out, usage) = gemini::translate_response(&body, &ctx(false)).unwrap();
    (serde_json::from_slice(&out).unwrap(), usage)
}

#[test]
fn non_stream_fixtures() {
    let Some(dir) = fixtures() else { return };

    let (v, u) = translate(&dir, "max_tokens.json");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["id"], "R5MoavWNNp_8qtsP2fWD2A0");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "The capital of France is"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 15, "completion_tokens": 5, "total_tokens": 20,
        "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}})
    );
    assert_eq!(u.unwrap().total_tokens, 20);

    let (v, u) = translate(&dir, "finish_safety.json");
    assert_eq!(v["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(v["choices"][0]["message"]["content"], "");
    assert_eq!(u.unwrap().prompt_tokens, 14);
    assert_eq!(u.unwrap().completion_tokens, 0);

    let (v, u) = translate(&dir, "prompt_blocked.json");
    assert_eq!(v["choices"].as_array().unwrap().len(), 1);
    assert_eq!(v["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(v["choices"][0]["message"]["content"], "");
    assert_eq!(u.unwrap().prompt_tokens, 9);

    let (v, u) = translate(&dir, "tool_call.json");
    let call = &v["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_user_country");
    assert_eq!(call["function"]["arguments"], "{}");
    assert_eq!(call["id"], "call_test123_0");
    assert!(v["choices"][0]["message"]["content"].is_null());
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let u = u.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (33, 5, 38)
    );
}

#[test]
fn non_stream_thoughts_and_only_the_first_candidate() {
    let body = br#"{"candidates":[
        {"content":{"parts":[{"text":"think","thought":true},{"text":"A"}],"role":"model"},"finishReason":"STOP","index":0},
        {"content":{"parts":[{"text":"B"},{"functionCall":{"name":"f","args":{ "x" : [1, 2] }}}],"role":"model"},"finishReason":"STOP","index":1}],
        "usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":4,"thoughtsTokenCount":3,"cachedContentTokenCount":6,"totalTokenCount":17}}"#;
    let (out, u) = gemini::translate_response(body, &ctx(false)).unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "A");
    assert_eq!(v["choices"][0]["message"]["reasoning_content"], "think");
    // The hub answer carries one candidate: candidate 1 is not translated (the Gemini
    // egress refuses n > 1, so it is never asked for).
    assert_eq!(v["choices"].as_array().unwrap().len(), 1);
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    let u = u.unwrap();
    assert_eq!(
        (
            u.prompt_tokens,
            u.completion_tokens,
            u.reasoning_tokens,
            u.cached_tokens,
            u.total_tokens
        ),
        (10, 7, 3, 6, 17)
    );
}

#[test]
fn error_fixtures_and_hand_written_errors() {
    let Some(dir) = fixtures() else { return };
    let e = gemini::translate_error(400, &read(&dir, "gemini/error_400_invalid_argument.json"));
    assert_eq!((e.status, e.error_type), (400, "invalid_request_error"));
    assert_eq!(
        e.message,
        "Penalty is not enabled for models/gemini-2.5-flash"
    );
    assert_eq!(e.code.as_deref(), Some("INVALID_ARGUMENT"));
    assert!(gemini::translate_response(
        &read(&dir, "gemini/error_400_invalid_argument.json"),
        &ctx(false)
    )
    .is_err());
}
