//! Request building: the client's OpenAI body to an Anthropic or Gemini body, once per
//! request. Two bodies (see `common/bodies.rs`): a small chat turn and a larger one with
//! tools, a multi-part user message and a tool round trip. Throughput is in input bytes.
//!
//! Wall-clock numbers on a shared machine are noisy; `examples/build_request_calls.rs`
//! counts instructions per call under callgrind, which is repeatable.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

mod common;
use common::bodies::{LARGE, SMALL};

fn bench(c: &mut Criterion) {
    for (name, body) in [("small", SMALL), ("large", LARGE)] {
        let mut group = c.benchmark_group(format!("build_request/{name}"));
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function("anthropic", |b| {
            b.iter(|| {
                sluice_translate::anthropic::build_request(
                    black_box(body.as_bytes()),
                    black_box("bench-model"),
                )
            })
        });
        group.bench_function("gemini", |b| {
            b.iter(|| {
                sluice_translate::gemini::build_request(
                    black_box(body.as_bytes()),
                    black_box("bench-model"),
                )
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
