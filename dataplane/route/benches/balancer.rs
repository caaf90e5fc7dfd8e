//! ns per `Balancer::plan` for each strategy over three members, against live
//! `EndpointHealth` (healthy: the lock-free fast path) and against `AlwaysAvailable`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use sluice_route::{
    AlwaysAvailable, AttemptOutcome, Balancer, EndpointHealth, HealthPolicy, Member, Strategy,
};

fn plan_per_strategy(c: &mut Criterion) {
    let members = [Member::new(5, 0), Member::new(3, 0), Member::new(2, 0)];
    let now = Instant::now();
    let health: Vec<Arc<EndpointHealth>> = (0..members.len())
        .map(|i| {
            let health = Arc::new(EndpointHealth::new(HealthPolicy::default()));
            let latency = Duration::from_millis(100 + 50 * i as u64);
            health.record(AttemptOutcome::Success, latency, now);
            health
        })
        .collect();

    let mut group = c.benchmark_group("plan_3_members");
    for strategy in Strategy::ALL {
        let balancer = Balancer::new(&members, strategy);
        let mut plan = Vec::with_capacity(members.len());
        group.bench_function(format!("{strategy}/endpoint_health"), |b| {
            b.iter(|| black_box(balancer.plan(black_box(&health), now, &mut plan)))
        });
        group.bench_function(format!("{strategy}/always_available"), |b| {
            b.iter(|| black_box(balancer.plan(&AlwaysAvailable, now, &mut plan)))
        });
    }
    group.finish();

    // One member ejected: its availability takes the mutex.
    let ejected = Arc::new(EndpointHealth::new(HealthPolicy::default()));
    for _ in 0..3 {
        ejected.record(AttemptOutcome::ConnectError, Duration::ZERO, now);
    }
    let degraded = vec![Arc::clone(&health[0]), ejected, Arc::clone(&health[2])];
    let balancer = Balancer::new(&members, Strategy::Weighted);
    let mut plan = Vec::with_capacity(members.len());
    c.bench_function("plan_3_members/weighted/one_ejected", |b| {
        b.iter(|| black_box(balancer.plan(black_box(&degraded), now, &mut plan)))
    });

    // The whole per-attempt bookkeeping: plan, permit, record.
    let balancer = Balancer::new(&members, Strategy::P2c);
    c.bench_function("attempt_3_members/p2c/plan_acquire_record", |b| {
        b.iter(|| {
            balancer.plan(&health, now, &mut plan);
            if let Some(permit) = health[plan[0]].try_acquire(now) {
                permit.record(AttemptOutcome::Success, Duration::from_millis(120), now);
            }
        })
    });
}

criterion_group!(benches, plan_per_strategy);
criterion_main!(benches);
