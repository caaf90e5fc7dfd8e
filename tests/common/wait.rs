//! Waiting on observable state: a test polls what it can see (a status, a metric, a log
//! line, a socket) until its condition holds, then asserts. The deadline only bounds a
//! hang and is deliberately generous: nothing here measures speed, and a slow machine
//! makes a test slower, never red.

use std::time::{Duration, Instant};

/// How long a test waits for something it expects to happen before it gives up.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Pause between two polls, so a poll loop does not take the CPU the processes under
/// test need (the interval is not part of any condition).
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Polls `f` until it returns `Some`, for up to `deadline`; `None` if it never did.
pub fn poll_for<T>(deadline: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let until = Instant::now() + deadline;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= until {
            return None;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Polls `f` until it holds, for up to `deadline`; whether it did.
pub fn poll_until(deadline: Duration, mut f: impl FnMut() -> bool) -> bool {
    poll_for(deadline, || f().then_some(())).is_some()
}

/// Polls `f` until it holds; panics naming `what` after [`PATIENCE`].
pub fn wait_until(f: impl FnMut() -> bool, what: &str) {
    assert!(
        poll_until(PATIENCE, f),
        "timed out after {PATIENCE:?} waiting for {what}"
    );
}

/// Polls `f` until it returns `Some`; panics naming `what` after [`PATIENCE`].
pub fn wait_for<T>(f: impl FnMut() -> Option<T>, what: &str) -> T {
    poll_for(PATIENCE, f)
        .unwrap_or_else(|| panic!("timed out after {PATIENCE:?} waiting for {what}"))
}
