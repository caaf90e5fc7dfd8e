//! Provider error mapping, mid-stream errors, truncated streams, and malformed client input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use bytes::{Bytes, BytesMut};
use common::ctx;
use serde_json::{json, Value};
use sluice_translate::anthropic::{self, AnthropicStreamTranslator};
use sluice_translate::gemini::{self, GeminiStreamTranslator};
use sluice_translate::{openai, StreamTranslator, UpstreamError};

#[test]
fn anthropic_status_mapping() {
    let e = anthropic::translate_error(429, br#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}"#);
    assert_eq!((e.status, e.error_type), (429, "rate_limit_error"));
    assert!(e.is_retryable());
    let e = anthropic::translate_error(
        529,
        br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    );
    assert_eq!(
        (e.status, e.error_type, e.code.as_deref()),
        (503, "server_error", Some("overloaded_error"))
    );
    assert_eq!(e.message, "Overloaded");
    let e = anthropic::translate_error(401, br#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#);
    assert_eq!((e.status, e.error_type), (401, "authentication_error"));
    let e = anthropic::translate_error(
        403,
        br#"{"type":"error","error":{"type":"permission_error","message":"no"}}"#,
    );
    assert_eq!((e.status, e.error_type), (403, "permission_error"));
    let e = anthropic::translate_error(
        404,
        br#"{"type":"error","error":{"type":"not_found_error","message":"model: x"}}"#,
    );
    assert_eq!((e.status, e.error_type), (404, "not_found_error"));
    let e = anthropic::translate_error(
        500,
        br#"{"type":"error","error":{"type":"api_error","message":"Internal server error"}}"#,
    );
    assert_eq!((e.status, e.error_type), (500, "server_error"));
    let e = anthropic::translate_error(502, b"<html>Bad Gateway</html>");
    assert_eq!((e.status, e.error_type), (502, "server_error"));
    assert!(e.message.contains("Bad Gateway"));
    let e = anthropic::translate_error(529, b"");
    assert_eq!((e.status, e.error_type), (503, "server_error"));
    let e = anthropic::translate_error(400, b"\xff\xfe not json");
    assert_eq!((e.status, e.error_type), (400, "invalid_request_error"));
}

#[test]
fn gemini_status_mapping() {
    let key = br#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT",
        "details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}"#;
    let e = gemini::translate_error(400, key);
    assert_eq!(
        (e.status, e.error_type, e.code.as_deref()),
        (401, "authentication_error", Some("invalid_api_key"))
    );
    let e = gemini::translate_error(
        403,
        br#"{"error":{"code":403,"message":"denied","status":"PERMISSION_DENIED"}}"#,
    );
    assert_eq!((e.status, e.error_type), (403, "permission_error"));
    let quota = br#"{"error":{"code":429,"message":"You exceeded your current quota","status":"RESOURCE_EXHAUSTED","details":[
        {"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[]},
        {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37.2s"}]}}"#;
    let e = gemini::translate_error(429, quota);
    assert_eq!(
        (e.status, e.error_type, e.retry_after_secs),
        (429, "rate_limit_error", Some(38))
    );
    let e = gemini::translate_error(
        503,
        br#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#,
    );
    assert_eq!((e.status, e.error_type), (503, "server_error"));
    let e = gemini::translate_error(
        500,
        br#"[{"error":{"code":500,"message":"boom","status":"INTERNAL"}}]"#,
    );
    assert_eq!(
        (e.status, e.error_type, e.message.as_str()),
        (500, "server_error", "boom")
    );
    let e = gemini::translate_error(
        404,
        br#"{"error":{"code":404,"message":"models/x is not found","status":"NOT_FOUND"}}"#,
    );
    assert_eq!((e.status, e.error_type), (404, "not_found_error"));
    let e = gemini::translate_error(502, b"upstream connect error");
    assert_eq!((e.status, e.error_type), (502, "server_error"));
    let e = gemini::translate_error(200, b"");
    assert_eq!(e.status, 502);
}

fn feed_all<T: StreamTranslator>(mut t: T, input: &[u8]) -> (String, Result<(), UpstreamError>) {
    let mut out = BytesMut::new();
    let r = t
        .feed(Bytes::copy_from_slice(input), &mut out)
        .and_then(|()| t.finish(&mut out));
    (String::from_utf8(out.to_vec()).unwrap(), r)
}

#[test]
fn anthropic_mid_stream_error_and_truncation() {
    let stream = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
    );
    let err = "event: error\ndata: {\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}\n\n";
    let mut t = AnthropicStreamTranslator::new(ctx(true));
    let mut out = BytesMut::new();
    t.feed(Bytes::from(stream), &mut out).unwrap();
    let before = out.len();
    let e = t.feed(Bytes::from(err), &mut out).unwrap_err();
    assert_eq!(out.len(), before, "nothing written for the error");
    assert_eq!(
        (e.status, e.error_type, e.code.as_deref()),
        (503, "server_error", Some("overloaded_error"))
    );
    assert_eq!(
        t.finish(&mut out).unwrap_err(),
        e,
        "finish repeats the error"
    );
    openai::write_error_event(&e, &mut out);
    let last = std::str::from_utf8(&out[before..]).unwrap();
    let v: Value = serde_json::from_str(last.strip_prefix("data: ").unwrap().trim_end()).unwrap();
    assert_eq!(
        v,
        json!({"error": {"message": "Overloaded", "type": "server_error", "code": "overloaded_error", "param": null}})
    );
    assert!(last.ends_with("\n\n"));

    let (out, r) = feed_all(AnthropicStreamTranslator::new(ctx(true)), stream.as_bytes());
    assert!(r.is_err(), "no message_stop → error, not a clean end");
    assert!(!out.contains("[DONE]"));
    let (_, r) = feed_all(AnthropicStreamTranslator::new(ctx(true)), b"");
    assert!(r.is_err());
    let (_, r) = feed_all(
        AnthropicStreamTranslator::new(ctx(true)),
        b"data: {not json\n\n",
    );
    assert_eq!(r.unwrap_err().status, 502);
}

#[test]
fn gemini_mid_stream_error_and_truncation() {
    let ok = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}],\"role\":\"model\"}}]}\r\n\r\n";
    let err = "data: {\"error\":{\"code\":503,\"message\":\"The model is overloaded.\",\"status\":\"UNAVAILABLE\"}}\r\n\r\n";
    let mut t = GeminiStreamTranslator::new(ctx(false));
    let mut out = BytesMut::new();
    t.feed(Bytes::from(ok), &mut out).unwrap();
    let e = t.feed(Bytes::from(err), &mut out).unwrap_err();
    assert_eq!((e.status, e.error_type), (503, "server_error"));
    assert!(t.finish(&mut out).is_err());

    let (out, r) = feed_all(GeminiStreamTranslator::new(ctx(false)), ok.as_bytes());
    assert!(r.is_err(), "no finishReason → error");
    assert!(out.contains("\"content\":\"Hi\""));
    let (_, r) = feed_all(GeminiStreamTranslator::new(ctx(false)), b"");
    assert!(r.is_err());
    let (_, r) = feed_all(
        GeminiStreamTranslator::new(ctx(false)),
        b"[{\"candidates\":[{\"finishReason\":\"STOP\"}]}",
    );
    assert!(r.is_err(), "JSON array never closed");
}

#[test]
fn gemini_parallel_calls_and_multiple_candidates_stream() {
    let s = concat!(
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"a\",\"args\":{\"x\":1}}},{\"functionCall\":{\"name\":\"b\"}}]},\"index\":0},",
        "{\"content\":{\"parts\":[{\"text\":\"two\"}]},\"index\":1,\"finishReason\":\"MAX_TOKENS\"}]}\r\n\r\n",
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\"}]},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":4,\"cachedContentTokenCount\":2}}\r\n\r\n",
    );
    let (out, r) = common::run_pieces(GeminiStreamTranslator::new(ctx(true)), s.as_bytes(), &[]);
    r.unwrap();
    let a0 = common::assemble(&out, 0);
    assert_eq!(
        a0.tool_calls[&0],
        ("call_test123_0".into(), "a".into(), "{\"x\":1}".into())
    );
    assert_eq!(
        a0.tool_calls[&1],
        ("call_test123_1".into(), "b".into(), "{}".into())
    );
    assert_eq!(a0.finish_reason.as_deref(), Some("tool_calls"));
    // The hub answer carries one candidate: candidate 1 is not translated.
    let a1 = common::assemble(&out, 1);
    assert_eq!(a1.content, "");
    assert_eq!(a1.finish_reason, None);
    let u = a0.usage.unwrap();
    assert_eq!(u["prompt_tokens_details"]["cached_tokens"], 2);
    assert_eq!(u["total_tokens"], 7);
}

#[test]
fn anthropic_stream_max_tokens_and_cache_usage() {
    let s = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":5,\"cache_read_input_tokens\":100,\"cache_creation_input_tokens\":7,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"f\",\"input\":{}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}\n\n",
        ": a comment\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},\"usage\":{\"output_tokens\":9}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let (out, r) = common::run_pieces(AnthropicStreamTranslator::new(ctx(true)), s.as_bytes(), &[]);
    r.unwrap();
    let a = common::assemble(&out, 0);
    assert_eq!(a.finish_reason.as_deref(), Some("length"));
    assert_eq!(
        a.tool_calls[&0].2, "{\"a\":",
        "truncated arguments are passed on as streamed"
    );
    let u = a.usage.unwrap();
    assert_eq!(u["prompt_tokens"], 112);
    assert_eq!(u["prompt_tokens_details"]["cached_tokens"], 100);
    assert_eq!(u["completion_tokens"], 9);
}

fn bad(body: &[u8]) {
    for (name, r) in [
        ("anthropic", anthropic::build_request(body, "m").map(|_| ())),
        ("gemini", gemini::build_request(body, "m").map(|_| ())),
    ] {
        let e = r.expect_err(&format!(
            "{name} accepted {}",
            String::from_utf8_lossy(body)
        ));
        assert_eq!(e.status(), 400);
        assert!(!e.message.is_empty());
    }
}

#[test]
fn malformed_openai_bodies_are_rejected() {
    for body in [
        &b""[..],
        b"not json",
        b"[]",
        b"{}",
        b"{\"messages\": {}}",
        b"{\"messages\": []}",
        b"{\"messages\": [1]}",
        b"{\"messages\": [{\"content\": \"x\"}]}",
        b"{\"messages\": [{\"role\": \"wizard\", \"content\": \"x\"}]}",
        b"{\"messages\": [{\"role\": \"user\"}]}",
        b"{\"messages\": [{\"role\": \"user\", \"content\": 5}]}",
        b"{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"ftp://x\"}}]}]}",
        b"{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"data:image/png;base64,@@@\"}}]}]}",
        b"{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"input_audio\"}]}]}",
        b"{\"messages\": [{\"role\": \"system\", \"content\": \"only system\"}]}",
        b"{\"messages\": [{\"role\": \"tool\", \"content\": \"x\"}]}",
        b"{\"messages\": [{\"role\": \"assistant\", \"tool_calls\": [{\"id\": \"1\", \"function\": {\"name\": \"f\", \"arguments\": \"{oops\"}}]}]}",
        b"{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"temperature\": \"hot\"}",
        b"{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"temperature\": 3}",
        b"{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"max_tokens\": -1}",
        b"{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"max_tokens\": 0}",
        b"{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"stop\": 5}",
        b"{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"tools\": [{\"type\": \"function\"}]}",
        b"{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"tools\": [{\"type\": \"code_interpreter\"}]}",
        b"{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"tool_choice\": \"sometimes\"}",
        b"{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"tool_choice\": {\"type\": \"function\", \"function\": {\"name\": \"nope\"}}}",
        b"{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"response_format\": {\"type\": \"yaml\"}}",
        b"{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"n\": 0}",
    ] {
        bad(body);
    }
}

#[test]
fn provider_specific_rejections() {
    let n2 = br#"{"messages":[{"role":"user","content":"x"}],"n":2}"#;
    let e = anthropic::build_request(n2, "m").unwrap_err();
    assert_eq!(e.param.as_deref(), Some("n"));
    let g: Value = serde_json::from_slice(&gemini::build_request(n2, "m").unwrap().body).unwrap();
    assert_eq!(g["generationConfig"]["candidateCount"], 2);
    let tiff = br#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/tiff;base64,aGVsbG8="}}]}]}"#;
    let e = anthropic::build_request(tiff, "m").unwrap_err();
    assert_eq!(e.param.as_deref(), Some("messages[0].content"));
    let unknown_tool = br#"{"messages":[{"role":"user","content":"x"},{"role":"tool","tool_call_id":"nope","content":"r"}]}"#;
    let e = gemini::build_request(unknown_tool, "m").unwrap_err();
    assert_eq!(e.param.as_deref(), Some("messages[1].tool_call_id"));
    assert!(
        anthropic::build_request(unknown_tool, "m").is_ok(),
        "Anthropic needs only the id"
    );
}
