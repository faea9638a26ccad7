//! Wall-clock times as OctoPrint writes them in its answers.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Now in RFC 3339, whole seconds, UTC as `Z` (`2026-12-08T02:04:53Z`: system info).
pub fn now_z() -> String {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0)
        .unwrap_or(now)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// Now with the offset written out (`2026-12-08T02:04:30+00:00`: user records).
pub fn now_offset() -> String {
    now_z().replace('Z', "+00:00")
}

/// Now as Unix seconds with a fraction (`timestamp` fields).
pub fn now_secs() -> f64 {
    OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9
}
