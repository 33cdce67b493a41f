//! Calendar arithmetic for UTC timestamps (Salt's jids, the admin table),
//! without a date crate: proleptic Gregorian, days-to-civil.

/// `((year, month, day), (hour, minute, second))` for Unix seconds.
pub fn utc_parts(secs: u64) -> ((i64, i64, i64), (u64, u64, u64)) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    ((year, month, day), (rem / 3600, rem / 60 % 60, rem % 60))
}

/// `YYYY-MM-DD HH:MM:SSZ` for Unix seconds.
pub fn utc(secs: u64) -> String {
    let ((y, mo, d), (h, mi, s)) = utc_parts(secs);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00Z");
        assert_eq!(utc(1_795_719_006), "2026-11-26 18:50:06Z");
        assert_eq!(utc(4_107_542_399), "2100-02-28 23:59:59Z");
    }
}
