//! Counting-allocator test for the hub's Gemini adapters: in steady state, Gemini answers
//! decoded into hub events and encoded for a Gemini client need no heap allocation per
//! chunk when the caller's output buffer has capacity (text, thinking and tool calls).
//!
//! Its own test binary because it installs a `#[global_allocator]`.
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

fn ctx(json_array: bool) -> ResponseContext {
    ResponseContext {
        model: "client-model".into(),
        include_usage: true,
        created: 1,
        id: "chatcmpl-x".into(),
        json_array,
    }
}

/// Events before counting starts: past the first tool call, whose buffers are made once.
const WARM_UP: usize = 40;
const EVENTS: usize = 1000;

/// A long streamed answer: thinking, then text, then (every tenth event) a tool call.
fn events() -> Vec<Bytes> {
    let mut ev = Vec::new();
    for i in 0..EVENTS {
        let part = if i < 20 {
            format!("{{\"text\": \"thought {i}\",\"thought\": true}}")
        } else if i % 10 == 0 {
            format!("{{\"functionCall\": {{\"name\": \"f{i:04}\",\"args\": {{\"n\": {}, \"s\": \"a \\\"b\\\"\"}}}},\"thoughtSignature\": \"c2ln{i:04}\"}}", i + 1000)
        } else {
            format!("{{\"text\": \"token {i:04} with \\\"quotes\\\"\"}}")
        };
        ev.push(format!(
            "data: {{\"candidates\": [{{\"content\": {{\"parts\": [{part}],\"role\": \"model\"}},\"index\": 0}}],\"usageMetadata\": {{\"promptTokenCount\": 15,\"candidatesTokenCount\": {i},\"thoughtsTokenCount\": 20,\"totalTokenCount\": 99,\"promptTokensDetails\": [{{\"modality\": \"TEXT\",\"tokenCount\": 15}}]}},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"abc\"}}\r\n\r\n"
        ));
    }
    ev.push("data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}]}\r\n\r\n".into());
    ev.into_iter().map(Bytes::from).collect()
}

#[test]
fn steady_state_allocations_per_chunk() {
    for (client, json_array) in [
        (Protocol::Gemini, false),
        (Protocol::Gemini, true),
        (Protocol::OpenAi, false),
    ] {
        let mut t = hub::translator(Protocol::Gemini, client, true, ctx(json_array));
        let mut out = BytesMut::with_capacity(64 * 1024);
        let mut before = 0;
        for (i, ev) in events().into_iter().enumerate() {
            if i == WARM_UP {
                before = allocs();
            }
            t.feed(ev, &mut out).unwrap();
            // (The last event only records the finish reason, written by `finish`.)
            assert!(
                i == EVENTS || !out.is_empty(),
                "{client:?} {json_array}: event {i} writes a chunk"
            );
            out.clear();
        }
        let during = allocs() - before;
        t.finish(&mut out).unwrap();
        println!("{client:?} (array: {json_array}): {during} allocations");
        // A reused buffer may still grow once (amortised doubling) while ~1000 chunks go
        // out; anything per chunk would be hundreds.
        assert!(
            during <= 2,
            "{client:?} (array: {json_array}): no allocation per chunk"
        );
    }
}
