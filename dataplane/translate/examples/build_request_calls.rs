//! Call a request builder N times, for instruction counting under callgrind.
//!
//! `cargo build --release -p sluice-translate --example build_request_calls`, then
//! `valgrind --tool=callgrind target/release/examples/build_request_calls anthropic small 1000`
//! and the same with `0` calls: the difference in total instructions divided by the calls
//! is the cost of one call, start-up and process teardown cancelled out. Instruction
//! counts are repeatable where wall-clock timings on a shared machine are not.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

use std::hint::black_box;
use std::process::ExitCode;

#[path = "../benches/common/bodies.rs"]
mod bodies;
use bodies::{LARGE, SMALL};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(builder), Some(body), Some(calls)) = (args.first(), args.get(1), args.get(2)) else {
        eprintln!("usage: build_request_calls anthropic|gemini small|large CALLS");
        return ExitCode::from(2);
    };
    let build = match builder.as_str() {
        "anthropic" => sluice_translate::anthropic::build_request,
        "gemini" => sluice_translate::gemini::build_request,
        other => {
            eprintln!("unknown builder {other}");
            return ExitCode::from(2);
        }
    };
    let body = match body.as_str() {
        "small" => SMALL,
        "large" => LARGE,
        other => {
            eprintln!("unknown body {other}");
            return ExitCode::from(2);
        }
    };
    let Ok(calls) = calls.parse::<u64>() else {
        eprintln!("CALLS must be a number");
        return ExitCode::from(2);
    };
    let mut bytes = 0;
    for _ in 0..calls {
        match build(black_box(body.as_bytes()), black_box("bench-model")) {
            Ok(req) => bytes += req.body.len(),
            Err(e) => {
                eprintln!("build_request failed: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    black_box(bytes);
    ExitCode::SUCCESS
}
