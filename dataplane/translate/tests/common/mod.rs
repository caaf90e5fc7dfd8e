//! Shared test support: locating the recorded fixtures, feeding streams in pieces and
//! assembling OpenAI SSE output the way the OpenAI SDK does.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use serde_json::Value;
use sluice_translate::{ResponseContext, StreamTranslator, UpstreamError};

/// The fixtures directory (`SLUICE_FIXTURES` or `<manifest>/../../../shared/fixtures`),
/// or `None` after printing a loud SKIPPED line.
pub fn fixtures() -> Option<PathBuf> {
    let dir = std::env::var_os("SLUICE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        });
    if dir.join("anthropic").is_dir() {
        Some(dir)
    } else {
        // Written to the stderr handle itself, not `eprintln!`, so libtest's output
        // capture cannot hide it.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: fixtures not found at {}",
            dir.display()
        );
        None
    }
}

/// Read one fixture file.
pub fn read(dir: &std::path::Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
}

/// Every file name in `<fixtures>/<provider>`.
pub fn list(dir: &std::path::Path, provider: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join(provider))
        .unwrap()
        .map(|e| format!("{provider}/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    names.sort();
    names
}

/// A fixed response context.
pub fn ctx(include_usage: bool) -> ResponseContext {
    ResponseContext {
        model: "client-model".into(),
        include_usage,
        created: 1_700_000_000,
        id: "chatcmpl-test123".into(),
        json_array: false,
    }
}

/// Feed `input` in the given pieces; returns output and the result of finish (or the first
/// feed error).
pub fn run_pieces<T: StreamTranslator>(
    mut t: T,
    input: &[u8],
    cuts: &[usize],
) -> (Vec<u8>, Result<(), UpstreamError>) {
    let mut out = BytesMut::new();
    let mut prev = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        let cut = cut.clamp(prev, input.len());
        if let Err(e) = t.feed(Bytes::copy_from_slice(&input[prev..cut]), &mut out) {
            return (out.to_vec(), Err(e));
        }
        prev = cut;
    }
    let r = t.finish(&mut out);
    (out.to_vec(), r)
}

/// What an OpenAI SDK would assemble from a stream.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Assembled {
    pub id: String,
    pub model: String,
    pub role: Option<String>,
    pub content: String,
    pub reasoning: String,
    /// index → (id, name, arguments)
    pub tool_calls: BTreeMap<u64, (String, String, String)>,
    pub finish_reason: Option<String>,
    pub usage: Option<Value>,
    pub done: bool,
    pub chunks: usize,
}

/// Parse OpenAI SSE output (`data: ...\n\n` events) and assemble choice `choice`.
pub fn assemble(output: &[u8], choice: u64) -> Assembled {
    let text = std::str::from_utf8(output).expect("output is UTF-8");
    assert!(
        text.is_empty() || text.ends_with("\n\n"),
        "output ends with a blank line"
    );
    let mut a = Assembled::default();
    for event in text.split("\n\n").filter(|e| !e.is_empty()) {
        let data = event
            .strip_prefix("data: ")
            .unwrap_or_else(|| panic!("bad event {event:?}"));
        assert!(!a.done, "event after [DONE]");
        if data == "[DONE]" {
            a.done = true;
            continue;
        }
        let v: Value =
            serde_json::from_str(data).unwrap_or_else(|e| panic!("bad JSON {data}: {e}"));
        a.chunks += 1;
        assert_eq!(v["object"], "chat.completion.chunk");
        assert!(v["created"].is_u64());
        a.id = v["id"].as_str().unwrap().to_owned();
        a.model = v["model"].as_str().unwrap().to_owned();
        if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
            assert_eq!(
                v["choices"],
                serde_json::json!([]),
                "usage chunk has empty choices"
            );
            a.usage = Some(u.clone());
        }
        for c in v["choices"].as_array().unwrap() {
            if c["index"].as_u64() != Some(choice) {
                continue;
            }
            let d = &c["delta"];
            if let Some(r) = d.get("role").and_then(Value::as_str) {
                assert!(a.role.is_none(), "role sent twice");
                assert!(
                    a.content.is_empty() && a.reasoning.is_empty() && a.tool_calls.is_empty(),
                    "role comes in the first chunk of the choice"
                );
                a.role = Some(r.to_owned());
            }
            if let Some(t) = d.get("content").and_then(Value::as_str) {
                a.content.push_str(t);
            }
            if let Some(t) = d.get("reasoning_content").and_then(Value::as_str) {
                a.reasoning.push_str(t);
            }
            if let Some(calls) = d.get("tool_calls").and_then(Value::as_array) {
                for call in calls {
                    let idx = call["index"].as_u64().unwrap();
                    let entry = a.tool_calls.entry(idx).or_default();
                    if let Some(id) = call.get("id").and_then(Value::as_str) {
                        entry.0 = id.to_owned();
                        assert_eq!(call["type"], "function");
                    }
                    if let Some(n) = call["function"].get("name").and_then(Value::as_str) {
                        entry.1 = n.to_owned();
                    }
                    if let Some(args) = call["function"].get("arguments").and_then(Value::as_str) {
                        entry.2.push_str(args);
                    }
                }
            }
            if let Some(f) = c.get("finish_reason").and_then(Value::as_str) {
                assert!(a.finish_reason.is_none(), "finish_reason sent twice");
                a.finish_reason = Some(f.to_owned());
            }
        }
    }
    a
}

/// Deterministic pseudo-random cut points.
pub fn random_cuts(len: usize, seed: u64, count: usize) -> Vec<usize> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut cuts: Vec<usize> = (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % (len as u64 + 1)) as usize
        })
        .collect();
    cuts.sort_unstable();
    cuts
}

/// Check that every two-piece split, byte-by-byte feeding and random splits all produce
/// exactly the one-chunk output; returns that output.
pub fn assert_split_invariant<T: StreamTranslator>(
    make: impl Fn() -> T,
    input: &[u8],
) -> (Vec<u8>, Result<(), UpstreamError>) {
    let whole = run_pieces(make(), input, &[]);
    for cut in 0..=input.len() {
        let split = run_pieces(make(), input, &[cut]);
        assert_eq!(split, whole, "split at byte {cut} differs");
    }
    let bytes: Vec<usize> = (1..input.len()).collect();
    assert_eq!(
        run_pieces(make(), input, &bytes),
        whole,
        "byte-by-byte differs"
    );
    for seed in 1..=20u64 {
        let cuts = random_cuts(input.len(), seed, 1 + (seed as usize % 12));
        assert_eq!(
            run_pieces(make(), input, &cuts),
            whole,
            "random split {cuts:?} differs"
        );
    }
    whole
}
