use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{endpoints, weighted};
use crate::{AlwaysAvailable, AttemptOutcome, Balancer, Strategy};

const THREADS: usize = 8;
const PLANS: usize = 10_000;

#[test]
fn concurrent_round_robin_counts_stay_exact() {
    let balancer = Balancer::new(&weighted(&[1, 1, 1]), Strategy::RoundRobin);
    let now = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                let mut plan = Vec::with_capacity(3);
                for _ in 0..PLANS {
                    assert_eq!(balancer.plan(&AlwaysAvailable, now, &mut plan), 3);
                }
            });
        }
    });
    let mut picks = balancer.state().picks;
    picks.sort_unstable();
    // 80 000 = 3 × 26 666 + 2: every member gets its exact turn.
    assert_eq!(picks, [26_666, 26_667, 26_667]);
}

#[test]
fn concurrent_plans_permits_and_records_stay_consistent() {
    for strategy in Strategy::ALL {
        let balancer = Balancer::with_rng_seed(&weighted(&[1, 2, 7]), strategy, 11);
        let health = endpoints(3);
        let start = Instant::now();
        let (admitted, headed): (usize, usize) = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..THREADS)
                .map(|thread| {
                    let (balancer, health) = (&balancer, &health);
                    scope.spawn(move || {
                        let mut plan = Vec::with_capacity(3);
                        let (mut admitted, mut headed) = (0, 0);
                        for i in 0..PLANS {
                            // Simulated time moves 1 ms per request per thread.
                            let now = start + Duration::from_millis(i as u64);
                            let available = balancer.plan(health, now, &mut plan);
                            assert!(available <= 3 && plan.len() == 3);
                            headed += usize::from(available > 0);
                            let Some(permit) =
                                plan.iter().find_map(|&m| health[m].try_acquire(now))
                            else {
                                continue;
                            };
                            admitted += 1;
                            let outcome = match (i + thread) % 7 {
                                0 => AttemptOutcome::ServerError(503),
                                1 => AttemptOutcome::RateLimited {
                                    retry_after: Some(Duration::from_millis(3)),
                                },
                                2 => AttemptOutcome::ClientError(400),
                                _ => AttemptOutcome::Success,
                            };
                            permit.record(outcome, Duration::from_millis(20), now);
                        }
                        (admitted, headed)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .fold((0, 0), |(a, h), (da, dh)| (a + da, h + dh))
        });
        let end = start + Duration::from_millis(PLANS as u64);
        let recorded: u64 = health.iter().map(|h| h.snapshot(end).total_requests).sum();
        assert_eq!(recorded, admitted as u64, "{strategy}");
        assert!(health.iter().all(|h| h.inflight() == 0), "{strategy}");
        let picks: u64 = balancer.state().picks.iter().sum();
        // Only plans with an available member count a pick.
        assert_eq!(picks, headed as u64, "{strategy}");
        assert!(admitted > 0, "{strategy}");
        assert!(Arc::strong_count(&health[0]) == 1);
    }
}
