//! Counting-allocator test for the hub: for every (upstream protocol, client protocol)
//! pair, once warmed up, translating further text-delta chunks allocates nothing (the
//! caller's output buffer has capacity). Decoders are also measured alone (the
//! same-protocol passthrough observer). Pairs whose adapters are still placeholders are
//! reported SKIPPED.
//!
//! One exception, by protocol: an OpenAI Responses client is sent the whole text again
//! at the end (`response.output_text.done`, `response.output_item.done`,
//! `response.completed`), so its encoder keeps the text and that buffer grows by
//! doubling — a logarithmic number of allocations for the whole answer, never one per
//! chunk; those pairs may allocate at most [`KEPT_TEXT_GROWTH`] times.
//!
//! This file is its own test binary because it installs a `#[global_allocator]`; the
//! `unsafe` below is confined to that allocator (the library itself forbids unsafe code).
#![allow(unsafe_code)] // the counting global allocator below
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write as _;

use bytes::{Bytes, BytesMut};
use sluice_translate::hub::{self, Protocol};
use sluice_translate::{ResponseContext, StreamTranslator};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method forwards to `System` unchanged; counting touches only a
// const-initialised thread-local `Cell` and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

fn loud(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn ctx() -> ResponseContext {
    ResponseContext {
        model: "m".into(),
        include_usage: true,
        created: 1,
        id: "chatcmpl-alloc".into(),
        json_array: false,
    }
}

const DELTAS: usize = 2_000;
/// Allocations allowed for a client protocol that keeps the answer's text (doublings of
/// a buffer that ends near 100 KB: about log₂(100 KB / 8 B) ≈ 14).
const KEPT_TEXT_GROWTH: u64 = 16;
const WARM_UP: usize = 100;

/// A streamed text answer of `upstream`: opening events, [`DELTAS`] text deltas (with
/// escapes), closing events; one network chunk per event.
fn stream(upstream: Protocol) -> Vec<Bytes> {
    let mut ev: Vec<String> = Vec::new();
    match upstream {
        Protocol::OpenAi | Protocol::Echo => {
            let head = r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-x","system_fingerprint":"fp_1","choices":["#;
            ev.push(format!(r#"{head}{{"index":0,"delta":{{"role":"assistant","content":""}},"logprobs":null,"finish_reason":null}}]}}"#));
            for i in 0..DELTAS {
                ev.push(format!(r#"{head}{{"index":0,"delta":{{"content":"token {i} with \"quotes\" and \n"}},"logprobs":null,"finish_reason":null}}]}}"#));
            }
            ev.push(format!(
                r#"{head}{{"index":0,"delta":{{}},"logprobs":null,"finish_reason":"stop"}}]}}"#
            ));
            ev.push(format!(r#"{head}],"usage":{{"prompt_tokens":10,"completion_tokens":2000,"total_tokens":2010}}}}"#));
            ev.push("data: [DONE]".into());
        }
        Protocol::Anthropic => {
            ev.push(r#"event: message_start
data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[],"usage":{"input_tokens":10,"output_tokens":1}}}"#.into());
            ev.push(
                r#"event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#
                    .into(),
            );
            for i in 0..DELTAS {
                ev.push(format!("event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"token {i} with \\\"quotes\\\" and \\n\"}}}}     "));
            }
            ev.push(
                "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}"
                    .into(),
            );
            ev.push("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2000}}".into());
            ev.push("event: message_stop\ndata: {\"type\":\"message_stop\"}".into());
        }
        Protocol::Gemini => {
            for i in 0..DELTAS {
                ev.push(format!("data: {{\"candidates\": [{{\"content\": {{\"parts\": [{{\"text\": \"token {i} with \\\"quotes\\\"\"}}],\"role\": \"model\"}},\"index\": 0}}],\"usageMetadata\": {{\"promptTokenCount\": 15,\"candidatesTokenCount\": {i},\"totalTokenCount\": 99}},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"abc\"}}\r"));
            }
            ev.push("data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 15,\"candidatesTokenCount\": 2000,\"totalTokenCount\": 2015}}\r".into());
        }
        Protocol::OpenAiResponses => {
            ev.push(r#"event: response.created
data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","created_at":1,"status":"in_progress","model":"gpt-x","output":[],"usage":null}}"#.into());
            ev.push(r#"event: response.output_item.added
data: {"type":"response.output_item.added","sequence_number":1,"output_index":0,"item":{"id":"msg_1","type":"message","status":"in_progress","content":[],"role":"assistant"}}"#.into());
            ev.push(r#"event: response.content_part.added
data: {"type":"response.content_part.added","sequence_number":2,"item_id":"msg_1","output_index":0,"content_index":0,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":""}}"#.into());
            for i in 0..DELTAS {
                ev.push(format!("event: response.output_text.delta\ndata: {{\"type\":\"response.output_text.delta\",\"sequence_number\":{},\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"token {i} with \\\"quotes\\\" and \\n\",\"logprobs\":[]}}", i + 3));
            }
            ev.push(r#"event: response.output_text.done
data: {"type":"response.output_text.done","sequence_number":9000,"item_id":"msg_1","output_index":0,"content_index":0,"text":"…","logprobs":[]}"#.into());
            ev.push(r#"event: response.output_item.done
data: {"type":"response.output_item.done","sequence_number":9001,"output_index":0,"item":{"id":"msg_1","type":"message","status":"completed","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"…"}],"role":"assistant"}}"#.into());
            ev.push(r#"event: response.completed
data: {"type":"response.completed","sequence_number":9002,"response":{"id":"resp_1","object":"response","created_at":1,"status":"completed","model":"gpt-x","output":[{"id":"msg_1","type":"message","status":"completed","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"…"}],"role":"assistant"}],"usage":{"input_tokens":10,"input_tokens_details":{"cached_tokens":0},"output_tokens":2000,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":2010}}}"#.into());
        }
    }
    ev.into_iter()
        .map(|mut e| {
            e.push_str(if upstream == Protocol::Gemini {
                "\n\r\n"
            } else {
                "\n\n"
            });
            Bytes::from(e)
        })
        .collect()
}

const PROTOCOLS: [Protocol; 4] = [
    Protocol::OpenAi,
    Protocol::Anthropic,
    Protocol::Gemini,
    Protocol::OpenAiResponses,
];

enum Measured {
    /// (allocations after warm-up, text-delta chunks fed after warm-up)
    Done(u64, u64),
    Skipped(&'static str),
}

fn is_pending(e: &sluice_translate::UpstreamError) -> bool {
    e.status == 501 && e.message == "not implemented"
}

/// Feeds every event as one network chunk, clearing `out` after each like a caller that
/// writes it to the socket; counts allocations from the warm-up on.
fn measure_translator(upstream: Protocol, client: Protocol) -> Measured {
    let events = stream(upstream);
    let mut t = hub::translator(upstream, client, true, ctx());
    let mut out = BytesMut::with_capacity(64 * 1024);
    let mut before = 0;
    let mut wrote = false;
    let last_delta = events.len() - 3;
    let mut fed = 0;
    for (i, ev) in events.iter().enumerate() {
        if i == WARM_UP {
            if !wrote {
                return Measured::Skipped("client encoder not written yet");
            }
            before = allocs();
        }
        if let Err(e) = t.feed(ev.clone(), &mut out) {
            if is_pending(&e) {
                return Measured::Skipped("upstream decoder not written yet");
            }
            panic!("{upstream:?} → {client:?}: {e:?}");
        }
        wrote |= !out.is_empty();
        out.clear();
        if i >= WARM_UP && i < last_delta {
            fed += 1;
        }
        if i + 1 == last_delta {
            break;
        }
    }
    let during = allocs() - before;
    // The rest of the answer, outside the measurement.
    for ev in events.iter().skip(last_delta) {
        t.feed(ev.clone(), &mut out).unwrap();
    }
    t.finish(&mut out).unwrap();
    Measured::Done(during, fed)
}

fn measure_observer(upstream: Protocol) -> Measured {
    let events = stream(upstream);
    let mut o = hub::observer(upstream, true);
    let last_delta = events.len() - 3;
    let mut before = 0;
    let mut fed = 0;
    for (i, ev) in events.iter().enumerate().take(last_delta) {
        if i == WARM_UP {
            before = allocs();
        }
        if let Err(e) = o.observe(ev) {
            if is_pending(&e) {
                return Measured::Skipped("decoder not written yet");
            }
            panic!("{upstream:?} observer: {e:?}");
        }
        if i >= WARM_UP {
            fed += 1;
        }
    }
    let during = allocs() - before;
    for ev in events.iter().skip(last_delta) {
        o.observe(ev).unwrap();
    }
    o.finish().unwrap();
    Measured::Done(during, fed)
}

#[test]
fn no_allocation_per_text_chunk_in_steady_state() {
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut report = |label: String, keeps_text: bool, m: Measured| match m {
        Measured::Done(n, fed) => {
            checked += 1;
            let allowed = if keeps_text { KEPT_TEXT_GROWTH } else { 0 };
            loud(&format!(
                "{label}: {n} allocations for {fed} text chunks (allowed {allowed})"
            ));
            assert!(fed >= (DELTAS - WARM_UP - 3) as u64, "{label}: fed {fed}");
            if n > allowed {
                failures.push(format!("{label}: {n} allocations for {fed} chunks"));
            }
        }
        Measured::Skipped(why) => loud(&format!("SKIPPED {label}: {why}")),
    };
    for upstream in PROTOCOLS {
        report(
            format!("{upstream:?} decoder alone"),
            false,
            measure_observer(upstream),
        );
        for client in PROTOCOLS {
            report(
                format!("{upstream:?} → {client:?}"),
                client == Protocol::OpenAiResponses,
                measure_translator(upstream, client),
            );
        }
    }
    loud(&format!(
        "hub alloc: {checked} measured, {} over their allowance",
        failures.len()
    ));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
