//! `latency`: concurrency 1 on one keep-alive connection, warm-up excluded.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Args;
use serde_json::{json, Value};

use crate::client::{Slot, Target};
use crate::{chat_body, stats, Common};

/// Options of `latency`.
#[derive(Args)]
pub struct Opts {
    #[command(flatten)]
    pub common: Common,
    /// Measured requests.
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    /// Requests sent first and not measured.
    #[arg(long, default_value_t = 200)]
    warmup: usize,
    /// Wall-clock bound for the whole run, seconds.
    #[arg(long, default_value_t = 60)]
    max_secs: u64,
}

/// Runs the mode.
pub async fn run(o: &Opts, target: &Target) -> Result<Value> {
    let body = chat_body(&o.common.model, false);
    let mut slot = Slot::new();
    let mut samples = Vec::with_capacity(o.requests);
    let mut errors = 0usize;
    let mut last_error = None;
    let begin = Instant::now();
    let bound = Duration::from_secs(o.max_secs);
    for i in 0..o.warmup + o.requests {
        if begin.elapsed() > bound {
            break;
        }
        let t0 = Instant::now();
        let r = async {
            let conn = slot.get(target).await?;
            conn.exchange(target, body.clone()).await
        };
        match tokio::time::timeout(o.common.timeout(), r).await {
            Ok(Ok(_)) => {
                if i >= o.warmup {
                    samples.push(t0.elapsed().as_micros() as u64);
                }
            }
            Ok(Err(e)) => {
                errors += 1;
                last_error = Some(format!("{e:#}"));
                slot.reset();
            }
            Err(_) => {
                errors += 1;
                last_error = Some("timeout".into());
                slot.reset();
            }
        }
        if errors > 0 && samples.is_empty() && errors >= 20 {
            bail!(
                "20 errors and no success: {}",
                last_error.unwrap_or_default()
            );
        }
    }
    let s = stats::summarize(&mut samples);
    Ok(json!({
        "mode": "latency",
        "url": o.common.url,
        "errors": errors,
        "last_error": last_error,
        "elapsed_s": begin.elapsed().as_secs_f64(),
        "latency": s,
    }))
}
