use std::time::{Duration, Instant};

use super::{endpoints, fail, picks, secs, weighted};
use crate::{
    weight_from_f64, AlwaysAvailable, AttemptOutcome, Availability, Balancer, HealthView, Member,
    Strategy, LEAST_LATENCY_EXPLORE_EVERY,
};

/// A hand-set view: availability, latency and in-flight per member.
struct Fixed {
    availability: Vec<Availability>,
    latency: Vec<Option<Duration>>,
    inflight: Vec<u32>,
}

impl Fixed {
    fn available(n: usize) -> Self {
        Fixed {
            availability: vec![Availability::Available; n],
            latency: vec![None; n],
            inflight: vec![0; n],
        }
    }
}

impl HealthView for Fixed {
    fn availability(&self, idx: usize, _now: Instant) -> Availability {
        self.availability[idx]
    }
    fn ewma_latency(&self, idx: usize) -> Option<Duration> {
        self.latency[idx]
    }
    fn inflight(&self, idx: usize) -> u32 {
        self.inflight[idx]
    }
}

fn down(at: Option<Instant>) -> Availability {
    Availability::Unavailable { retry_at: at }
}

#[test]
fn round_robin_is_exact_and_fails_over_in_turn() {
    let balancer = Balancer::new(&weighted(&[1, 5, 1]), Strategy::RoundRobin);
    let now = Instant::now();
    assert_eq!(
        picks(&balancer, &AlwaysAvailable, now, 7),
        [0, 1, 2, 0, 1, 2, 0]
    );
    let mut plan = Vec::new();
    assert_eq!(balancer.plan(&AlwaysAvailable, now, &mut plan), 3);
    assert_eq!(plan, [1, 2, 0]);
    assert_eq!(balancer.state().round_robin_index(), 2);
}

#[test]
fn round_robin_spreads_over_available_members() {
    let balancer = Balancer::new(&weighted(&[1, 1, 1]), Strategy::RoundRobin);
    let now = Instant::now();
    let mut view = Fixed::available(3);
    view.availability[1] = down(Some(now + secs(5)));
    let heads = picks(&balancer, &view, now, 6);
    assert_eq!(heads, [0, 2, 0, 2, 0, 2]);
    let mut plan = Vec::new();
    assert_eq!(balancer.plan(&view, now, &mut plan), 2);
    assert_eq!(plan, [0, 2, 1]);
}

#[test]
fn smooth_weighted_sequence_matches_nginx() {
    let balancer = Balancer::new(&weighted(&[5, 1, 1]), Strategy::Weighted);
    let heads = picks(&balancer, &AlwaysAvailable, Instant::now(), 14);
    assert_eq!(heads, [0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0]);
    // Back at the start of the cycle: current weights all zero.
    assert_eq!(balancer.state().tiers[0].current_weights, [0, 0, 0]);
}

#[test]
fn smooth_weighted_stays_within_one_of_ideal_at_every_prefix() {
    let weights = [1u32, 2, 7];
    let total: u32 = weights.iter().sum();
    let balancer = Balancer::new(&weighted(&weights), Strategy::Weighted);
    let mut counts = [0u32; 3];
    for (n, head) in picks(&balancer, &AlwaysAvailable, Instant::now(), 2000)
        .into_iter()
        .enumerate()
    {
        counts[head] += 1;
        for (i, &w) in weights.iter().enumerate() {
            let ideal = f64::from(w) * (n + 1) as f64 / f64::from(total);
            assert!(
                (f64::from(counts[i]) - ideal).abs() <= 1.0,
                "pick {n}: member {i} has {} vs ideal {ideal}",
                counts[i]
            );
        }
    }
    assert_eq!(counts, [200, 400, 1400]);
    assert_eq!(balancer.state().picks, [200, 400, 1400]);
}

#[test]
fn smooth_weighted_failover_order_follows_current_weights() {
    let balancer = Balancer::new(&weighted(&[1, 2, 7]), Strategy::Weighted);
    let mut plan = Vec::new();
    balancer.plan(&AlwaysAvailable, Instant::now(), &mut plan);
    // After the first pick of 2: current = [1, 2, -3].
    assert_eq!(plan, [2, 1, 0]);
}

#[test]
fn fractional_seed_weights_scale_by_one_hundred() {
    assert_eq!(weight_from_f64(1.0), Some(100));
    assert_eq!(weight_from_f64(0.7), Some(70));
    assert_eq!(weight_from_f64(0.333), Some(33));
    assert_eq!(weight_from_f64(0.0), Some(0));
    for bad in [-1.0, f64::NAN, f64::INFINITY, 1e12] {
        assert_eq!(weight_from_f64(bad), None, "{bad}");
    }
    let members: Vec<Member> = [0.7, 0.3]
        .iter()
        .map(|&w| Member::new(weight_from_f64(w).unwrap(), 0))
        .collect();
    let balancer = Balancer::new(&members, Strategy::Weighted);
    let heads = picks(&balancer, &AlwaysAvailable, Instant::now(), 1000);
    let first = heads.iter().filter(|&&h| h == 0).count();
    assert_eq!(first, 700);
}

#[test]
fn weighted_skips_unavailable_and_keeps_ratio_of_the_rest() {
    let balancer = Balancer::new(&weighted(&[1, 2, 7]), Strategy::Weighted);
    let now = Instant::now();
    let mut view = Fixed::available(3);
    view.availability[2] = down(Some(now + secs(1)));
    let heads = picks(&balancer, &view, now, 300);
    assert_eq!(heads.iter().filter(|&&h| h == 0).count(), 100);
    assert_eq!(heads.iter().filter(|&&h| h == 1).count(), 200);
}

#[test]
fn lower_priority_value_is_preferred_for_every_strategy() {
    let members = [
        Member::new(1, 10),
        Member::new(1, -1),
        Member::new(1, 0),
        Member::new(1, -1),
    ];
    for strategy in Strategy::ALL {
        let balancer = Balancer::with_rng_seed(&members, strategy, 7);
        let mut plan = Vec::new();
        for _ in 0..10 {
            balancer.plan(&AlwaysAvailable, Instant::now(), &mut plan);
            assert!(plan[0] == 1 || plan[0] == 3, "{strategy}: {plan:?}");
            assert_eq!(&plan[2..], [2, 0], "{strategy}");
        }
    }
    let balancer = Balancer::new(&members, Strategy::Priority);
    let mut plan = Vec::new();
    balancer.plan(&AlwaysAvailable, Instant::now(), &mut plan);
    assert_eq!(plan, [1, 3, 2, 0]);
    let state = balancer.state();
    let priorities: Vec<i32> = state.tiers.iter().map(|t| t.priority).collect();
    assert_eq!(priorities, [-1, 0, 10]);
}

#[test]
fn priority_fails_over_and_fails_back_when_the_top_tier_recovers() {
    let members = [Member::new(1, 0), Member::new(1, 1), Member::new(1, 2)];
    let balancer = Balancer::new(&members, Strategy::Priority);
    let health = endpoints(3);
    let t0 = Instant::now();
    let mut plan = Vec::new();
    assert_eq!(balancer.plan(&health, t0, &mut plan), 3);
    assert_eq!(plan, [0, 1, 2]);

    fail(&health[0], 3, t0);
    assert_eq!(balancer.plan(&health, t0, &mut plan), 2);
    assert_eq!(plan, [1, 2, 0]);

    // The ejection ends: the top tier is half-open and gets the next request as probe.
    let t1 = t0 + secs(5);
    assert_eq!(balancer.plan(&health, t1, &mut plan), 3);
    assert_eq!(plan, [0, 1, 2]);
    let probe = health[0].try_acquire(t1).expect("probe admitted");
    assert!(probe.is_probe());
    // While the probe is out, other requests go to the next tier.
    assert_eq!(balancer.plan(&health, t1, &mut plan), 2);
    assert_eq!(plan, [1, 2, 0]);
    probe.record(AttemptOutcome::Success, Duration::from_millis(80), t1);
    assert_eq!(balancer.plan(&health, t1, &mut plan), 3);
    assert_eq!(plan, [0, 1, 2]);
}

#[test]
fn weight_zero_is_standby_only() {
    let members = [Member::new(0, 0), Member::new(1, 0), Member::new(1, 1)];
    let now = Instant::now();
    for strategy in Strategy::ALL {
        let balancer = Balancer::with_rng_seed(&members, strategy, 1);
        let mut plan = Vec::new();
        for _ in 0..5 {
            balancer.plan(&AlwaysAvailable, now, &mut plan);
            assert_eq!(plan, [1, 2, 0], "{strategy}");
        }
        let mut view = Fixed::available(3);
        view.availability[1] = down(Some(now + secs(1)));
        view.availability[2] = down(Some(now + secs(2)));
        assert_eq!(balancer.plan(&view, now, &mut plan), 1);
        assert_eq!(plan, [0, 1, 2], "{strategy}");
        assert_eq!(balancer.state().standby, [0]);
    }
}

#[test]
fn all_unavailable_returns_everyone_by_soonest_return() {
    let now = Instant::now();
    let mut view = Fixed::available(4);
    view.availability = vec![
        down(Some(now + secs(30))),
        down(None),
        down(Some(now + secs(5))),
        down(Some(now + secs(30))),
    ];
    for strategy in Strategy::ALL {
        let balancer = Balancer::new(&weighted(&[1, 1, 1, 1]), strategy);
        let mut plan = Vec::new();
        assert_eq!(balancer.plan(&view, now, &mut plan), 0);
        assert_eq!(plan, [2, 0, 3, 1], "{strategy}");
        assert_eq!(balancer.pick_one(&view, now), Some(2));
        // No strategy pick happened.
        assert_eq!(balancer.state().picks, [0, 0, 0, 0]);
    }
}

#[test]
fn empty_balancer_and_short_views_do_not_panic() {
    let empty = Balancer::new(&[], Strategy::Weighted);
    let mut plan = vec![9];
    assert_eq!(empty.plan(&AlwaysAvailable, Instant::now(), &mut plan), 0);
    assert!(plan.is_empty());
    assert_eq!(empty.pick_one(&AlwaysAvailable, Instant::now()), None);
    assert!(empty.is_empty());

    // A view with fewer entries than members: the missing ones count as unavailable.
    let balancer = Balancer::new(&weighted(&[1, 1, 1]), Strategy::P2c);
    let health = endpoints(2);
    assert_eq!(balancer.plan(&health, Instant::now(), &mut plan), 2);
    assert_eq!(plan[2], 2);
}

#[test]
fn least_latency_prefers_the_lowest_ewma_and_explores() {
    let balancer = Balancer::new(&weighted(&[1, 1, 1]), Strategy::LeastLatency);
    let mut view = Fixed::available(3);
    view.latency = vec![
        Some(Duration::from_millis(300)),
        Some(Duration::from_millis(100)),
        Some(Duration::from_millis(200)),
    ];
    let mut plan = Vec::new();
    balancer.plan(&view, Instant::now(), &mut plan);
    assert_eq!(plan, [1, 2, 0]);

    let rounds = 10 * LEAST_LATENCY_EXPLORE_EVERY as usize;
    let heads = picks(&balancer, &view, Instant::now(), rounds - 1);
    let count = |m| heads.iter().filter(|&&h| h == m).count() + usize::from(m == 1);
    // One pick in LEAST_LATENCY_EXPLORE_EVERY explores, alternating between the others.
    assert_eq!(count(1), rounds - 10);
    assert_eq!(count(2), 5);
    assert_eq!(count(0), 5);
}

#[test]
fn least_latency_tries_members_without_samples_first() {
    let balancer = Balancer::new(&weighted(&[1, 1]), Strategy::LeastLatency);
    let mut view = Fixed::available(2);
    view.latency = vec![Some(Duration::from_millis(50)), None];
    assert_eq!(balancer.pick_one(&view, Instant::now()), Some(1));
}

#[test]
fn least_latency_follows_recorded_latency() {
    let balancer = Balancer::new(&weighted(&[1, 1]), Strategy::LeastLatency);
    let health = endpoints(2);
    let now = Instant::now();
    health[0].record(AttemptOutcome::Success, Duration::from_millis(400), now);
    health[1].record(AttemptOutcome::Success, Duration::from_millis(100), now);
    assert_eq!(balancer.pick_one(&health, now), Some(1));
    for _ in 0..10 {
        health[1].record(AttemptOutcome::Success, Duration::from_millis(900), now);
    }
    assert_eq!(balancer.pick_one(&health, now), Some(0));
}

#[test]
fn p2c_with_two_members_always_takes_the_less_loaded() {
    let balancer = Balancer::with_rng_seed(&weighted(&[1, 1]), Strategy::P2c, 42);
    let mut view = Fixed::available(2);
    view.inflight = vec![3, 1];
    assert!(picks(&balancer, &view, Instant::now(), 100)
        .iter()
        .all(|&h| h == 1));
    // Equal in-flight: the lower peak latency wins.
    view.inflight = vec![2, 2];
    view.latency = vec![
        Some(Duration::from_millis(10)),
        Some(Duration::from_millis(20)),
    ];
    assert!(picks(&balancer, &view, Instant::now(), 100)
        .iter()
        .all(|&h| h == 0));
}

#[test]
fn p2c_prefers_fewer_inflight() {
    let balancer = Balancer::with_rng_seed(&weighted(&[1, 1, 1]), Strategy::P2c, 7);
    let mut view = Fixed::available(3);
    view.inflight = vec![10, 0, 5];
    let heads = picks(&balancer, &view, Instant::now(), 3000);
    let count = |m| heads.iter().filter(|&&h| h == m).count();
    // Member 1 wins whenever drawn (2/3 of pairs), member 2 against 0 (1/3), 0 never.
    assert_eq!(count(0), 0);
    assert!(count(1) > 1800, "{}", count(1));
    assert!(count(2) > 800, "{}", count(2));
    let mut plan = Vec::new();
    balancer.plan(&view, Instant::now(), &mut plan);
    assert_eq!(&plan[1..], if plan[0] == 1 { [2, 0] } else { [1, 0] });
}

#[test]
fn p2c_reads_permits() {
    let balancer = Balancer::with_rng_seed(&weighted(&[1, 1]), Strategy::P2c, 3);
    let health = endpoints(2);
    let now = Instant::now();
    let held: Vec<_> = (0..3)
        .map(|_| health[0].try_acquire(now).expect("healthy"))
        .collect();
    assert_eq!(health.inflight(0), 3);
    assert_eq!(balancer.pick_one(&health, now), Some(1));
    let _other = health[1].try_acquire(now);
    let _more = health[1].try_acquire(now);
    let _most = health[1].try_acquire(now);
    let _extra = health[1].try_acquire(now);
    assert_eq!(balancer.pick_one(&health, now), Some(0));
    drop(held);
    assert_eq!(health.inflight(0), 0);
}

#[test]
fn state_serialises_for_the_state_api() {
    let balancer = Balancer::new(&weighted(&[2, 1]), Strategy::Weighted);
    balancer.pick_one(&AlwaysAvailable, Instant::now());
    let json = serde_json::to_value(balancer.state()).unwrap();
    assert_eq!(json["strategy"], "weighted");
    assert_eq!(
        json["tiers"][0]["current_weights"],
        serde_json::json!([-1, 1])
    );
    assert_eq!(json["tiers"][0]["members"], serde_json::json!([0, 1]));
    assert_eq!(json["picks"], serde_json::json!([1, 0]));

    let rr = Balancer::new(&weighted(&[1, 1, 1]), Strategy::RoundRobin);
    for expected in [1, 2, 0, 1] {
        rr.pick_one(&AlwaysAvailable, Instant::now());
        assert_eq!(rr.state().round_robin_index(), expected);
    }
}

#[test]
fn endpoint_groups_fold_a_targets_endpoints() {
    use crate::EndpointGroups;
    let now = Instant::now();
    let first = endpoints(2);
    let second = endpoints(1);
    let empty = endpoints(0);
    fail(&first[0], 3, now);
    first[1].record(AttemptOutcome::Success, Duration::from_millis(300), now);
    first[0].record(AttemptOutcome::Timeout, Duration::from_millis(900), now);
    let _permit = first[1].try_acquire(now);
    let targets = [first.clone(), second.clone(), empty];
    let view = EndpointGroups(&targets);
    assert!(view.availability(0, now).is_available());
    assert_eq!(view.ewma_latency(0), Some(Duration::from_millis(300)));
    assert_eq!(view.inflight(0), 1);
    assert_eq!(view.ewma_latency(1), None);
    assert_eq!(view.availability(2, now), down(None));
    assert_eq!(view.availability(9, now), down(None));

    fail(&first[1], 3, now);
    fail(&second[0], 3, now + secs(1));
    assert_eq!(view.availability(0, now), down(Some(now + secs(5))));
    assert_eq!(view.availability(0, now).retry_after(now), Some(secs(5)));
    let balancer = Balancer::new(&weighted(&[1, 1, 1]), Strategy::RoundRobin);
    let mut plan = Vec::new();
    assert_eq!(balancer.plan(&view, now, &mut plan), 0);
    assert_eq!(plan, [0, 1, 2]);
}

#[test]
fn p2c_with_the_thread_rng() {
    let balancer = Balancer::new(&weighted(&[1, 1, 1]), Strategy::P2c);
    let mut view = Fixed::available(3);
    view.inflight = vec![4, 9, 4];
    let heads = picks(&balancer, &view, Instant::now(), 200);
    assert!(heads.iter().all(|&h| h != 1));
}
