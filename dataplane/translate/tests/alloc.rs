//! Counting-allocator test: in steady state, translating a long text stream needs no heap
//! allocation per emitted chunk when the caller's output buffer has capacity.
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

use bytes::{Bytes, BytesMut};
use sluice_translate::anthropic::AnthropicStreamTranslator;
use sluice_translate::gemini::GeminiStreamTranslator;
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

fn ctx() -> ResponseContext {
    ResponseContext {
        model: "m".into(),
        include_usage: true,
        created: 1,
        id: "chatcmpl-alloc".into(),
        json_array: false,
    }
}

const DELTAS: usize = 5_000;
const WARM_UP: usize = 100;

fn anthropic_events() -> Vec<Bytes> {
    let mut ev = vec![
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n".to_owned(),
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n".to_owned(),
    ];
    for i in 0..DELTAS {
        ev.push(format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"token {i} with \\\"quotes\\\" and \\n\"}}}}     \n\n"
        ));
    }
    ev.push(
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n".into(),
    );
    ev.push("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":5000}}\n\n".into());
    ev.push("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".into());
    ev.into_iter().map(Bytes::from).collect()
}

fn gemini_events() -> Vec<Bytes> {
    let mut ev = Vec::new();
    for i in 0..DELTAS {
        ev.push(format!(
            "data: {{\"candidates\": [{{\"content\": {{\"parts\": [{{\"text\": \"token {i} with \\\"quotes\\\"\"}}],\"role\": \"model\"}},\"index\": 0}}],\"usageMetadata\": {{\"promptTokenCount\": 15,\"candidatesTokenCount\": {i},\"totalTokenCount\": 99,\"promptTokensDetails\": [{{\"modality\": \"TEXT\",\"tokenCount\": 15}}]}},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"abc\"}}\r\n\r\n"
        ));
    }
    ev.push("data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}]}\r\n\r\n".into());
    ev.into_iter().map(Bytes::from).collect()
}

/// Feed every event as one network chunk, resetting `out` after each like a caller that
/// writes it to the socket; returns (allocations, chunks emitted) after warm-up.
fn measure<T: StreamTranslator>(mut t: T, events: Vec<Bytes>) -> (u64, u64) {
    let mut out = BytesMut::with_capacity(64 * 1024);
    let mut chunks = 0u64;
    let mut before = 0;
    for (i, ev) in events.into_iter().enumerate() {
        if i == WARM_UP {
            before = allocs();
        }
        t.feed(ev, &mut out).unwrap();
        if i >= WARM_UP {
            chunks += out.windows(6).filter(|w| w == b"data: ").count() as u64;
        }
        out.clear();
    }
    let during = allocs() - before;
    t.finish(&mut out).unwrap();
    (during, chunks)
}

#[test]
fn steady_state_allocations_per_chunk() {
    for (name, (allocs, chunks)) in [
        (
            "anthropic",
            measure(AnthropicStreamTranslator::new(ctx()), anthropic_events()),
        ),
        (
            "gemini",
            measure(GeminiStreamTranslator::new(ctx()), gemini_events()),
        ),
    ] {
        println!("{name}: {allocs} allocations for {chunks} emitted chunks");
        assert!(chunks >= (DELTAS - WARM_UP) as u64, "{name}: {chunks}");
        assert!(allocs <= chunks, "{name}: at most one allocation per chunk");
        assert_eq!(
            allocs, 0,
            "{name}: no allocation at all when `out` has capacity"
        );
    }
}
