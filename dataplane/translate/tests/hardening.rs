//! Edge hardening (issue #10): bounded schema inlining, encoded upstream paths, bounded
//! stream state against a hostile upstream, saturating usage and linear request parsing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use serde_json::{json, Value};
use sluice_translate::anthropic::{self, AnthropicStreamTranslator};
use sluice_translate::gemini::{self, GeminiStreamTranslator};
use sluice_translate::openai::{self, PassthroughScanner};
use sluice_translate::sse::{SseError, SseParser, DEFAULT_MAX_EVENT_BYTES};
use sluice_translate::{StreamTranslator, TranslateError};

fn gemini_err(req: &Value) -> TranslateError {
    let body = serde_json::to_vec(req).unwrap();
    gemini::build_request(&body, "gemini-x").unwrap_err()
}

fn with_tool(parameters: Value) -> Value {
    json!({
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [
            {"type": "function", "function": {"name": "ok", "parameters": {"type": "object"}}},
            {"type": "function", "function": {"name": "bomb", "parameters": parameters}}
        ]
    })
}

/// `$defs` d0..d{n-1}, each `anyOf` `width` `$ref`s to the next: width^n nodes once
/// inlined.
fn fan_out_wide(n: usize, width: usize) -> Value {
    let mut defs = serde_json::Map::new();
    for i in 0..n {
        let next = json!({"$ref": format!("#/$defs/d{}", i + 1)});
        defs.insert(format!("d{i}"), json!({"anyOf": vec![next; width]}));
    }
    defs.insert(format!("d{n}"), json!({"type": "string"}));
    json!({"type": "object", "properties": {"x": {"$ref": "#/$defs/d0"}}, "$defs": defs})
}

/// The attack from the issue: 30 definitions, two `$ref`s each (2^30 leaves).
fn fan_out(n: usize) -> Value {
    fan_out_wide(n, 2)
}

#[test]
fn fan_out_schema_is_a_400_naming_the_param() {
    let schema = fan_out(30);
    assert!(serde_json::to_vec(&schema).unwrap().len() < 3000);
    let started = Instant::now();
    let e = gemini_err(&with_tool(schema.clone()));
    let elapsed = started.elapsed();
    assert_eq!(e.status(), 400);
    assert_eq!(e.error_type(), "invalid_request_error");
    assert_eq!(e.param.as_deref(), Some("tools[1].function.parameters"));
    // 30 levels of `$ref` + `anyOf` are also too deep; either limit answers first.
    assert!(
        e.message.contains("too large") || e.message.contains("deeper than"),
        "{}",
        e.message
    );
    eprintln!("fan-out schema (30 defs x 2) rejected in {elapsed:?}");

    // Shallow enough for the depth limit (10 x 8 = 8^10 leaves): the budget stops it.
    let wide = fan_out_wide(10, 8);
    let started = Instant::now();
    let e = gemini_err(&with_tool(wide));
    let elapsed = started.elapsed();
    assert_eq!(e.param.as_deref(), Some("tools[1].function.parameters"));
    assert!(e.message.contains("too large"), "{}", e.message);
    eprintln!("fan-out schema (10 defs x 8) rejected in {elapsed:?}");

    // Legacy `functions` and `response_format` name their own params.
    let req = json!({"messages": [{"role": "user", "content": "hi"}],
        "functions": [{"name": "f", "parameters": schema.clone()}]});
    assert_eq!(
        gemini_err(&req).param.as_deref(),
        Some("functions[0].parameters")
    );
    let req = json!({"messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": schema.clone()}}});
    assert_eq!(
        gemini_err(&req).param.as_deref(),
        Some("response_format.json_schema.schema")
    );
    let e = gemini::schema(&schema, "p").unwrap_err();
    assert_eq!(e.param.as_deref(), Some("p"));
}

#[test]
fn small_fan_out_still_inlines() {
    // 2^6 leaves: well within the budget, inlined exactly.
    let out = gemini::schema(&fan_out(6), "p").unwrap();
    let mut node = &out["properties"]["x"];
    for _ in 0..6 {
        assert_eq!(node["anyOf"].as_array().unwrap().len(), 2);
        node = &node["anyOf"][1];
    }
    assert_eq!(node, &json!({"type": "STRING"}));
}

#[test]
fn recursive_refs_are_a_400() {
    let direct = json!({"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}},
        "$defs": {"node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/node"}}}}});
    let e = gemini_err(&with_tool(direct));
    assert_eq!(e.param.as_deref(), Some("tools[1].function.parameters"));
    assert!(e.message.contains("recursive $ref"), "{}", e.message);

    let mutual = json!({"$ref": "#/definitions/a", "definitions": {
        "a": {"type": "array", "items": {"$ref": "#/definitions/b"}},
        "b": {"anyOf": [{"type": "null"}, {"$ref": "#/definitions/a"}]}}});
    let e = gemini_err(&with_tool(mutual));
    assert!(e.message.contains("recursive $ref"), "{}", e.message);

    // The same definition used twice side by side is not a cycle.
    let twice = json!({"type": "object", "properties": {"a": {"$ref": "#/$defs/s"}, "b": {"$ref": "#/$defs/s"}},
        "$defs": {"s": {"type": "string"}}});
    let out = gemini::schema(&twice, "p").unwrap();
    assert_eq!(
        out["properties"],
        json!({"a": {"type": "STRING"}, "b": {"type": "STRING"}})
    );
}

#[test]
fn too_deep_schema_is_a_400() {
    let mut s = json!({"type": "string"});
    for _ in 0..40 {
        s = json!({"type": "object", "properties": {"a": s}});
    }
    let e = gemini_err(&with_tool(s));
    assert_eq!(e.param.as_deref(), Some("tools[1].function.parameters"));
    assert!(e.message.contains("deeper than"), "{}", e.message);
}

#[test]
fn large_plain_schema_within_input_allowance() {
    // No refs: output is never larger than input, so a big schema passes.
    let props: serde_json::Map<String, Value> = (0..20_000)
        .map(|i| {
            (
                format!("p{i}"),
                json!({"type": "string", "description": "x".repeat(20)}),
            )
        })
        .collect();
    let body =
        serde_json::to_vec(&with_tool(json!({"type": "object", "properties": props}))).unwrap();
    assert!(body.len() > 800_000);
    assert!(gemini::build_request(&body, "g").is_ok());
}

#[test]
fn gemini_path_encodes_the_model() {
    assert_eq!(
        gemini::path("gemini-2.5-flash", false),
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(
        gemini::path("gemini-2.5-flash", true),
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    assert_eq!(
        gemini::path("gemini-x:countTokens?", false),
        "/v1beta/models/gemini-x%3AcountTokens%3F:generateContent"
    );
    assert_eq!(
        gemini::path("../../v1/files#x", true),
        "/v1beta/models/..%2F..%2Fv1%2Ffiles%23x:streamGenerateContent?alt=sse"
    );
    for model in ["a/b", "a?b", "a#b", "a:b", "a b", "a\r\nb", "é", "a%2Fb"] {
        let p = gemini::path(model, false);
        let seg = p
            .strip_prefix("/v1beta/models/")
            .and_then(|s| s.strip_suffix(":generateContent"))
            .unwrap();
        assert!(
            seg.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
            "{model:?} -> {p}"
        );
    }
}

fn endless(prefix: &[u8], total: usize) -> Vec<Bytes> {
    let mut chunks = vec![Bytes::copy_from_slice(prefix)];
    let filler = Bytes::from(vec![b'a'; 64 * 1024]);
    for _ in 0..total / filler.len() {
        chunks.push(filler.clone());
    }
    chunks
}

#[test]
fn sse_parser_caps_an_endless_line_and_event() {
    let mut p = SseParser::new();
    let mut result = Ok(());
    for chunk in endless(b"data: ", 4 * DEFAULT_MAX_EVENT_BYTES) {
        result = p.feed::<SseError, _>(&chunk, |_| Ok(()));
        assert!(p.buffered() <= DEFAULT_MAX_EVENT_BYTES);
        if result.is_err() {
            break;
        }
    }
    assert_eq!(
        result,
        Err(SseError::EventTooLarge {
            limit: DEFAULT_MAX_EVENT_BYTES
        })
    );

    // Many short data lines of one event that never ends.
    let mut p = SseParser::new();
    let line = Bytes::from(format!("data: {}\n", "b".repeat(1000)));
    let mut failed = false;
    for _ in 0..(2 * DEFAULT_MAX_EVENT_BYTES / 1000) {
        if p.feed::<SseError, _>(&line, |_| Ok(())).is_err() {
            failed = true;
            break;
        }
        assert!(p.buffered() <= DEFAULT_MAX_EVENT_BYTES);
    }
    assert!(failed);
    // After the error the parser resynchronises at the next event.
    let mut got = Vec::new();
    p.feed::<SseError, _>(b"\n\ndata: ok\n\n", |e| {
        got.push(e.data.to_vec());
        Ok(())
    })
    .unwrap();
    assert_eq!(got, vec![b"ok".to_vec()]);
}

fn run_endless<T: StreamTranslator>(mut t: T, prefix: &[u8]) {
    let mut out = BytesMut::new();
    let mut err = None;
    for chunk in endless(prefix, 4 * DEFAULT_MAX_EVENT_BYTES) {
        if let Err(e) = t.feed(chunk, &mut out) {
            err = Some(e);
            break;
        }
    }
    let e = err.expect("an endless event must fail the stream");
    assert_eq!(e.status, 502);
    assert_eq!(e.code.as_deref(), Some("upstream_malformed_response"));
    assert!(t.finish(&mut out).is_err());
}

#[test]
fn translators_fail_an_endless_event() {
    run_endless(
        AnthropicStreamTranslator::new(common::ctx(true)),
        b"data: {\"type\":\"",
    );
    run_endless(
        GeminiStreamTranslator::new(common::ctx(true)),
        b"data: {\"candidates\"",
    );
    // JSON-array framing: one element that never closes.
    run_endless(
        GeminiStreamTranslator::new(common::ctx(true)),
        b"[{\"candidates\":\"",
    );
}

#[test]
fn passthrough_scanner_stays_bounded() {
    for strip in [false, true] {
        let mut s = PassthroughScanner::new(strip);
        let mut forwarded = 0usize;
        let chunks = endless(b"data: {\"x\":\"", 4 * DEFAULT_MAX_EVENT_BYTES);
        let input: usize = chunks.iter().map(Bytes::len).sum();
        for chunk in chunks {
            forwarded += s.scan(&chunk).map_or(0, |b| b.len());
        }
        forwarded += s.finish().map_or(0, |b| b.len());
        assert_eq!(
            forwarded, input,
            "strip={strip}: nothing lost, nothing added"
        );
        // Usage after the oversized event is still seen.
        let tail = Bytes::from_static(
            b"\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n",
        );
        s.scan(&tail);
        s.finish();
        assert_eq!(s.usage().map(|u| u.total_tokens), Some(3), "strip={strip}");
    }
}

#[test]
fn usage_sums_saturate() {
    let max = u64::MAX;
    // Anthropic stream.
    let stream = format!(
        "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"id\":\"msg_1\",\"usage\":{{\"input_tokens\":{max},\"cache_read_input_tokens\":{max},\"cache_creation_input_tokens\":5,\"output_tokens\":1}}}}}}\n\n\
         event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"end_turn\"}},\"usage\":{{\"output_tokens\":{max}}}}}\n\n\
         event: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n"
    );
    let mut t = AnthropicStreamTranslator::new(common::ctx(true));
    let mut out = BytesMut::new();
    t.feed(Bytes::from(stream), &mut out).unwrap();
    t.finish(&mut out).unwrap();
    let u = t.usage().unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (max, max, max)
    );

    // Anthropic non-stream.
    let body = format!("{{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"stop_reason\":\"end_turn\",\"usage\":{{\"input_tokens\":{max},\"output_tokens\":{max},\"cache_read_input_tokens\":{max}}}}}");
    let (_, u) = anthropic::translate_response(body.as_bytes(), &common::ctx(false)).unwrap();
    assert_eq!(u.unwrap().total_tokens, max);

    // Gemini stream and non-stream.
    let usage = format!("\"usageMetadata\":{{\"promptTokenCount\":{max},\"toolUsePromptTokenCount\":{max},\"candidatesTokenCount\":{max},\"thoughtsTokenCount\":{max}}}");
    let event = format!("{{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":\"x\"}}],\"role\":\"model\"}},\"finishReason\":\"STOP\"}}],{usage}}}");
    let mut t = GeminiStreamTranslator::new(common::ctx(true));
    let mut out = BytesMut::new();
    t.feed(Bytes::from(format!("data: {event}\n\n")), &mut out)
        .unwrap();
    t.finish(&mut out).unwrap();
    let u = t.usage().unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (max, max, max)
    );
    let (_, u) = gemini::translate_response(event.as_bytes(), &common::ctx(false)).unwrap();
    assert_eq!(u.unwrap().total_tokens, max);

    // OpenAI without total_tokens.
    let body = format!(
        "{{\"choices\":[],\"usage\":{{\"prompt_tokens\":{max},\"completion_tokens\":{max}}}}}"
    );
    assert_eq!(
        openai::scan_usage(body.as_bytes()).unwrap().total_tokens,
        max
    );
}

#[test]
fn many_top_level_keys_parse_linearly() {
    let mut body = String::from("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]");
    for i in 0..150_000 {
        body.push_str(&format!(",\"k{i}\":{i}"));
    }
    // Repeated keys, too: the last one wins.
    for _ in 0..1000 {
        body.push_str(",\"max_tokens\":5");
    }
    body.push('}');
    assert!(body.len() > 1_900_000);
    let started = Instant::now();
    let g = gemini::build_request(body.as_bytes(), "g").unwrap();
    let a = anthropic::build_request(body.as_bytes(), "c").unwrap();
    let elapsed = started.elapsed();
    let a: Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(a["max_tokens"], 5);
    assert!(!g.body.is_empty());
    eprintln!("150,000 top-level keys: two builds in {elapsed:?}");
}

#[test]
fn many_tool_messages_parse_linearly() {
    // 20,000 assistant tool calls each answered by a tool message (and legacy function
    // messages): every answer finds its call without scanning the conversation.
    let mut messages = vec![json!({"role": "user", "content": "go"})];
    for i in 0..20_000 {
        messages.push(json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": format!("c{i}"), "type": "function", "function": {"name": format!("f{i}"), "arguments": "{}"}}]}));
        messages.push(json!({"role": "tool", "tool_call_id": format!("c{i}"), "content": "r"}));
        messages.push(json!({"role": "function", "name": format!("f{i}"), "content": "r"}));
    }
    let body = serde_json::to_vec(&json!({"messages": messages})).unwrap();
    let started = Instant::now();
    let g = gemini::build_request(&body, "g").unwrap();
    let elapsed = started.elapsed();
    let g: Value = serde_json::from_slice(&g.body).unwrap();
    // The last function message answered the last call of its name, by id and name.
    let last = g["contents"].as_array().unwrap().last().unwrap().clone();
    let parts = last["parts"].as_array().unwrap();
    let response = &parts.last().unwrap()["functionResponse"];
    assert_eq!(response["id"], "c19999");
    assert_eq!(response["name"], "f19999");
    eprintln!("60,000 messages with 20,000 tool calls: build in {elapsed:?}");
}
