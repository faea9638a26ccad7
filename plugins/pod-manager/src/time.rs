//! Timestamps as Django REST Framework writes them: RFC 3339, UTC, microseconds, `Z`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in microseconds since the Unix epoch (WASI's wall clock).
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    now_micros() / 1000
}

/// `2016-04-21T18:42:53.469470Z` for a time in microseconds since the epoch.
pub fn rfc3339_micros(micros: u64) -> String {
    let secs = micros / 1_000_000;
    let frac = micros % 1_000_000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The same for a time in milliseconds (the core's history and events count in ms).
pub fn rfc3339_ms(ms: u64) -> String {
    rfc3339_micros(ms.saturating_mul(1000))
}

/// Year, month, day of a day number since 1970-01-01 (Howard Hinnant's algorithm), so the plugin
/// needs no date crate.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_drf() {
        assert_eq!(rfc3339_micros(0), "1970-01-01T00:00:00.000000Z");
        // The example of the Pod Manager document.
        assert_eq!(
            rfc3339_micros(1_461_264_173_469_470),
            "2016-04-21T18:42:53.469470Z"
        );
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000000Z");
    }
}
