//! Stream translation throughput against a parsing floor.
//!
//! Streams are synthetic (built here from the shapes of the recorded fixtures, no files
//! needed), cut into 4 KiB network chunks. Throughput is in input bytes.
//!
//! - `anthropic/*`, `gemini/*` (today's names): the OpenAI-client translators, 2,000 text
//!   deltas plus a tool call in 200 argument fragments, next to the same frames' `data`
//!   payloads deserialised into `serde::de::IgnoredAny` — the floor: (a) payloads already
//!   split out, (b) including the same SSE framing pass.
//! - `hub/<upstream>_to_<client>/{text,tool}`: every (upstream protocol, client protocol)
//!   pair through `hub::translator`, on a long text answer (2,000 deltas) and a tool-call
//!   answer (200 argument fragments), next to `hub/<upstream>_floor/{text,tool}`: the SSE
//!   pass plus every event parsed into a `serde_json::Value`. Pairs whose adapters are
//!   not written yet are skipped (said on stderr).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, Criterion, Throughput};
use serde::de::IgnoredAny;
#[path = "common/streams.rs"]
mod streams;

use serde_json::Value;
use sluice_translate::anthropic::AnthropicStreamTranslator;
use sluice_translate::gemini::GeminiStreamTranslator;
use sluice_translate::hub::{self, Protocol};
use sluice_translate::sse::{SseError, SseParser};
use sluice_translate::{ResponseContext, StreamTranslator};

const TEXT_DELTAS: usize = 2_000;
const ARG_FRAGMENTS: usize = 200;
const CHUNK: usize = 4096;

fn ctx() -> ResponseContext {
    ResponseContext {
        model: "bench-model".into(),
        include_usage: true,
        created: 1_700_000_000,
        id: "chatcmpl-bench".into(),
        json_array: false,
    }
}

fn anthropic_stream() -> Vec<u8> {
    let mut s = String::new();
    s.push_str("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-haiku-4-5-20251001\",\"id\":\"msg_01T8kTq7cYyYJeQ5DxcVUc6D\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":10,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"cache_creation\":{\"ephemeral_5m_input_tokens\":0,\"ephemeral_1h_input_tokens\":0},\"output_tokens\":2,\"service_tier\":\"standard\"}}   }\n\n");
    s.push_str("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}     }\n\n");
    for i in 0..TEXT_DELTAS {
        if i % 50 == 0 {
            s.push_str("event: ping\ndata: {\"type\": \"ping\"}\n\n");
        }
        s.push_str(&format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\" word{i} and a \\\"quoted\\\" bit,\\n then more text\"}}}}      \n\n"
        ));
    }
    s.push_str(
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    );
    s.push_str("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_01KFbKqPYSuAKujiL6mTfzYA\",\"name\":\"json\",\"input\":{}}}\n\n");
    for i in 0..ARG_FRAGMENTS {
        s.push_str(&format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{{\"type\":\"input_json_delta\",\"partial_json\":\"{{\\\"k{i}\\\": \\\"San Francisco\\\", \"}}}}\n\n"
        ));
    }
    s.push_str(
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
    );
    s.push_str("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":4000}}\n\n");
    s.push_str("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    s.into_bytes()
}

fn gemini_stream() -> Vec<u8> {
    let mut s = String::new();
    for i in 0..TEXT_DELTAS {
        s.push_str(&format!(
            "data: {{\"candidates\": [{{\"content\": {{\"parts\": [{{\"text\": \" word{i} and a \\\"quoted\\\" bit,\\n then more text\"}}],\"role\": \"model\"}},\"index\": 0}}],\"usageMetadata\": {{\"promptTokenCount\": 15,\"candidatesTokenCount\": {i},\"totalTokenCount\": {},\"promptTokensDetails\": [{{\"modality\": \"TEXT\",\"tokenCount\": 15}}]}},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"w1peaMz6INOvnvgPgYfPiQY\"}}\r\n\r\n",
            15 + i
        ));
    }
    for i in 0..ARG_FRAGMENTS / 20 {
        s.push_str(&format!(
            "data: {{\"candidates\":[{{\"content\":{{\"parts\":[{{\"functionCall\":{{\"name\":\"weather\",\"args\":{{\"location\":\"San Francisco {i}\",\"days\":[1,2,3]}}}},\"thoughtSignature\":\"EqUCCqICAb4+9vsh8Pd5taZVoPzSvjWWwzBrvhEQWBLCGa7IdY8FBMm7Z6dCKFU3Ft0la15gF7RaHe1NlPRygQ\"}}],\"role\":\"model\"}},\"index\":0}}],\"usageMetadata\":{{\"promptTokenCount\":29,\"candidatesTokenCount\":15,\"totalTokenCount\":89,\"thoughtsTokenCount\":45}},\"modelVersion\":\"gemini-3-pro-preview\",\"responseId\":\"b36LacjwM668nsEP2tbsgQQ\"}}\r\n\r\n"
        ));
    }
    s.push_str("data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 15,\"candidatesTokenCount\": 2000,\"totalTokenCount\": 2015}}\r\n\r\n");
    s.into_bytes()
}

fn chunks(stream: &[u8]) -> Vec<Bytes> {
    let all = Bytes::copy_from_slice(stream);
    (0..stream.len())
        .step_by(CHUNK)
        .map(|i| all.slice(i..(i + CHUNK).min(stream.len())))
        .collect()
}

fn payloads(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut p = SseParser::new();
    let mut out = Vec::new();
    p.feed::<SseError, _>(stream, |e| {
        out.push(e.data.to_vec());
        Ok(())
    })
    .unwrap();
    out
}

fn translate<T: StreamTranslator>(mut t: T, chunks: &[Bytes], out: &mut BytesMut) -> usize {
    let mut n = 0;
    for c in chunks {
        t.feed(c.clone(), out).unwrap();
        n += out.len();
        out.clear();
    }
    t.finish(out).unwrap();
    n += out.len();
    out.clear();
    n
}

fn floor_framed(chunks: &[Bytes]) -> usize {
    let mut p = SseParser::new();
    let mut n = 0;
    for c in chunks {
        p.feed::<SseError, _>(c, |e| {
            let _: IgnoredAny = serde_json::from_slice(e.data).unwrap();
            n += 1;
            Ok(())
        })
        .unwrap();
    }
    n
}

fn floor_payloads(payloads: &[Vec<u8>]) -> usize {
    for p in payloads {
        let _: IgnoredAny = serde_json::from_slice(p).unwrap();
    }
    payloads.len()
}

fn bench(c: &mut Criterion) {
    for (name, stream) in [
        ("anthropic", anthropic_stream()),
        ("gemini", gemini_stream()),
    ] {
        let chunks = chunks(&stream);
        let payloads = payloads(&stream);
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Bytes(stream.len() as u64));
        let mut out = BytesMut::with_capacity(64 * 1024);
        group.bench_function("floor_ignored_any_payloads", |b| {
            b.iter(|| floor_payloads(black_box(&payloads)))
        });
        group.bench_function("floor_sse_plus_ignored_any", |b| {
            b.iter(|| floor_framed(black_box(&chunks)))
        });
        group.bench_function("translate", |b| {
            b.iter(|| match name {
                "anthropic" => translate(
                    AnthropicStreamTranslator::new(ctx()),
                    black_box(&chunks),
                    &mut out,
                ),
                _ => translate(
                    GeminiStreamTranslator::new(ctx()),
                    black_box(&chunks),
                    &mut out,
                ),
            })
        });
        group.finish();
    }
}

/// Interleaved measurement: alternate floor and translation runs and keep each one's best
/// time, so a busy machine skews both sides alike. Prints MB/s and the ratio.
fn interleaved_report() {
    use std::time::{Duration, Instant};
    println!("\ninterleaved best-of-200 (input MB/s = 1e6 bytes/s):");
    println!(
        "{:<10} {:>16} {:>16} {:>12} {:>10} {:>10}",
        "stream", "floor payloads", "floor SSE+parse", "translate", "ratio(a)", "ratio(b)"
    );
    for (name, stream) in [
        ("anthropic", anthropic_stream()),
        ("gemini", gemini_stream()),
    ] {
        let chunks = chunks(&stream);
        let payloads = payloads(&stream);
        let mut out = BytesMut::with_capacity(64 * 1024);
        let (mut fa, mut fb, mut tr) = (Duration::MAX, Duration::MAX, Duration::MAX);
        for _ in 0..200 {
            let t = Instant::now();
            black_box(floor_payloads(black_box(&payloads)));
            fa = fa.min(t.elapsed());
            let t = Instant::now();
            black_box(floor_framed(black_box(&chunks)));
            fb = fb.min(t.elapsed());
            let t = Instant::now();
            black_box(match name {
                "anthropic" => translate(
                    AnthropicStreamTranslator::new(ctx()),
                    black_box(&chunks),
                    &mut out,
                ),
                _ => translate(
                    GeminiStreamTranslator::new(ctx()),
                    black_box(&chunks),
                    &mut out,
                ),
            });
            tr = tr.min(t.elapsed());
        }
        let mbs = |d: Duration| stream.len() as f64 / d.as_secs_f64() / 1e6;
        println!(
            "{name:<10} {:>16.0} {:>16.0} {:>12.0} {:>9.0}% {:>9.0}%",
            mbs(fa),
            mbs(fb),
            mbs(tr),
            100.0 * mbs(tr) / mbs(fa),
            100.0 * mbs(tr) / mbs(fb)
        );
    }
}

// ---------- the hub matrix ----------

const PROTOCOLS: [Protocol; 4] = [
    Protocol::OpenAi,
    Protocol::Anthropic,
    Protocol::Gemini,
    Protocol::OpenAiResponses,
];

fn short(p: Protocol) -> &'static str {
    match p {
        Protocol::OpenAi | Protocol::Echo => "openai",
        Protocol::Anthropic => "anthropic",
        Protocol::Gemini => "gemini",
        Protocol::OpenAiResponses => "responses",
    }
}

/// The floor: the SSE pass plus every event parsed into a `serde_json::Value`.
fn floor_value(chunks: &[Bytes]) -> usize {
    let mut p = SseParser::new();
    let mut n = 0;
    for c in chunks {
        p.feed::<SseError, _>(c, |e| {
            if e.data != b"[DONE]" {
                let v: Value = serde_json::from_slice(e.data).unwrap();
                n += usize::from(!v.is_null());
            }
            Ok(())
        })
        .unwrap();
    }
    n
}

/// One answer through `hub::translator`; output bytes, or `None` when the pair fails (an
/// adapter still pending).
fn translate_hub(
    upstream: Protocol,
    client: Protocol,
    chunks: &[Bytes],
    out: &mut BytesMut,
) -> Option<usize> {
    let mut t = hub::translator(upstream, client, true, ctx());
    let mut n = 0;
    for c in chunks {
        t.feed(c.clone(), out).ok()?;
        n += out.len();
        out.clear();
    }
    t.finish(out).ok()?;
    n += out.len();
    out.clear();
    (n > 0).then_some(n)
}

/// One answer through the upstream's decoder alone (`hub::observer`, the same-protocol
/// passthrough watcher); `None` when the decoder is still pending.
fn observe_hub(upstream: Protocol, chunks: &[Bytes]) -> Option<usize> {
    let mut o = hub::observer(upstream, true);
    for c in chunks {
        o.observe(c).ok()?;
    }
    o.finish().ok()?;
    o.usage().map(|u| u.total_tokens as usize)
}

/// Every (upstream, client, kind) whose adapters exist, with its chunks.
fn hub_cases() -> Vec<(Protocol, Protocol, &'static str, Vec<u8>)> {
    let mut cases = Vec::new();
    let mut out = BytesMut::with_capacity(64 * 1024);
    for upstream in PROTOCOLS {
        for (kind, tool) in [("text", false), ("tool", true)] {
            let stream = streams::stream(upstream, tool);
            let chunks = chunks(&stream);
            for client in PROTOCOLS {
                if translate_hub(upstream, client, &chunks, &mut out).is_some() {
                    cases.push((upstream, client, kind, stream.clone()));
                } else {
                    eprintln!(
                        "hub bench: {} -> {} ({kind}) skipped: adapter not written yet",
                        short(upstream),
                        short(client)
                    );
                }
            }
        }
    }
    cases
}

fn bench_hub(c: &mut Criterion) {
    let mut out = BytesMut::with_capacity(64 * 1024);
    for upstream in PROTOCOLS {
        let mut group = c.benchmark_group(format!("hub/{}_floor", short(upstream)));
        for (kind, tool) in [("text", false), ("tool", true)] {
            let stream = streams::stream(upstream, tool);
            let chunks = chunks(&stream);
            group.throughput(Throughput::Bytes(stream.len() as u64));
            group.bench_function(kind, |b| b.iter(|| floor_value(black_box(&chunks))));
        }
        group.finish();
    }
    for upstream in PROTOCOLS {
        let mut group = c.benchmark_group(format!("hub/{}_decode", short(upstream)));
        for (kind, tool) in [("text", false), ("tool", true)] {
            let stream = streams::stream(upstream, tool);
            let chunks = chunks(&stream);
            if observe_hub(upstream, &chunks).is_none() {
                continue;
            }
            group.throughput(Throughput::Bytes(stream.len() as u64));
            group.bench_function(kind, |b| {
                b.iter(|| observe_hub(upstream, black_box(&chunks)))
            });
        }
        group.finish();
    }
    for (upstream, client, kind, stream) in hub_cases() {
        let chunks = chunks(&stream);
        let mut group = c.benchmark_group(format!("hub/{}_to_{}", short(upstream), short(client)));
        group.throughput(Throughput::Bytes(stream.len() as u64));
        group.bench_function(kind, |b| {
            b.iter(|| translate_hub(upstream, client, black_box(&chunks), &mut out))
        });
        group.finish();
    }
}

/// The SSE pass plus every event deserialised into `IgnoredAny` (`[DONE]` skipped): the
/// stricter floor, validation without building anything.
fn floor_framed_any(chunks: &[Bytes]) -> usize {
    let mut p = SseParser::new();
    let mut n = 0;
    for c in chunks {
        p.feed::<SseError, _>(c, |e| {
            if e.data != b"[DONE]" {
                let _: IgnoredAny = serde_json::from_slice(e.data).unwrap();
                n += 1;
            }
            Ok(())
        })
        .unwrap();
    }
    n
}

/// Best times of the `Value` floor, the `IgnoredAny` floor and `work`, interleaved.
fn best_of(runs: usize, chunks: &[Bytes], mut work: impl FnMut()) -> [std::time::Duration; 3] {
    use std::time::{Duration, Instant};
    let mut best = [Duration::MAX; 3];
    for _ in 0..runs {
        let t = Instant::now();
        black_box(floor_value(black_box(chunks)));
        best[0] = best[0].min(t.elapsed());
        let t = Instant::now();
        black_box(floor_framed_any(black_box(chunks)));
        best[1] = best[1].min(t.elapsed());
        let t = Instant::now();
        work();
        best[2] = best[2].min(t.elapsed());
    }
    best
}

fn report_row(label: &str, kind: &str, len: usize, [fl, ig, tr]: [std::time::Duration; 3]) {
    let mbs = |d: std::time::Duration| len as f64 / d.as_secs_f64() / 1e6;
    println!(
        "{label:<30} {kind:>6} {:>8.0} {:>8.0} {:>10.0} {:>7.0}% {:>9.0}%",
        mbs(fl),
        mbs(ig),
        mbs(tr),
        100.0 * mbs(tr) / mbs(fl),
        100.0 * mbs(tr) / mbs(ig)
    );
}

/// Interleaved best-of-N for the hub matrix: translation MB/s next to the `Value` floor
/// (the ratio asked for) and the stricter `IgnoredAny` floor.
fn hub_report(runs: usize) {
    println!(
        "\nhub matrix, interleaved best-of-{runs} (input MB/s = 1e6 bytes/s; floor = SSE + \
         serde_json::Value per event; ignored = SSE + IgnoredAny):"
    );
    println!(
        "{:<30} {:>6} {:>8} {:>8} {:>10} {:>8} {:>10}",
        "upstream -> client", "kind", "floor", "ignored", "translate", "ratio", "vs ignored"
    );
    let mut out = BytesMut::with_capacity(64 * 1024);
    for upstream in PROTOCOLS {
        for (kind, tool) in [("text", false), ("tool", true)] {
            let stream = streams::stream(upstream, tool);
            let chunks = chunks(&stream);
            if observe_hub(upstream, &chunks).is_none() {
                continue;
            }
            let best = best_of(runs, &chunks, || {
                black_box(observe_hub(upstream, black_box(&chunks)));
            });
            let label = format!("{} -> (decoder only)", short(upstream));
            report_row(&label, kind, stream.len(), best);
        }
    }
    for (upstream, client, kind, stream) in hub_cases() {
        let chunks = chunks(&stream);
        let best = best_of(runs, &chunks, || {
            black_box(translate_hub(
                upstream,
                client,
                black_box(&chunks),
                &mut out,
            ));
        });
        let label = format!("{} -> {}", short(upstream), short(client));
        report_row(&label, kind, stream.len(), best);
    }
}

criterion_group!(benches, bench, bench_hub);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    interleaved_report();
    let runs = std::env::var("HUB_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(50);
    hub_report(runs);
}
