use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use super::{endpoints, fail, secs, weighted};
use crate::{
    AttemptOutcome, Availability, Balancer, EndpointHealth, HealthPolicy, HealthRegistry,
    HealthState, Strategy,
};

fn healthy() -> Arc<EndpointHealth> {
    Arc::new(EndpointHealth::default())
}

fn rate_limited(after: Duration) -> AttemptOutcome {
    AttemptOutcome::RateLimited {
        retry_after: Some(after),
    }
}

const MS: Duration = Duration::from_millis(1);
const NS: Duration = Duration::from_nanos(1);

#[test]
fn threshold_consecutive_failures_eject() {
    let health = healthy();
    let now = Instant::now();
    fail(&health, 2, now);
    assert_eq!(health.availability(now), Availability::Available);
    health.record(AttemptOutcome::Success, MS, now);
    fail(&health, 2, now);
    assert_eq!(health.snapshot(now).consecutive_failures, 2);
    assert_eq!(health.availability(now), Availability::Available);
    health.record(AttemptOutcome::Timeout, secs(30), now);
    assert_eq!(
        health.availability(now),
        Availability::Unavailable {
            retry_at: Some(now + secs(5))
        }
    );
    assert!(health.try_acquire(now + secs(5) - NS).is_none());
    let snapshot = health.snapshot(now + secs(1));
    assert_eq!(snapshot.state, HealthState::Ejected);
    assert_eq!(snapshot.ejected_until_ms, Some(4000));
    assert!(!snapshot.is_healthy && !snapshot.is_available);
}

#[test]
fn every_failure_kind_counts() {
    let kinds = [
        AttemptOutcome::ConnectError,
        AttemptOutcome::Timeout,
        AttemptOutcome::ServerError(500),
        AttemptOutcome::StreamError,
        AttemptOutcome::RateLimited { retry_after: None },
    ];
    for kind in kinds {
        let health = healthy();
        let now = Instant::now();
        for _ in 0..3 {
            health.record(kind, MS, now);
        }
        assert_eq!(health.snapshot(now).state, HealthState::Ejected, "{kind}");
    }
}

#[test]
fn client_errors_never_eject() {
    let health = healthy();
    let now = Instant::now();
    fail(&health, 2, now);
    for _ in 0..20 {
        health.record(AttemptOutcome::ClientError(400), MS, now);
    }
    let snapshot = health.snapshot(now);
    assert_eq!(snapshot.state, HealthState::Healthy);
    assert_eq!(snapshot.consecutive_failures, 0);
    assert_eq!(snapshot.total_requests, 22);
    assert_eq!(snapshot.total_failures, 2);
}

#[test]
fn backoff_doubles_per_failed_probe_up_to_the_cap_and_resets_after_success() {
    let health = healthy();
    let mut now = Instant::now();
    fail(&health, 3, now);
    let mut lengths = Vec::new();
    for _ in 0..9 {
        let until = health.availability(now).retry_at().expect("ejected");
        lengths.push(until - now);
        now = until;
        let probe = health.try_acquire(now).expect("half-open probe");
        assert!(probe.is_probe());
        probe.record(AttemptOutcome::ConnectError, MS, now);
    }
    let expected: Vec<Duration> = [5, 10, 20, 40, 80, 160, 300, 300, 300]
        .into_iter()
        .map(secs)
        .collect();
    assert_eq!(lengths, expected);

    now = health.availability(now).retry_at().expect("ejected");
    health
        .try_acquire(now)
        .expect("probe")
        .record(AttemptOutcome::Success, MS, now);
    assert_eq!(health.snapshot(now).state, HealthState::Healthy);
    fail(&health, 3, now);
    assert_eq!(health.availability(now).retry_at(), Some(now + secs(5)));
}

#[test]
fn half_open_admits_exactly_one_probe() {
    let health = healthy();
    let t0 = Instant::now();
    fail(&health, 3, t0);
    let t1 = t0 + secs(5);
    assert_eq!(health.availability(t1), Availability::Available);
    assert_eq!(health.snapshot(t1).state, HealthState::HalfOpen);
    let probe = health.try_acquire(t1).expect("first caller probes");
    assert!(health.try_acquire(t1).is_none());
    assert_eq!(
        health.availability(t1),
        Availability::Unavailable { retry_at: None }
    );
    // Dropped without a verdict (client went away): the slot frees, state stays.
    drop(probe);
    let probe = health.try_acquire(t1).expect("slot freed");
    probe.record(AttemptOutcome::ServerError(502), MS, t1);
    assert_eq!(health.availability(t1).retry_at(), Some(t1 + secs(10)));
}

#[test]
fn half_open_probe_under_concurrency() {
    for round in 0..20 {
        let health = healthy();
        let t0 = Instant::now();
        fail(&health, 3, t0);
        let t1 = t0 + secs(5);
        let threads = 8;
        let barrier = Barrier::new(threads);
        let admitted: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        barrier.wait();
                        let permit = health.try_acquire(t1);
                        // Hold it until everyone tried.
                        barrier.wait();
                        usize::from(permit.is_some())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(admitted, 1, "round {round}");
        assert_eq!(health.inflight(), 0);
    }
}

#[test]
fn retry_after_ejects_for_exactly_its_window() {
    let balancer = Balancer::new(&weighted(&[1, 1]), Strategy::RoundRobin);
    let health = endpoints(2);
    let t0 = Instant::now();
    health[0].record(rate_limited(secs(7)), MS, t0);
    let mut plan = Vec::new();
    for offset in [Duration::ZERO, secs(1), secs(7) - NS] {
        for _ in 0..4 {
            assert_eq!(balancer.plan(&health, t0 + offset, &mut plan), 1);
            assert_eq!(plan, [1, 0]);
        }
        assert!(health[0].try_acquire(t0 + offset).is_none());
    }
    // At the deadline it is back, healthy (no probe needed), for every request.
    let t1 = t0 + secs(7);
    assert_eq!(balancer.plan(&health, t1, &mut plan), 2);
    let first = health[0].try_acquire(t1).expect("admitted");
    assert!(!first.is_probe());
    let _second = health[0].try_acquire(t1).expect("admitted too");
    assert_eq!(health[0].snapshot(t1).state, HealthState::Healthy);
}

#[test]
fn retry_after_is_capped_and_a_later_ejection_is_kept() {
    let health = healthy();
    let now = Instant::now();
    health.record(rate_limited(secs(86_400)), MS, now);
    assert_eq!(health.availability(now).retry_at(), Some(now + secs(300)));
    health.record(rate_limited(secs(1)), MS, now);
    assert_eq!(health.availability(now).retry_at(), Some(now + secs(300)));
    // A passing active check does not override the upstream's Retry-After.
    health.record_probe_result(true, now);
    assert_eq!(health.snapshot(now).state, HealthState::Ejected);
}

#[test]
fn success_while_ejected_does_not_readmit() {
    let health = healthy();
    let now = Instant::now();
    fail(&health, 3, now);
    health.record(AttemptOutcome::Success, MS, now + secs(1));
    assert_eq!(health.snapshot(now + secs(1)).state, HealthState::Ejected);
}

#[test]
fn active_checks_drive_state_only() {
    let health = healthy();
    let now = Instant::now();
    for _ in 0..3 {
        health.record_probe_result(false, now);
    }
    assert_eq!(health.snapshot(now).state, HealthState::Ejected);
    health.record_probe_result(true, now + secs(1));
    let snapshot = health.snapshot(now + secs(1));
    assert_eq!(snapshot.state, HealthState::Healthy);
    assert_eq!(snapshot.total_requests, 0);
    assert_eq!(snapshot.response_time_ms, 0.0);
}

#[test]
fn latency_ewma_and_peak() {
    let health = healthy();
    let now = Instant::now();
    assert_eq!(health.ewma_latency(), None);
    health.record(AttemptOutcome::Success, Duration::from_millis(100), now);
    assert_eq!(health.ewma_latency(), Some(Duration::from_millis(100)));
    // alpha 0.3: 100 + 0.3 * (200 - 100) = 130.
    health.record(AttemptOutcome::Success, Duration::from_millis(200), now);
    let ewma = health.ewma_latency().unwrap().as_secs_f64();
    assert!((ewma - 0.130).abs() < 1e-6, "{ewma}");
    // Peak jumps to the slow sample...
    assert_eq!(health.peak_latency(), Some(Duration::from_millis(200)));
    // ...and decays towards fast samples with time (tau 10 s; after 10 s keep e^-1).
    health.record(
        AttemptOutcome::Success,
        Duration::from_millis(100),
        now + secs(10),
    );
    let peak = health.peak_latency().unwrap().as_secs_f64();
    let expected = 0.2 * (-1f64).exp() + 0.1 * (1.0 - (-1f64).exp());
    assert!((peak - expected).abs() < 1e-6, "{peak} vs {expected}");
    // Fast refusals do not make an endpoint look fast.
    let before = health.ewma_latency();
    health.record(
        AttemptOutcome::ServerError(500),
        Duration::from_millis(1),
        now,
    );
    assert_eq!(health.ewma_latency(), before);
    let snapshot = health.snapshot(now + secs(10));
    assert!(snapshot.response_time_ms > 100.0);
}

#[test]
fn success_rate_is_a_decayed_percentage() {
    let health = healthy();
    let now = Instant::now();
    assert_eq!(health.snapshot(now).success_rate, 100.0);
    for _ in 0..3 {
        health.record(AttemptOutcome::Success, MS, now);
    }
    health.record(AttemptOutcome::ServerError(500), MS, now);
    assert_eq!(health.snapshot(now).success_rate, 75.0);
    // Old history fades (half-life 60 s): a later failure weighs more than the old ones.
    health.record(AttemptOutcome::ServerError(500), MS, now + secs(60));
    // successes 1.5, failures 0.5 + 1 → 50 %.
    assert_eq!(health.snapshot(now + secs(60)).success_rate, 50.0);
}

#[test]
fn snapshot_carries_the_seed_fields() {
    let health = healthy();
    let now = Instant::now();
    health.record(AttemptOutcome::Success, Duration::from_micros(123_450), now);
    let json = serde_json::to_value(health.snapshot(now)).unwrap();
    assert_eq!(json["is_healthy"], true);
    assert_eq!(json["is_available"], true);
    assert_eq!(json["response_time_ms"], 123.45);
    assert_eq!(json["consecutive_failures"], 0);
    assert_eq!(json["success_rate"], 100.0);
    assert_eq!(json["state"], "healthy");
    assert_eq!(json["ejected_until_ms"], serde_json::Value::Null);

    fail(&health, 3, now);
    let json = serde_json::to_value(health.snapshot(now + secs(5))).unwrap();
    assert_eq!(json["state"], "half_open");
    assert_eq!(json["is_healthy"], false);
    assert_eq!(json["is_available"], true);
    assert_eq!(json["last_error"], "server_error 503");
}

#[test]
fn permits_count_inflight() {
    let health = healthy();
    let now = Instant::now();
    let a = health.try_acquire(now).unwrap();
    let b = health.try_acquire(now).unwrap();
    assert_eq!(health.inflight(), 2);
    assert_eq!(health.snapshot(now).inflight, 2);
    a.record(AttemptOutcome::Success, MS, now);
    assert_eq!(health.inflight(), 1);
    drop(b);
    assert_eq!(health.inflight(), 0);
    fail(&health, 3, now);
    let forced = health.acquire_unchecked();
    assert!(!forced.is_probe());
    assert_eq!(health.inflight(), 1);
}

#[test]
fn registry_keeps_health_across_balancer_rebuilds() {
    let registry = HealthRegistry::new(HealthPolicy::default());
    let keys = ["openai|https://a/v1|#0", "openai|https://b/v1|#1"];
    let now = Instant::now();
    let first: Vec<_> = keys.iter().map(|k| registry.get_or_insert(k)).collect();
    assert!(Arc::ptr_eq(&first[0], &registry.get_or_insert(keys[0])));
    fail(&first[0], 3, now);

    // A config swap: new balancer, endpoint list rebuilt from the registry.
    drop(first);
    let balancer = Balancer::new(&weighted(&[1, 1]), Strategy::RoundRobin);
    let view: Vec<_> = keys.iter().map(|k| registry.get_or_insert(k)).collect();
    let mut plan = Vec::new();
    assert_eq!(balancer.plan(&view, now, &mut plan), 1);
    assert_eq!(plan, [1, 0]);

    let report = registry.snapshot_all(now);
    assert_eq!(report.len(), 2);
    assert_eq!(report[keys[0]].state, HealthState::Ejected);

    assert_eq!(registry.retain([keys[1]]), 1);
    assert!(registry.get(keys[0]).is_none());
    assert_eq!(registry.len(), 1);
    // A holder of the removed Arc keeps working.
    assert_eq!(view[0].snapshot(now).state, HealthState::Ejected);
}

#[test]
fn registry_policy_applies_to_existing_and_new_endpoints() {
    let registry = HealthRegistry::new(HealthPolicy::default());
    let now = Instant::now();
    let old = registry.get_or_insert("a");
    let policy = HealthPolicy {
        failure_threshold: 1,
        ..HealthPolicy::default()
    };
    registry.set_policy(policy);
    let new = registry.get_or_insert("b");
    fail(&old, 1, now);
    fail(&new, 1, now);
    assert!(!old.availability(now).is_available());
    assert!(!new.availability(now).is_available());
}

#[test]
fn policy_validation() {
    assert!(HealthPolicy::default().validate().is_ok());
    let bad = [
        HealthPolicy {
            failure_threshold: 0,
            ..HealthPolicy::default()
        },
        HealthPolicy {
            latency_alpha: 0.0,
            ..HealthPolicy::default()
        },
        HealthPolicy {
            base_ejection: secs(600),
            ..HealthPolicy::default()
        },
    ];
    for policy in bad {
        assert!(policy.validate().is_err(), "{policy:?}");
    }
}
