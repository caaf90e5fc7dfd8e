//! Property tests: no input, however split, makes the parsers or translators panic, and
//! chunk boundaries never change what they produce.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use bytes::Bytes;
use proptest::prelude::*;
use sluice_translate::anthropic::AnthropicStreamTranslator;
use sluice_translate::gemini::GeminiStreamTranslator;
use sluice_translate::openai::PassthroughScanner;
use sluice_translate::sse::{SseError, SseParser};

const TOKENS: &[&str] = &[
    "data: ",
    "data:",
    "event: ",
    "event: error\n",
    ": ping\n",
    "\n",
    "\r\n",
    "\r",
    "\n\n",
    "\r\n\r\n",
    "id: 1\n",
    "[DONE]",
    "[",
    "]",
    ",",
    "{",
    "}",
    "\"",
    "\\",
    "null",
    "\u{e9}",
    "\u{1F600}",
    r#"{"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":3,"output_tokens":1}}}"#,
    r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
    r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t\"1","name":"f","input":{}}}"#,
    r#"{"type":"content_block_start","index":2,"content_block":{"type":"thinking","thinking":""}}"#,
    r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"he\"llo\n"}}"#,
    r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}"#,
    r#"{"type":"content_block_delta","index":2,"delta":{"type":"thinking_delta","thinking":"hmm"}}"#,
    r#"{"type":"content_block_stop","index":0}"#,
    r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":7}}"#,
    r#"{"type":"message_stop"}"#,
    r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    r#"{"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"index":0}]}"#,
    r#"{"candidates":[{"content":{"parts":[{"text":"t","thought":true},{"functionCall":{"name":"f","args":{"x":[1, 2]}},"thoughtSignature":"c2ln"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1}}"#,
    r#"{"candidates":[{"index":99}]}"#,
    r#"{"promptFeedback":{"blockReason":"SAFETY"}}"#,
    r#"{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}"#,
    r#"{"id":"c","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#,
    r#"{"id":"c","choices":[{"index":0,"delta":{"content":"x"}}],"usage":null}"#,
];

fn tokens() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..48).prop_map(|t| t.concat().into_bytes())
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![prop::collection::vec(any::<u8>(), 0..600), tokens()]
}

fn cuts(len: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0..=len, 0..8).prop_map(|mut c| {
        c.sort_unstable();
        c
    })
}

fn with_cuts() -> impl Strategy<Value = (Vec<u8>, Vec<usize>)> {
    input().prop_flat_map(|i| {
        let len = i.len();
        (Just(i), cuts(len))
    })
}

/// One parsed SSE event: (event name, data).
type Event = (Vec<u8>, Vec<u8>);

fn sse_events(input: &[u8], cuts: &[usize], limit: usize) -> (Vec<Event>, Option<SseError>) {
    let mut p = SseParser::with_limit(limit);
    let mut events = Vec::new();
    let mut prev = 0;
    for &c in cuts.iter().chain(std::iter::once(&input.len())) {
        let r = p.feed::<SseError, _>(&input[prev..c], |e| {
            events.push((e.event.to_vec(), e.data.to_vec()));
            Ok(())
        });
        if let Err(e) = r {
            return (events, Some(e));
        }
        prev = c;
    }
    let r = p.finish::<SseError, _>(|e| {
        events.push((e.event.to_vec(), e.data.to_vec()));
        Ok(())
    });
    (events, r.err())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn sse_parser_is_split_invariant((input, cuts) in with_cuts()) {
        prop_assert_eq!(sse_events(&input, &cuts, 1 << 20), sse_events(&input, &[], 1 << 20));
        // A tiny limit must fail cleanly, never panic.
        let _ = sse_events(&input, &cuts, 16);
    }

    #[test]
    fn anthropic_translator_never_panics_and_is_split_invariant((input, cuts) in with_cuts(), usage in any::<bool>()) {
        let split = common::run_pieces(AnthropicStreamTranslator::new(common::ctx(usage)), &input, &cuts);
        let whole = common::run_pieces(AnthropicStreamTranslator::new(common::ctx(usage)), &input, &[]);
        prop_assert_eq!(split, whole);
    }

    #[test]
    fn gemini_translator_never_panics_and_is_split_invariant((input, cuts) in with_cuts(), usage in any::<bool>()) {
        let split = common::run_pieces(GeminiStreamTranslator::new(common::ctx(usage)), &input, &cuts);
        let whole = common::run_pieces(GeminiStreamTranslator::new(common::ctx(usage)), &input, &[]);
        prop_assert_eq!(split, whole);
    }

    #[test]
    fn passthrough_without_strip_is_identity((input, cuts) in with_cuts()) {
        let input = Bytes::from(input);
        let mut s = PassthroughScanner::new(false);
        let mut out = Vec::new();
        let mut prev = 0;
        for &c in cuts.iter().chain(std::iter::once(&input.len())) {
            let chunk = input.slice(prev..c);
            match s.scan(&chunk) {
                Some(b) => {
                    prop_assert_eq!(&b, &chunk);
                    out.extend_from_slice(&b);
                }
                None => prop_assert!(chunk.is_empty()),
            }
            prev = c;
        }
        prop_assert!(s.finish().is_none());
        prop_assert_eq!(&out[..], &input[..]);
    }

    #[test]
    fn passthrough_with_strip_never_panics_and_only_drops((input, cuts) in with_cuts()) {
        let input = Bytes::from(input);
        let mut s = PassthroughScanner::new(true);
        let mut out = Vec::new();
        let mut prev = 0;
        for &c in cuts.iter().chain(std::iter::once(&input.len())) {
            if let Some(b) = s.scan(&input.slice(prev..c)) {
                out.extend_from_slice(&b);
            }
            prev = c;
        }
        if let Some(b) = s.finish() {
            out.extend_from_slice(&b);
        }
        prop_assert!(out.len() <= input.len());
        if !input.windows(11).any(|w| w == b"\"choices\":[") {
            prop_assert_eq!(&out[..], &input[..]);
        }
    }

    #[test]
    fn request_builders_never_panic(body in input()) {
        let _ = sluice_translate::anthropic::build_request(&body, "m");
        let _ = sluice_translate::gemini::build_request(&body, "m");
        let _ = sluice_translate::anthropic::translate_response(&body, &common::ctx(true));
        let _ = sluice_translate::gemini::translate_response(&body, &common::ctx(true));
        let _ = sluice_translate::anthropic::translate_error(500, &body);
        let _ = sluice_translate::gemini::translate_error(429, &body);
        let _ = sluice_translate::openai::scan_usage(&body);
    }
}
