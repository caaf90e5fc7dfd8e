//! Bounded fuzz smoke runs on stable Rust (proptest): the same entry points as the
//! libFuzzer targets in `fuzz/`, a few hundred cases each, so every `cargo test` runs them.
//!
//! Properties: nothing panics, and output stays within a fixed multiple of the input plus
//! a constant (no amplification). No timing assertions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use std::sync::OnceLock;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use sluice_translate::anthropic::{self, AnthropicStreamTranslator};
use sluice_translate::gemini::{self, GeminiStreamTranslator};
use sluice_translate::openai::PassthroughScanner;
use sluice_translate::sse::{SseError, SseParser};
use sluice_translate::StreamTranslator;

const CASES: u32 = 384;

/// Largest output a stream translator may write: a chunk head is about 120 bytes, the
/// smallest input event that makes one about 10, and Gemini may open 16 choices.
fn stream_bound(input: usize) -> usize {
    64 * input + 64 * 1024
}

/// Largest upstream body a request may become (schema inlining may add 256 KiB).
fn request_bound(input: usize) -> usize {
    16 * input + 512 * 1024
}

/// Every recorded stream, read once (empty without fixtures: the arbitrary-byte cases
/// still run).
fn fixture_streams() -> &'static [Vec<u8>] {
    static STREAMS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    STREAMS.get_or_init(|| {
        let Some(dir) = common::fixtures() else {
            return Vec::new();
        };
        let mut streams = Vec::new();
        for provider in ["anthropic", "gemini", "openai"] {
            for name in common::list(&dir, provider) {
                if name.ends_with(".sse") || name.contains("stream_json_array") {
                    streams.push(common::read(&dir, &name));
                }
            }
        }
        streams
    })
}

/// One edit of a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Delete(usize, usize),
    Duplicate(usize, usize),
    Insert(usize, &'static [u8]),
}

const SNIPPETS: &[&[u8]] = &[
    b"\n",
    b"\r",
    b"\n\n",
    b"data: ",
    b"event: error\n",
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b"\\",
    b"\xff",
    b"18446744073709551615",
    b"-1",
    b"null",
    b"{\"index\":4294967295}",
    b"{\"candidates\":[{\"index\":15}]}",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), 0usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<usize>(), 0usize..256).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        (any::<usize>(), prop::sample::select(SNIPPETS)).prop_map(|(i, s)| Mutation::Insert(i, s)),
    ]
}

fn mutate(mut data: Vec<u8>, edits: &[Mutation]) -> Vec<u8> {
    for edit in edits {
        let len = data.len();
        let at = |i: usize| if len == 0 { 0 } else { i % (len + 1) };
        match *edit {
            Mutation::Flip(i, b) => {
                if len > 0 {
                    data[i % len] ^= b;
                }
            }
            Mutation::Delete(i, n) => {
                let start = at(i);
                let end = (start + n).min(len);
                data.drain(start..end);
            }
            Mutation::Duplicate(i, n) => {
                let start = at(i);
                let end = (start + n).min(len);
                let copy = data[start..end].to_vec();
                data.splice(end..end, copy);
            }
            Mutation::Insert(i, s) => {
                let pos = at(i);
                data.splice(pos..pos, s.iter().copied());
            }
        }
    }
    data
}

/// Feed `input` cut at `cuts` (taken modulo its length, sorted); returns the output size.
fn drive<T: StreamTranslator>(mut t: T, input: &[u8], cuts: &[usize]) -> usize {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    let mut out = BytesMut::new();
    let mut prev = 0;
    for cut in cuts.into_iter().chain(std::iter::once(input.len())) {
        if t.feed(Bytes::copy_from_slice(&input[prev..cut]), &mut out)
            .is_err()
        {
            // After an error the translator must keep failing, quietly.
            assert!(t
                .feed(Bytes::from_static(b"data: x\n\n"), &mut out)
                .is_err());
            assert!(t.finish(&mut out).is_err());
            return out.len();
        }
        prev = cut;
    }
    let _ = t.finish(&mut out);
    let _ = t.usage();
    out.len()
}

fn all_translators(input: &[u8], cuts: &[usize]) -> Result<(), TestCaseError> {
    let bound = stream_bound(input.len());
    let a = drive(
        AnthropicStreamTranslator::new(common::ctx(true)),
        input,
        cuts,
    );
    prop_assert!(
        a <= bound,
        "anthropic wrote {a} bytes for {} input",
        input.len()
    );
    let g = drive(GeminiStreamTranslator::new(common::ctx(true)), input, cuts);
    prop_assert!(
        g <= bound,
        "gemini wrote {g} bytes for {} input",
        input.len()
    );
    for strip in [false, true] {
        let mut s = PassthroughScanner::new(strip);
        let mut forwarded = 0usize;
        let mut prev = 0;
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        cuts.sort_unstable();
        for cut in cuts.into_iter().chain(std::iter::once(input.len())) {
            let chunk = Bytes::copy_from_slice(&input[prev..cut]);
            forwarded += s.scan(&chunk).map_or(0, |b| b.len());
            prev = cut;
        }
        forwarded += s.finish().map_or(0, |b| b.len());
        let _ = (s.usage(), s.saw_done());
        // The scanner only ever forwards or drops upstream bytes.
        prop_assert!(forwarded <= input.len());
    }
    Ok(())
}

fn json_ish() -> impl Strategy<Value = Vec<u8>> {
    const PIECES: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"",
        "\\",
        "null",
        "true",
        "1",
        "-0.5e9",
        "1e400",
        "\"messages\"",
        "\"role\"",
        "\"user\"",
        "\"assistant\"",
        "\"tool\"",
        "\"function\"",
        "\"system\"",
        "\"content\"",
        "\"tools\"",
        "\"functions\"",
        "\"function\"",
        "\"name\"",
        "\"parameters\"",
        "\"$ref\"",
        "\"#/$defs/a\"",
        "\"$defs\"",
        "\"a\"",
        "\"anyOf\"",
        "\"type\"",
        "\"object\"",
        "\"properties\"",
        "\"tool_calls\"",
        "\"tool_call_id\"",
        "\"id\"",
        "\"arguments\"",
        "\"{}\"",
        "\"image_url\"",
        "\"url\"",
        "\"data:image/png;base64,AAAA\"",
        "\"https://x.test/a.png\"",
        "\"response_format\"",
        "\"json_schema\"",
        "\"schema\"",
        "\"n\"",
        "\"stop\"",
        "\"max_tokens\"",
        "\"tool_choice\"",
        "\"reasoning_effort\"",
        "\"high\"",
        "\"\\ud800\"",
        "\"é\"",
    ];
    prop::collection::vec(prop::sample::select(PIECES), 0..96).prop_map(|p| p.concat().into_bytes())
}

/// A valid request around a fuzzed tool schema (so the schema path is reached).
fn with_schema(schema: &[u8]) -> Vec<u8> {
    let mut body = br#"{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":"#.to_vec();
    body.extend_from_slice(schema);
    body.extend_from_slice(b"}}]}");
    body
}

fn build_both(body: &[u8]) -> Result<(), TestCaseError> {
    let bound = request_bound(body.len());
    for result in [
        anthropic::build_request(body, "claude-x"),
        gemini::build_request(body, "gemini-x"),
    ] {
        match result {
            Ok(req) => prop_assert!(req.body.len() <= bound),
            Err(e) => prop_assert_eq!(e.status(), 400),
        }
    }
    let _ = gemini::path(&String::from_utf8_lossy(body), true);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn sse_parser_arbitrary_bytes(
        input in prop::collection::vec(any::<u8>(), 0..2048),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
        limit in prop::sample::select(vec![16usize, 256, 1 << 20]),
    ) {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        cuts.sort_unstable();
        let mut p = SseParser::with_limit(limit);
        let mut data_bytes = 0usize;
        let mut prev = 0;
        for cut in cuts.into_iter().chain(std::iter::once(input.len())) {
            let _ = p.feed::<SseError, _>(&input[prev..cut], |ev| {
                data_bytes += ev.data.len();
                Ok(())
            });
            prop_assert!(p.buffered() <= limit);
            prev = cut;
        }
        let _ = p.finish::<SseError, _>(|ev| {
            data_bytes += ev.data.len();
            Ok(())
        });
        // Data lines are joined by one `\n` each: never more than the input.
        prop_assert!(data_bytes <= input.len());
    }

    #[test]
    fn translators_arbitrary_bytes(
        input in prop::collection::vec(any::<u8>(), 0..2048),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        all_translators(&input, &cuts)?;
    }

    #[test]
    fn translators_mutated_fixtures(
        pick in any::<usize>(),
        edits in prop::collection::vec(mutation(), 0..8),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let streams = fixture_streams();
        if let Some(stream) = streams.get(pick % streams.len().max(1)) {
            let input = mutate(stream.clone(), &edits);
            all_translators(&input, &cuts)?;
        }
    }

    #[test]
    fn request_builders_arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..1024)) {
        build_both(&body)?;
    }

    #[test]
    fn request_builders_json_ish(body in json_ish(), schema in json_ish()) {
        build_both(&body)?;
        build_both(&with_schema(&schema))?;
    }

    #[test]
    fn non_stream_translators_arbitrary_bytes(
        body in prop::collection::vec(any::<u8>(), 0..1024),
        status in prop::sample::select(vec![200u16, 400, 429, 500, 529]),
    ) {
        let ctx = common::ctx(false);
        let results = [
            anthropic::translate_response(&body, &ctx),
            gemini::translate_response(&body, &ctx),
        ];
        for (out, _) in results.into_iter().flatten() {
            prop_assert!(out.len() <= stream_bound(body.len()));
        }
        let _ = anthropic::translate_error(status, &body);
        let _ = gemini::translate_error(status, &body);
        let _ = sluice_translate::openai::scan_usage(&body);
    }
}
