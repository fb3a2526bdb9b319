//! Timestamps in the three forms AWS writes them: SigV4's `x-amz-date` (ISO 8601
//! basic), RFC 3339 (STS and credential endpoints, the audit log) and the HTTP
//! `Date` header. The calendar is the `time` crate's; these are only the formats.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// `t` in UTC, whole seconds; times before 1970 read as 1970 and times past the
/// calendar's end (year 9999) as its last second, so formatting never fails.
fn utc(t: SystemTime) -> OffsetDateTime {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    i64::try_from(secs)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or_else(|| PrimitiveDateTime::MAX.assume_utc())
}

/// Year, month, day, hour, minute and second.
fn fields(t: OffsetDateTime) -> (i32, u8, u8, u8, u8, u8) {
    let (h, mi, s) = t.to_hms();
    (t.year(), u8::from(t.month()), t.day(), h, mi, s)
}

/// `YYYYMMDDTHHMMSSZ`, as in `x-amz-date`.
pub(crate) fn amz_date(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = fields(utc(t));
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// Parses `x-amz-date` (`YYYYMMDDTHHMMSSZ`, digits only): `None` for anything else,
/// an impossible date or time included, and for a time before 1970.
pub(crate) fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let number = |from: usize, to: usize| -> Option<u16> {
        let digits = &b[from..to];
        digits
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| digits.iter().fold(0, |n, d| n * 10 + u16::from(d - b'0')))
    };
    let small = |from, to| number(from, to).and_then(|n| u8::try_from(n).ok());
    let date = Date::from_calendar_date(
        i32::from(number(0, 4)?),
        Month::try_from(small(4, 6)?).ok()?,
        small(6, 8)?,
    )
    .ok()?;
    let time = Time::from_hms(small(9, 11)?, small(11, 13)?, small(13, 15)?).ok()?;
    let secs = PrimitiveDateTime::new(date, time)
        .assume_utc()
        .unix_timestamp();
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339 in UTC, whole seconds).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = fields(utc(t));
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// An HTTP date (RFC 7231 IMF-fixdate), `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) fn http_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        let t = parse_amz_date("20240229T235959Z").unwrap();
        assert_eq!(amz_date(t), "20240229T235959Z");
        assert_eq!(rfc3339(t), "2024-02-29T23:59:59Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(http_date(t), "Thu, 29 Feb 2024 23:59:59 GMT");
        assert_eq!(
            http_date(UNIX_EPOCH + Duration::from_secs(784_111_777)),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert!(parse_amz_date("2024-02-29").is_none());
    }

    #[test]
    fn malformed_amz_dates_are_refused() {
        for bad in [
            "20240230T000000Z", // no 30 February
            "20241301T000000Z",
            "20240101T240000Z",
            "20240101T235960Z",
            "2024+101T000000Z",
            "2024010１T00000Z", // a non-ASCII digit
            "19691231T235959Z", // before 1970
            "20240101T000000z",
        ] {
            assert!(parse_amz_date(bad).is_none(), "{bad}");
        }
        assert_eq!(
            parse_amz_date("19700101T000001Z"),
            Some(UNIX_EPOCH + Duration::from_secs(1))
        );
    }

    #[test]
    fn far_times_format_without_failing() {
        let far = UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(rfc3339(far), "9999-12-31T23:59:59Z");
        assert_eq!(amz_date(far), "99991231T235959Z");
    }
}
