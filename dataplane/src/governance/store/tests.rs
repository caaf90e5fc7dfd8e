//! Rate store semantics, run against the in-process store and (in `redis_tests`) against
//! a real `redis-server` shared by two governors, as two data planes share one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use sluice_model::{
    Budget, BudgetStatus, BudgetWindow, RateLimits, RateStoreSettings, ScopeKind, TokenCount,
    TokenUsage,
};

use super::Store;
use crate::governance::{Denied, Estimate, Exhausted, Governor, ScopeLimits, Ticket};

/// A scope with owned limits, lent out as [`ScopeLimits`].
pub(super) struct TestScope {
    pub kind: ScopeKind,
    pub name: String,
    pub limits: RateLimits,
    pub budget: Option<(Budget, BudgetStatus)>,
}

impl TestScope {
    pub fn new(kind: ScopeKind, name: &str, limits: RateLimits) -> Self {
        Self {
            kind,
            name: name.into(),
            limits,
            budget: None,
        }
    }

    pub fn rpm(name: &str, rpm: u32) -> Self {
        Self::new(
            ScopeKind::Key,
            name,
            RateLimits {
                rpm: Some(rpm),
                ..Default::default()
            },
        )
    }

    pub fn lend(&self) -> ScopeLimits<'_> {
        ScopeLimits {
            kind: self.kind,
            name: &self.name,
            limits: &self.limits,
            budget: self.budget.as_ref().map(|(b, s)| (b, s)),
        }
    }
}

/// A name no other test run uses (Redis keeps state between tests).
pub(super) fn unique(name: &str) -> String {
    format!("{name}-{}", uuid::Uuid::new_v4().simple())
}

const EST: Estimate = Estimate {
    input: 0,
    output: 0,
};

fn tokens(input: u64, output: u64) -> Estimate {
    Estimate { input, output }
}

fn usage(input: u64, output: u64) -> TokenUsage {
    TokenUsage {
        input,
        output,
        ..Default::default()
    }
}

async fn admit(g: &Governor, scopes: &[&TestScope], estimate: Estimate) -> Result<Ticket, Denied> {
    let lent: Vec<ScopeLimits<'_>> = scopes.iter().map(|s| s.lend()).collect();
    g.admit(&lent, estimate).await
}

fn refusal(d: Denied) -> crate::governance::Refusal {
    match d {
        Denied::Limited(r) => r,
        other => panic!("expected a limit refusal, got {other:?}"),
    }
}

/// Retries `admit` until it is admitted (a Redis release or settle lands asynchronously);
/// bounded.
async fn admit_eventually(g: &Governor, scopes: &[&TestScope], estimate: Estimate) -> Ticket {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match admit(g, scopes, estimate).await {
            Ok(t) => return t,
            Err(e) if Instant::now() > deadline => panic!("never admitted: {e:?}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Retries until a refusal (an asynchronous settle adding spend); bounded.
async fn refused_eventually(g: &Governor, scopes: &[&TestScope], estimate: Estimate) -> Denied {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match admit(g, scopes, estimate).await {
            Err(e) => return e,
            Ok(t) if Instant::now() > deadline => panic!("never refused: {t:?}"),
            Ok(t) => {
                t.settle(None, 0);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Exactly `rpm` of 100 requests alternating between `a` and `b` are admitted; refusals
/// name the scope and carry a requests window.
pub(super) async fn requests_per_minute(a: &Governor, b: &Governor) {
    let scope = TestScope::rpm(&unique("rpm"), 60);
    let mut admitted = 0;
    for i in 0..100 {
        let g = if i % 2 == 0 { a } else { b };
        match admit(g, &[&scope], EST).await {
            Ok(t) => {
                admitted += 1;
                t.settle(Some(&usage(1, 1)), 0);
            }
            Err(e) => {
                let r = refusal(e);
                assert_eq!(r.reason, Exhausted::Requests);
                assert_eq!(r.kind, ScopeKind::Key);
                assert_eq!(r.name, scope.name);
                let retry = r.retry_after.unwrap();
                assert!(
                    retry <= Duration::from_secs(60) && retry > Duration::ZERO,
                    "{retry:?}"
                );
                let w = r.requests.unwrap();
                assert_eq!((w.limit, w.remaining), (60, 0));
                assert!(w.reset <= Duration::from_secs(60));
                assert!(r.tokens.is_none());
            }
        }
    }
    assert_eq!(admitted, 60);
}

/// Tokens are reserved at admission and corrected at settle, both ways.
pub(super) async fn tokens_reserve_then_settle(a: &Governor, b: &Governor) {
    let scope = TestScope::new(
        ScopeKind::Team,
        &unique("tpm"),
        RateLimits {
            tpm: Some(1000),
            tpm_counts: TokenCount::Total,
            ..Default::default()
        },
    );
    let first = admit(a, &[&scope], tokens(100, 400)).await.unwrap();
    let second = admit(b, &[&scope], tokens(200, 300)).await.unwrap();
    // 1000 of 1000 reserved.
    let r = refusal(admit(a, &[&scope], tokens(50, 50)).await.unwrap_err());
    assert_eq!(r.reason, Exhausted::Tokens);
    assert_eq!(r.kind, ScopeKind::Team);
    let w = r.tokens.unwrap();
    assert_eq!(w.limit, 1000);
    assert!(w.remaining < 100, "{w:?}");
    assert!(r.retry_after.unwrap() <= Duration::from_secs(120));
    assert!(r.requests.is_none());

    // Smaller than estimated: 400 of the 500 come back.
    first.settle(Some(&usage(60, 40)), 0);
    let third = admit_eventually(b, &[&scope], tokens(100, 200)).await;
    // 100 + 500 + 300 = 900: one more request of 100 would fit, but the third settles at
    // 700 instead of 300.
    third.settle(Some(&usage(300, 400)), 0);
    refused_eventually(a, &[&scope], tokens(50, 50)).await;
    second.settle(None, 0);
}

/// A request estimated above the whole tokens limit passes only through an empty window
/// (otherwise it could never pass).
pub(super) async fn oversized_request_needs_an_empty_window(a: &Governor, b: &Governor) {
    let scope = TestScope::new(
        ScopeKind::Key,
        &unique("big"),
        RateLimits {
            tpm: Some(100),
            tpm_counts: TokenCount::Output,
            ..Default::default()
        },
    );
    let t = admit(a, &[&scope], tokens(10_000, 500)).await.unwrap();
    let r = refusal(admit(b, &[&scope], tokens(0, 500)).await.unwrap_err());
    assert_eq!(r.reason, Exhausted::Tokens);
    // Until the 500 leave the window: the rest of this minute and all of the next (only
    // the rest of the minute if it just turned).
    let retry = r.retry_after.unwrap();
    assert!(
        retry >= Duration::from_secs(59) && retry <= Duration::from_secs(120),
        "{retry:?}"
    );
    t.settle(None, 0);
}

/// In-flight slots: refusal at the limit, released by drop and by settle.
pub(super) async fn concurrency(a: &Governor, b: &Governor) {
    let scope = TestScope::new(
        ScopeKind::Route,
        &unique("conc"),
        RateLimits {
            max_concurrent: Some(3),
            ..Default::default()
        },
    );
    let t1 = admit(a, &[&scope], EST).await.unwrap();
    let t2 = admit(b, &[&scope], EST).await.unwrap();
    let t3 = admit(a, &[&scope], EST).await.unwrap();
    let r = refusal(admit(b, &[&scope], EST).await.unwrap_err());
    assert_eq!(r.reason, Exhausted::Concurrency);
    assert_eq!(r.retry_after, Some(Duration::from_secs(1)));
    drop(t1);
    let t4 = admit_eventually(b, &[&scope], EST).await;
    assert!(admit(a, &[&scope], EST).await.is_err());
    t2.settle(None, 0);
    let t5 = admit_eventually(a, &[&scope], EST).await;
    drop((t3, t4, t5));
}

/// Spend is added at settle; once it reaches the limit both instances refuse.
pub(super) async fn budget(a: &Governor, b: &Governor) {
    let mut scope = TestScope::new(ScopeKind::Key, &unique("budget"), RateLimits::default());
    scope.budget = Some((
        Budget {
            limit_nanousd: 1000,
            soft_nanousd: None,
            window: BudgetWindow::Day,
        },
        BudgetStatus::default(),
    ));
    admit(a, &[&scope], EST).await.unwrap().settle(None, 600);
    admit(b, &[&scope], EST).await.unwrap().settle(None, 600);
    for g in [a, b] {
        let r = refusal(refused_eventually(g, &[&scope], EST).await);
        assert_eq!(r.reason, Exhausted::Budget);
        let retry = r.retry_after.unwrap();
        assert!(retry <= Duration::from_secs(86_400), "{retry:?}");
    }

    // The ledger's view counts too: spend in the snapshot, and an exhausted mark.
    let now = super::wall_ms();
    let mut ledger = TestScope::new(ScopeKind::Team, &unique("ledger"), RateLimits::default());
    let budget = Budget {
        limit_nanousd: 1000,
        soft_nanousd: None,
        window: BudgetWindow::Total,
    };
    ledger.budget = Some((
        budget,
        BudgetStatus {
            spent_nanousd: 1000,
            window_start_ms: 0,
            exhausted_until_ms: 0,
        },
    ));
    let r = refusal(admit(a, &[&ledger], EST).await.unwrap_err());
    assert_eq!((r.reason, r.retry_after), (Exhausted::Budget, None));
    ledger.budget = Some((
        budget,
        BudgetStatus {
            spent_nanousd: 0,
            window_start_ms: 0,
            exhausted_until_ms: now + 30_000,
        },
    ));
    let r = refusal(admit(b, &[&ledger], EST).await.unwrap_err());
    assert_eq!(r.reason, Exhausted::Budget);
    assert!(r.retry_after.unwrap() <= Duration::from_secs(30));
    // Spend from an older window does not count.
    ledger.budget = Some((
        Budget {
            window: BudgetWindow::Day,
            ..budget
        },
        BudgetStatus {
            spent_nanousd: 5000,
            window_start_ms: BudgetWindow::Day.start_ms(now).saturating_sub(86_400_000),
            exhausted_until_ms: 0,
        },
    ));
    admit(a, &[&ledger], EST).await.unwrap().settle(None, 0);
}

/// A refusal by the second scope gives back what the first one reserved.
pub(super) async fn rollback(a: &Governor, b: &Governor) {
    let wide = TestScope::rpm(&unique("wide"), 10);
    let mut narrow = TestScope::rpm(&unique("narrow"), 1);
    narrow.kind = ScopeKind::Team;
    narrow.limits.max_concurrent = Some(5);
    admit(a, &[&wide, &narrow], EST)
        .await
        .unwrap()
        .settle(None, 0);
    for g in [a, b, a] {
        let r = refusal(admit(g, &[&wide, &narrow], EST).await.unwrap_err());
        assert_eq!((r.kind, r.reason), (ScopeKind::Team, Exhausted::Requests));
        assert_eq!(r.name, narrow.name);
    }
    // `wide` counted only the admitted request: nine more fit.
    for i in 0..9 {
        let g = if i % 2 == 0 { a } else { b };
        admit(g, &[&wide], EST).await.unwrap().settle(None, 0);
    }
    let r = refusal(admit(b, &[&wide], EST).await.unwrap_err());
    assert_eq!((r.kind, r.reason), (ScopeKind::Key, Exhausted::Requests));
}

/// Scopes without limits reserve nothing.
pub(super) async fn unlimited_scopes_are_skipped(a: &Governor) {
    let free = TestScope::new(ScopeKind::Provider, &unique("free"), RateLimits::default());
    let t = admit(a, &[&free], tokens(1, 1)).await.unwrap();
    assert!(t.inner.is_none());
    t.settle(None, 0);
}

fn local() -> Governor {
    Governor::new(&RateStoreSettings::default())
}

#[tokio::test]
async fn local_requests_per_minute_are_exact() {
    let g = local();
    requests_per_minute(&g, &g).await;
}

#[tokio::test]
async fn local_tokens_reserve_then_settle() {
    let g = local();
    tokens_reserve_then_settle(&g, &g).await;
}

#[tokio::test]
async fn local_oversized_request_needs_an_empty_window() {
    let g = local();
    oversized_request_needs_an_empty_window(&g, &g).await;
}

#[tokio::test]
async fn local_concurrency_released_by_drop_and_settle() {
    let g = local();
    concurrency(&g, &g).await;
}

#[tokio::test]
async fn local_budget_spend_and_ledger() {
    let g = local();
    budget(&g, &g).await;
}

#[tokio::test]
async fn local_refusal_rolls_back_earlier_scopes() {
    let g = local();
    rollback(&g, &g).await;
}

#[tokio::test]
async fn local_unlimited_scopes_are_skipped() {
    unlimited_scopes_are_skipped(&local()).await;
}

#[test]
fn local_drop_releases_without_a_runtime() {
    let g = local();
    let scope = TestScope::new(
        ScopeKind::Key,
        "k",
        RateLimits {
            max_concurrent: Some(1),
            ..Default::default()
        },
    );
    let Store::Local(store) = &g.store else {
        panic!("local store")
    };
    let held = store.admit(&[scope.lend()], EST).unwrap();
    assert!(store.admit(&[scope.lend()], EST).is_err());
    drop(Ticket {
        inner: Some(super::Reservation::Local(held)),
    });
    assert!(store.admit(&[scope.lend()], EST).is_ok());
}

#[test]
fn local_idle_state_is_dropped() {
    let g = local();
    let Store::Local(store) = &g.store else {
        panic!("local store")
    };
    let a = TestScope::rpm("a", 5);
    let b = TestScope::rpm("b", 5);
    let held = store.admit(&[b.lend()], EST).unwrap();
    store.admit(&[a.lend()], EST).unwrap().settle(None, 0);
    assert_eq!(store.scopes_held(), 2);
    store.sweep_after(Duration::from_secs(600));
    // `b` is still held by a reservation.
    assert_eq!(store.scopes_held(), 1);
    held.release();
    store.sweep_after(Duration::from_secs(600));
    assert_eq!(store.scopes_held(), 0);
}

#[test]
fn token_window_reset() {
    use super::tokens_reset_ms as reset;
    // Empty window, or room: no wait.
    assert_eq!(reset(0, 0, 0, 100, 500), 0);
    assert_eq!(reset(0, 50, 0, 100, 50), 0);
    // Only the current minute is full: wait for the minute to end, then for its decay.
    assert_eq!(reset(0, 100, 30_000, 100, 50), 30_000 + 30_000);
    // The previous minute decays: 100 tokens a minute, 20 too many → 12 s.
    assert_eq!(reset(100, 0, 0, 100, 0), 0);
    assert_eq!(reset(100, 0, 0, 90, 10), 12_000);
    // Larger than the limit: when the window is empty.
    assert_eq!(reset(0, 10, 20_000, 100, 500), 40_000 + 60_000);
}

#[test]
fn admission_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let scope = TestScope::rpm("send", 1);
    let lent = [scope.lend()];
    for g in [
        local(),
        Governor::new(&RateStoreSettings {
            backend: sluice_model::RateStoreBackend::Redis {
                url: "redis://127.0.0.1:1/0".into(),
            },
            ..Default::default()
        }),
    ] {
        send(&g.admit(&lent, EST));
    }
}
