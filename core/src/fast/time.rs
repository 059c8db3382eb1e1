//! Cedar's `datetime` and `duration` literal formats, parsed without regexes.
//!
//! These accept exactly the strings `cedar-policy-core` 4.14's
//! `extensions/datetime.rs` accepts (its `DATE_PATTERN`, `HMS_PATTERN`,
//! `MS_AND_OFFSET_PATTERN` and `DURATION_PATTERN` regexes plus chrono's range
//! checks) and give the same millisecond values; anything else is `None`, and
//! the caller then lets Cedar produce the error.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::clock::days_from_civil;

const DAY_MS: i64 = 86_400_000;

fn digits(b: &[u8], from: usize, len: usize) -> Option<i64> {
    let part = b.get(from..from + len)?;
    let mut n = 0i64;
    for &c in part {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(c - b'0');
    }
    Some(n)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Milliseconds since the Unix epoch of a Cedar `datetime` literal
/// (`YYYY-MM-DD`, optionally `Thh:mm:ss`, optional `.SSS`, then `Z` or `±hhmm`).
pub(crate) fn parse_datetime(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let (y, mo, d) = (digits(b, 0, 4)?, digits(b, 5, 2)?, digits(b, 8, 2)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return None;
    }
    let date_ms = days_from_civil(y, mo, d) * DAY_MS;
    if b.len() == 10 {
        return Some(date_ms);
    }
    if b.get(10) != Some(&b'T') || b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    let (h, mi, sec) = (digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?);
    let mut i = 19;
    let mut ms = 0;
    if b.get(i) == Some(&b'.') {
        ms = digits(b, i + 1, 3)?;
        i += 4;
    }
    let offset_secs = match b.get(i..)? {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] if rest.len() == 4 => {
            let (oh, om) = (digits(rest, 0, 2)?, digits(rest, 2, 2)?);
            if oh >= 24 || om >= 60 {
                return None;
            }
            let secs = oh * 3600 + om * 60;
            if *sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return None,
    };
    if h >= 24 || mi >= 60 || sec >= 60 {
        return None;
    }
    Some(date_ms + ((h * 60 + mi) * 60 + sec - offset_secs) * 1000 + ms)
}

/// Milliseconds of a Cedar `duration` literal (`-?` then `Nd`, `Nh`, `Nm`,
/// `Ns`, `Nms` in this order, each optional, at least one), with Cedar's
/// overflow rules.
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    if s.is_empty() || s == "-" {
        return None;
    }
    let negative = s.starts_with('-');
    let b = s.as_bytes();
    let mut i = usize::from(negative);
    // d, h, m, s, ms
    let mut parts: [Option<u64>; 5] = [None; 5];
    let mut next_unit = 0usize;
    while i < b.len() {
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let number = s.get(start..i)?;
        let unit = match (b.get(i), b.get(i + 1)) {
            (Some(b'm'), Some(b's')) => 4,
            (Some(b'd'), _) => 0,
            (Some(b'h'), _) => 1,
            (Some(b'm'), _) => 2,
            (Some(b's'), _) => 3,
            _ => return None,
        };
        if unit < next_unit {
            return None;
        }
        i += if unit == 4 { 2 } else { 1 };
        next_unit = unit + 1;
        // Cedar's regex accepts any digit run; a run too long for u64 is its overflow error.
        let value: u64 = number.parse().ok()?;
        if let Some(slot) = parts.get_mut(unit) {
            *slot = Some(value);
        }
    }
    let get = |k: usize| parts.get(k).copied().flatten().unwrap_or(0);
    let checked = |x: i64, y: u64, mul: i64| -> Option<i64> {
        let y = i64::try_from(y).ok()?.checked_mul(mul)?;
        if negative {
            x.checked_sub(y)
        } else {
            x.checked_add(y)
        }
    };
    let mut ms = if negative { i64::try_from(-i128::from(get(4))).ok()? } else { i64::try_from(get(4)).ok()? };
    ms = checked(ms, get(3), 1000)?;
    ms = checked(ms, get(2), 60_000)?;
    ms = checked(ms, get(1), 3_600_000)?;
    checked(ms, get(0), DAY_MS)
}

/// The instant of `clock::format_rfc3339_millis(t)` (the stamp Cedar's path
/// parses for `context.now`) in milliseconds, computed without the text;
/// `None` past year 9999, where that stamp is not a valid Cedar datetime.
pub(crate) fn clock_millis(t: SystemTime) -> Option<i64> {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = i64::try_from(since.as_secs()).unwrap_or(i64::MAX / 2);
    // 10000-01-01T00:00:00Z
    if secs >= 253_402_300_800 {
        return None;
    }
    Some(secs * 1000 + i64::from(since.subsec_millis()))
}

/// `datetime.toDate()`: `None` on overflow, as in Cedar.
pub(crate) fn to_date(epoch: i64) -> Option<i64> {
    epoch.checked_sub(epoch.checked_rem_euclid(DAY_MS)?)
}

/// `datetime.toTime()`.
pub(crate) fn to_time(epoch: i64) -> i64 {
    if epoch.is_negative() {
        let rem = epoch % DAY_MS;
        if rem == 0 {
            rem
        } else {
            rem + DAY_MS
        }
    } else {
        epoch % DAY_MS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes() {
        assert_eq!(parse_datetime("1970-01-01"), Some(0));
        assert_eq!(parse_datetime("1970-01-02T00:00:00Z"), Some(DAY_MS));
        assert_eq!(parse_datetime("1970-01-01T00:00:01.234Z"), Some(1234));
        assert_eq!(parse_datetime("1970-01-01T01:00:00+0100"), Some(0));
        assert_eq!(parse_datetime("1969-12-31T23:00:00-0100"), Some(0));
        assert_eq!(parse_datetime("2024-02-29"), parse_datetime("2024-02-28").map(|d| d + DAY_MS));
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-01",
            "2024-01-00",
            "2024-1-01",
            "2024-01-01T",
            "2024-01-01t00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:60:00Z",
            "2024-01-01T00:00:60Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00.12Z",
            "2024-01-01T00:00:00+2400",
            "2024-01-01T00:00:00+0060",
            "2024-01-01T00:00:00+01:00",
            "2024-01-01T00:00:00ZZ",
            "2024-01-01 ",
            "+024-01-01",
            "２０２４-01-01",
            "",
        ] {
            assert_eq!(parse_datetime(bad), None, "{bad}");
        }
        assert_eq!(parse_datetime("0000-01-01"), Some(-62_167_219_200_000));
    }

    #[test]
    fn clock_millis_agrees_with_the_formatted_stamp() {
        use crate::clock::format_rfc3339_millis;
        for (secs, nanos) in [
            (0u64, 0u32),
            (1_764_064_800, 123_456_789),
            (951_782_400, 999_999_999),
            (253_402_300_799, 999_000_000),
            (253_402_300_800, 0),
            (u64::MAX / 4, 0),
        ] {
            let t = UNIX_EPOCH + Duration::new(secs, nanos);
            assert_eq!(clock_millis(t), parse_datetime(&format_rfc3339_millis(t)), "{secs}.{nanos}");
        }
        let before = UNIX_EPOCH - Duration::from_secs(86_400);
        assert_eq!(clock_millis(before), parse_datetime(&format_rfc3339_millis(before)));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h"), Some(3_600_000));
        assert_eq!(parse_duration("-1d2h3m4s5ms"), Some(-(DAY_MS + 7_200_000 + 180_000 + 4_000 + 5)));
        assert_eq!(parse_duration("5ms"), Some(5));
        assert_eq!(parse_duration("1m5ms"), Some(60_005));
        assert_eq!(parse_duration("-9223372036854775808ms"), Some(i64::MIN));
        for bad in [
            "",
            "-",
            "1",
            "h",
            "1h1d",
            "1s1m",
            "1ms1s",
            "1x",
            "1h ",
            "9223372036854775808ms",
            "1d1d",
            "99999999999999999999s",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
