//! `stream`: streamed chat requests (SSE). Per stream: time to the first body byte, time
//! to the first complete event, and the gaps between consecutive complete events.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Args;
use http_body_util::BodyExt;
use serde_json::{json, Value};

use crate::client::{Slot, Target};
use crate::{chat_body, stats, Common};

/// Options of `stream`.
#[derive(Args)]
pub struct Opts {
    #[command(flatten)]
    pub common: Common,
    /// Measured streams.
    #[arg(long, default_value_t = 20)]
    streams: usize,
    /// Streams run at once (each on its own keep-alive connection).
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Unmeasured streams first (per worker).
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Wall-clock bound, seconds.
    #[arg(long, default_value_t = 120)]
    max_secs: u64,
}

/// Counts complete SSE events (blank-line terminated, LF or CRLF framing) in a byte stream.
#[derive(Default)]
pub struct EventCounter {
    tail: Vec<u8>,
}

impl EventCounter {
    /// Feeds bytes and returns how many events they completed.
    pub fn feed(&mut self, chunk: &[u8]) -> usize {
        self.tail.extend_from_slice(chunk);
        let mut n = 0;
        let mut consumed = 0;
        let mut i = 0;
        let b = &self.tail;
        while i + 1 < b.len() {
            if b[i] == b'\n' && b[i + 1] == b'\n' {
                n += 1;
                i += 2;
                consumed = i;
            } else if b[i] == b'\n' && b[i + 1] == b'\r' && i + 2 < b.len() && b[i + 2] == b'\n' {
                n += 1;
                i += 3;
                consumed = i;
            } else {
                i += 1;
            }
        }
        self.tail.drain(..consumed);
        n
    }
}

struct One {
    ttfb_us: u64,
    ttfe_us: u64,
    total_us: u64,
    events: usize,
    gaps: Vec<u64>,
}

async fn one(slot: &mut Slot, target: &Target, body: bytes::Bytes) -> Result<One> {
    let t0 = Instant::now();
    let conn = slot.get(target).await?;
    let resp = conn.send(target, body, true).await?;
    if !resp.status().is_success() {
        let status = resp.status();
        let b = resp.into_body().collect().await?.to_bytes();
        bail!(
            "status {status}: {}",
            String::from_utf8_lossy(&b[..b.len().min(300)])
        );
    }
    let mut body = resp.into_body();
    let mut counter = EventCounter::default();
    let (mut ttfb, mut ttfe, mut events) = (None, None, 0usize);
    let mut last_event: Option<Instant> = None;
    let mut gaps = Vec::with_capacity(80);
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        let now = Instant::now();
        if ttfb.is_none() && !data.is_empty() {
            ttfb = Some(now - t0);
        }
        let n = counter.feed(data);
        if n > 0 {
            if ttfe.is_none() {
                ttfe = Some(now - t0);
            }
            if let Some(prev) = last_event {
                gaps.push((now - prev).as_micros() as u64);
            }
            // Events that arrive together have no gap between them worth recording.
            last_event = Some(now);
            events += n;
        }
    }
    let us = |d: Option<Duration>| d.map_or(0, |d| d.as_micros() as u64);
    Ok(One {
        ttfb_us: us(ttfb),
        ttfe_us: us(ttfe),
        total_us: t0.elapsed().as_micros() as u64,
        events,
        gaps,
    })
}

/// Runs the mode.
pub async fn run(o: &Opts, target: &Target) -> Result<Value> {
    let body = chat_body(&o.common.model, true);
    let next = Arc::new(AtomicUsize::new(0));
    let begin = Instant::now();
    let bound = Duration::from_secs(o.max_secs);
    let mut tasks = Vec::new();
    for _ in 0..o.concurrency.max(1) {
        let (next, target, body) = (next.clone(), target.clone(), body.clone());
        let (warmup, streams, timeout) = (o.warmup, o.streams, o.common.timeout());
        tasks.push(tokio::spawn(async move {
            let mut slot = Slot::new();
            let mut done = Vec::new();
            let mut errors = Vec::new();
            for _ in 0..warmup {
                let _ = tokio::time::timeout(timeout, one(&mut slot, &target, body.clone())).await;
            }
            while next.fetch_add(1, Ordering::Relaxed) < streams && begin.elapsed() < bound {
                match tokio::time::timeout(timeout, one(&mut slot, &target, body.clone())).await {
                    Ok(Ok(r)) => done.push(r),
                    Ok(Err(e)) => {
                        errors.push(format!("{e:#}"));
                        slot.reset();
                    }
                    Err(_) => {
                        errors.push("timeout".into());
                        slot.reset();
                    }
                }
            }
            (done, errors)
        }));
    }
    let (mut ttfb, mut ttfe, mut total, mut gaps, mut events) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut errors = Vec::new();
    for t in tasks {
        let (done, errs) = t.await?;
        errors.extend(errs);
        for r in done {
            ttfb.push(r.ttfb_us);
            ttfe.push(r.ttfe_us);
            total.push(r.total_us);
            events.push(r.events as u64);
            gaps.extend(r.gaps);
        }
    }
    let events = stats::summarize(&mut events);
    Ok(json!({
        "mode": "stream",
        "url": o.common.url,
        "streams": ttfb.len(),
        "errors": errors.len(),
        "last_error": errors.last(),
        "events_min": events.min_us,
        "events_max": events.max_us,
        "ttfb": stats::summarize(&mut ttfb),
        "ttfe": stats::summarize(&mut ttfe),
        "gap": stats::summarize(&mut gaps),
        "total": stats::summarize(&mut total),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_events_across_chunk_boundaries() {
        let s = b"data: {\"a\":1}\n\ndata: [DONE]\n\nevent: x\r\ndata: y\r\n\r\n";
        for cut in 0..s.len() {
            let mut c = EventCounter::default();
            assert_eq!(c.feed(&s[..cut]) + c.feed(&s[cut..]), 3, "cut at {cut}");
        }
    }
}
