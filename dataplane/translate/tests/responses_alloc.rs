//! Counting-allocator test for OpenAI Responses streams: decoding a long streamed answer
//! allocates nothing per event, and re-encoding it allocates only to grow the kept copy
//! of the text that the `*.done` events and the final object repeat (amortised, a few
//! times for the whole answer), never per event.
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

fn responses_events() -> Vec<Bytes> {
    let mut ev = vec![
        "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"in_progress\",\"model\":\"gpt-4.1\",\"output\":[]}}\n\n".to_owned(),
        "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":1,\"output_index\":0,\"item\":{\"id\":\"msg_1\",\"type\":\"message\",\"status\":\"in_progress\",\"content\":[],\"role\":\"assistant\"}}\n\n".to_owned(),
        "event: response.content_part.added\ndata: {\"type\":\"response.content_part.added\",\"sequence_number\":2,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"annotations\":[],\"text\":\"\"}}\n\n".to_owned(),
    ];
    for i in 0..DELTAS {
        ev.push(format!(
            "event: response.output_text.delta\ndata: {{\"type\":\"response.output_text.delta\",\"sequence_number\":{},\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"token {i} with \\\"quotes\\\" and \\n\",\"logprobs\":[],\"obfuscation\":\"abc\"}}\n\n",
            i + 3
        ));
    }
    ev.push("event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":9999,\"response\":{\"id\":\"resp_1\",\"status\":\"completed\",\"output\":[],\"usage\":{\"input_tokens\":5,\"output_tokens\":5000,\"total_tokens\":5005}}}\n\n".into());
    ev.into_iter().map(Bytes::from).collect()
}

/// Feed every event as one network chunk, resetting `out` after each like a caller that
/// writes it to the socket; returns (allocations, events emitted) after warm-up.
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
fn steady_state_allocations_per_event() {
    let p = Protocol::OpenAiResponses;
    let (n_allocs, chunks) = measure(
        hub::translator(p, Protocol::OpenAi, true, ctx()),
        responses_events(),
    );
    println!("responses → chat: {n_allocs} allocations for {chunks} emitted chunks");
    assert!(chunks >= (DELTAS - WARM_UP) as u64, "{chunks}");
    assert_eq!(n_allocs, 0, "decoding allocates nothing per event");

    let mut obs = hub::observer(p, true);
    let events = responses_events();
    for ev in &events[..WARM_UP] {
        obs.observe(ev).unwrap();
    }
    let before = allocs();
    for ev in &events[WARM_UP..events.len() - 1] {
        obs.observe(ev).unwrap();
    }
    assert_eq!(
        allocs() - before,
        0,
        "observing allocates nothing per event"
    );

    let (n_allocs, chunks) = measure(hub::translator(p, p, true, ctx()), responses_events());
    println!("responses → responses: {n_allocs} allocations for {chunks} emitted events");
    assert!(chunks >= (DELTAS - WARM_UP) as u64, "{chunks}");
    assert!(
        n_allocs <= 32,
        "only the kept text grows (amortised): {n_allocs}"
    );
}
