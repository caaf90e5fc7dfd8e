//! `hold`: opens N streamed requests that stay open, then samples the resident memory
//! (VmRSS from /proc/<pid>/status, summed over `--rss-pid`s) while all of them are open.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Args;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tokio::sync::{watch, Semaphore};

use crate::client::{Conn, Target};
use crate::{chat_body, Common};

/// Options of `hold`.
#[derive(Args)]
pub struct Opts {
    #[command(flatten)]
    pub common: Common,
    /// Streams to hold open at once.
    #[arg(long, default_value_t = 5000)]
    streams: usize,
    /// Streams being opened at the same time.
    #[arg(long, default_value_t = 200)]
    ramp: usize,
    /// Bound on the opening phase, seconds.
    #[arg(long, default_value_t = 60)]
    open_secs: u64,
    /// How long to hold them once open, seconds (RSS is sampled every 250 ms).
    #[arg(long, default_value_t = 5)]
    hold_secs: u64,
    /// Process whose VmRSS is sampled (repeatable: summed, e.g. nginx master + workers).
    #[arg(long = "rss-pid")]
    rss_pids: Vec<u32>,
}

/// Sum of VmRSS (KiB) of `pids`; `None` if any cannot be read.
pub fn rss_kib(pids: &[u32]) -> Option<u64> {
    let mut sum = 0;
    for pid in pids {
        let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
        sum += line.split_whitespace().nth(1)?.parse::<u64>().ok()?;
    }
    Some(sum)
}

async fn open_one(target: &Target, body: bytes::Bytes) -> Result<hyper::body::Incoming> {
    let mut conn = Conn::connect(target).await?;
    let resp = conn.send(target, body, true).await?;
    if !resp.status().is_success() {
        bail!("status {}", resp.status());
    }
    let mut body = resp.into_body();
    // Open = the first event came through the gateway.
    loop {
        match body.frame().await {
            Some(Ok(f)) if f.data_ref().is_some_and(|d| !d.is_empty()) => break,
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => bail!("stream ended before its first event"),
        }
    }
    // Keep the connection's driver alive as long as the body.
    std::mem::forget(conn);
    Ok(body)
}

/// Runs the mode.
pub async fn run(o: &Opts, target: &Target) -> Result<Value> {
    let rss_idle = rss_kib(&o.rss_pids);
    let body = chat_body(&o.common.model, true);
    let open = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let ended = Arc::new(AtomicUsize::new(0));
    let last_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let ramp = Arc::new(Semaphore::new(o.ramp.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let begin = Instant::now();
    let mut tasks = Vec::with_capacity(o.streams);
    for _ in 0..o.streams {
        let (target, body, ramp) = (target.clone(), body.clone(), ramp.clone());
        let (open, failed, ended, last_error) = (
            open.clone(),
            failed.clone(),
            ended.clone(),
            last_error.clone(),
        );
        let mut stop = stop_rx.clone();
        let timeout = o.common.timeout();
        tasks.push(tokio::spawn(async move {
            let Ok(permit) = ramp.acquire_owned().await else {
                return;
            };
            let opened = tokio::select! {
                r = tokio::time::timeout(timeout, open_one(&target, body)) => r,
                _ = stop.changed() => return,
            };
            drop(permit);
            let mut body = match opened {
                Ok(Ok(b)) => b,
                Ok(Err(e)) => {
                    failed.fetch_add(1, Ordering::Relaxed);
                    *last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!("{e:#}"));
                    return;
                }
                Err(_) => {
                    failed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            };
            open.fetch_add(1, Ordering::Relaxed);
            loop {
                tokio::select! {
                    f = body.frame() => match f {
                        Some(Ok(_)) => continue,
                        _ => {
                            open.fetch_sub(1, Ordering::Relaxed);
                            ended.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    },
                    _ = stop.changed() => return,
                }
            }
        }));
    }
    let open_bound = Duration::from_secs(o.open_secs);
    while open.load(Ordering::Relaxed)
        + failed.load(Ordering::Relaxed)
        + ended.load(Ordering::Relaxed)
        < o.streams
        && begin.elapsed() < open_bound
    {
        // Poll interval while waiting on the counters above (bounded by --open-secs).
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let open_s = begin.elapsed().as_secs_f64();
    let opened = open.load(Ordering::Relaxed);
    let mut min_open = opened;
    let mut rss_max = None::<u64>;
    let mut rss_last = None;
    let hold_end = Instant::now() + Duration::from_secs(o.hold_secs);
    while Instant::now() < hold_end {
        // The hold phase is the measurement itself: sample open streams and RSS
        // every 250 ms for --hold-secs.
        tokio::time::sleep(Duration::from_millis(250)).await;
        min_open = min_open.min(open.load(Ordering::Relaxed));
        rss_last = rss_kib(&o.rss_pids);
        rss_max = rss_max.max(rss_last);
    }
    let _ = stop_tx.send(true);
    for t in tasks {
        t.abort();
    }
    let per_stream = match (rss_idle, rss_max) {
        (Some(i), Some(m)) if min_open > 0 => Some((m.saturating_sub(i)) as f64 / min_open as f64),
        _ => None,
    };
    let last_error = last_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok(json!({
        "mode": "hold",
        "url": o.common.url,
        "requested": o.streams,
        "opened": opened,
        "min_open_while_held": min_open,
        "failed": failed.load(Ordering::Relaxed),
        "ended_early": ended.load(Ordering::Relaxed),
        "last_error": last_error,
        "open_phase_s": open_s,
        "rss_idle_kib": rss_idle,
        "rss_held_max_kib": rss_max,
        "rss_held_last_kib": rss_last,
        "rss_per_stream_kib": per_stream,
    }))
}
