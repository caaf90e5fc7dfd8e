//! The same semantics against a real `redis-server` shared by two governors (two data
//! planes), the key layout, and the failure modes when the server dies and comes back.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sluice_model::{
    Budget, BudgetStatus, BudgetWindow, FailureMode, RateLimits, RateStoreBackend,
    RateStoreSettings, ScopeKind, TokenCount,
};

use super::tests::{self as semantics, unique, TestScope};
use super::Store;
use crate::governance::{Denied, Estimate, Governor};

const REDIS: &str = "/usr/bin/redis-server";

/// A `redis-server` on a free loopback port, killed when dropped.
struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// `None` (and a loud message) when the binary is missing; a failure instead when
    /// `SLUICE_REQUIRE_REDIS` is set (CI).
    fn start() -> Option<Self> {
        if !Path::new(REDIS).exists() {
            let msg = format!("{REDIS} is not installed; the Redis rate store is NOT tested");
            assert!(std::env::var_os("SLUICE_REQUIRE_REDIS").is_none(), "{msg}");
            eprintln!("SKIPPED: {msg}");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut s = Self { port, child: None };
        s.spawn();
        Some(s)
    }

    fn spawn(&mut self) {
        let child = Command::new(REDIS)
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn governor(&self, mode: FailureMode) -> Governor {
        Governor::new(&RateStoreSettings {
            backend: RateStoreBackend::Redis { url: self.url() },
            failure_mode: mode,
            timeout: Duration::from_millis(500),
        })
    }

    fn pair(&self) -> (Governor, Governor) {
        (
            self.governor(FailureMode::FailOpen),
            self.governor(FailureMode::FailOpen),
        )
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn is_up(g: &Governor) -> bool {
    match &g.store {
        Store::Shared(f) => f.is_up(),
        Store::Local(_) => panic!("a Redis store"),
    }
}

fn metrics() -> String {
    String::from_utf8(crate::metrics::render()).unwrap()
}

/// Both data planes stayed on Redis (a fallback would make every test pass vacuously).
fn assert_counted_in_redis(a: &Governor, b: &Governor) {
    assert!(is_up(a) && is_up(b), "{}", metrics());
    assert!(metrics().contains("sluice_rate_store_up 1"));
}

#[tokio::test]
async fn redis_requests_per_minute_are_exact_across_data_planes() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (a, b) = server.pair();
    semantics::requests_per_minute(&a, &b).await;
    assert_counted_in_redis(&a, &b);
}

#[tokio::test]
async fn redis_tokens_reserve_then_settle() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (a, b) = server.pair();
    semantics::tokens_reserve_then_settle(&a, &b).await;
    assert_counted_in_redis(&a, &b);
}

#[tokio::test]
async fn redis_oversized_request_needs_an_empty_window() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (a, b) = server.pair();
    semantics::oversized_request_needs_an_empty_window(&a, &b).await;
    assert_counted_in_redis(&a, &b);
}

#[tokio::test]
async fn redis_concurrency_released_by_drop_and_settle() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (a, b) = server.pair();
    semantics::concurrency(&a, &b).await;
    assert_counted_in_redis(&a, &b);
}

#[tokio::test]
async fn redis_budget_spend_is_shared() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (a, b) = server.pair();
    semantics::budget(&a, &b).await;
    assert_counted_in_redis(&a, &b);
}

#[tokio::test]
async fn redis_refusal_rolls_back_earlier_scopes() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (a, b) = server.pair();
    semantics::rollback(&a, &b).await;
    assert_counted_in_redis(&a, &b);
}

#[tokio::test]
async fn redis_keys_are_hash_tagged_and_expire() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let g = server.governor(FailureMode::FailClosed);
    let mut scope = TestScope::new(
        ScopeKind::Team,
        "ml",
        RateLimits {
            rpm: Some(10),
            tpm: Some(10_000),
            tpm_counts: TokenCount::Total,
            max_concurrent: Some(2),
        },
    );
    scope.budget = Some((
        Budget {
            limit_nanousd: 1_000_000,
            soft_nanousd: None,
            window: BudgetWindow::Month,
        },
        BudgetStatus::default(),
    ));
    let held = g
        .admit(
            &[scope.lend()],
            Estimate {
                input: 10,
                output: 20,
            },
        )
        .await
        .unwrap();
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("sluice:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    keys.sort();
    let minute: Vec<&str> = keys
        .iter()
        .filter_map(|k| k.strip_prefix("sluice:{team:ml}:tpm:"))
        .collect();
    assert_eq!(minute.len(), 1, "{keys:?}");
    assert!(
        keys.contains(&"sluice:{team:ml}:rpm".to_owned()),
        "{keys:?}"
    );
    assert!(
        keys.contains(&"sluice:{team:ml}:conc".to_owned()),
        "{keys:?}"
    );
    held.settle(None, 5);
    // The spend counter appears with the settle (a spawned task).
    let start = BudgetWindow::Month.start_ms(super::wall_ms());
    let spend_key = format!("sluice:{{team:ml}}:spend:{start}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let spent: Option<u64> = redis::cmd("GET")
            .arg(&spend_key)
            .query_async(&mut conn)
            .await
            .unwrap();
        if spent == Some(5) {
            break;
        }
        assert!(Instant::now() < deadline, "no spend counter {spend_key}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("sluice:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    for k in &keys {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(k)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(ttl > 0, "{k} has no TTL ({ttl})");
    }
}

/// Admits until Redis is taken up again (the probe runs once a second); bounded.
async fn wait_up(g: &Governor) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !is_up(g) {
        assert!(
            Instant::now() < deadline,
            "the store never came back: {}",
            metrics()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn redis_down_fails_open_to_local_limits_and_comes_back() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let g = server.governor(FailureMode::FailOpen);
    let scope = TestScope::rpm(&unique("open"), 2);
    g.admit(&[scope.lend()], Estimate::default())
        .await
        .unwrap()
        .settle(None, 0);
    assert!(is_up(&g));
    server.kill();
    // The in-process store takes over with the same limits (it has counted nothing yet).
    for _ in 0..2 {
        g.admit(&[scope.lend()], Estimate::default())
            .await
            .unwrap()
            .settle(None, 0);
    }
    assert!(!is_up(&g));
    let refused = g
        .admit(&[scope.lend()], Estimate::default())
        .await
        .unwrap_err();
    assert!(matches!(refused, Denied::Limited(_)), "{refused:?}");
    let m = metrics();
    assert!(m.contains("sluice_rate_store_up 0"), "{m}");
    assert!(
        m.contains("sluice_rate_store_transitions_total{state=\"down\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("sluice_rate_store_errors_total{mode=\"fail_open\"}"),
        "{m}"
    );

    server.restart();
    wait_up(&g).await;
    let m = metrics();
    assert!(m.contains("sluice_rate_store_up 1"), "{m}");
    assert!(
        m.contains("sluice_rate_store_transitions_total{state=\"up\"} 1"),
        "{m}"
    );
    // Counted in Redis again: a fresh server, so two fit before the third is refused.
    let t1 = g.admit(&[scope.lend()], Estimate::default()).await.unwrap();
    let t2 = g.admit(&[scope.lend()], Estimate::default()).await.unwrap();
    assert!(g.admit(&[scope.lend()], Estimate::default()).await.is_err());
    assert!(is_up(&g));
    drop((t1, t2));
}

#[tokio::test]
async fn redis_down_fails_closed_and_comes_back() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let g = server.governor(FailureMode::FailClosed);
    let scope = TestScope::rpm(&unique("closed"), 100);
    g.admit(&[scope.lend()], Estimate::default()).await.unwrap();
    server.kill();
    for _ in 0..3 {
        let denied = g
            .admit(&[scope.lend()], Estimate::default())
            .await
            .unwrap_err();
        assert_eq!(
            denied,
            Denied::StoreUnavailable {
                retry_after: Duration::from_secs(1)
            }
        );
    }
    let m = metrics();
    assert!(m.contains("sluice_rate_store_up 0"), "{m}");
    assert!(
        m.contains("sluice_rate_store_errors_total{mode=\"fail_closed\"} 1"),
        "{m}"
    );
    // Scopes without limits never touch the store.
    let free = TestScope::new(ScopeKind::Key, "free", RateLimits::default());
    assert!(g.admit(&[free.lend()], Estimate::default()).await.is_ok());

    server.restart();
    wait_up(&g).await;
    g.admit(&[scope.lend()], Estimate::default()).await.unwrap();
    assert!(metrics().contains("sluice_rate_store_up 1"));
}

#[tokio::test]
async fn redis_leases_of_a_dead_data_plane_expire() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (a, b) = server.pair();
    let scope = TestScope::new(
        ScopeKind::Provider,
        &unique("lease"),
        RateLimits {
            max_concurrent: Some(1),
            ..Default::default()
        },
    );
    // Data plane `a` dies holding the slot: nothing releases it.
    std::mem::forget(a.admit(&[scope.lend()], Estimate::default()).await.unwrap());
    assert!(b.admit(&[scope.lend()], Estimate::default()).await.is_err());
    // Ten minutes later (the lease's expiry moved into the past) the slot is free again.
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("sluice:{{provider:{}}}:conc", scope.name);
    let leases: Vec<String> = redis::cmd("ZRANGE")
        .arg(&key)
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(leases.len(), 1);
    let _: i64 = redis::cmd("ZADD")
        .arg(&key)
        .arg("XX")
        .arg(1)
        .arg(&leases[0])
        .query_async(&mut conn)
        .await
        .unwrap();
    b.admit(&[scope.lend()], Estimate::default()).await.unwrap();
    assert_counted_in_redis(&a, &b);
}

#[tokio::test]
async fn redis_that_stops_answering_times_out_into_the_failure_mode() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let g = server.governor(FailureMode::FailClosed);
    let scope = TestScope::rpm(&unique("hung"), 100);
    g.admit(&[scope.lend()], Estimate::default()).await.unwrap();
    let pid = server.child.as_ref().unwrap().id().to_string();
    // A hung server (stopped, its socket still open) answers nothing: the timeout decides.
    assert!(Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap()
        .success());
    let denied = g.admit(&[scope.lend()], Estimate::default()).await;
    assert!(Command::new("kill")
        .args(["-CONT", &pid])
        .status()
        .unwrap()
        .success());
    assert!(
        matches!(denied, Err(Denied::StoreUnavailable { .. })),
        "{denied:?}"
    );
    wait_up(&g).await;
    g.admit(&[scope.lend()], Estimate::default()).await.unwrap();
    server.kill();
}
