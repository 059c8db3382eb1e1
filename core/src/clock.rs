//! Where the engine's notion of "now" comes from.
//!
//! Policies that compare against `context.now` must see the time of the decision,
//! not a time the caller claims. The engine therefore reads a [`Clock`]; tests and
//! replays inject a fixed one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time, shared by every thread deciding on one engine.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The operating system's wall clock (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock stopped at one instant: for tests, replays and reproducible demos.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub SystemTime);

impl FixedClock {
    /// A clock stopped at an RFC 3339 UTC instant such as `2026-11-25T10:00:00Z`.
    pub fn at(rfc3339: &str) -> Option<Self> {
        parse_rfc3339(rfc3339).map(FixedClock)
    }
}

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0
    }
}

/// Formats an instant as a Cedar `datetime` literal (`YYYY-MM-DDThh:mm:ss.SSSZ`).
/// Instants before 1970 are clamped to the epoch.
pub fn format_rfc3339_millis(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = i64::try_from(since.as_secs()).unwrap_or(i64::MAX / 2);
    let millis = since.subsec_millis();
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
}

/// Parses an RFC 3339 instant (`2026-11-25T10:00:00Z`, optional fraction,
/// `Z` or `±hh:mm` offset). Returns `None` for anything else.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 20 || !s.is_ascii() {
        return None;
    }
    // At most 4 digits: accumulating cannot overflow (and is much cheaper than `str::parse`).
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if part.is_empty() {
            return None;
        }
        part.iter().try_fold(0i64, |n, &c| c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0')))
    };
    let sep = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && (sep(10, b'T') || sep(10, b't')) && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: u64 = 0;
    if sep(i, b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let frac = s.get(start..i)?;
        if frac.is_empty() {
            return None;
        }
        let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
        nanos = digits.parse().ok()?;
    }
    let offset_secs = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        c @ (b'+' | b'-') if i + 6 == b.len() && sep(i + 3, b':') => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let sign = if *c == b'+' { 1 } else { -1 };
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset_secs;
    let nanos = Duration::from_nanos(nanos);
    match u64::try_from(secs) {
        Ok(secs) => UNIX_EPOCH.checked_add(Duration::from_secs(secs) + nanos),
        // Before 1970: epoch - |secs| + fraction.
        Err(_) => UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))?.checked_add(nanos),
    }
}

/// Parses any of Cedar's `datetime` string forms: `2026-11-25`,
/// `2026-11-25T10:00:00Z`, with `.SSS` milliseconds, and with a `±hhmm` offset
/// instead of `Z` (RFC 3339's `±hh:mm` is accepted too). `None` for anything else.
pub(crate) fn parse_cedar_datetime(s: &str) -> Option<SystemTime> {
    if s.len() == 10 {
        return parse_rfc3339(&format!("{s}T00:00:00Z"));
    }
    let b = s.as_bytes();
    // `...+hhmm` -> `...+hh:mm`
    if b.len() >= 5 {
        let tail = b.len() - 5;
        if matches!(b.get(tail), Some(b'+' | b'-'))
            && s.get(tail + 1..).is_some_and(|t| t.bytes().all(|c| c.is_ascii_digit()))
        {
            let (head, off) = s.split_at(tail + 3);
            return parse_rfc3339(&format!("{head}:{off}"));
        }
    }
    parse_rfc3339(s)
}

// Howard Hinnant's civil-calendar algorithms (public domain).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_rfc3339() {
        for s in ["2026-11-25T10:00:00.000Z", "1970-01-01T00:00:00.000Z", "2000-02-29T23:59:59.999Z"] {
            let t = parse_rfc3339(s).unwrap();
            assert_eq!(format_rfc3339_millis(t), s);
        }
    }

    #[test]
    fn applies_offsets_and_rejects_garbage() {
        let a = parse_rfc3339("2026-11-25T12:00:00+02:00").unwrap();
        let b = parse_rfc3339("2026-11-25T10:00:00Z").unwrap();
        assert_eq!(a, b);
        for bad in [
            "",
            "2026-11-25",
            "2026-13-01T00:00:00Z",
            "2026-11-25T10:00:00",
            "2026-11-25T10:00:00Zjunk",
            "２０２６-11-25T10:00:00Z",
        ] {
            assert!(parse_rfc3339(bad).is_none(), "{bad}");
        }
    }
}
