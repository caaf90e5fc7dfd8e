use super::*;

fn limits() -> Limits {
    Limits {
        max_connections: 2,
        max_inflight: 1,
        max_buffered_body_bytes: 100,
        ..Limits::default()
    }
}

#[test]
fn connection_cap_refuses_and_releases() {
    let a = Admission::new();
    let l = limits();
    let c1 = a.connection(&l).unwrap();
    let _c2 = a.connection(&l).unwrap();
    assert_eq!(a.connection(&l).unwrap_err(), Reject::Connections);
    drop(c1);
    assert!(a.connection(&l).is_ok());
}

#[test]
fn inflight_cap_refuses_and_releases() {
    let a = Admission::new();
    let l = limits();
    let r = a.request(&l).unwrap();
    assert_eq!(a.request(&l).unwrap_err(), Reject::Inflight);
    drop(r);
    assert_eq!(a.inflight(), 0);
    assert!(a.request(&l).is_ok());
}

#[test]
fn body_budget_is_global_and_returned() {
    let a = Admission::new();
    let l = limits();
    let mut p1 = BodyPermit::empty(&a);
    let mut p2 = BodyPermit::empty(&a);
    p1.grow(60, &l).unwrap();
    assert_eq!(p2.grow(41, &l).unwrap_err(), Reject::BufferedBytes);
    p2.grow(40, &l).unwrap();
    assert_eq!(a.buffered_body_bytes(), 100);
    drop(p1);
    assert_eq!(a.buffered_body_bytes(), 40);
    drop(p2);
    assert_eq!(a.buffered_body_bytes(), 0);
}

#[test]
fn budget_never_overflows() {
    let a = Admission::new();
    let l = Limits {
        max_buffered_body_bytes: usize::MAX,
        ..limits()
    };
    let mut p = BodyPermit::empty(&a);
    p.grow(usize::MAX - 1, &l).unwrap();
    assert!(BodyPermit::empty(&a).grow(2, &l).is_err());
}

#[test]
fn body_deadline_applies_rate_after_grace() {
    let l = Limits {
        body_timeout: Duration::from_secs(60),
        body_rate_grace: Duration::from_secs(5),
        min_body_rate: 1000,
        ..Limits::default()
    };
    let d = BodyDeadline::start(&l);
    // Nothing received: the next byte is due when the grace period ends.
    let (at, why) = d.next_deadline(0);
    assert_eq!(why, Reject::BodyRate);
    assert_eq!(at - d.start, Duration::from_secs(5));
    // 10 kB received buys 10 s more at 1 kB/s.
    let (at, why) = d.next_deadline(10_000);
    assert_eq!(why, Reject::BodyRate);
    assert_eq!(at - d.start, Duration::from_secs(15));
    // A fast client meets the total deadline first.
    let (at, why) = d.next_deadline(10_000_000);
    assert_eq!(why, Reject::BodyTimeout);
    assert_eq!(at - d.start, Duration::from_secs(60));
    // Absurd sizes saturate instead of overflowing.
    assert_eq!(d.next_deadline(usize::MAX).1, Reject::BodyTimeout);
}

#[test]
fn zero_rate_means_total_deadline_only() {
    let l = Limits {
        min_body_rate: 0,
        ..Limits::default()
    };
    let d = BodyDeadline::start(&l);
    assert_eq!(d.next_deadline(0).1, Reject::BodyTimeout);
}

#[test]
fn reasons_are_distinct() {
    let names: std::collections::HashSet<_> = Reject::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(names.len(), Reject::ALL.len());
}
