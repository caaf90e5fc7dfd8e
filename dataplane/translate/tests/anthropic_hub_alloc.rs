//! Counting-allocator test for the Anthropic encoder: Anthropic → hub → Anthropic, a long
//! text stream costs no heap allocation per event in steady state when the caller's output
//! buffer has capacity.
//!
//! Its own test binary because it installs a `#[global_allocator]`; the `unsafe` below is
//! confined to that allocator (the library itself forbids unsafe code).
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

const DELTAS: usize = 5_000;
const WARM_UP: usize = 100;

fn events() -> Vec<Bytes> {
    let mut ev = vec![
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n".to_owned(),
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n".to_owned(),
    ];
    for i in 0..DELTAS {
        if i == DELTAS / 2 {
            ev.push("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n".into());
            ev.push("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n".into());
        }
        if i < DELTAS / 2 {
            ev.push(format!(
                "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"thinking_delta\",\"thinking\":\"step {i}\"}}}}\n\n"
            ));
        } else {
            ev.push(format!(
                "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{{\"type\":\"text_delta\",\"text\":\"token {i} with \\\"quotes\\\" and \\n\"}}}}     \n\n"
            ));
        }
    }
    ev.push(
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n".into(),
    );
    ev.push("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":5000}}\n\n".into());
    ev.push("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".into());
    ev.into_iter().map(Bytes::from).collect()
}

#[test]
fn anthropic_to_anthropic_steady_state_allocates_nothing() {
    let ctx = ResponseContext {
        model: "m".into(),
        include_usage: false,
        created: 1,
        id: "msg_alloc".into(),
        json_array: false,
    };
    let mut t = hub::translator(Protocol::Anthropic, Protocol::Anthropic, true, ctx);
    let mut out = BytesMut::with_capacity(64 * 1024);
    let mut deltas = 0u64;
    let mut before = 0;
    for (i, ev) in events().into_iter().enumerate() {
        if i == WARM_UP {
            before = allocs();
        }
        t.feed(ev, &mut out).unwrap();
        if i >= WARM_UP {
            deltas += out
                .windows(26)
                .filter(|w| w == b"event: content_block_delta")
                .count() as u64;
        }
        out.clear();
    }
    let during = allocs() - before;
    t.finish(&mut out).unwrap();
    println!("anthropic → anthropic: {during} allocations for {deltas} deltas");
    assert!(deltas >= (DELTAS - WARM_UP) as u64, "{deltas}");
    assert_eq!(during, 0, "no allocation at all when `out` has capacity");
}
