//! Wall-clock helpers: Unix milliseconds and RFC 3339 timestamps for API responses.

use std::time::{SystemTime, UNIX_EPOCH};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// What [`rfc3339`] answers for an instant `time` cannot represent (after year 9999).
const LATEST: &str = "9999-12-31T23:59:59Z";

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a Unix millisecond timestamp (UTC, whole seconds: the API
/// has always answered without a fraction).
pub fn rfc3339(unix_ms: u64) -> String {
    i64::try_from(unix_ms / 1000)
        .ok()
        .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| LATEST.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_rfc3339() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_735_689_600_000), "2025-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400_999), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(u64::MAX), super::LATEST);
    }
}
