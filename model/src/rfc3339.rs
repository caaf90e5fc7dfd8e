//! RFC 3339 timestamps (`2027-01-01T00:00:00Z`, `2027-01-01T09:30:00.5+02:00`) to and from
//! Unix milliseconds: key expiries in config files and the admin API. Strict: a full date,
//! a full time and an offset are required; dates before 1970 are refused.

use crate::governance::{civil_from_days, days_from_civil};

const DAY_MS: i64 = 86_400_000;

/// Parses an RFC 3339 date-time into Unix milliseconds (fractions beyond milliseconds are
/// truncated; a leap second `:60` counts as the next second).
pub fn parse_rfc3339_ms(s: &str) -> Result<u64, String> {
    let bad =
        |why: &str| format!("`{s}` is not an RFC 3339 time ({why}), e.g. 2027-01-01T00:00:00Z");
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        digits.iter().try_fold(0i64, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    let sep = |at: usize, allowed: &[u8]| b.get(at).is_some_and(|c| allowed.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt") && sep(13, b":") && sep(16, b":")) {
        return Err(bad("expected YYYY-MM-DDTHH:MM:SS"));
    }
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        num(0, 4),
        num(5, 2),
        num(8, 2),
        num(11, 2),
        num(14, 2),
        num(17, 2),
    ) else {
        return Err(bad("expected digits"));
    };
    let mut i = 19;
    let mut millis = 0i64;
    if sep(i, b".") {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b.get(i).map_or(0, |d| d - b'0'));
            }
            i += 1;
        }
        if i == start {
            return Err(bad("empty fraction"));
        }
        for _ in (i - start)..3 {
            millis *= 10;
        }
    }
    let offset_min = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && sep(i + 3, b":") => {
            let (Some(oh), Some(om)) = (num(i + 1, 2), num(i + 4, 2)) else {
                return Err(bad("bad offset"));
            };
            if oh > 23 || om > 59 {
                return Err(bad("bad offset"));
            }
            let m = oh * 60 + om;
            if sign == b'-' {
                -m
            } else {
                m
            }
        }
        _ => return Err(bad("expected Z or an offset like +02:00 at the end")),
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad("month out of range")),
    };
    if !(1..=month_days).contains(&day) {
        return Err(bad("day out of range"));
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err(bad("time out of range"));
    }
    // In range above: month 1-12, day 1-31.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let days = days_from_civil(year, month as u32, day as u32);
    let ms = days * DAY_MS + ((hour * 60 + minute - offset_min) * 60 + second) * 1000 + millis;
    u64::try_from(ms).map_err(|_| bad("before 1970"))
}

/// Formats Unix milliseconds as RFC 3339 in UTC (`2027-01-01T00:00:00Z`, with `.mmm` when
/// the milliseconds are not 0).
pub fn format_rfc3339_ms(ms: u64) -> String {
    let ms = i64::try_from(ms).unwrap_or(i64::MAX);
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY_MS));
    let in_day = ms.rem_euclid(DAY_MS);
    let (h, min, s, frac) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    if frac == 0 {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{frac:03}Z")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Ok(0));
        // 2026-12-02T17:30:00Z, as in governance's window test.
        assert_eq!(
            parse_rfc3339_ms("2026-12-02T17:30:00Z"),
            Ok(1_796_232_600_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2026-12-02T19:30:00.25+02:00"),
            Ok(1_796_232_600_250)
        );
        assert_eq!(
            parse_rfc3339_ms("2026-12-02t12:30:00.123456-05:00"),
            Ok(1_796_232_600_123)
        );
        assert_eq!(
            parse_rfc3339_ms("2024-02-29T00:00:00Z"),
            Ok(1_709_164_800_000)
        );
        assert_eq!(format_rfc3339_ms(1_796_232_600_000), "2026-12-02T17:30:00Z");
        assert_eq!(
            format_rfc3339_ms(1_796_232_600_250),
            "2026-12-02T17:30:00.250Z"
        );
        for ms in [0, 951_782_400_000, 4_102_444_800_000] {
            assert_eq!(parse_rfc3339_ms(&format_rfc3339_ms(ms)), Ok(ms));
        }
    }

    #[test]
    fn rejects_anything_loose() {
        for s in [
            "",
            "2027-01-01",
            "2027-01-01T00:00:00",
            "2027-01-01 00:00:00Z",
            "2027-1-01T00:00:00Z",
            "2027-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2027-04-31T00:00:00Z",
            "2027-01-01T24:00:00Z",
            "2027-01-01T00:60:00Z",
            "2027-01-01T00:00:00.Z",
            "2027-01-01T00:00:00+2:00",
            "2027-01-01T00:00:00+02:00x",
            "2027-01-01T00:00:00Zjunk",
            "1969-12-31T23:59:59Z",
            "２０２７-01-01T00:00:00Z",
        ] {
            let e = parse_rfc3339_ms(s).unwrap_err();
            assert!(e.contains("RFC 3339"), "{s}: {e}");
        }
    }
}
