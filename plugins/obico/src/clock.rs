//! Time and chance: the clock, random identities, and the agents' reconnect backoff.

use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;

/// The longest wait between two connection attempts, as the agents cap it.
pub const MAX_BACKOFF_MS: u64 = 300_000;

/// Now, in milliseconds since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Now, in seconds since the epoch with a fraction (the status frame's `_ts`).
pub fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// `bytes` random bytes as lower-case hex (16 bytes = the 32 hex characters of a device id).
pub fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

/// The wait before connection attempt `attempt` (1 = the first retry): 2^(attempt-3) seconds
/// times a random factor between 0.5 and 1.5, at most [`MAX_BACKOFF_MS`], as the Obico agents
/// do. The jitter spreads the reconnects of a whole farm after a server restart.
pub fn backoff_ms(attempt: u32) -> u64 {
    backoff_with(attempt, rand::rng().random_range(0.5..1.5))
}

/// [`backoff_ms`] with a given jitter factor.
pub fn backoff_with(attempt: u32, factor: f64) -> u64 {
    let base_ms = 2f64.powi(attempt.min(30) as i32 - 3) * 1000.0;
    ((base_ms * factor) as u64).min(MAX_BACKOFF_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_from_an_eighth_of_a_second_and_stops_at_five_minutes() {
        assert_eq!(backoff_with(1, 1.0), 250);
        assert_eq!(backoff_with(3, 1.0), 1000);
        assert_eq!(backoff_with(6, 1.0), 8000);
        assert_eq!(backoff_with(12, 1.5), MAX_BACKOFF_MS);
        assert_eq!(backoff_with(u32::MAX, 1.0), MAX_BACKOFF_MS);
        for attempt in 1..20 {
            let ms = backoff_ms(attempt);
            assert!(ms >= backoff_with(attempt, 0.5) && ms <= backoff_with(attempt, 1.5));
        }
    }

    #[test]
    fn random_hex_has_the_length_asked_for() {
        let id = random_hex(16);
        assert_eq!(id.len(), 32);
        assert!(id
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(id, random_hex(16));
    }
}
