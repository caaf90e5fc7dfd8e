//! OpenAI → OpenAI passthrough: recorded OpenAI streams come out byte-identical, with the
//! usage chunk removed only when asked, at every chunk boundary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use bytes::Bytes;
use common::{fixtures, list, read};
use serde_json::Value;
use sluice_translate::openai::{scan_usage, PassthroughScanner};
use sluice_translate::Usage;

/// (input without the usage-only event, usage from that event) by plain string handling.
fn reference(input: &str) -> (String, Usage) {
    let mut kept = String::new();
    let mut usage = None;
    for event in input.split_inclusive("\n\n") {
        let data = event.trim_end().strip_prefix("data: ").unwrap_or("");
        if let Ok(v) = serde_json::from_str::<Value>(data) {
            if v["choices"] == Value::Array(vec![]) && v["usage"].is_object() {
                let u = &v["usage"];
                usage = Some(Usage {
                    prompt_tokens: u["prompt_tokens"].as_u64().unwrap(),
                    completion_tokens: u["completion_tokens"].as_u64().unwrap(),
                    total_tokens: u["total_tokens"].as_u64().unwrap(),
                    cached_tokens: u["prompt_tokens_details"]["cached_tokens"]
                        .as_u64()
                        .unwrap_or(0),
                    reasoning_tokens: u["completion_tokens_details"]["reasoning_tokens"]
                        .as_u64()
                        .unwrap_or(0),
                    cache_write_tokens: 0,
                });
                continue;
            }
        }
        kept.push_str(event);
    }
    (kept, usage.expect("recording has a usage chunk"))
}

fn run(input: &Bytes, cuts: &[usize], strip: bool) -> (Vec<u8>, PassthroughScanner, bool) {
    let mut s = PassthroughScanner::new(strip);
    let mut out = Vec::new();
    let mut zero_copy = true;
    let mut prev = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        let chunk = input.slice(prev..cut);
        if let Some(b) = s.scan(&chunk) {
            zero_copy &= b.as_ptr() == chunk.as_ptr() && b.len() == chunk.len();
            out.extend_from_slice(&b);
        } else {
            zero_copy &= chunk.is_empty();
        }
        prev = cut;
    }
    if let Some(b) = s.finish() {
        out.extend_from_slice(&b);
    }
    (out, s, zero_copy)
}

#[test]
fn recorded_streams_pass_through_byte_identical() {
    let Some(dir) = fixtures() else { return };
    let files: Vec<_> = list(&dir, "openai")
        .into_iter()
        .filter(|f| f.ends_with(".sse"))
        .collect();
    assert!(files.len() >= 7);
    for f in files {
        let input = Bytes::from(read(&dir, &f));
        let (stripped, usage) = reference(std::str::from_utf8(&input).unwrap());
        for cut in 0..=input.len() {
            let (out, s, zero_copy) = run(&input, &[cut], false);
            assert_eq!(out, &input[..], "{f} strip=false split {cut}");
            assert!(zero_copy, "{f}: strip=false returns the chunks themselves");
            assert_eq!(s.usage(), Some(usage), "{f}");
            assert!(s.saw_done());

            let (out, s, _) = run(&input, &[cut], true);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                stripped,
                "{f} strip=true split {cut}"
            );
            assert_eq!(s.usage(), Some(usage), "{f}");
            assert!(s.saw_done());
        }
        let bytes: Vec<usize> = (1..input.len()).collect();
        assert_eq!(run(&input, &bytes, false).0, &input[..]);
        assert_eq!(
            String::from_utf8(run(&input, &bytes, true).0).unwrap(),
            stripped,
            "{f} byte by byte"
        );
        for seed in 1..=10 {
            let cuts = common::random_cuts(input.len(), seed, 6);
            assert_eq!(run(&input, &cuts, false).0, &input[..]);
            assert_eq!(
                String::from_utf8(run(&input, &cuts, true).0).unwrap(),
                stripped
            );
        }
        // Whole-event chunks need no copy even when stripping (except around the usage event).
        let (_, _, zero_copy) = run(&input, &[], true);
        assert!(
            !zero_copy,
            "{f}: the usage chunk was removed from the single chunk"
        );
    }
}

#[test]
fn strip_handles_crlf_framing() {
    let input = Bytes::from_static(
        b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\r\n\r\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}\r\n\r\ndata: [DONE]\r\n\r\n",
    );
    let want = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\r\n\r\ndata: [DONE]\r\n\r\n";
    for cut in 0..=input.len() {
        let (out, s, _) = run(&input, &[cut], true);
        assert_eq!(out, want, "split {cut}");
        assert_eq!(s.usage().unwrap().total_tokens, 3);
        assert!(s.saw_done());
    }
}

#[test]
fn non_stream_usage() {
    let Some(dir) = fixtures() else { return };
    let u = scan_usage(&read(&dir, "openai/chat_text.json")).unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (14, 37, 51)
    );
    for f in [
        "chat_tool_calls_parallel.json",
        "chat_finish_length.json",
        "chat_n3_choices.json",
    ] {
        let body = read(&dir, &format!("openai/{f}"));
        let v: Value = serde_json::from_slice(&body).unwrap();
        let u = scan_usage(&body).unwrap();
        assert_eq!(
            u.total_tokens,
            v["usage"]["total_tokens"].as_u64().unwrap(),
            "{f}"
        );
    }
    assert_eq!(
        scan_usage(&read(&dir, "openai/error_400_unsupported_parameter.json")),
        None
    );
    assert_eq!(scan_usage(b"garbage"), None);
    let u = scan_usage(br#"{"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":2}}}"#).unwrap();
    assert_eq!((u.cached_tokens, u.reasoning_tokens), (4, 2));
}

#[test]
fn usage_found_wherever_it_sits() {
    let total = |b: &[u8]| scan_usage(b).map(|u| u.total_tokens);
    // Usage last (the fast path) and not last (the full parse).
    assert_eq!(total(br#"{"id":"x","usage":{"total_tokens":7}}"#), Some(7));
    assert_eq!(total(br#"{"usage":{"total_tokens":7},"id":"x"}"#), Some(7));
    assert_eq!(
        total(br#"{"usage":{"total_tokens":7}, "system_fingerprint": "fp_}{\"]", "n": 1 }"#),
        Some(7)
    );
    // A `usage` inside another member is not the answer's usage.
    assert_eq!(total(br#"{"a":{"usage":{"total_tokens":99},"x":1}}"#), None);
    // A nested `usage` key after the real one must not win.
    assert_eq!(
        total(br#"{"usage":{"total_tokens":7},"meta":{"usage":{"total_tokens":99}}}"#),
        Some(7)
    );
    // Message text that talks about usage is escaped and never matches.
    assert_eq!(
        total(br#"{"choices":[{"message":{"content":"say "usage": {"total_tokens":5}"}}],"usage":{"total_tokens":3}}"#),
        Some(3)
    );
    assert_eq!(total(br#"{"choices":[],"usage":null}"#), None);
    assert_eq!(total(br#"{"usage":{"total_tokens":"many"}}"#), None);
}
