//! `rate`: open loop at a fixed request rate on K keep-alive connections.
//!
//! Request i is due at `start + i / rate`. A worker takes the next due slot when it is
//! free. If the slot is still in the future the worker sleeps until it, and the latency
//! clock starts when the request actually leaves (the timer's own ~1 ms granularity is
//! the load generator's, not the server's, so it is not charged). If the slot is already
//! past due, every connection was busy because earlier answers were slow, and the clock
//! starts at the *intended* time: the queueing a slow server causes is counted, so the
//! percentiles are free of coordinated omission (as in wrk2).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Args;
use serde_json::{json, Value};

use crate::client::{Slot, Target};
use crate::{chat_body, stats, Common};

/// Options of `rate`.
#[derive(Args)]
pub struct Opts {
    #[command(flatten)]
    pub common: Common,
    /// Requests per second.
    #[arg(long)]
    rate: f64,
    /// Measured seconds.
    #[arg(long, default_value_t = 3.0)]
    duration_secs: f64,
    /// Unmeasured seconds at the same rate before the measured part.
    #[arg(long, default_value_t = 0.5)]
    warmup_secs: f64,
    /// Keep-alive connections (= maximum requests in flight).
    #[arg(long, default_value_t = 32)]
    connections: usize,
}

#[derive(Default)]
struct WorkerResult {
    samples: Vec<u64>,
    ok: u64,
    errors: u64,
    last_error: Option<String>,
    last_done: Option<Instant>,
}

/// Runs the mode.
pub async fn run(o: &Opts, target: &Target) -> Result<Value> {
    let rate = o.rate.max(0.1);
    let warm = (rate * o.warmup_secs).round() as u64;
    let total = warm + (rate * o.duration_secs).round() as u64;
    let interval = 1e9 / rate;
    let start = Instant::now() + Duration::from_millis(20);
    let measured_from = start + Duration::from_nanos((warm as f64 * interval) as u64);
    let hard_end = start
        + Duration::from_secs_f64(o.warmup_secs + o.duration_secs)
        + o.common.timeout()
        + Duration::from_secs(1);
    let next = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let body = chat_body(&o.common.model, false);

    let mut tasks = Vec::with_capacity(o.connections);
    for _ in 0..o.connections.max(1) {
        let next = next.clone();
        let sent = sent.clone();
        let target = target.clone();
        let body = body.clone();
        let timeout = o.common.timeout();
        tasks.push(tokio::spawn(async move {
            let mut r = WorkerResult::default();
            let mut slot = Slot::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let due = start + Duration::from_nanos((i as f64 * interval) as u64);
                let now = Instant::now();
                if now >= hard_end {
                    break;
                }
                let origin = if due > now {
                    tokio::time::sleep_until(due.into()).await;
                    Instant::now()
                } else {
                    due
                };
                sent.fetch_add(1, Ordering::Relaxed);
                let res = tokio::time::timeout(timeout, async {
                    let conn = slot.get(&target).await?;
                    conn.exchange(&target, body.clone()).await
                })
                .await;
                let done = Instant::now();
                match res {
                    Ok(Ok(_)) => {
                        r.ok += 1;
                        r.last_done = Some(done);
                        if i >= warm {
                            r.samples
                                .push(done.duration_since(origin).as_micros() as u64);
                        }
                    }
                    Ok(Err(e)) => {
                        r.errors += 1;
                        r.last_error = Some(format!("{e:#}"));
                        slot.reset();
                    }
                    Err(_) => {
                        r.errors += 1;
                        r.last_error = Some("timeout".into());
                        slot.reset();
                    }
                }
            }
            r
        }));
    }
    let mut samples = Vec::new();
    let (mut ok, mut errors, mut last_error, mut last_done) = (0, 0, None, None::<Instant>);
    for t in tasks {
        let r = t.await?;
        samples.extend(r.samples);
        ok += r.ok;
        errors += r.errors;
        if r.last_error.is_some() {
            last_error = r.last_error;
        }
        last_done = match (last_done, r.last_done) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    let measured = samples.len() as f64;
    let window = last_done
        .map(|d| d.saturating_duration_since(measured_from).as_secs_f64())
        .unwrap_or(0.0);
    let achieved = if window > 0.0 { measured / window } else { 0.0 };
    let sent = sent.load(Ordering::Relaxed);
    Ok(json!({
        "mode": "rate",
        "url": o.common.url,
        "target_rps": rate,
        "achieved_rps": achieved,
        "connections": o.connections,
        "scheduled": total,
        "sent": sent,
        "missed": total - sent.min(total),
        "ok": ok,
        "errors": errors,
        "last_error": last_error,
        "latency": stats::summarize(&mut samples),
    }))
}
