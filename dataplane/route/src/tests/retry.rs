use std::time::Duration;

use crate::{attempts, parse_retry_after, parse_retry_delay, AttemptOutcome, RetryBudget};

#[test]
fn retryable_classification() {
    use AttemptOutcome::*;
    let retryable = [
        ConnectError,
        Timeout,
        ServerError(500),
        ServerError(503),
        RateLimited { retry_after: None },
        RateLimited {
            retry_after: Some(Duration::from_secs(1)),
        },
        StreamError,
    ];
    for outcome in retryable {
        assert!(outcome.is_retryable(), "{outcome}");
    }
    for outcome in [
        Success,
        ClientError(400),
        ClientError(401),
        ClientError(404),
    ] {
        assert!(!outcome.is_retryable(), "{outcome}");
        assert!(!outcome.is_endpoint_failure(), "{outcome}");
    }
}

#[test]
fn status_classification() {
    assert_eq!(
        AttemptOutcome::from_status(200, None),
        AttemptOutcome::Success
    );
    assert_eq!(
        AttemptOutcome::from_status(400, None),
        AttemptOutcome::ClientError(400)
    );
    assert_eq!(
        AttemptOutcome::from_status(429, Some(Duration::from_secs(2))),
        AttemptOutcome::RateLimited {
            retry_after: Some(Duration::from_secs(2))
        }
    );
    assert_eq!(
        AttemptOutcome::from_status(502, None),
        AttemptOutcome::ServerError(502)
    );
    assert_eq!(
        AttemptOutcome::ServerError(502).to_string(),
        "server_error 502"
    );
}

#[test]
fn attempts_are_one_plus_capped_retries() {
    assert_eq!(attempts(2, None, 5), 3);
    assert_eq!(attempts(2, Some(0), 5), 1);
    assert_eq!(attempts(2, Some(4), 5), 5);
    assert_eq!(attempts(2, Some(100), 5), 6);
    assert_eq!(attempts(9, None, 3), 4);
    assert_eq!(attempts(0, None, 0), 1);
    assert_eq!(attempts(u32::MAX, None, u32::MAX - 1), u32::MAX);
}

#[test]
fn retry_budget() {
    let mut budget = RetryBudget::new(attempts(1, None, 3));
    assert!(budget.start_attempt());
    assert!(budget.should_retry(&AttemptOutcome::Timeout, false));
    assert!(!budget.should_retry(&AttemptOutcome::Timeout, true));
    assert!(!budget.should_retry(&AttemptOutcome::ClientError(400), false));
    assert!(budget.start_attempt());
    assert!(!budget.should_retry(&AttemptOutcome::Timeout, false));
    assert!(!budget.start_attempt());
    assert_eq!(budget.attempts_started(), 2);
    assert!(RetryBudget::new(0).start_attempt());
}

#[test]
fn retry_after_delta_seconds() {
    assert_eq!(parse_retry_after("120", 0), Some(Duration::from_secs(120)));
    assert_eq!(parse_retry_after(" 0 ", 0), Some(Duration::ZERO));
    assert_eq!(
        parse_retry_after("1.5", 0),
        Some(Duration::from_millis(1500))
    );
    for bad in ["", "-1", "abc", "1e3", "1.2.3", "99999999999999999999999"] {
        assert_eq!(parse_retry_after(bad, 0), None, "{bad:?}");
    }
}

#[test]
fn retry_after_http_date() {
    // Wed, 21 Oct 2015 07:28:00 GMT = 1445412480.
    let date = "Wed, 21 Oct 2015 07:28:00 GMT";
    assert_eq!(
        parse_retry_after(date, 1_445_412_480 - 30),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        parse_retry_after(date, 1_445_412_480 + 30),
        Some(Duration::ZERO)
    );
    assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00", 0), None);
}

#[test]
fn gemini_retry_delay() {
    assert_eq!(parse_retry_delay("30s"), Some(Duration::from_secs(30)));
    assert_eq!(
        parse_retry_delay("1.25s"),
        Some(Duration::from_millis(1250))
    );
    for bad in ["30", "s", "-1s", "1ms"] {
        assert_eq!(parse_retry_delay(bad), None, "{bad:?}");
    }
}
