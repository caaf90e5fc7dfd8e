//! The data plane under attack: a real `sluice dataplane` process on loopback ports (see
//! `common::listening`) with its stderr captured (to look for panics), plus what a test observes
//! from outside: RSS from `/proc/<pid>/status`, `/metrics` and `/readyz` on the ops port.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::http;
use crate::common::{poll_until, Echo, Gateway, GatewayOptions, PATIENCE};

/// One MiB.
pub const MIB: u64 = 1024 * 1024;

/// Options for starting a data plane.
pub struct Start<'a> {
    /// Config file text.
    pub config: &'a str,
    /// Host of the proxy listener passed with `--listen` (default 127.0.0.1).
    pub listen_host: &'a str,
    /// Extra environment.
    pub env: &'a [(&'a str, &'a str)],
}

impl<'a> Start<'a> {
    /// Defaults: loopback, no extra environment.
    pub fn config(config: &'a str) -> Self {
        Start {
            config,
            listen_host: "127.0.0.1",
            env: &[],
        }
    }
}

/// A running data plane with its log.
pub struct DataPlane {
    /// The process, its ports and its stderr.
    pub gw: Gateway,
    guard_stop: Arc<AtomicBool>,
    guard_tripped: Arc<AtomicU64>,
}

impl Drop for DataPlane {
    fn drop(&mut self) {
        self.guard_stop.store(true, Ordering::Relaxed);
    }
}

/// A config with the built-in echo provider (models `echo`, `echo-1`) and `server` lines
/// added under `[server]`.
pub fn echo_config(server: &str, pace_ms: u64) -> String {
    format!(
        "env_providers = false\n[server]\n{server}\n\n[[providers]]\nname = \"echo\"\nkind = \"echo\"\nmodels = [\"echo\", \"echo-1\"]\npace_ms = {pace_ms}\n"
    )
}

/// The normal request every test sends after its attack.
pub const NORMAL_CHAT: &str =
    r#"{"model":"echo","messages":[{"role":"user","content":"still serving"}]}"#;

impl DataPlane {
    /// Starts on the echo config and waits until `/readyz` answers.
    pub fn start(config: &str) -> DataPlane {
        Self::start_with(Start::config(config))
    }

    /// Starts with options and waits until `/readyz` answers.
    pub fn start_with(opts: Start) -> DataPlane {
        let env: Vec<(&str, &str)> = opts
            .env
            .iter()
            .copied()
            .chain([("RUST_BACKTRACE", "1")])
            .collect();
        let gw = Gateway::spawn(GatewayOptions {
            config: opts.config,
            listen_host: opts.listen_host,
            env: &env,
            echo: Echo::Keep,
        });
        gw.wait_ready();
        DataPlane {
            gw,
            guard_stop: Arc::new(AtomicBool::new(false)),
            guard_tripped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Proxy port.
    pub fn port(&self) -> u16 {
        self.gw.port
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.gw.proc.child.id()
    }

    /// Whether the process is still running.
    pub fn alive(&self) -> bool {
        self.gw.proc.alive()
    }

    /// A `/proc/<pid>/status` value in bytes (`VmRSS`, `VmHWM`).
    pub fn status_bytes(&self, key: &str) -> u64 {
        proc_status_kib(self.pid(), key).unwrap_or(0) * 1024
    }

    /// Resident set size now.
    pub fn rss(&self) -> u64 {
        self.status_bytes("VmRSS")
    }

    /// Peak resident set size since start.
    pub fn peak_rss(&self) -> u64 {
        self.status_bytes("VmHWM")
    }

    /// Kills the process if its RSS ever exceeds `limit` bytes, so an undefended attack
    /// fails the test instead of exhausting the machine. [`DataPlane::guard_tripped`]
    /// tells whether it fired (and at what RSS).
    pub fn guard_rss(&self, limit: u64) {
        let pid = self.pid();
        let stop = self.guard_stop.clone();
        let tripped = self.guard_tripped.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let Some(kib) = proc_status_kib(pid, "VmRSS") else {
                    return;
                };
                if kib * 1024 > limit {
                    tripped.store(kib * 1024, Ordering::Relaxed);
                    // SIGKILL our own child by pid (never by name).
                    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                    return;
                }
                // The watchdog's sampling period (it waits for nothing): fine enough to
                // stop a runaway long before it takes the machine.
                std::thread::sleep(Duration::from_millis(20));
            }
        });
    }

    /// RSS (bytes) at which the guard killed the process, if it did.
    pub fn guard_tripped(&self) -> Option<u64> {
        match self.guard_tripped.load(Ordering::Relaxed) {
            0 => None,
            n => Some(n),
        }
    }

    /// Its stderr so far.
    pub fn log_text(&self) -> String {
        self.gw.log.text()
    }

    /// Panics if the log shows a panic.
    pub fn assert_no_panic(&self) {
        let log = self.log_text();
        assert!(
            !log.contains("panicked"),
            "the data plane panicked; log:\n{log}"
        );
    }

    /// `/metrics` text.
    pub fn metrics(&self) -> String {
        http::get(self.gw.ops_port, "/metrics", "")
            .map(|r| r.text())
            .unwrap_or_default()
    }

    /// `/readyz` as JSON.
    pub fn readyz(&self) -> serde_json::Value {
        let r = http::get(self.gw.ops_port, "/readyz", "").expect("readyz");
        r.json()
    }

    /// `sluice_admission_rejected_total{reason="<reason>"}` now.
    pub fn rejected(&self, reason: &str) -> f64 {
        metric(
            &self.metrics(),
            &format!("sluice_admission_rejected_total{{reason=\"{reason}\"}}"),
        )
    }

    /// Sends the normal request and panics unless it is served (200 with the echo).
    pub fn assert_serves(&self, after: &str) {
        self.assert_serves_with(after, "");
    }

    /// Same, with extra request headers (e.g. a client key).
    pub fn assert_serves_with(&self, after: &str, headers: &str) {
        assert!(
            self.alive(),
            "data plane died after {after}; log:\n{}",
            self.log_text()
        );
        let r = http::post_chat(self.port(), NORMAL_CHAT, headers)
            .unwrap_or_else(|e| panic!("normal request after {after}: {e}"));
        assert_eq!(
            r.status,
            200,
            "normal request after {after}: {}",
            r.snippet()
        );
        let v = r.json();
        assert_eq!(
            v["choices"][0]["message"]["content"], "Echo: still serving",
            "normal request after {after}"
        );
        self.assert_no_panic();
    }

    /// Waits until the normal request is served again: shared budgets are released when
    /// the server notices a client left, which the test can only observe.
    pub fn wait_serves(&self, after: &str) {
        let mut last = String::new();
        let served = poll_until(PATIENCE, || {
            match http::post_chat(self.port(), NORMAL_CHAT, "") {
                Ok(r) if r.status == 200 => true,
                Ok(r) => {
                    last = format!("{} {}", r.status, r.snippet());
                    false
                }
                Err(e) => {
                    last = e;
                    false
                }
            }
        });
        assert!(
            served,
            "no normal request served within {PATIENCE:?} after {after}; last: {last}"
        );
        self.assert_serves(after);
    }
}

/// A `/proc/<pid>/status` value in KiB.
pub fn proc_status_kib(pid: u32, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(key) && l[key.len()..].starts_with(':'))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// The value of the sample `series` (name with labels, exactly as exposed) in Prometheus
/// text, 0 when absent.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Bytes as MiB for printing.
pub fn mib(b: u64) -> f64 {
    b as f64 / MIB as f64
}
